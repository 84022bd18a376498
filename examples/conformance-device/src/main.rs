//! The conformance fixture device on the dynamic API.
//!
//! Contract with the conformance suite: env `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`,
//! optional `LUA_MANIFEST` (default: the workspace's `manifests/conformance-device.yaml`) and
//! `LUA_HEARTBEAT_MS`; prints `ready` once connected and registered; exits 0 after a graceful
//! shutdown on SIGTERM or SIGINT.

mod fixture;
mod manifest;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lua_device::{CommandError, CommandResult, Config, Device, DeviceHandle};
use serde_json::{json, Value};

use manifest::Manifest;

const DEFAULT_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../manifests/conformance-device.yaml"
);

// One thread: the device is I/O-bound, and a second worker only costs memory (RSS).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    fixture::init_logging();
    let path = std::env::var("LUA_MANIFEST").unwrap_or_else(|_| DEFAULT_MANIFEST.to_string());
    let source = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let manifest = Manifest::parse(&source).with_context(|| format!("loading {path}"))?;

    let mut config = Config::from_env(&manifest.name)?;
    if config.group.is_none() {
        config.group = manifest.group.clone();
    }
    fixture::heartbeat_from_env(&mut config)?;

    let mut builder = Device::builder(config);
    let handle = builder.handle();
    let count = Arc::new(AtomicU64::new(0));
    for spec in manifest.commands {
        let name = spec.name.to_string();
        let (handle, count) = (handle.clone(), count.clone());
        builder = builder.command(spec, move |payload| {
            run(name.clone(), payload, handle.clone(), count.clone())
        });
    }
    let device = builder.connect().await?;
    fixture::serve(device).await
}

async fn run(
    name: String,
    payload: Value,
    device: DeviceHandle,
    count: Arc<AtomicU64>,
) -> CommandResult {
    match name.as_str() {
        "echo" => Ok(Some(payload)),
        "fail" => Err("deliberate failure".into()),
        "count" => Ok(Some(
            json!({ "count": count.fetch_add(1, Ordering::SeqCst) + 1 }),
        )),
        "no_output" => Ok(None),
        "fire_trigger" => {
            let level = payload
                .get("level")
                .and_then(Value::as_str)
                .ok_or_else(|| CommandError::invalid_payload("level", "must be a string"))?;
            let ack = device
                .trigger("alert", json!({ "level": level }))
                .await
                .map_err(|e| CommandError::handler(e.to_string()))?;
            Ok(Some(
                json!({ "triggerId": ack.trigger_id, "received": ack.received }),
            ))
        }
        "slow" => {
            let ms = payload.get("ms").and_then(Value::as_u64).ok_or_else(|| {
                CommandError::invalid_payload("ms", "must be a non-negative integer")
            })?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Some(json!({ "slept": ms })))
        }
        other => Err(CommandError::handler(format!("no handler for {other}"))),
    }
}
