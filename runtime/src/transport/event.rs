//! What the device tells the application, as a broadcast stream.

use serde_json::Value;

use crate::message::{ServerError, TriggerAck};

/// Something the application may want to know about. Dropped when nobody listens.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// First connection: subscribed, online status and registration accepted by the broker.
    Connected,
    /// The same after a reconnection.
    Reconnected,
    /// The connection was lost; the device is reconnecting.
    Disconnected {
        /// Why, as text.
        reason: String,
    },
    /// The gateway confirmed the connection on `connected`.
    GatewayConfirmed {
        /// Its optional message.
        message: Option<String>,
    },
    /// A message on `error`.
    ServerError {
        /// The parsed fields (empty when the payload had another shape).
        error: ServerError,
        /// The payload as received.
        raw: String,
    },
    /// A `trigger_ack` arrived.
    TriggerAck(TriggerAck),
    /// A `trigger_result` arrived.
    TriggerResult {
        /// The trigger it answers.
        trigger_name: String,
        /// The agent's result.
        result: Value,
    },
    /// The graceful shutdown finished.
    Stopped,
}
