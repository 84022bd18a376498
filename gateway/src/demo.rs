//! `luagen demo`: the whole loop on one machine, with no account, broker or network. Loads the
//! greenhouse manifest, starts the embedded gateway on free loopback ports, runs the greenhouse
//! example device in process on the Rust runtime, calls its commands, fires its trigger, and
//! prints each round trip.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_device::{Config, DeviceHandle};
use serde_json::{json, Value};

use crate::call::{CallOptions, Caller, Target};
use crate::keys::Keys;
use crate::link::AgentLogin;
use crate::{Gateway, GatewayConfig, KeyPolicy};

const MANIFEST_PATH: &str = "manifests/greenhouse-sensor.yaml";
const MANIFEST: &str = include_str!("../../manifests/greenhouse-sensor.yaml");
const AGENT_ID: &str = "demo-agent";

/// Run the demo, writing its report to `out`.
pub async fn run(out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let manifest = luagen::load_str(MANIFEST_PATH, MANIFEST)
        .map_err(|d| anyhow::anyhow!("{d:?}"))
        .context("loading the greenhouse manifest")?;
    writeln!(out, "luagen demo: {} ({MANIFEST_PATH})", manifest.name)?;
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

    let device = start_greenhouse(&url, &api_key).await?;
    let record = gateway
        .wait_registered(AGENT_ID, greenhouse::DEVICE_NAME, Duration::from_secs(10))
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
        "device: {} registered [{}] in group {}",
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
    let target = Target::Device(greenhouse::DEVICE_NAME.into());
    for (command, payload) in [
        ("read_environment", json!({})),
        ("toggle_irrigation", json!({"enabled": true})),
        ("toggle_irrigation", json!({"enabled": "yes"})),
        ("read_environment", json!({})),
    ] {
        writeln!(out, "\n→ call {command} {payload}")?;
        let plans = match caller.plan(&target, command, &payload, &CallOptions::default()) {
            Ok(plans) => plans,
            Err(refusal) => {
                writeln!(out, "✗ refused locally: {refusal}")?;
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
    }

    let humidity = greenhouse::HUMIDITY_THRESHOLD + 4;
    writeln!(out, "\n→ trigger humidity_alert (humidity {humidity})")?;
    let fired = Instant::now();
    let ack = greenhouse::humidity_alert(&device, humidity, greenhouse::DEVICE_NAME)
        .await
        .context("the humidity alert was not acknowledged")?;
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

    device.shutdown().await?;
    caller.close().await;
    writeln!(
        out,
        "\ndemo finished in {:.0} ms: 3 calls, 1 local refusal, 1 trigger",
        ms(started)
    )?;
    Ok(())
}

/// The greenhouse device, on the gateway at `url`. The one place the demo touches the
/// example's API.
async fn start_greenhouse(url: &str, api_key: &str) -> Result<DeviceHandle> {
    let config = Config::new(AGENT_ID, api_key, greenhouse::DEVICE_NAME).with_url(url);
    greenhouse::connect(config)
        .await
        .context("connecting the greenhouse device")
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
