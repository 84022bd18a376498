//! The label printer binary: configured by `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`;
//! prints `ready` on stdout once registered; stops gracefully on Ctrl-C or SIGTERM.

use std::io::Write;

use label_printer::{LabelPrinterDevice, Printer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries only the `ready` line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = LabelPrinterDevice::<Printer>::config_from_env()?;
    let device = LabelPrinterDevice::new(Printer::default())
        .connect(config)
        .await?;
    // The handshake test harnesses and supervisors wait for: connected and registered.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    device.run_until_shutdown().await?;
    Ok(())
}
