//! The greenhouse sensor from the MQTT transport guide: climate readings, irrigation, and a
//! humidity alert, on the dynamic API. Its commands match `manifests/greenhouse-sensor.yaml`.
//!
//! A library so that `luagen demo` runs the very same handlers in process; the binary in
//! `main.rs` adds the environment, logging and the periodic humidity check.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lua_device::message::TriggerAck;
use lua_device::timestamp::iso8601;
use lua_device::{CommandError, CommandSpec, Config, Device, DeviceHandle, Error};
use serde_json::{json, Value};

/// The device name of the transport guide.
pub const DEVICE_NAME: &str = "greenhouse-sensor";
/// The group the device joins when none is configured.
pub const DEFAULT_GROUP: &str = "greenhouse-sensors";
/// Relative humidity (percent) above which `humidity_alert` fires.
pub const HUMIDITY_THRESHOLD: u64 = 80;

/// Build the greenhouse device on `config`, connect and register it. The only entry point to
/// the handlers, so callers do not depend on how the device is assembled.
pub async fn connect(mut config: Config) -> Result<DeviceHandle, Error> {
    if config.group.is_none() {
        config.group = Some(DEFAULT_GROUP.into());
    }
    let irrigation = Arc::new(AtomicBool::new(false));
    let reading = irrigation.clone();
    let toggling = irrigation;
    Device::builder(config)
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
        .await
}

/// Fire `humidity_alert` for a reading and wait for the gateway's ack.
pub async fn humidity_alert(
    device: &DeviceHandle,
    humidity: u64,
    sensor: &str,
) -> Result<TriggerAck, Error> {
    let alert = json!({ "humidity": humidity, "threshold": HUMIDITY_THRESHOLD, "sensor": sensor });
    device.trigger("humidity_alert", alert).await
}

/// A simulated humidity reading in [65, 85).
pub fn simulated_humidity() -> u64 {
    65 + random_below(20)
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
