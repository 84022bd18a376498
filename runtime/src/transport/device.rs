//! The builder that assembles a device, connects it and starts its tasks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use rumqttc::AsyncClient;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::dispatch::{CommandResult, CommandSpec, Dispatch};

use super::context::{Context, TriggerResultCallback};
use super::driver;
use super::dynamic::DynamicDispatch;
use super::handle::{self, DeviceHandle};
use super::{Config, Error};

/// Entry point: `Device::builder(config).command(spec, handler).connect().await`.
pub struct Device;

impl Device {
    /// A device whose commands are registered one by one with [`DeviceBuilder::command`].
    pub fn builder(config: Config) -> DeviceBuilder<DynamicDispatch> {
        Self::with_dispatcher(config, DynamicDispatch::new())
    }

    /// A device served by `dispatcher` (e.g. generated code).
    pub fn with_dispatcher<D: Dispatch>(config: Config, dispatcher: D) -> DeviceBuilder<D> {
        let (shutdown_tx, shutdown_rx) = mpsc::channel(4);
        let handle = DeviceHandle::new(&config, shutdown_tx);
        DeviceBuilder {
            config,
            dispatcher,
            handle,
            shutdown_rx,
            trigger_results: HashMap::new(),
        }
    }
}

/// Collects commands and callbacks, then connects.
pub struct DeviceBuilder<D> {
    config: Config,
    dispatcher: D,
    handle: DeviceHandle,
    shutdown_rx: mpsc::Receiver<oneshot::Sender<()>>,
    trigger_results: HashMap<String, Vec<TriggerResultCallback>>,
}

impl DeviceBuilder<DynamicDispatch> {
    /// Serve `spec` with `handler`, which gets the raw JSON payload and returns `Ok(Some(data))`,
    /// `Ok(None)` (no `data` in the response) or an error (its text becomes `error`).
    pub fn command<F, Fut>(mut self, spec: CommandSpec, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CommandResult> + Send + 'static,
    {
        self.dispatcher.command(spec, handler);
        self
    }
}

impl<D: Dispatch> DeviceBuilder<D> {
    /// Call `callback` with the `result` of every `trigger_result` for `trigger_name`.
    pub fn on_trigger_result(
        mut self,
        trigger_name: impl Into<String>,
        callback: impl Fn(Value) + Send + Sync + 'static,
    ) -> Self {
        self.trigger_results
            .entry(trigger_name.into())
            .or_default()
            .push(Arc::new(callback));
        self
    }

    /// The handle [`connect`](Self::connect) will return, available now so that handlers can
    /// capture it (to fire triggers) and listeners can subscribe before the first event.
    pub fn handle(&self) -> DeviceHandle {
        self.handle.clone()
    }

    /// Connect, subscribe and register, and return once the broker has accepted the
    /// registration. Fails when the first connection attempt fails (bad URL, refused
    /// credentials, unreachable broker); after that, lost connections are retried forever.
    pub async fn connect(self) -> Result<DeviceHandle, Error> {
        let url = self.config.validate()?;
        let relay = driver::relay(&self.config, &url)?;
        let options = driver::mqtt_options(
            &self.config,
            &url,
            &self.handle.inner.topics,
            relay.as_ref(),
        )?;
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        eventloop.set_network_options(driver::network_options());
        // Cannot fail: each builder owns a fresh handle and `connect` consumes the builder.
        let _ = self.handle.inner.client.set(client.clone());
        let (ready_tx, ready_rx) = oneshot::channel();
        let ctx = Context::new(
            &self.config,
            self.dispatcher,
            client,
            self.handle.clone(),
            self.trigger_results,
            relay,
        );
        // Boxed: the driver future is ~12 KiB (rumqttc's poll future), under tokio's own
        // boxing threshold, so unboxed every frame that builds its task or moves its stage
        // holds copies of it, and the stack pages they touch stay resident.
        tokio::spawn(Box::pin(driver::run(
            eventloop,
            ctx,
            self.config.backoff,
            self.shutdown_rx,
            ready_tx,
        )));
        tokio::spawn(handle::heartbeat(
            self.handle.clone(),
            self.config.heartbeat_interval,
        ));
        match ready_rx.await {
            Ok(Ok(())) => Ok(self.handle),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::NotConnected),
        }
    }
}
