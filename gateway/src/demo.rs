//! `luagen demo`: the whole loop on one machine, with no account, broker or network. Loads a
//! manifest (the greenhouse sensor of the transport guide unless another is given), starts the
//! embedded gateway on free loopback ports, runs a [`MockDevice`] of it in process on the Rust
//! runtime, calls each command with an example payload, shows one payload refused before it
//! is sent, fires each trigger (which the gateway acknowledges and answers with a
//! `trigger_result`), sends the device one `error`, and prints each round trip.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_device::{Config, DeviceEvent};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::answer::FixedResults;

use crate::call::{CallOptions, Caller, Target};
use crate::keys::Keys;
use crate::link::AgentLogin;
use crate::mock::MockDevice;
use crate::send::{send, Notice};
use crate::{count, Gateway, GatewayConfig, KeyPolicy};

/// The manifest the demo runs when given none.
pub const DEFAULT_MANIFEST_PATH: &str = "manifests/greenhouse-sensor.yaml";
const DEFAULT_MANIFEST: &str = include_str!("../../manifests/greenhouse-sensor.yaml");
const AGENT_ID: &str = "demo-agent";
/// How long the device waits for a trigger_result or an error.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// Run the demo on the manifest `(path, text)` (the greenhouse when `None`), writing its
/// report to `out`.
pub async fn run(manifest: Option<(&str, &str)>, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let (path, text) = manifest.unwrap_or((DEFAULT_MANIFEST_PATH, DEFAULT_MANIFEST));
    let manifest = luagen::load_str(path, text)
        .map_err(|d| anyhow::anyhow!("{d}"))
        .with_context(|| format!("loading {path}"))?;
    writeln!(out, "luagen demo: {} ({path})", manifest.name)?;
    let rust = luagen::emit::rust::RustEmitter::new(&manifest).source();
    writeln!(
        out,
        "  generated {} lines of typed Rust (what #[lua_device] expands to; see `luagen rust`)",
        rust.lines().count()
    )?;
    for tool in manifest.tools().as_array().into_iter().flatten() {
        writeln!(out, "  tool  {}", tool["name"].as_str().unwrap_or("?"))?;
    }

    let api_key = format!("demo-key-{:x}", std::process::id());
    let mut config = GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(AGENT_ID, &api_key)));
    // The gateway answers each trigger after its ack, as `luagen dev --trigger-result` does.
    let results = manifest
        .triggers
        .iter()
        .map(|t| (t.name.clone(), trigger_result(&t.name)))
        .collect();
    if !manifest.triggers.is_empty() {
        config.answers.answerer = Some(Arc::new(FixedResults(results)));
    }
    let gateway = Gateway::start(config).await?;
    let url = gateway
        .url()
        .context("the demo gateway has a TCP listener")?;
    writeln!(out, "gateway: embedded broker + emulator on {url}")?;

    let mut config = Config::new(AGENT_ID, &api_key, &manifest.name).with_url(&url);
    config.group = manifest.group.clone();
    let device = MockDevice::start(&manifest, config).await?;
    let record = gateway
        .wait_registered(AGENT_ID, &manifest.name, Duration::from_secs(10))
        .await?;
    let wanted: Vec<String> = manifest.commands.iter().map(|c| c.name.clone()).collect();
    let registered: Vec<String> = record
        .command_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    if wanted != registered {
        bail!("the device registered {registered:?}, the manifest declares {wanted:?}");
    }
    writeln!(
        out,
        "device: {} (a mock: example answers) registered [{}] in group {}",
        record.device_name,
        registered.join(", "),
        record.group.as_deref().unwrap_or("-")
    )?;

    let login = AgentLogin {
        url: url.clone(),
        agent_id: AGENT_ID.into(),
        api_key: Some(api_key.clone()),
    };
    let caller = Caller::connect(&login).await?;
    let target = Target::Device(manifest.name.clone());
    let mut calls = Vec::new();
    for command in &manifest.commands {
        let payload = match &command.input_schema {
            Some(schema) => manifest
                .example_of(schema)
                .with_context(|| format!("an example payload for `{}`", command.name))?,
            None => json!({}),
        };
        calls.push((command.name.as_str(), payload));
    }
    // One payload the agent's side refuses before sending: a command's required fields left
    // out.
    let refusal = manifest.commands.iter().find(|c| {
        c.input_schema
            .as_ref()
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty())
    });
    if let Some(command) = refusal {
        calls.push((command.name.as_str(), json!({})));
    }
    let (mut answered, mut refused) = (0, 0);
    for (command, payload) in calls {
        writeln!(out, "\n→ call {command} {payload}")?;
        let plans = match caller.plan(&target, command, &payload, &CallOptions::default()) {
            Ok(plans) => plans,
            Err(refusal) => {
                writeln!(out, "✗ refused locally: {refusal}")?;
                refused += 1;
                continue;
            }
        };
        let sent = Instant::now();
        let outcome = caller.send(&plans[0]).await?;
        let response = outcome.to_json();
        writeln!(out, "← {} in {:.1} ms", compact(&response), ms(sent))?;
        if !outcome.succeeded() {
            bail!("{command} failed: {response}");
        }
        answered += 1;
    }

    for trigger in &manifest.triggers {
        let payload = device
            .trigger_payload(&trigger.name)
            .cloned()
            .unwrap_or_default();
        writeln!(out, "\n→ trigger {} {payload}", trigger.name)?;
        let fired = Instant::now();
        let (ack, result) = device
            .fire_for_result(&trigger.name, ANSWER_WAIT)
            .await
            .with_context(|| format!("trigger `{}` was not acknowledged", trigger.name))?;
        writeln!(
            out,
            "← trigger_ack triggerId={} received={}",
            ack.trigger_id, ack.received,
        )?;
        if !ack.received {
            bail!("the gateway did not accept the trigger");
        }
        let Some(result) = result else {
            bail!(
                "the device got no trigger_result for `{}` within {ANSWER_WAIT:?}",
                trigger.name
            );
        };
        writeln!(
            out,
            "← trigger_result {result}, received by the device {:.1} ms after firing",
            ms(fired)
        )?;
    }

    // One server error, as `luagen send error` sends it: the device surfaces it and goes on.
    let (code, message) = (
        "DEMO_NOTICE",
        "an error from the gateway: the device reports it and keeps running",
    );
    writeln!(
        out,
        "
→ error {code}: {message}"
    )?;
    let mut events = device.handle().events();
    let sent = Instant::now();
    let notice = Notice::Error {
        code: code.into(),
        message: message.into(),
    };
    send(&login, &manifest.name, &notice, false).await?;
    let received = tokio::time::timeout(ANSWER_WAIT, async {
        loop {
            match events.recv().await {
                Ok(DeviceEvent::ServerError { error, .. }) => return Some(error),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .context("the device got no error message")?;
    writeln!(
        out,
        "← the device's error event got code={} message={:?} in {:.1} ms",
        received.code.as_deref().unwrap_or("-"),
        received.message.as_deref().unwrap_or(""),
        ms(sent)
    )?;

    device.shutdown().await?;
    caller.close().await;
    writeln!(
        out,
        "\ndemo finished in {:.0} ms: {}, {} refused locally, {} answered, 1 error delivered",
        ms(started),
        count(answered, "call"),
        refused,
        count(manifest.triggers.len(), "trigger")
    )?;
    Ok(())
}

/// What the demo's gateway answers `trigger` with.
fn trigger_result(trigger: &str) -> Value {
    json!({"handledBy": "luagen demo", "trigger": trigger})
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
