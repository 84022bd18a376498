//! The greenhouse sensor from the MQTT transport guide: climate readings, irrigation, and a
//! humidity alert, on the dynamic API. Its commands match `manifests/greenhouse-sensor.yaml`.
//!
//! Configured by `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`, `LUA_DEVICE_GROUP` and
//! `LUA_DEVICE_NAME`; stops gracefully on Ctrl-C or SIGTERM.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use lua_device::timestamp::iso8601;
use lua_device::{CommandError, CommandSpec, Config, Device, DeviceEvent, DeviceHandle};
use serde_json::{json, Value};

const HUMIDITY_THRESHOLD: u64 = 80;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = Config::from_env("greenhouse-sensor")?;
    if config.group.is_none() {
        config.group = Some("greenhouse-sensors".into());
    }
    let sensor = config.device_name.clone();
    let irrigation = Arc::new(AtomicBool::new(false));

    let builder = Device::builder(config);
    let mut events = builder.handle().events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                DeviceEvent::Connected => tracing::info!("Sensor online (MQTT)"),
                DeviceEvent::Reconnected => tracing::info!("Sensor reconnected"),
                DeviceEvent::ServerError { raw, .. } => tracing::error!("MQTT error: {raw}"),
                other => tracing::debug!(?other),
            }
        }
    });

    let reading = irrigation.clone();
    let toggling = irrigation.clone();
    let device = builder
        .command(
            CommandSpec::new(
                "read_environment",
                "Read temperature, humidity, and soil moisture",
            ),
            move |_| {
                let on = reading.load(Ordering::SeqCst);
                async move {
                    Ok(Some(json!({
                        "temperature": 28.3,
                        "humidity": 65,
                        "soilMoisture": 42,
                        "irrigationOn": on,
                        "timestamp": iso8601(unix_ms()),
                    })))
                }
            },
        )
        .command(
            CommandSpec::new("toggle_irrigation", "Turn irrigation on or off").with_input_schema(
                &json!({
                    "type": "object",
                    "properties": { "enabled": { "type": "boolean" } },
                    "required": ["enabled"],
                }),
            ),
            move |payload: Value| {
                let state = toggling.clone();
                async move {
                    let enabled =
                        payload
                            .get("enabled")
                            .and_then(Value::as_bool)
                            .ok_or_else(|| {
                                CommandError::invalid_payload("/enabled", "must be a boolean")
                            })?;
                    state.store(enabled, Ordering::SeqCst);
                    Ok(Some(json!({ "irrigationOn": enabled })))
                }
            },
        )
        .connect()
        .await?;

    tokio::spawn(watch_humidity(device.clone(), sensor));
    device.run_until_shutdown().await?;
    Ok(())
}

/// Every 10 s, simulate a humidity reading in [65, 85) and alert above the threshold.
async fn watch_humidity(device: DeviceHandle, sensor: String) {
    let mut ticks = tokio::time::interval(Duration::from_secs(10));
    loop {
        ticks.tick().await;
        let humidity = 65 + random_below(20);
        if humidity > HUMIDITY_THRESHOLD {
            let alert =
                json!({ "humidity": humidity, "threshold": HUMIDITY_THRESHOLD, "sensor": sensor });
            match device.trigger("humidity_alert", alert).await {
                Ok(ack) => {
                    tracing::info!(trigger_id = %ack.trigger_id, humidity, "humidity alert sent")
                }
                Err(e) => tracing::warn!(error = %e, "humidity alert not acknowledged"),
            }
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// A simulation needs no good randomness: the OS-seeded hasher is enough.
fn random_below(n: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(unix_ms());
    h.finish() % n
}
