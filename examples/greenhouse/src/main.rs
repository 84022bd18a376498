//! The greenhouse sensor binary: the device of `lib.rs`, configured by `LUA_AGENT_ID`,
//! `LUA_API_KEY`, `LUA_MQTT_URL`, `LUA_DEVICE_GROUP` and `LUA_DEVICE_NAME`, checking humidity
//! every 10 s; stops gracefully on Ctrl-C or SIGTERM. Prints `ready` on stdout once
//! connected and registered, the handshake test harnesses and supervisors wait for.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use greenhouse::{humidity_alert, simulated_humidity, DEVICE_NAME, HUMIDITY_THRESHOLD};
use lua_device::{Config, DeviceEvent, DeviceHandle};

#[tokio::main]
async fn main() -> Result<()> {
    // Logs go to stderr: stdout carries only the `ready` line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env(DEVICE_NAME)?;
    let sensor = config.device_name.clone();
    let device = greenhouse::connect(config).await?;
    tracing::info!("Sensor online (MQTT)");
    announce_ready()?;
    let mut events = device.events();
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
    tokio::spawn(watch_humidity(device.clone(), sensor));
    device.run_until_shutdown().await?;
    Ok(())
}

/// Every 10 s, simulate a humidity reading and alert above the threshold.
async fn watch_humidity(device: DeviceHandle, sensor: String) {
    let mut ticks = tokio::time::interval(Duration::from_secs(10));
    loop {
        ticks.tick().await;
        let humidity = simulated_humidity();
        if humidity > HUMIDITY_THRESHOLD {
            match humidity_alert(&device, humidity, &sensor).await {
                Ok(ack) => {
                    tracing::info!(trigger_id = %ack.trigger_id, humidity, "humidity alert sent")
                }
                Err(e) => tracing::warn!(error = %e, "humidity alert not acknowledged"),
            }
        }
    }
}

/// `ready` on stdout, flushed: the device is connected and registered.
fn announce_ready() -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()
}
