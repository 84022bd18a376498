//! The label printer binary: configured by `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL`;
//! stops gracefully on Ctrl-C or SIGTERM.

use label_printer::{LabelPrinterDevice, Printer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = LabelPrinterDevice::<Printer>::config_from_env()?;
    let device = LabelPrinterDevice::new(Printer::default())
        .connect(config)
        .await?;
    device.run_until_shutdown().await?;
    Ok(())
}
