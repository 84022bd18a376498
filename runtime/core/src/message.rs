//! The JSON messages on the wire, with their exact shapes.
//!
//! Each message is read and written here by hand, over [`crate::value`], so the host (serde_json)
//! and the chip (the core's own `json`) share one definition of every field name and shape. The
//! serde derives, with the `serde` feature, are for the host's gateway side and tests; they
//! produce the same text.

use alloc::string::{String, ToString};
#[cfg(feature = "serde")]
use alloc::vec::Vec;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

#[cfg(feature = "serde")]
use crate::dispatch::CommandSpec;
use crate::dispatch::{CommandError, CommandResult};
use crate::json::{self, write_str};
use crate::typed::FieldPath;
use crate::value::{self, Map, Value};

/// A command from the agent, on `command`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Command {
    /// Unique per command; the response carries it back and deduplication keys on it.
    pub command_id: String,
    /// The command name.
    pub command: String,
    /// The handler's input; `{}` when the message has none, like the official client.
    #[cfg_attr(feature = "serde", serde(default = "value::empty_object"))]
    pub payload: Value,
    /// The gateway's timeout for this call, in milliseconds.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub timeout: Option<u64>,
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
    ///
    /// That includes legal JSON no [`Value`] can hold (a number like `1e400`, a lone surrogate
    /// escape `"\ud800"`, nesting past [`json::MAX_DEPTH`]): the command is refused with the
    /// field and what is wrong with it, the same on the host and on the chip.
    pub fn parse(bytes: &[u8]) -> Result<Command, Rejected> {
        // Anything but an object has no `commandId` either.
        let mut map = match read(bytes)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let Some(Value::String(command_id)) = map.remove("commandId") else {
            return Err(malformed(None, "commandId is missing or not a string"));
        };
        // One rejection for every reason, not one made (the id copied, the reason allocated)
        // at each.
        let (command, timeout) = match Self::fields(&mut map) {
            Ok(fields) => fields,
            Err(reason) => return Err(malformed(Some(command_id), reason)),
        };
        Ok(Command {
            command_id,
            command,
            payload: map.remove("payload").unwrap_or_else(value::empty_object),
            timeout,
        })
    }

    /// `command` and `timeout`, taken out of the message, or why they are unusable.
    fn fields(map: &mut Map<String, Value>) -> Result<(String, Option<u64>), &'static str> {
        let command = match map.remove("command") {
            Some(Value::String(c)) => c,
            Some(_) => return Err("command is not a string"),
            None => return Err("command is missing"),
        };
        let timeout = match map.remove("timeout") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
            Some(_) => return Err("timeout is not a whole number of milliseconds"),
        };
        Ok((command, timeout))
    }
}

fn malformed(command_id: Option<String>, reason: &str) -> Rejected {
    Rejected {
        command_id,
        error: CommandError::Malformed {
            reason: reason.to_string(),
        },
    }
}

/// A command message as a [`Value`], or its rejection when it is not JSON or holds a value
/// no `Value` can (see [`Command::parse`]).
fn read(bytes: &[u8]) -> Result<Value, Rejected> {
    // The host reads with serde_json, and only a message it refuses, or one nested deeper
    // than the chip could read, is read again to find out why.
    #[cfg(feature = "serde")]
    let refused = match value::from_slice(bytes) {
        Ok(value) if nesting(&value) <= json::MAX_DEPTH => return Ok(value),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    // A message cut short or broken after its id still gets an answer: the scanner reads
    // the id from whatever JSON came before the fault.
    let not_json = |reason: String| Rejected {
        command_id: {
            let mut scan = crate::scan::CommandScan::new();
            scan.feed(bytes);
            scan.finish().command_id
        },
        error: CommandError::Malformed {
            reason: crate::text::concat(&["not JSON (", &reason, ")"]),
        },
    };
    let (value, fault) = match json::from_slice_lenient(bytes) {
        Ok(read) => read,
        // serde_json's own words where it read the message.
        #[cfg(feature = "serde")]
        Err(e) => {
            return Err(not_json(
                refused.map_or_else(|| e.to_string(), |e| e.to_string()),
            ))
        }
        #[cfg(not(feature = "serde"))]
        Err(e) => return Err(not_json(e.text())),
    };
    let Some(fault) = fault else {
        #[cfg(feature = "serde")]
        return Err(not_json(refused.map(|e| e.to_string()).unwrap_or_default()));
        #[cfg(not(feature = "serde"))]
        return Ok(value);
    };
    // The id as read, unless the fault is in the id itself (it would not be the sender's).
    let command_id = match (&value, fault.path.first()) {
        (_, Some(json::Step::Key(k))) if k == "commandId" => None,
        (json::Value::Object(map), _) => match map.get("commandId") {
            Some(json::Value::String(id)) => Some(id.clone()),
            _ => None,
        },
        _ => None,
    };
    Err(Rejected {
        command_id,
        error: fault_error(&fault),
    })
}

/// A fault inside `payload` is the payload's, at its field path like a schema check's;
/// anywhere else the message is malformed. Too deep a value is named by the member it is in:
/// the path past the limit says nothing useful.
fn fault_error(fault: &json::Fault) -> CommandError {
    let rule = fault.what.text();
    let path = match fault.what {
        json::Unreadable::TooDeep => &fault.path[..fault.path.len().min(1)],
        _ => &fault.path[..],
    };
    match path.split_first() {
        Some((json::Step::Key(k), rest)) if k == "payload" => {
            CommandError::invalid_payload(FieldPath::from_steps(rest).text(), rule)
        }
        _ => {
            let at = FieldPath::from_steps(path).text();
            CommandError::Malformed {
                reason: if at.is_empty() {
                    crate::text::concat(&["the message ", &rule])
                } else {
                    crate::text::concat(&[&at, " ", &rule])
                },
            }
        }
    }
}

/// How deeply arrays and objects nest in `value` (a scalar is 0), counting as the chip's
/// reader does; serde_json's own limit is deeper.
#[cfg(feature = "serde")]
fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// The device's answer, on `response`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Response {
    /// The command's id.
    pub command_id: String,
    /// Whether the handler succeeded.
    pub success: bool,
    /// The handler's value; absent when it returned none.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub data: Option<Value>,
    /// The failure message; present exactly when `success` is false.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
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
            error: Some(error.message()),
        }
    }

    /// The exact bytes to publish: `{"commandId","success","data"?,"error"?}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"commandId\":");
        write_str(&mut out, &self.command_id);
        out.push_str(if self.success {
            ",\"success\":true"
        } else {
            ",\"success\":false"
        });
        if let Some(data) = &self.data {
            out.push_str(",\"data\":");
            value::write(&mut out, data);
        }
        if let Some(error) = &self.error {
            out.push_str(",\"error\":");
            write_str(&mut out, error);
        }
        out.push('}');
        out
    }
}

/// A device-to-agent event, on `trigger`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Trigger {
    /// snake_case trigger name.
    pub trigger_name: String,
    /// The event's data; `{}` when there is none.
    #[cfg_attr(feature = "serde", serde(default = "value::empty_object"))]
    pub payload: Value,
}

impl Trigger {
    /// `{"triggerName","payload"}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"triggerName\":");
        write_str(&mut out, &self.trigger_name);
        out.push_str(",\"payload\":");
        value::write(&mut out, &self.payload);
        out.push('}');
        out
    }
}

/// The members of a gateway message, or `None` when it is not an object.
fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match value::from_slice(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// An optional string member: `Some(None)` when absent or null, `None` when not a string.
fn opt_string(map: &mut Map<String, Value>, key: &str) -> Option<Option<String>> {
    match map.remove(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => None,
    }
}

/// The gateway's receipt of a trigger, on `trigger_ack`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct TriggerAck {
    /// The gateway's id for the trigger.
    #[cfg_attr(feature = "serde", serde(default))]
    pub trigger_id: String,
    /// Whether the gateway accepted it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub received: bool,
    /// Why it was not accepted.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub error: Option<String>,
}

impl TriggerAck {
    /// Read a `trigger_ack` message; every field may be missing.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut map = object(bytes)?;
        Some(Self {
            trigger_id: match map.remove("triggerId") {
                None => String::new(),
                Some(Value::String(s)) => s,
                Some(_) => return None,
            },
            received: match map.remove("received") {
                None => false,
                Some(Value::Bool(b)) => b,
                Some(_) => return None,
            },
            error: opt_string(&mut map, "error")?,
        })
    }
}

/// What the agent made of a trigger, on `trigger_result`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct TriggerResult {
    /// The trigger this is about.
    pub trigger_name: String,
    /// Anything the agent returned.
    #[cfg_attr(feature = "serde", serde(default))]
    pub result: Value,
}

impl TriggerResult {
    /// Read a `trigger_result` message.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut map = object(bytes)?;
        let Some(Value::String(trigger_name)) = map.remove("triggerName") else {
            return None;
        };
        Some(Self {
            trigger_name,
            result: map.remove("result").unwrap_or(Value::Null),
        })
    }
}

/// A server-side error, on `error`. Fields are optional: the gateway's shape is not pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ServerError {
    /// Machine-readable code.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub code: Option<String>,
    /// Human-readable text.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub message: Option<String>,
}

impl ServerError {
    /// Read an `error` message; one that is not the expected object becomes its text.
    pub fn parse(bytes: &[u8]) -> Self {
        let parsed = object(bytes).and_then(|mut map| {
            Some(Self {
                code: opt_string(&mut map, "code")?,
                message: opt_string(&mut map, "message")?,
            })
        });
        parsed.unwrap_or_else(|| Self {
            code: None,
            message: Some(crate::text::lossy(bytes)),
        })
    }
}

/// The gateway's confirmation, on `connected`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Connected {
    /// Optional greeting.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub message: Option<String>,
}

impl Connected {
    /// Read a `connected` message; anything unexpected is a confirmation without a greeting.
    pub fn parse(bytes: &[u8]) -> Self {
        let message = object(bytes).and_then(|mut map| opt_string(&mut map, "message"));
        Self {
            message: message.flatten(),
        }
    }
}

/// Online or offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Presence {
    /// Connected and registered.
    Online,
    /// Gone, gracefully or by last will.
    Offline,
}

impl Presence {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
        }
    }
}

/// The retained public status, on `status`: `{"status","timestamp","group"?}`. No secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct PublicStatus {
    /// Online or offline.
    pub status: Presence,
    /// ISO-8601 UTC.
    pub timestamp: String,
    /// The device group, only when set (and never on offline messages).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub group: Option<String>,
}

impl PublicStatus {
    /// The exact bytes to publish.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"status\":\"");
        out.push_str(self.status.as_str());
        out.push_str("\",\"timestamp\":");
        write_str(&mut out, &self.timestamp);
        if let Some(group) = &self.group {
            out.push_str(",\"group\":");
            write_str(&mut out, group);
        }
        out.push('}');
        out
    }
}

/// The registration, also on `status`, up to its command list:
/// `{"status":"online","apiKey","group":<string or null>,"commands":` — the caller appends the
/// list and `}`. It carries the API key: never retain it, never log it.
pub fn registration_head(api_key: &str, group: Option<&str>) -> String {
    let mut out = String::from("{\"status\":\"online\",\"apiKey\":");
    write_str(&mut out, api_key);
    out.push_str(",\"group\":");
    match group {
        Some(g) => write_str(&mut out, g),
        None => out.push_str("null"),
    }
    out.push_str(",\"commands\":");
    out
}

/// The non-retained registration, also on `status`:
/// `{"status":"online","apiKey","group":<string or null>,"commands":[...]}`.
///
/// It carries the API key: never retain it, never log it.
#[cfg(feature = "serde")]
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

#[cfg(feature = "serde")]
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
    use alloc::format;

    fn json(text: &str) -> Value {
        value::from_str(text).unwrap()
    }

    #[test]
    fn responses_have_exact_shapes() {
        let ok = Response::from_result("c1", Ok(Some(json(r#"{"x":1}"#))));
        assert_eq!(
            ok.to_json(),
            r#"{"commandId":"c1","success":true,"data":{"x":1}}"#
        );
        let empty = Response::from_result("c2", Ok(None));
        assert_eq!(empty.to_json(), r#"{"commandId":"c2","success":true}"#);
        let failed = Response::from_result("c\"3", Err("deliberate\nfailure".into()));
        assert_eq!(
            failed.to_json(),
            r#"{"commandId":"c\"3","success":false,"error":"deliberate\nfailure"}"#
        );
        #[cfg(feature = "serde")]
        for r in [ok, empty, failed] {
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
        }
    }

    #[test]
    fn commands_parse_or_are_rejected_with_their_id() {
        let c = Command::parse(br#"{"commandId":"a","command":"echo"}"#).unwrap();
        assert_eq!(c.payload, json("{}"));
        assert_eq!(c.timeout, None);
        let c = Command::parse(br#"{"commandId":"a","command":"echo","payload":[1],"timeout":5}"#)
            .unwrap();
        assert_eq!((c.payload, c.timeout), (json("[1]"), Some(5)));
        let c = Command::parse(br#"{"commandId":"a","command":"e","payload":null,"timeout":null}"#)
            .unwrap();
        assert_eq!((c.payload, c.timeout), (Value::Null, None));

        let no_json = Command::parse(b"{not json").unwrap_err();
        assert_eq!(no_json.command_id, None);
        let no_id = Command::parse(br#"{"command":"echo"}"#).unwrap_err();
        assert_eq!(no_id.command_id, None);
        let numeric_id = Command::parse(br#"{"commandId":7,"command":"echo"}"#).unwrap_err();
        assert_eq!(numeric_id.command_id, None);
        assert_eq!(Command::parse(b"[1]").unwrap_err().command_id, None);
        for bad in [
            &br#"{"commandId":"b"}"#[..],
            br#"{"commandId":"b","command":42}"#,
            br#"{"commandId":"b","command":"echo","timeout":"soon"}"#,
            br#"{"commandId":"b","command":"echo","timeout":-1}"#,
            br#"{"commandId":"b","command":"echo","timeout":1.5}"#,
            // Cut short, or broken after the id: still answered.
            br#"{"commandId":"b","command":"echo","payload":{"a":"#,
            br#"{"commandId":"b","command":"echo","payload":{"a":tru}}"#,
        ] {
            let r = Command::parse(bad).unwrap_err();
            assert_eq!(r.command_id.as_deref(), Some("b"));
            assert!(matches!(r.error, CommandError::Malformed { .. }));
        }
    }

    /// Legal JSON no `Value` holds is answered, not dropped: with the field and what is wrong
    /// in the payload, as a malformed command elsewhere; the same text with and without serde.
    #[test]
    fn unreadable_values_are_answered_with_their_field() {
        let float = "is a number beyond the range of a 64-bit float (about ±1.8e308)";
        let surrogate = r"has a lone UTF-16 surrogate escape (\ud800-\udfff), not a character";
        let deep = "nests arrays and objects deeper than a command may (64 levels, the \
                    command's own object included)";
        let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        let cases: [(String, String); 9] = [
            (
                r#"{"commandId":"c","command":"set","payload":{"a":[0,{"x":1e400}]}}"#.into(),
                format!("a[1].x: {float}"),
            ),
            (
                r#"{"payload":-1e400,"command":"set","commandId":"c"}"#.into(),
                format!("payload: {float}"),
            ),
            (
                r#"{"commandId":"c","command":"set","payload":{"label":"\ud800"}}"#.into(),
                format!("label: {surrogate}"),
            ),
            (
                r#"{"commandId":"c","command":"set","payload":["ok","\udc00x"]}"#.into(),
                format!("payload[1]: {surrogate}"),
            ),
            (
                format!(
                    r#"{{"commandId":"c","command":"set","payload":{}}}"#,
                    nested(100)
                ),
                format!("payload: {deep}"),
            ),
            (
                format!(
                    r#"{{"commandId":"c","command":"set","payload":{{"a":{}}}}}"#,
                    nested(63)
                ),
                format!("payload: {deep}"),
            ),
            (
                r#"{"commandId":"c","command":"set","timeout":1e400}"#.into(),
                format!("Malformed command: timeout {float}"),
            ),
            (
                r#"{"commandId":"c","command":"\ud800"}"#.into(),
                format!("Malformed command: command {surrogate}"),
            ),
            (
                format!(
                    r#"{{"commandId":"c","command":"x","extra":{}}}"#,
                    nested(70)
                ),
                format!("Malformed command: extra {deep}"),
            ),
        ];
        for (text, error) in cases {
            let r = Command::parse(text.as_bytes()).unwrap_err();
            assert_eq!(r.command_id.as_deref(), Some("c"), "{text}");
            assert_eq!(r.error.to_string(), error, "{text}");
        }
        // The deepest payload a command may carry is read whole, on every target.
        let deepest = format!(
            r#"{{"commandId":"c","command":"set","payload":{}}}"#,
            nested(json::MAX_DEPTH - 1)
        );
        assert!(Command::parse(deepest.as_bytes()).is_ok());
        // An id that is not the sender's (a lone surrogate in it) is not answered.
        let id = Command::parse(br#"{"commandId":"\ud800","command":"x","payload":1e400}"#);
        assert_eq!(id.unwrap_err().command_id, None);
        // Cut short: not JSON, yet its id was read, so it is answered.
        let r = Command::parse(br#"{"commandId":"c","payload":1e400"#).unwrap_err();
        assert_eq!(r.command_id.as_deref(), Some("c"));
        assert!(r.error.to_string().contains("not JSON"), "{}", r.error);
    }

    #[test]
    fn status_and_trigger_shapes() {
        let online = PublicStatus {
            status: Presence::Online,
            timestamp: "2025-01-15T10:30:00.000Z".into(),
            group: Some("g".into()),
        };
        assert_eq!(
            online.to_json(),
            r#"{"status":"online","timestamp":"2025-01-15T10:30:00.000Z","group":"g"}"#
        );
        let trigger = Trigger {
            trigger_name: "alert".into(),
            payload: value::empty_object(),
        };
        assert_eq!(trigger.to_json(), r#"{"triggerName":"alert","payload":{}}"#);
        let mut head = registration_head("s\"ecret", None);
        head.push_str("[]}");
        assert_eq!(
            head,
            r#"{"status":"online","apiKey":"s\"ecret","group":null,"commands":[]}"#
        );
        #[cfg(feature = "serde")]
        {
            assert_eq!(online.to_json(), serde_json::to_string(&online).unwrap());
            assert_eq!(trigger.to_json(), serde_json::to_string(&trigger).unwrap());
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
        }
    }

    #[test]
    fn gateway_messages_read_as_serde_reads_them() {
        let ack = TriggerAck::parse(br#"{"triggerId":"t","received":true}"#).unwrap();
        assert_eq!((ack.trigger_id.as_str(), ack.received), ("t", true));
        // (Not arrays: serde also reads `[]` as a struct of defaults; no gateway sends one.)
        assert_eq!(TriggerAck::parse(b"[]"), None);
        let cases: [&[u8]; 6] = [
            br#"{}"#,
            br#"{"triggerId":"t","received":false,"error":"full"}"#,
            br#"{"triggerId":1}"#,
            br#"{"received":"yes"}"#,
            br#"{"error":null,"extra":[1]}"#,
            b"nope",
        ];
        for bytes in cases {
            #[cfg(feature = "serde")]
            assert_eq!(
                TriggerAck::parse(bytes),
                serde_json::from_slice::<TriggerAck>(bytes).ok()
            );
            #[cfg(feature = "serde")]
            assert_eq!(
                Connected::parse(bytes),
                serde_json::from_slice::<Connected>(bytes).unwrap_or_default()
            );
            let _ = (TriggerAck::parse(bytes), Connected::parse(bytes));
        }
        let result = TriggerResult::parse(br#"{"triggerName":"a","result":{"ok":true}}"#).unwrap();
        assert_eq!(result.result, json(r#"{"ok":true}"#));
        assert_eq!(TriggerResult::parse(br#"{"result":1}"#), None);
        assert_eq!(
            ServerError::parse(b"boom"),
            ServerError {
                code: None,
                message: Some("boom".into())
            }
        );
        assert_eq!(
            ServerError::parse(br#"{"code":"E1","message":"bad"}"#)
                .code
                .as_deref(),
            Some("E1")
        );
    }
}
