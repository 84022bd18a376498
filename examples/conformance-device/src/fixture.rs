//! What the fixture devices share: logging (`RUST_LOG` as `target=level` directives, default
//! `warn`), the test harness's overrides, and the `ready` line the harness waits for.
//!
//! Logging uses `Targets` rather than `EnvFilter`: `EnvFilter`'s span and field filters bring a regex
//! engine with its Unicode tables, ~450 KiB of the conformance device's binary and ~150 KiB
//! of its resident memory, for directives these devices never need.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use lua_device::{Config, DeviceHandle};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Log to stderr; an unreadable `RUST_LOG` falls back to `warn`.
pub fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

/// `LUA_HEARTBEAT_MS`, when set, shortens the heartbeat so tests need not wait 30 s for one.
#[allow(dead_code)] // not every fixture has heartbeat tests
pub fn heartbeat_from_env(config: &mut Config) -> Result<()> {
    if let Ok(ms) = std::env::var("LUA_HEARTBEAT_MS") {
        let ms: u64 = ms.parse().context("LUA_HEARTBEAT_MS")?;
        config.heartbeat_interval = Duration::from_millis(ms.max(1));
    }
    Ok(())
}

/// Tell the harness the device is registered (`ready` on stdout), then serve until a signal.
pub async fn serve(device: DeviceHandle) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    device.run_until_shutdown().await?;
    Ok(())
}
