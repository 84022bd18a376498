//! The greenhouse sensor from the MQTT transport guide: climate readings, irrigation, and a
//! humidity alert. Its commands, payload types and checks come from
//! `manifests/greenhouse-sensor.yaml` through `#[lua_device]`: a handler the manifest does
//! not expect, or one it expects that is missing, is a compile error.
//!
//! A library so that tests can run the very same handlers in process; the binary in
//! `main.rs` adds the environment, logging and the periodic humidity check.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use lua_device::message::TriggerAck;
use lua_device::timestamp::iso8601;
use lua_device::{lua_device, CommandError, Config, DeviceHandle, Error};

/// The device name of the transport guide.
pub const DEVICE_NAME: &str = "greenhouse-sensor";
/// The group the device joins when none is configured.
pub const DEFAULT_GROUP: &str = "greenhouse-sensors";
/// Relative humidity (percent) above which `humidity_alert` fires.
pub const HUMIDITY_THRESHOLD: u64 = 80;

/// The greenhouse's state: whether irrigation runs.
#[derive(Debug, Default)]
pub struct Greenhouse {
    irrigation_on: bool,
}

#[lua_device("../../manifests/greenhouse-sensor.yaml")]
impl Greenhouse {
    async fn read_environment(&self) -> Result<ReadEnvironmentOutput, CommandError> {
        Ok(ReadEnvironmentOutput {
            temperature: 28.3,
            humidity: 65,
            soil_moisture: 42,
            irrigation_on: self.irrigation_on,
            timestamp: iso8601(unix_ms()),
        })
    }

    async fn toggle_irrigation(&mut self, input: ToggleIrrigationInput) -> ToggleIrrigationOutput {
        self.irrigation_on = input.enabled;
        ToggleIrrigationOutput {
            irrigation_on: self.irrigation_on,
        }
    }
}

/// Connect and register the greenhouse device on `config`. The only entry point to the
/// handlers, so callers do not depend on how the device is assembled.
pub async fn connect(config: Config) -> Result<DeviceHandle, Error> {
    Greenhouse::default()
        .connect(config)
        .await
        .map(|device| device.0)
}

/// Fire `humidity_alert` for a reading and wait for the gateway's ack. The payload is checked
/// against the manifest before it is sent.
pub async fn humidity_alert(
    device: &DeviceHandle,
    humidity: u64,
    sensor: &str,
) -> Result<TriggerAck, Error> {
    let alert = HumidityAlert {
        humidity: u8::try_from(humidity.min(100)).unwrap_or(100),
        threshold: HUMIDITY_THRESHOLD as u8,
        sensor: Some(sensor.to_string()),
    };
    GreenhouseSensorTriggers(device)
        .humidity_alert(&alert)
        .await
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
