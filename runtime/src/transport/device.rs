//! The builder that assembles a device and the handle the application keeps.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::dispatch::{CommandResult, CommandSpec, Dispatch};
use crate::message::TriggerAck;
use crate::session;
use crate::topic::Topics;

use super::driver::{self, TriggerResultCallback};
use super::dynamic::DynamicDispatch;
use super::{Config, DeviceEvent, Error};

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
        let (finished_tx, _) = watch::channel(false);
        let handle = DeviceHandle {
            inner: Arc::new(HandleInner {
                topics: Topics::new(&config.agent_id, &config.device_name),
                trigger_ack_timeout: config.trigger_ack_timeout,
                client: OnceLock::new(),
                events: OnceLock::new(),
                event_capacity: config.event_capacity.max(1),
                registered: AtomicBool::new(false),
                trigger_lock: tokio::sync::Mutex::new(()),
                ack_slot: Mutex::new(None),
                shutdown_tx,
                finished: finished_tx,
            }),
        };
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
        let ctx = driver::Context::new(
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
        tokio::spawn(driver::heartbeat(
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

/// A cheap, cloneable handle on a running device.
#[derive(Clone)]
pub struct DeviceHandle {
    pub(crate) inner: Arc<HandleInner>,
}

pub(crate) struct HandleInner {
    pub(crate) topics: Topics,
    trigger_ack_timeout: Duration,
    pub(crate) client: OnceLock<AsyncClient>,
    /// Created by the first [`DeviceHandle::events`]: a broadcast channel allocates all its
    /// slots up front, and until someone listens every event would be dropped anyway.
    events: OnceLock<broadcast::Sender<DeviceEvent>>,
    event_capacity: usize,
    pub(crate) registered: AtomicBool,
    trigger_lock: tokio::sync::Mutex<()>,
    pub(crate) ack_slot: Mutex<Option<oneshot::Sender<TriggerAck>>>,
    shutdown_tx: mpsc::Sender<oneshot::Sender<()>>,
    pub(crate) finished: watch::Sender<bool>,
}

impl HandleInner {
    /// Tell the listeners, if any; an event nobody listens to is dropped.
    pub(crate) fn emit(&self, event: DeviceEvent) {
        if let Some(events) = self.events.get() {
            let _ = events.send(event);
        }
    }
}

impl DeviceHandle {
    /// Publish trigger `name` (`payload` `{}` when `Value::Null`) and wait for the gateway's
    /// `trigger_ack`. Triggers go one at a time, as in the official client: the ack names no
    /// trigger, so only one may be waiting for it.
    ///
    /// An ack that arrives after its trigger timed out is taken by the next trigger; the
    /// protocol gives no id to tell them apart.
    pub async fn trigger(&self, name: &str, payload: Value) -> Result<TriggerAck, Error> {
        let client = self.inner.client.get().ok_or(Error::NotConnected)?;
        let _one_at_a_time = self.inner.trigger_lock.lock().await;
        let (tx, rx) = oneshot::channel();
        *self.inner.ack_slot.lock().expect("ack slot lock") = Some(tx);
        let payload = (!payload.is_null()).then_some(payload);
        let publication = session::trigger(&self.inner.topics, name, payload);
        client
            .publish(
                publication.topic,
                QoS::AtLeastOnce,
                false,
                publication.payload,
            )
            .await?;
        let waited = self.inner.trigger_ack_timeout;
        let result = tokio::time::timeout(waited, rx).await;
        self.inner.ack_slot.lock().expect("ack slot lock").take();
        match result {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(_)) => Err(Error::NotConnected),
            Err(_) => Err(Error::TriggerTimeout {
                trigger: name.to_string(),
                waited,
            }),
        }
    }

    /// A stream of [`DeviceEvent`]s from now on (lagging receivers lose the oldest).
    pub fn events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.inner
            .events
            .get_or_init(|| broadcast::channel(self.inner.event_capacity).0)
            .subscribe()
    }

    /// Whether the device is connected and registered right now.
    pub fn is_connected(&self) -> bool {
        self.inner.registered.load(Ordering::SeqCst)
    }

    /// The device's topics.
    pub fn topics(&self) -> &Topics {
        &self.inner.topics
    }

    /// Publish the retained offline status (waiting for the broker's PUBACK), send
    /// DISCONNECT and stop the event loop. Safe to call more than once.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        if self.inner.shutdown_tx.send(tx).await.is_ok() {
            let _ = rx.await;
        }
        Ok(())
    }

    /// Wait for SIGINT or SIGTERM (or for the event loop to end), then shut down gracefully.
    pub async fn run_until_shutdown(&self) -> Result<(), Error> {
        let mut finished = self.inner.finished.subscribe();
        tokio::select! {
            r = shutdown_signal() => r.map_err(|e| Error::Config(format!("signal handler: {e}")))?,
            _ = finished.wait_for(|done| *done) => return Ok(()),
        }
        self.shutdown().await
    }
}

#[cfg(unix)]
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
