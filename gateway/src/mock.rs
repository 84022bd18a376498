//! A device made from a manifest alone: it registers the manifest's commands on the Rust
//! runtime, refuses payloads its `inputSchema` refuses (as generated devices do, naming the
//! field), answers the rest with an example of its `outputSchema` ([`luagen::example`]), and
//! fires any trigger with an example payload. For trying an agent before the hardware exists,
//! and for the demo.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use lua_device::message::TriggerAck;
use lua_device::{
    CommandError, CommandResult, CommandSpec, Config, Device, DeviceEvent, DeviceHandle,
};
use luagen::validator::{Dialect, Validator};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

/// A connected mock of one manifest's device.
pub struct MockDevice {
    handle: DeviceHandle,
    triggers: Vec<(String, Value)>,
}

/// What one command checks and answers.
struct Command {
    /// The standalone input schema, when the command has one.
    input: Option<Value>,
    /// The example answer (`None`: a response without `data`).
    answer: Option<Value>,
}

impl MockDevice {
    /// Connect and register `manifest`'s device on `config` (whose name is the unit's). Fails
    /// before connecting when a schema has no example this mock can give.
    pub async fn start(manifest: &luagen::Device, config: Config) -> Result<Self> {
        let mut builder = Device::builder(config);
        for (spec, command) in commands(manifest)? {
            let command = Arc::new(command);
            builder = builder.command(spec, move |payload| {
                let command = command.clone();
                async move { command.answer(&payload) }
            });
        }
        let triggers = manifest
            .triggers
            .iter()
            .map(|t| {
                let payload = match &t.payload_schema {
                    Some(s) => manifest
                        .example_of(s)
                        .map_err(|e| anyhow!("no example payload for trigger `{}`: {e}", t.name))?,
                    None => Value::Object(Default::default()),
                };
                Ok((t.name.clone(), payload))
            })
            .collect::<Result<_>>()?;
        let handle = builder.connect().await.context("connecting the mock")?;
        Ok(Self { handle, triggers })
    }

    /// The runtime's handle (events, shutdown, triggers of your own).
    pub fn handle(&self) -> &DeviceHandle {
        &self.handle
    }

    /// The example payload `trigger` is fired with.
    pub fn trigger_payload(&self, trigger: &str) -> Option<&Value> {
        self.triggers
            .iter()
            .find(|(name, _)| name == trigger)
            .map(|(_, payload)| payload)
    }

    /// Fire `trigger` with its example payload and wait for the gateway's ack.
    pub async fn fire(&self, trigger: &str) -> Result<TriggerAck> {
        let payload = self
            .trigger_payload(trigger)
            .with_context(|| format!("the manifest declares no trigger `{trigger}`"))?
            .clone();
        Ok(self.handle.trigger(trigger, payload).await?)
    }

    /// Fire `trigger` like [`fire`](Self::fire), then wait up to `within` for the
    /// `trigger_result` that answers it (`None`: none came).
    pub async fn fire_for_result(
        &self,
        trigger: &str,
        within: Duration,
    ) -> Result<(TriggerAck, Option<Value>)> {
        // Listening before firing, so a quick answer is not missed.
        let mut events = self.handle.events();
        let ack = self.fire(trigger).await?;
        if !ack.received {
            return Ok((ack, None));
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) | Ok(Err(RecvError::Closed)) => return Ok((ack, None)),
                Ok(Ok(DeviceEvent::TriggerResult {
                    trigger_name,
                    result,
                })) if trigger_name == trigger => return Ok((ack, Some(result))),
                Ok(_) => {}
            }
        }
    }

    /// Disconnect cleanly (the device's offline status is published first).
    pub async fn shutdown(self) -> Result<()> {
        Ok(self.handle.shutdown().await?)
    }
}

/// Each command of `manifest` as registered, with what it checks and answers.
fn commands(manifest: &luagen::Device) -> Result<Vec<(CommandSpec, Command)>> {
    let registration = manifest.registration_commands();
    manifest
        .commands
        .iter()
        .zip(registration.as_array().into_iter().flatten())
        .map(|(command, entry)| {
            let spec: CommandSpec = serde_json::from_value(entry.clone())
                .with_context(|| format!("command `{}`", command.name))?;
            let answer = command
                .output_schema
                .as_ref()
                .map(|s| manifest.example_of(s))
                .transpose()
                .map_err(|e| anyhow!("no example output for `{}`: {e}", command.name))?;
            let input = command
                .input_schema
                .as_ref()
                .map(|s| manifest.standalone_schema(s));
            Ok((spec, Command { input, answer }))
        })
        .collect()
}

impl Command {
    fn answer(&self, payload: &Value) -> CommandResult {
        if let Some(schema) = &self.input {
            let validator = Validator::new(schema, Dialect::Draft7);
            if let Some(e) = validator.errors(payload).first() {
                return Err(CommandError::invalid_payload(
                    field_path(&e.instance_path),
                    e.to_string(),
                ));
            }
        }
        Ok(self.answer.clone())
    }
}

/// A JSON pointer (`/items/2/name`) as the runtime names fields (`items[2].name`).
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for step in pointer.split('/').skip(1) {
        let step = step.replace("~1", "/").replace("~0", "~");
        if step.parse::<usize>().is_ok() {
            out.push_str(&format!("[{step}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&step);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "name: shelf
commands:
  - name: put
    description: Put items on the shelf
    inputSchema:
      type: object
      properties:
        items:
          type: array
          items: { type: object, properties: { name: { type: string, maxLength: 4 } } }
      required: [items]
    outputSchema:
      type: object
      properties: { count: { type: integer, minimum: 1, examples: [3] } }
      required: [count]
  - name: ping
    description: No payload, no answer
";

    #[test]
    fn commands_refuse_what_their_schema_refuses_and_answer_an_example() {
        let manifest = luagen::load_str("shelf.yaml", MANIFEST).unwrap();
        let commands = commands(&manifest).unwrap();
        let (spec, put) = &commands[0];
        assert_eq!(spec.name, "put");
        assert!(spec.input_schema.is_some());
        let ok = put.answer(&serde_json::json!({"items": [{"name": "cup"}]}));
        assert_eq!(ok.unwrap(), Some(serde_json::json!({"count": 3})));
        let refused = put
            .answer(&serde_json::json!({"items": [{"name": "teapot"}]}))
            .unwrap_err();
        assert!(
            refused.message().starts_with("items[0].name: "),
            "{}",
            refused.message()
        );
        let missing = put.answer(&serde_json::json!({})).unwrap_err();
        assert!(
            missing.message().starts_with("payload: "),
            "{}",
            missing.message()
        );
        let (_, ping) = &commands[1];
        assert_eq!(ping.answer(&serde_json::json!({"any": 1})).unwrap(), None);
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/labelData/tracking"), "labelData.tracking");
        assert_eq!(field_path("/items/2/name"), "items[2].name");
        assert_eq!(field_path("/a~1b"), "a/b");
    }
}
