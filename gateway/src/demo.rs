//! `luagen demo`: the whole loop on one machine, with no account, broker or network. Loads a
//! manifest (the greenhouse sensor of the transport guide unless another is given), starts the
//! embedded gateway on free loopback ports, runs a [`MockDevice`] of it in process on the Rust
//! runtime, calls each command with an example payload, shows one payload refused before it
//! is sent, fires each trigger, and prints each round trip.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_device::Config;
use serde_json::{json, Value};

use crate::call::{CallOptions, Caller, Target};
use crate::keys::Keys;
use crate::link::AgentLogin;
use crate::mock::MockDevice;
use crate::{count, Gateway, GatewayConfig, KeyPolicy};

/// The manifest the demo runs when given none.
pub const DEFAULT_MANIFEST_PATH: &str = "manifests/greenhouse-sensor.yaml";
const DEFAULT_MANIFEST: &str = include_str!("../../manifests/greenhouse-sensor.yaml");
const AGENT_ID: &str = "demo-agent";

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
    let gateway = Gateway::start(GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(
        AGENT_ID, &api_key,
    ))))
    .await?;
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

    let caller = Caller::connect(&AgentLogin {
        url: url.clone(),
        agent_id: AGENT_ID.into(),
        api_key: Some(api_key.clone()),
    })
    .await?;
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
        let ack = device
            .fire(&trigger.name)
            .await
            .with_context(|| format!("trigger `{}` was not acknowledged", trigger.name))?;
        writeln!(
            out,
            "← trigger_ack triggerId={} received={} in {:.1} ms",
            ack.trigger_id,
            ack.received,
            ms(fired)
        )?;
        if !ack.received {
            bail!("the gateway did not accept the trigger");
        }
    }

    device.shutdown().await?;
    caller.close().await;
    writeln!(
        out,
        "\ndemo finished in {:.0} ms: {}, {} refused locally, {}",
        ms(started),
        count(answered, "call"),
        refused,
        count(manifest.triggers.len(), "trigger")
    )?;
    Ok(())
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
