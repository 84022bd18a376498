//! The JSON messages on the wire, with their exact shapes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dispatch::{CommandError, CommandResult, CommandSpec};

/// A command from the agent, on `command`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Unique per command; the response carries it back and deduplication keys on it.
    pub command_id: String,
    /// The command name.
    pub command: String,
    /// The handler's input; `{}` when the message has none, like the official client.
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// The gateway's timeout for this call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// A message on `command` that is not a usable command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The `commandId` when one could be read, so the sender can still be answered.
    pub command_id: Option<String>,
    /// What was wrong.
    pub error: CommandError,
}

impl Command {
    /// Parse a `command` message. Anything short of a command is [`Rejected`], carrying the
    /// `commandId` whenever it is a string, so the device can answer instead of staying silent.
    pub fn parse(bytes: &[u8]) -> Result<Command, Rejected> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Rejected {
            command_id: None,
            error: CommandError::Malformed {
                reason: alloc::format!("not JSON ({e})"),
            },
        })?;
        let command_id = value
            .get("commandId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let reject = |reason: &str| Rejected {
            command_id: command_id.clone(),
            error: CommandError::Malformed {
                reason: reason.to_string(),
            },
        };
        if command_id.is_none() {
            return Err(reject("commandId is missing or not a string"));
        }
        match value.get("command") {
            Some(Value::String(_)) => {}
            Some(_) => return Err(reject("command is not a string")),
            None => return Err(reject("command is missing")),
        }
        if value
            .get("timeout")
            .is_some_and(|t| !t.is_null() && !t.is_u64())
        {
            return Err(reject("timeout is not a whole number of milliseconds"));
        }
        serde_json::from_value(value).map_err(|e| reject(&e.to_string()))
    }
}

/// The device's answer, on `response`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The command's id.
    pub command_id: String,
    /// Whether the handler succeeded.
    pub success: bool,
    /// The handler's value; absent when it returned none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The failure message; present exactly when `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// The response to `command_id` for a handler's result.
    pub fn from_result(command_id: impl Into<String>, result: CommandResult) -> Self {
        match result {
            Ok(data) => Self {
                command_id: command_id.into(),
                success: true,
                data,
                error: None,
            },
            Err(e) => Self::failure(command_id, &e),
        }
    }

    /// `{"commandId","success":false,"error"}`.
    pub fn failure(command_id: impl Into<String>, error: &CommandError) -> Self {
        Self {
            command_id: command_id.into(),
            success: false,
            data: None,
            error: Some(error.to_string()),
        }
    }

    /// The exact bytes to publish.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Response always serializes")
    }
}

/// A device-to-agent event, on `trigger`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// snake_case trigger name.
    pub trigger_name: String,
    /// The event's data; `{}` when there is none.
    #[serde(default = "empty_object")]
    pub payload: Value,
}

/// The gateway's receipt of a trigger, on `trigger_ack`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAck {
    /// The gateway's id for the trigger.
    #[serde(default)]
    pub trigger_id: String,
    /// Whether the gateway accepted it.
    #[serde(default)]
    pub received: bool,
    /// Why it was not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the agent made of a trigger, on `trigger_result`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerResult {
    /// The trigger this is about.
    pub trigger_name: String,
    /// Anything the agent returned.
    #[serde(default)]
    pub result: Value,
}

/// A server-side error, on `error`. Fields are optional: the gateway's shape is not pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerError {
    /// Machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The gateway's confirmation, on `connected`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// Optional greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Online or offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Connected and registered.
    Online,
    /// Gone, gracefully or by last will.
    Offline,
}

/// The retained public status, on `status`: `{"status","timestamp","group"?}`. No secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicStatus {
    /// Online or offline.
    pub status: Presence,
    /// ISO-8601 UTC.
    pub timestamp: String,
    /// The device group, only when set (and never on offline messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The non-retained registration, also on `status`:
/// `{"status":"online","apiKey","group":<string or null>,"commands":[...]}`.
///
/// It carries the API key: never retain it, never log it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// Always online.
    pub status: Presence,
    /// The device's API key.
    pub api_key: String,
    /// The device group; serialized as `null` when unset, like the official client.
    pub group: Option<String>,
    /// Every command the device serves.
    pub commands: Vec<CommandSpec>,
}

impl core::fmt::Debug for Registration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registration")
            .field("status", &self.status)
            .field("api_key", &"<redacted>")
            .field("group", &self.group)
            .field("commands", &self.commands)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_have_exact_shapes() {
        let ok = Response::from_result("c1", Ok(Some(json!({"x": 1}))));
        assert_eq!(
            ok.to_json(),
            r#"{"commandId":"c1","success":true,"data":{"x":1}}"#
        );
        let empty = Response::from_result("c2", Ok(None));
        assert_eq!(empty.to_json(), r#"{"commandId":"c2","success":true}"#);
        let failed = Response::from_result("c3", Err("deliberate failure".into()));
        assert_eq!(
            failed.to_json(),
            r#"{"commandId":"c3","success":false,"error":"deliberate failure"}"#
        );
    }

    #[test]
    fn commands_parse_or_are_rejected_with_their_id() {
        let c = Command::parse(br#"{"commandId":"a","command":"echo"}"#).unwrap();
        assert_eq!(c.payload, json!({}));
        assert_eq!(c.timeout, None);
        let c = Command::parse(br#"{"commandId":"a","command":"echo","payload":[1],"timeout":5}"#)
            .unwrap();
        assert_eq!((c.payload, c.timeout), (json!([1]), Some(5)));

        let no_json = Command::parse(b"{not json").unwrap_err();
        assert_eq!(no_json.command_id, None);
        let no_id = Command::parse(br#"{"command":"echo"}"#).unwrap_err();
        assert_eq!(no_id.command_id, None);
        let numeric_id = Command::parse(br#"{"commandId":7,"command":"echo"}"#).unwrap_err();
        assert_eq!(numeric_id.command_id, None);
        for bad in [
            &br#"{"commandId":"b"}"#[..],
            br#"{"commandId":"b","command":42}"#,
            br#"{"commandId":"b","command":"echo","timeout":"soon"}"#,
        ] {
            let r = Command::parse(bad).unwrap_err();
            assert_eq!(r.command_id.as_deref(), Some("b"));
            assert!(matches!(r.error, CommandError::Malformed { .. }));
        }
    }

    #[test]
    fn status_and_registration_shapes() {
        let online = PublicStatus {
            status: Presence::Online,
            timestamp: "2025-01-15T10:30:00.000Z".into(),
            group: Some("g".into()),
        };
        assert_eq!(
            serde_json::to_string(&online).unwrap(),
            r#"{"status":"online","timestamp":"2025-01-15T10:30:00.000Z","group":"g"}"#
        );
        let reg = Registration {
            status: Presence::Online,
            api_key: "secret".into(),
            group: None,
            commands: alloc::vec![CommandSpec::new("echo", "Echo")],
        };
        assert_eq!(
            serde_json::to_string(&reg).unwrap(),
            r#"{"status":"online","apiKey":"secret","group":null,"commands":[{"name":"echo","description":"Echo"}]}"#
        );
        assert!(!alloc::format!("{reg:?}").contains("secret"));
        let trigger = Trigger {
            trigger_name: "alert".into(),
            payload: json!({}),
        };
        assert_eq!(
            serde_json::to_string(&trigger).unwrap(),
            r#"{"triggerName":"alert","payload":{}}"#
        );
        let ack: TriggerAck = serde_json::from_str(r#"{"triggerId":"t","received":true}"#).unwrap();
        assert_eq!((ack.trigger_id.as_str(), ack.received), ("t", true));
    }
}
