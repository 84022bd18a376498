//! The `device.yaml` document as written: its serde shape, and the JSON Schema editors use.
//!
//! These types are the single source of truth for the manifest's structure: the committed
//! `manifests/device.schema.json` is generated from them with schemars, and the structural
//! check validates every manifest against that same schema, so the two never drift.

pub mod nesting;
pub mod structure;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default command timeout in the protocol; the registration omits `timeoutMs` when it is this.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Upper bound for `timeoutMs`: one hour; anything longer is a job, not a command.
pub const MAX_TIMEOUT_MS: u32 = 3_600_000;
pub const MAX_RETRY_ATTEMPTS: u32 = 10;
pub const MAX_RETRY_BACKOFF_MS: u32 = 300_000;

pub const DEVICE_NAME_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";
/// Whether `name` matches [`DEVICE_NAME_PATTERN`] within its 64 characters: the rule for a
/// unit's own name (`LUA_DEVICE_NAME`) as for the manifest's.
pub fn is_device_name(name: &str) -> bool {
    name.len() <= 64
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
pub const IDENT_PATTERN: &str = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$";

/// A device manifest (`device.yaml`): what a device is and what an agent can ask of it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "luagen device manifest")]
pub struct ManifestDoc {
    /// Device name: lowercase words joined by hyphens, e.g. `greenhouse-sensor`.
    #[schemars(regex(pattern = DEVICE_NAME_PATTERN), length(min = 1, max = 64))]
    pub name: String,
    /// Device group, for fanning a command out to many devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DEVICE_NAME_PATTERN), length(min = 1, max = 64))]
    pub group: Option<String>,
    /// What the device is, for people and agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Shared JSON Schemas, referenced as `$ref: "#/definitions/Name"`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(with = "IndexMap<String, SchemaObject>")]
    pub definitions: IndexMap<String, Value>,
    /// Commands the agent can call, each becoming a tool `device__{device}__{command}`.
    #[serde(default)]
    pub commands: Vec<CommandDoc>,
    /// Events the device raises towards the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDoc>,
}

/// A command the agent calls on the device.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandDoc {
    /// snake_case name, unique among the device's commands.
    #[schemars(regex(pattern = IDENT_PATTERN), length(min = 1, max = 64))]
    pub name: String,
    /// What the command does; the agent reads it to decide when to call it.
    #[schemars(length(min = 1))]
    pub description: String,
    /// JSON Schema (draft 7) of the payload; a command without one takes no payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<SchemaObject>")]
    pub input_schema: Option<Value>,
    /// JSON Schema (draft 7) of the handler's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<SchemaObject>")]
    pub output_schema: Option<Value>,
    /// How long the agent waits for the response, in milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_TIMEOUT_MS))]
    pub timeout_ms: Option<u32>,
    /// How the agent retries a command that timed out (same commandId each time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryDoc>,
}

/// Retry policy the agent applies to a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryDoc {
    /// Attempts in all, the first included.
    #[schemars(range(min = 1, max = MAX_RETRY_ATTEMPTS))]
    pub max_attempts: u32,
    /// Delay before each resend, in milliseconds.
    #[schemars(range(min = 0, max = MAX_RETRY_BACKOFF_MS))]
    pub backoff_ms: u32,
}

/// An event the device raises towards the agent.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerDoc {
    /// snake_case name, unique among the device's triggers.
    #[schemars(regex(pattern = IDENT_PATTERN), length(min = 1, max = 64))]
    pub name: String,
    /// What the event means.
    #[schemars(length(min = 1))]
    pub description: String,
    /// JSON Schema (draft 7) of the trigger's payload; `{}` is sent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<SchemaObject>")]
    pub payload_schema: Option<Value>,
}

/// A JSON Schema (draft 7) object; checked against the draft 7 meta-schema on load.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct SchemaObject(serde_json::Map<String, Value>);

/// The manifest's own JSON Schema, as committed in `manifests/device.schema.json`.
pub fn manifest_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ManifestDoc))
        .expect("a generated schema is always JSON");
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            Value::String("https://luagen.dev/schemas/device.schema.json".into()),
        );
    }
    schema
}
