//! The contract between a device's commands and whatever drives them.
//!
//! Generated code (`#[lua_device]`) and the dynamic API implement [`Dispatch`]; the tokio
//! transport and an embassy firmware call it. The driver owns everything on the wire (parsing,
//! deduplication, the response message); an implementation only maps a command name and its
//! JSON payload to a result.

#[cfg(feature = "serde")]
use alloc::borrow::Cow;
#[cfg(feature = "serde")]
use alloc::boxed::Box;
use alloc::string::String;
#[cfg(feature = "serde")]
use alloc::string::ToString;
#[cfg(feature = "serde")]
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};
#[cfg(feature = "serde")]
use serde_json::value::RawValue;

use crate::text::{concat, number};
use crate::value::Value;

/// What a handler returns: `Ok(None)` is a success without `data`.
pub type CommandResult = Result<Option<Value>, CommandError>;

/// A device's commands and the code behind them, for drivers whose tasks may move between
/// threads (the tokio transport). Generated code implements this trait.
///
/// # Contract for implementors
///
/// - `commands` (with the `serde` feature) lists every command the device registers, in manifest
///   order; it is called once per connection, so building the list may allocate.
/// - [`dispatch`](Dispatch::dispatch) gets the command name and the raw `payload` of the
///   wire message (`{}` when the message had none). It must:
///   1. answer `Err(CommandError::unknown(name))` for a name it does not know;
///   2. check the payload against the command's `inputSchema` **before** running the handler,
///      answering [`CommandError::InvalidPayload`] with a JSON Pointer to the offending value
///      and the rule it broke;
///   3. run the handler and return its value (`Ok(None)` when it has none) or its error
///      ([`CommandError::Handler`]).
/// - It must not deduplicate, catch panics, time out or publish: the driver does all of that,
///   the same way for every implementation. A panic inside the future is the driver's to catch
///   (the tokio transport answers it with [`CommandError::Panicked`]).
/// - Calls may overlap: the transport runs several commands at once, so shared state needs
///   its own synchronisation.
pub trait Dispatch: Send + Sync + 'static {
    /// The commands to register, in order. (Without `serde` there are no specs: firmware
    /// registers the list luagen wrote as JSON.)
    #[cfg(feature = "serde")]
    fn commands(&self) -> Vec<CommandSpec>;

    /// Run `command` with `payload` (see the trait docs for what must happen inside).
    fn dispatch(&self, command: &str, payload: Value)
        -> impl Future<Output = CommandResult> + Send;
}

/// [`Dispatch`] without the `Send` bounds, for single-threaded executors (embassy) whose
/// handlers hold `!Send` state. Every [`Dispatch`] is one; drivers that never move a future
/// across threads should accept this trait.
pub trait LocalDispatch {
    /// The commands to register, in order.
    #[cfg(feature = "serde")]
    fn commands(&self) -> Vec<CommandSpec>;

    /// Run `command` with `payload`; same contract as [`Dispatch::dispatch`].
    fn dispatch(&self, command: &str, payload: Value) -> impl Future<Output = CommandResult>;
}

impl<T: Dispatch> LocalDispatch for T {
    #[cfg(feature = "serde")]
    fn commands(&self) -> Vec<CommandSpec> {
        Dispatch::commands(self)
    }

    fn dispatch(&self, command: &str, payload: Value) -> impl Future<Output = CommandResult> {
        Dispatch::dispatch(self, command, payload)
    }
}

/// The timeout the gateway assumes when a command does not state one.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// One command as registered with the gateway:
/// `{"name","description","inputSchema"?,"timeoutMs"?,"retry"?}`.
#[cfg(feature = "serde")]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandSpec {
    /// snake_case command name.
    pub name: Cow<'static, str>,
    /// What the agent reads to decide when to call the command.
    pub description: Cow<'static, str>,
    /// JSON Schema of the payload, kept as its exact text so key order survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Box<RawValue>>,
    /// How long the gateway waits for the response; sent only when not 30000.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout_ms: u64,
    /// How the gateway retries a command that timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

#[cfg(feature = "serde")]
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

#[cfg(feature = "serde")]
fn is_default_timeout(ms: &u64) -> bool {
    *ms == DEFAULT_TIMEOUT_MS
}

#[cfg(feature = "serde")]
impl CommandSpec {
    /// A command with no input schema, the default timeout and no retry.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retry: None,
        }
    }

    /// Set the input schema from its JSON text (kept verbatim, so key order is preserved).
    pub fn with_input_schema_json(mut self, json: &str) -> Result<Self, serde_json::Error> {
        self.input_schema = Some(RawValue::from_string(json.to_string())?);
        Ok(self)
    }

    /// Set the input schema from a JSON value.
    pub fn with_input_schema(mut self, schema: &Value) -> Self {
        let text = serde_json::to_string(schema).expect("a Value always serializes");
        self.input_schema = Some(RawValue::from_string(text).expect("serde_json output is JSON"));
        self
    }

    /// Set the response timeout the gateway applies.
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// Set the gateway's retry policy.
    pub fn with_retry(mut self, max_attempts: u32, backoff_ms: u64) -> Self {
        self.retry = Some(Retry {
            max_attempts,
            backoff_ms,
        });
        self
    }

    /// The input schema as a JSON value.
    pub fn input_schema_value(&self) -> Option<Value> {
        self.input_schema
            .as_ref()
            .map(|raw| serde_json::from_str(raw.get()).expect("RawValue holds valid JSON"))
    }
}

#[cfg(feature = "serde")]
impl PartialEq for CommandSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.input_schema.as_ref().map(|r| r.get())
                == other.input_schema.as_ref().map(|r| r.get())
            && self.timeout_ms == other.timeout_ms
            && self.retry == other.retry
    }
}

/// The gateway's retry policy for one command: `{"maxAttempts","backoffMs"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Retry {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Pause between attempts.
    pub backoff_ms: u64,
}

/// Why a command failed. [`Display`](fmt::Display) gives the wire `error` string.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// No command of that name: `Unknown command: <name>`, the official clients' text.
    UnknownCommand {
        /// The name that arrived.
        name: String,
    },
    /// The payload broke the command's input schema; the handler did not run.
    InvalidPayload {
        /// The offending field as a reader writes it: `labelData.tracking`, `items[2].name`;
        /// empty for the payload itself.
        path: String,
        /// The rule it broke, e.g. `must be one of "low", "high"`.
        rule: String,
    },
    /// The handler ran and reported this error.
    Handler {
        /// Sent verbatim as `error`.
        message: String,
    },
    /// The handler panicked; the device kept running.
    Panicked {
        /// The panic's message, when it had one.
        message: String,
    },
    /// The message was not a command (not JSON, `command` missing or not a string).
    Malformed {
        /// What was wrong.
        reason: String,
    },
}

impl CommandError {
    /// [`CommandError::UnknownCommand`] for `name`.
    pub fn unknown(name: impl Into<String>) -> Self {
        Self::UnknownCommand { name: name.into() }
    }

    /// [`CommandError::InvalidPayload`] at field `path` (`labelData.tracking`, `items[2]`).
    pub fn invalid_payload(path: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidPayload {
            path: path.into(),
            rule: rule.into(),
        }
    }

    /// [`CommandError::Handler`] with `message`.
    pub fn handler(message: impl Into<String>) -> Self {
        Self::Handler {
            message: message.into(),
        }
    }

    /// The answer to a command of `size` bytes on a device that keeps at most `limit`: the
    /// same words on every target (the MicroPython runtime writes them too).
    pub fn too_large(size: u64, limit: u64) -> Self {
        Self::handler(concat(&[
            "Command too large: ",
            &number(size),
            " bytes; this device accepts at most ",
            &number(limit),
            " bytes",
        ]))
    }

    /// The wire `error` string (also what [`Display`](fmt::Display) writes).
    pub fn message(&self) -> String {
        match self {
            Self::UnknownCommand { name } => concat(&["Unknown command: ", name]),
            Self::InvalidPayload { path, rule } if path.is_empty() => concat(&["payload: ", rule]),
            Self::InvalidPayload { path, rule } => concat(&[path, ": ", rule]),
            Self::Handler { message } => message.clone(),
            Self::Panicked { message } => concat(&["Handler panicked: ", message]),
            Self::Malformed { reason } => concat(&["Malformed command: ", reason]),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for CommandError {}

impl From<&str> for CommandError {
    fn from(message: &str) -> Self {
        Self::handler(message)
    }
}

impl From<String> for CommandError {
    fn from(message: String) -> Self {
        Self::handler(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[cfg(feature = "serde")]
    #[test]
    fn spec_serializes_only_what_differs_from_defaults() {
        let plain = CommandSpec::new("echo", "Return the payload");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"name":"echo","description":"Return the payload"}"#
        );
        let full = CommandSpec::new("slow", "Sleep")
            .with_input_schema_json(r#"{"type":"object","properties":{"ms":{"type":"integer"}}}"#)
            .unwrap()
            .with_timeout_ms(65_000)
            .with_retry(2, 500);
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"name":"slow","description":"Sleep","inputSchema":{"type":"object","properties":{"ms":{"type":"integer"}}},"timeoutMs":65000,"retry":{"maxAttempts":2,"backoffMs":500}}"#
        );
        let back: CommandSpec =
            serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
        assert_eq!(
            full.input_schema_value(),
            Some(serde_json::json!({"type":"object","properties":{"ms":{"type":"integer"}}}))
        );
    }

    #[test]
    fn errors_render_wire_text() {
        assert_eq!(
            CommandError::unknown("nope").to_string(),
            "Unknown command: nope"
        );
        assert_eq!(
            CommandError::from("deliberate failure").to_string(),
            "deliberate failure"
        );
        assert_eq!(
            CommandError::invalid_payload("level", "must be a string").to_string(),
            "level: must be a string"
        );
        assert_eq!(
            CommandError::invalid_payload("", "must be an object").to_string(),
            "payload: must be an object"
        );
    }
}
