//! The handle the application keeps on a running device: triggers, events, shutdown, and the
//! heartbeat task that runs on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::message::TriggerAck;
use crate::session;
use crate::topic::Topics;

use super::{Config, DeviceEvent, Error};

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
    /// The handle of a device about to be built, told to stop through `shutdown_tx`.
    pub(super) fn new(config: &Config, shutdown_tx: mpsc::Sender<oneshot::Sender<()>>) -> Self {
        let (finished, _) = watch::channel(false);
        Self {
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
                finished,
            }),
        }
    }

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

/// Publish the empty heartbeat while registered, until the device stops.
pub(crate) async fn heartbeat(handle: DeviceHandle, every: Duration) {
    let mut finished = handle.inner.finished.subscribe();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = finished.wait_for(|done| *done) => return,
        }
        let Some(client) = handle.inner.client.get() else {
            continue;
        };
        if handle.is_connected() {
            let beat = session::heartbeat(&handle.inner.topics);
            // Never wait for a full queue: a missed beat is harmless, a stalled task is not.
            let _ = client.try_publish(beat.topic, QoS::AtMostOnce, false, beat.payload);
        }
    }
}
