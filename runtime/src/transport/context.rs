//! What the driver and the command tasks share about one device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::AsyncClient;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::ledger::{retry_horizon_ms, Ledger};
use crate::topic::Topics;
use crate::Dispatch;

use super::backlog::Queue;
use super::handle::DeviceHandle;
use super::relay::Relay;
use super::{Config, DeviceEvent};

pub(crate) type TriggerResultCallback = Arc<dyn Fn(Value) + Send + Sync>;

/// What the command tasks and the driver share.
pub(crate) struct Context<D> {
    pub(crate) dispatcher: Arc<D>,
    pub(crate) client: AsyncClient,
    pub(crate) handle: DeviceHandle,
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) queue: Arc<Queue>,
    pub(super) max_held_bytes: usize,
    pub(super) api_key: String,
    pub(super) group: Option<String>,
    pub(super) trigger_results: HashMap<String, Vec<TriggerResultCallback>>,
    pub(super) shutdown_timeout: Duration,
    // Lives as long as the device's connections.
    pub(super) relay: Option<Relay>,
}

impl<D: Dispatch> Context<D> {
    pub(crate) fn new(
        config: &Config,
        dispatcher: D,
        client: AsyncClient,
        handle: DeviceHandle,
        trigger_results: HashMap<String, Vec<TriggerResultCallback>>,
        relay: Option<Relay>,
    ) -> Arc<Self> {
        // A retry the gateway may still send must find its id remembered.
        let horizon = dispatcher
            .commands()
            .iter()
            .map(|spec| retry_horizon_ms(spec.timeout_ms, spec.retry))
            .max()
            .unwrap_or(0);
        Arc::new(Self {
            dispatcher: Arc::new(dispatcher),
            client,
            handle,
            ledger: Mutex::new(Ledger::new(config.dedup).with_horizon(horizon)),
            slots: Arc::new(Semaphore::new(config.max_concurrent_commands.max(1))),
            queue: Queue::new(config.max_queued_commands, config.max_queued_bytes),
            max_held_bytes: config.max_held_bytes,
            api_key: config.api_key.clone(),
            group: config.group.clone(),
            trigger_results,
            shutdown_timeout: config.shutdown_timeout,
            relay,
        })
    }
}

impl<D> Context<D> {
    pub(crate) fn topics(&self) -> &Topics {
        &self.handle.inner.topics
    }

    pub(super) fn emit(&self, event: DeviceEvent) {
        self.handle.inner.emit(event);
    }
}
