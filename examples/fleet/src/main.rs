//! `fleet <count> [name-prefix]`: run `count` greenhouse sensors named `{prefix}-0`,
//! `{prefix}-1`, ... (prefix `greenhouse`), each its own MQTT session, configured like a
//! single device by `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL` and `LUA_DEVICE_GROUP`.
//! Prints `online <count> devices in <seconds> s` and `ready` once all are registered, serves
//! commands, and disconnects every device gracefully on Ctrl-C or SIGTERM.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use fleet::{raise_fd_limit, Fleet, CONNECTING_AT_ONCE};
use lua_device::Config;

const USAGE: &str = "usage: fleet <count> [name-prefix]";

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = match args.first().map(|c| c.parse()) {
        Some(Ok(count)) => count,
        _ => bail!("{USAGE}"),
    };
    let prefix = args.get(1).map(String::as_str).unwrap_or("greenhouse");
    // One socket per device, plus the runtime's own descriptors.
    raise_fd_limit(count as u64 + 64)?;
    let base = Config::from_env(&fleet::device_name(prefix, 0))?;
    let started = Instant::now();
    let fleet = Fleet::start(&base, prefix, count, CONNECTING_AT_ONCE)
        .await
        .context("bringing the fleet online")?;
    println!(
        "online {count} devices in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    println!("ready");
    shutdown_signal().await?;
    fleet.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
