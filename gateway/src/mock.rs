//! A device made from a manifest alone: it registers the manifest's commands on the Rust
//! runtime, refuses payloads its `inputSchema` refuses (as generated devices do, naming the
//! field), answers the rest with an example of its `outputSchema` ([`luagen::example`]), and
//! fires any trigger with an example payload. For trying an agent before the hardware exists,
//! and for the demo.

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
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
    triggers: Vec<Trigger>,
}

/// What one command checks and answers.
struct Command {
    name: String,
    /// The standalone input schema, when the command has one.
    input: Option<Value>,
    /// The example answer (`None`: a response without `data`).
    answer: Option<Value>,
}

/// A trigger the mock can fire: its example payload, and the schema any other payload must
/// pass first.
struct Trigger {
    name: String,
    example: Value,
    schema: Option<Value>,
}

/// How a mock behaves beyond its manifest: the knobs for trying an agent against a slow or
/// unreliable device.
#[derive(Clone, Debug, PartialEq)]
pub struct MockOptions {
    /// How long each valid command takes before it is answered: drawn evenly from this range
    /// (a payload the schema refuses is answered at once, as devices do).
    pub latency: RangeInclusive<Duration>,
    /// The share of valid commands answered with an error instead (0 to 1).
    pub failure_rate: f64,
    /// Seeds the draws, so that a run can be repeated.
    pub seed: u64,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO..=Duration::ZERO,
            failure_rate: 0.0,
            seed: 0,
        }
    }
}

/// The mock's draws: SplitMix64, enough for latencies and failures, shared by its commands.
#[derive(Debug)]
struct Draws(Mutex<u64>);

impl Draws {
    /// A number in `[0, 1)`.
    fn unit(&self) -> f64 {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl MockDevice {
    /// Connect and register `manifest`'s device on `config` (whose name is the unit's). Fails
    /// before connecting when a schema has no example this mock can give.
    pub async fn start(manifest: &luagen::Device, config: Config) -> Result<Self> {
        Self::start_with(manifest, config, MockOptions::default()).await
    }

    /// [`start`](Self::start), with latency and failures as `options` say.
    pub async fn start_with(
        manifest: &luagen::Device,
        config: Config,
        options: MockOptions,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&options.failure_rate) {
            bail!(
                "the failure rate is a share from 0 to 1, not {}",
                options.failure_rate
            );
        }
        if options.latency.start() > options.latency.end() {
            bail!("the latency range {:?} is empty", options.latency);
        }
        let options = Arc::new(options);
        let draws = Arc::new(Draws(Mutex::new(options.seed)));
        let mut builder = Device::builder(config);
        for (spec, command) in commands(manifest)? {
            let command = Arc::new(command);
            let (options, draws) = (options.clone(), draws.clone());
            builder = builder.command(spec, move |payload| {
                let (command, options, draws) = (command.clone(), options.clone(), draws.clone());
                async move { command.run(&payload, &options, &draws).await }
            });
        }
        let triggers = manifest
            .triggers
            .iter()
            .map(|t| {
                let example = match &t.payload_schema {
                    Some(s) => manifest
                        .example_of(s)
                        .map_err(|e| anyhow!("no example payload for trigger `{}`: {e}", t.name))?,
                    None => Value::Object(Default::default()),
                };
                Ok(Trigger {
                    name: t.name.clone(),
                    example,
                    schema: t
                        .payload_schema
                        .as_ref()
                        .map(|s| manifest.standalone_schema(s)),
                })
            })
            .collect::<Result<_>>()?;
        let handle = builder.connect().await.context("connecting the mock")?;
        Ok(Self { handle, triggers })
    }

    /// The manifest's trigger names, in its order.
    pub fn trigger_names(&self) -> impl Iterator<Item = &str> {
        self.triggers.iter().map(|t| t.name.as_str())
    }

    /// Fire `trigger` with `payload`, which its `payloadSchema` must accept first (as a
    /// generated device checks it), and wait for the gateway's ack.
    pub async fn fire_with(&self, trigger: &str, payload: Value) -> Result<TriggerAck> {
        let t = self.trigger(trigger)?;
        if let Some(schema) = &t.schema {
            let validator = Validator::new(schema, Dialect::Draft7);
            if let Some(e) = validator.errors(&payload).first() {
                let field = match field_path(&e.instance_path) {
                    f if f.is_empty() => "payload".to_string(),
                    f => f,
                };
                bail!("the payload of `{trigger}` is refused: {field}: {e}");
            }
        }
        Ok(self.handle.trigger(trigger, payload).await?)
    }

    fn trigger(&self, name: &str) -> Result<&Trigger> {
        self.triggers
            .iter()
            .find(|t| t.name == name)
            .with_context(|| format!("the manifest declares no trigger `{name}`"))
    }

    /// The runtime's handle (events, shutdown, triggers of your own).
    pub fn handle(&self) -> &DeviceHandle {
        &self.handle
    }

    /// The example payload `trigger` is fired with.
    pub fn trigger_payload(&self, trigger: &str) -> Option<&Value> {
        self.triggers
            .iter()
            .find(|t| t.name == trigger)
            .map(|t| &t.example)
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
            Ok((
                spec,
                Command {
                    name: command.name.clone(),
                    input,
                    answer,
                },
            ))
        })
        .collect()
}

impl Command {
    /// Check, wait, maybe fail, answer.
    async fn run(&self, payload: &Value, options: &MockOptions, draws: &Draws) -> CommandResult {
        let answer = self.answer(payload).inspect_err(|e| {
            tracing::info!("{}: refused: {}", self.name, e.message());
        })?;
        let (min, max) = (*options.latency.start(), *options.latency.end());
        let latency = min + (max - min).mul_f64(draws.unit());
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if options.failure_rate > 0.0 && draws.unit() < options.failure_rate {
            tracing::info!("{}: failing on purpose after {latency:?}", self.name);
            return Err(CommandError::handler(format!(
                "{} failed on purpose: the mock fails {:.0}% of commands",
                self.name,
                options.failure_rate * 100.0
            )));
        }
        tracing::info!("{}: answered after {latency:?}", self.name);
        Ok(answer)
    }

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

    #[tokio::test]
    async fn latency_and_failures_follow_the_knobs() {
        let manifest = luagen::load_str("shelf.yaml", MANIFEST).unwrap();
        let commands = commands(&manifest).unwrap();
        let put = &commands[0].1;
        let valid = serde_json::json!({"items": [{"name": "cup"}]});
        let slow = MockOptions {
            latency: Duration::from_millis(30)..=Duration::from_millis(60),
            ..MockOptions::default()
        };
        let draws = Draws(Mutex::new(1));
        let start = std::time::Instant::now();
        put.run(&valid, &slow, &draws).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A refusal does not wait: the device checks before its handler runs.
        let start = std::time::Instant::now();
        let refused = put.run(&serde_json::json!({}), &slow, &draws).await;
        assert!(refused.is_err() && start.elapsed() < Duration::from_millis(30));
        // A quarter of 2,000 commands fail, give or take what chance allows (the draws are
        // seeded, so this count is the same on every run).
        let flaky = MockOptions {
            failure_rate: 0.25,
            seed: 42,
            ..MockOptions::default()
        };
        let draws = Draws(Mutex::new(flaky.seed));
        let mut failed = 0;
        for _ in 0..2000 {
            if let Err(e) = put.run(&valid, &flaky, &draws).await {
                assert!(e.message().contains("failed on purpose"), "{}", e.message());
                failed += 1;
            }
        }
        assert!((400..600).contains(&failed), "{failed} of 2000 failed");
        let never = MockOptions::default();
        for _ in 0..100 {
            put.run(&valid, &never, &draws).await.unwrap();
        }
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/labelData/tracking"), "labelData.tracking");
        assert_eq!(field_path("/items/2/name"), "items[2].name");
        assert_eq!(field_path("/a~1b"), "a/b");
    }
}
