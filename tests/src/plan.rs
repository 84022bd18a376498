//! A conformance session derived from any manifest: which commands the gateway sends, with
//! which payloads and ids, and what the device must register. The scripted session in
//! `session.rs` runs it; `plan_facts.rs` judges the transcript against it.
//!
//! Payloads come from the command's `inputSchema` ([`crate::schema_instance`]); a schema that
//! cannot be instantiated fails [`Plan::from_manifest`] with the command named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::schema_instance::{valid_instance, wrong_type_for_required_field};

/// The command timeout the registration leaves out (PROTOCOL.md).
const DEFAULT_TIMEOUT_MS: i64 = 30_000;

/// Ids of the steps that are not per command.
pub mod ids {
    pub const UNKNOWN: &str = "cmd-unknown";
    pub const AFTER_ERROR: &str = "cmd-after-error";
    pub const AFTER_CONNECTED: &str = "cmd-after-connected";
    pub const AFTER_GARBAGE: &str = "cmd-after-garbage";

    /// The id of a command's planned call (sent twice: the second is a duplicate).
    pub fn run(command: &str) -> String {
        format!("cmd-run-{command}")
    }

    /// The id of the call with an invalid payload.
    pub fn invalid(command: &str) -> String {
        format!("cmd-invalid-{command}")
    }
}

/// One command the gateway sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub id: String,
    pub command: String,
    pub payload: Value,
}

/// The call whose payload breaks one rule: `field` has the wrong type.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidCall {
    pub call: Call,
    pub field: String,
}

/// A manifest's command as the plan needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedCommand {
    pub name: String,
    /// The input schema made self-contained (its definitions inside), as registered.
    pub input_schema: Option<Value>,
    /// The output schema made self-contained, for checking and shaping answers.
    pub output_schema: Option<Value>,
    /// The value the reference device answers with: a valid instance of the output schema.
    pub reference_output: Option<Value>,
}

/// Everything the session needs to run a manifest's device and judge it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub manifest: PathBuf,
    pub device_name: String,
    pub group: Option<String>,
    /// The registration's `commands`, as the official client registers them.
    pub registration: Value,
    pub commands: Vec<PlannedCommand>,
    /// Each command once with a valid payload; each is then sent again with the same id.
    pub calls: Vec<Call>,
    /// A command name the manifest does not have.
    pub unknown: Call,
    /// `None` when no command has a required field with a declared type.
    pub invalid: Option<InvalidCall>,
    /// The command sent after the error event, the connected event and garbage, to show the
    /// device still works: a command without input if there is one.
    pub probe: (String, Value),
    /// Trigger name to its self-contained payload schema (`None`: no schema).
    pub triggers: BTreeMap<String, Option<Value>>,
}

impl Plan {
    /// Read `path` (YAML) and derive the plan.
    pub fn from_manifest(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest =
            yaml_to_json(&text).with_context(|| format!("parsing {}", path.display()))?;
        Self::from_json(path, &manifest)
            .with_context(|| format!("deriving a session from {}", path.display()))
    }

    /// Derive the plan from a manifest already read as JSON.
    pub fn from_json(path: &Path, manifest: &Value) -> Result<Self> {
        let device_name = manifest["name"]
            .as_str()
            .context("the manifest has no name")?
            .to_string();
        let group = manifest["group"].as_str().map(str::to_string);
        let definitions = manifest.get("definitions").cloned().unwrap_or(json!({}));
        let mut commands = Vec::new();
        let mut registration = Vec::new();
        let mut calls = Vec::new();
        let mut invalid = None;
        for command in manifest["commands"].as_array().into_iter().flatten() {
            let name = command["name"]
                .as_str()
                .context("a command has no name")?
                .to_string();
            let standalone = |key: &str| {
                command
                    .get(key)
                    .filter(|s| !s.is_null())
                    .map(|s| standalone_schema(s, &definitions))
            };
            let input_schema = standalone("inputSchema");
            let output_schema = standalone("outputSchema");
            registration.push(registration_entry(command, &name, input_schema.as_ref())?);
            let payload = match &input_schema {
                Some(schema) => valid_instance(schema)
                    .with_context(|| format!("command `{name}`: inputSchema"))?,
                None => json!({}),
            };
            if let (None, Some(schema)) = (&invalid, &input_schema) {
                if let Some((field, broken)) = wrong_type_for_required_field(schema, &payload)
                    .with_context(|| format!("command `{name}`: inputSchema"))?
                {
                    invalid = Some(InvalidCall {
                        call: Call {
                            id: ids::invalid(&name),
                            command: name.clone(),
                            payload: broken,
                        },
                        field,
                    });
                }
            }
            let reference_output = match &output_schema {
                Some(schema) => Some(
                    valid_instance(schema)
                        .with_context(|| format!("command `{name}`: outputSchema"))?,
                ),
                None => None,
            };
            calls.push(Call {
                id: ids::run(&name),
                command: name.clone(),
                payload,
            });
            commands.push(PlannedCommand {
                name,
                input_schema,
                output_schema,
                reference_output,
            });
        }
        let mut unknown_name = "does_not_exist".to_string();
        while commands.iter().any(|c| c.name == unknown_name) {
            unknown_name.push_str("_either");
        }
        let unknown = Call {
            id: ids::UNKNOWN.into(),
            command: unknown_name.clone(),
            payload: json!({}),
        };
        let probe = commands
            .iter()
            .position(|c| c.input_schema.is_none())
            .or((!calls.is_empty()).then_some(0))
            .map(|i| (calls[i].command.clone(), calls[i].payload.clone()))
            .unwrap_or((unknown_name, json!({})));
        let mut triggers = BTreeMap::new();
        for trigger in manifest["triggers"].as_array().into_iter().flatten() {
            let name = trigger["name"].as_str().context("a trigger has no name")?;
            let schema = trigger
                .get("payloadSchema")
                .filter(|s| !s.is_null())
                .map(|s| standalone_schema(s, &definitions));
            triggers.insert(name.to_string(), schema);
        }
        Ok(Self {
            manifest: path.to_path_buf(),
            device_name,
            group,
            registration: Value::Array(registration),
            commands,
            calls,
            unknown,
            invalid,
            probe,
            triggers,
        })
    }

    /// The calls after the error event, the connected event and garbage.
    pub fn probe_call(&self, id: &str) -> Call {
        Call {
            id: id.into(),
            command: self.probe.0.clone(),
            payload: self.probe.1.clone(),
        }
    }

    /// The command a planned id belongs to.
    pub fn command(&self, name: &str) -> Option<&PlannedCommand> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Replace the planned payload of `command`; the new one must satisfy its inputSchema.
    /// For handlers whose valid input depends on the device's state (an id it handed out).
    pub fn with_payload(mut self, command: &str, payload: Value) -> Result<Self> {
        let planned = self
            .command(command)
            .with_context(|| format!("the manifest has no command `{command}`"))?;
        if let Some(schema) = &planned.input_schema {
            let errors = crate::schema_instance::errors(schema, &payload)?;
            if !errors.is_empty() {
                bail!("payload {payload} for `{command}` breaks its inputSchema: {errors:?}");
            }
        }
        for call in self.calls.iter_mut().filter(|c| c.command == command) {
            call.payload = payload.clone();
        }
        if self.probe.0 == command {
            self.probe.1 = payload;
        }
        Ok(self)
    }

    /// The manifest as the generic reference device reads it (`tests/python/generic_device.py`):
    /// name, group, and per command its registration fields and the output it answers with.
    pub fn reference_manifest(&self) -> Value {
        let commands: Vec<Value> = self
            .registration
            .as_array()
            .into_iter()
            .flatten()
            .zip(&self.commands)
            .map(|(registered, planned)| {
                let mut entry = registered.clone();
                if let Some(output) = &planned.reference_output {
                    entry["output"] = output.clone();
                }
                entry
            })
            .collect();
        json!({"name": self.device_name, "group": self.group, "commands": commands})
    }

    /// Every command id the session sends.
    pub fn all_ids(&self) -> Vec<String> {
        let mut all: Vec<String> = self.calls.iter().map(|c| c.id.clone()).collect();
        all.push(self.unknown.id.clone());
        all.extend(self.invalid.iter().map(|i| i.call.id.clone()));
        all.extend([ids::AFTER_ERROR, ids::AFTER_CONNECTED, ids::AFTER_GARBAGE].map(String::from));
        all
    }
}

/// A registration entry: `inputSchema` only when set, `timeoutMs` only when not 30000,
/// `retry` only when set; `outputSchema` is never sent.
fn registration_entry(command: &Value, name: &str, input: Option<&Value>) -> Result<Value> {
    let mut entry = Map::new();
    entry.insert("name".into(), json!(name));
    let description = command["description"].as_str().unwrap_or_default();
    entry.insert("description".into(), json!(description));
    if let Some(schema) = input {
        entry.insert("inputSchema".into(), schema.clone());
    }
    if let Some(ms) = command.get("timeoutMs").filter(|v| !v.is_null()) {
        let ms = ms
            .as_i64()
            .with_context(|| format!("command `{name}`: timeoutMs {ms}"))?;
        if ms != DEFAULT_TIMEOUT_MS {
            entry.insert("timeoutMs".into(), json!(ms));
        }
    }
    if let Some(retry) = command.get("retry").filter(|v| !v.is_null()) {
        entry.insert(
            "retry".into(),
            json!({"maxAttempts": retry["maxAttempts"], "backoffMs": retry["backoffMs"]}),
        );
    }
    Ok(Value::Object(entry))
}

/// The schema with the manifest definitions it refers to (transitively) inside it, so
/// `#/definitions/X` resolves on the wire (PROTOCOL.md: schemas travel self-contained).
pub fn standalone_schema(schema: &Value, definitions: &Value) -> Value {
    let mut needed: Vec<String> = Vec::new();
    let mut queue = vec![schema];
    while let Some(s) = queue.pop() {
        for name in refs_in(s) {
            if !needed.contains(&name) {
                if let Some(def) = definitions.get(&name) {
                    queue.push(def);
                }
                needed.push(name);
            }
        }
    }
    let found: Map<String, Value> = needed
        .iter()
        .filter_map(|n| definitions.get(n).map(|d| (n.clone(), d.clone())))
        .collect();
    if found.is_empty() {
        return schema.clone();
    }
    let mut out = schema.as_object().cloned().unwrap_or_default();
    out.insert("definitions".into(), Value::Object(found));
    Value::Object(out)
}

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

/// A YAML document as JSON (mapping keys must be strings, numbers or booleans).
pub fn yaml_to_json(text: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(text).context("not YAML")?;
    let Some(doc) = docs.first() else {
        bail!("empty document");
    };
    convert(doc)
}

fn convert(yaml: &Yaml) -> Result<Value> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => json!(b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => {
            let f: f64 = r.parse().with_context(|| format!("number {r}"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .with_context(|| format!("number {r} has no JSON form"))?
        }
        Yaml::String(s) => json!(s),
        Yaml::Array(items) => Value::Array(items.iter().map(convert).collect::<Result<_>>()?),
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => bail!("mapping key {other:?} is not a scalar"),
                };
                out.insert(key, convert(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => bail!("unsupported YAML node {yaml:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests() -> PathBuf {
        crate::deps::workspace_root().join("manifests")
    }

    #[test]
    fn every_repository_manifest_yields_a_plan_whose_payloads_validate() {
        let mut seen = 0;
        for entry in std::fs::read_dir(manifests()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let plan = Plan::from_manifest(&path).unwrap_or_else(|e| panic!("{e:?}"));
            for call in &plan.calls {
                let planned = plan.command(&call.command).unwrap();
                if let Some(schema) = &planned.input_schema {
                    let errors = crate::schema_instance::errors(schema, &call.payload).unwrap();
                    assert!(errors.is_empty(), "{}: {errors:?}", call.id);
                }
            }
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} manifests");
    }

    #[test]
    fn the_label_printer_plan() {
        let plan = Plan::from_manifest(&manifests().join("label-printer.yaml")).unwrap();
        assert_eq!(plan.device_name, "label-printer");
        assert_eq!(plan.group.as_deref(), Some("warehouse-printers"));
        assert_eq!(
            plan.calls[0].payload,
            json!({"labelData": {"tracking": "AAAAAAAA", "carrier": "ups", "to": {
                "name": "a", "street": "a", "city": "a", "postalCode": "AAA", "country": "AA"}}})
        );
        let invalid = plan.invalid.as_ref().unwrap();
        assert_eq!(invalid.field, "labelData");
        assert_eq!(invalid.call.payload, json!({"labelData": 7}));
        // The Address definition travels inside print_label's registered schema.
        let registered = &plan.registration[0];
        assert_eq!(registered["timeoutMs"], 15000);
        assert_eq!(
            registered["retry"],
            json!({"maxAttempts": 3, "backoffMs": 2000})
        );
        assert!(registered["inputSchema"]["definitions"]["Address"].is_object());
        assert_eq!(plan.probe.0, "get_status");
        assert_eq!(plan.registration[1].get("timeoutMs"), None);
    }

    #[test]
    fn the_conformance_fixture_registers_as_the_strict_suite_expects() {
        let plan = Plan::from_manifest(&manifests().join("conformance-device.yaml")).unwrap();
        assert_eq!(
            plan.registration,
            crate::protocol_facts::expected_registration_commands()
        );
    }
}
