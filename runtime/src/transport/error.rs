//! Errors of the std transport.

use std::fmt;
use std::time::Duration;

/// What can go wrong connecting, triggering or shutting down.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (missing variable, bad URL, bad CA file...).
    Config(String),
    /// The first connection failed; later losses are retried, not reported here.
    Connect(Box<rumqttc::ConnectionError>),
    /// No `trigger_ack` arrived in time.
    TriggerTimeout {
        /// The trigger name.
        trigger: String,
        /// How long the device waited.
        waited: Duration,
    },
    /// The device is not connected yet, or was shut down.
    NotConnected,
    /// A request could not be queued for the MQTT event loop.
    Client(rumqttc::ClientError),
    /// No response arrived in time (agent side).
    Timeout,
    /// A payload broke its schema: a trigger the device was about to send, or a command the
    /// agent was about to send. Nothing was published.
    InvalidPayload(crate::CommandError),
    /// The device answered `success: false` with this error (agent side).
    Failed(String),
    /// A response's `data` did not match the command's output type (agent side).
    UnexpectedResponse(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(msg) => write!(f, "invalid configuration: {msg}"),
            Self::Connect(e) => write!(f, "could not connect to the broker: {e}"),
            Self::TriggerTimeout { trigger, waited } => {
                write!(f, "no trigger_ack for {trigger} within {waited:?}")
            }
            Self::NotConnected => f.write_str("the device is not connected"),
            Self::Client(e) => write!(f, "MQTT client error: {e}"),
            Self::Timeout => f.write_str("timed out waiting for a response"),
            Self::InvalidPayload(e) => write!(f, "invalid payload: {e}"),
            Self::Failed(e) => write!(f, "the device answered with an error: {e}"),
            Self::UnexpectedResponse(e) => write!(f, "unexpected response data: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) => Some(e.as_ref()),
            Self::Client(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rumqttc::ClientError> for Error {
    fn from(e: rumqttc::ClientError) -> Self {
        Self::Client(e)
    }
}
