//! The validated device model every emitter reads.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::ir::{TypeId, TypeSpace};
use crate::manifest::{RetryDoc, DEFAULT_TIMEOUT_MS};
use crate::source::{SourceFile, Span};

/// A device manifest that passed every check, with its payload types.
#[derive(Clone, Debug)]
pub struct Device {
    pub source: SourceFile,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    pub definitions: IndexMap<String, Value>,
    pub commands: Vec<Command>,
    pub triggers: Vec<Trigger>,
    pub types: TypeSpace,
}

#[derive(Clone, Debug)]
pub struct Command {
    pub name: String,
    pub description: String,
    /// The schema as written (its `$ref`s point into [`Device::definitions`]).
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    /// `None`: the command takes no payload.
    pub input: Option<TypeId>,
    /// `None`: the handler returns nothing (`data` is left out of the response).
    pub output: Option<TypeId>,
    pub timeout_ms: u32,
    pub retry: Option<Retry>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Trigger {
    pub name: String,
    pub description: String,
    pub payload_schema: Option<Value>,
    pub payload: Option<TypeId>,
    pub span: Span,
}

/// How the agent retries a command that timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub max_attempts: u32,
    pub backoff_ms: u32,
}

impl From<RetryDoc> for Retry {
    fn from(r: RetryDoc) -> Self {
        Self {
            max_attempts: r.max_attempts,
            backoff_ms: r.backoff_ms,
        }
    }
}

impl Device {
    /// The agent-side tool name of a command: `device__{device}__{command}`.
    pub fn tool_name(&self, command: &Command) -> String {
        format!("device__{}__{}", self.name, command.name)
    }

    /// A schema made self-contained for the wire: the definitions it refers to (transitively)
    /// travel inside it, so `#/definitions/X` still resolves for the gateway and the agent.
    pub fn standalone_schema(&self, schema: &Value) -> Value {
        let mut needed: Vec<String> = Vec::new();
        let mut queue = vec![schema];
        while let Some(s) = queue.pop() {
            for name in refs_in(s) {
                if !needed.contains(&name) {
                    if let Some(def) = self.definitions.get(&name) {
                        queue.push(def);
                    }
                    needed.push(name);
                }
            }
        }
        if needed.is_empty() {
            return schema.clone();
        }
        let mut out = schema.as_object().cloned().unwrap_or_default();
        let defs: Map<String, Value> = self
            .definitions
            .iter()
            .filter(|(k, _)| needed.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert("definitions".into(), Value::Object(defs));
        Value::Object(out)
    }

    /// A typical valid value of one of this device's schemas (an input, an output or a trigger
    /// payload), its definitions resolved: see [`crate::example`].
    pub fn example_of(&self, schema: &Value) -> Result<Value, crate::example::ExampleError> {
        crate::example::example(&self.standalone_schema(schema))
    }

    /// The command manifest as the registration message carries it (PROTOCOL.md): `timeoutMs`
    /// only when it is not the default, `retry` only when set.
    pub fn registration_commands(&self) -> Value {
        Value::Array(
            self.commands
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("name".into(), json!(c.name));
                    m.insert("description".into(), json!(c.description));
                    if let Some(s) = &c.input_schema {
                        m.insert("inputSchema".into(), self.standalone_schema(s));
                    }
                    if c.timeout_ms != DEFAULT_TIMEOUT_MS {
                        m.insert("timeoutMs".into(), json!(c.timeout_ms));
                    }
                    if let Some(r) = c.retry {
                        m.insert("retry".into(), json!(r));
                    }
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// The tools an agent sees for this device.
    pub fn tools(&self) -> Value {
        Value::Array(
            self.commands
                .iter()
                .map(|c| {
                    let input = c.input_schema.as_ref().map_or_else(
                        || json!({"type": "object", "properties": {}, "additionalProperties": false}),
                        |s| self.standalone_schema(s),
                    );
                    json!({
                        "name": self.tool_name(c),
                        "description": c.description,
                        "inputSchema": input,
                    })
                })
                .collect(),
        )
    }
}

/// Names of the definitions a schema refers to with `#/definitions/Name`.
fn refs_in(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(name) = m
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                {
                    out.push(name.replace("~1", "/").replace("~0", "~"));
                }
                stack.extend(m.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}
