//! Triggers from the application to the connection task, one at a time, each waiting for the
//! gateway's `trigger_ack` like the official client (10 s).

// A device whose manifest has no triggers never sends one, and the sending half goes unused.
#![allow(dead_code)]

use defmt::Format;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::mutex::Mutex;
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Duration};
use lua_device::message::TriggerAck;
use lua_device::value::Value;
use portable_atomic::{AtomicBool, Ordering};

/// How long a trigger waits for the gateway's receipt.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a trigger was not confirmed.
#[derive(Debug, Format)]
pub enum TriggerError {
    /// The device is not connected to the gateway.
    Offline,
    /// No `trigger_ack` within 10 s.
    Timeout,
    /// The gateway refused it (`received: false`).
    Refused,
}

/// A trigger on its way to the connection task.
pub struct TriggerRequest {
    pub name: &'static str,
    pub payload: Value,
}

pub struct TriggerQueue {
    one_at_a_time: Mutex<CriticalSectionRawMutex, ()>,
    requests: Channel<CriticalSectionRawMutex, TriggerRequest, 1>,
    ack: Signal<CriticalSectionRawMutex, TriggerAck>,
    online: AtomicBool,
}

impl TriggerQueue {
    pub const fn new() -> Self {
        Self {
            one_at_a_time: Mutex::new(()),
            requests: Channel::new(),
            ack: Signal::new(),
            online: AtomicBool::new(false),
        }
    }

    /// Publish a trigger and wait for the gateway's receipt.
    pub async fn send(
        &self,
        name: &'static str,
        payload: Value,
    ) -> Result<TriggerAck, TriggerError> {
        let _turn = self.one_at_a_time.lock().await;
        if !self.online.load(Ordering::Acquire) {
            return Err(TriggerError::Offline);
        }
        self.ack.reset();
        self.requests.send(TriggerRequest { name, payload }).await;
        let ack = with_timeout(ACK_TIMEOUT, self.ack.wait())
            .await
            .map_err(|_| TriggerError::Timeout)?;
        if ack.received {
            Ok(ack)
        } else {
            Err(TriggerError::Refused)
        }
    }

    pub async fn next(&self) -> TriggerRequest {
        self.requests.receive().await
    }

    pub fn acked(&self, ack: TriggerAck) {
        self.ack.signal(ack);
    }

    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Release);
    }
}
