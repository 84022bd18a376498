//! The camera on the network: `LUA_AGENT_ID`, `LUA_API_KEY`, `LUA_MQTT_URL` and `LUA_CDN_URL`
//! (for `luagen dev`: `mqtt://127.0.0.1:1883` and `http://127.0.0.1:8084`), until Ctrl-C.

use anyhow::Result;
use lua_device::Config;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env(camera::DEVICE_NAME)?;
    tracing::info!("pictures go to {}", config.cdn_url);
    let device = camera::connect(config).await?;
    tokio::signal::ctrl_c().await?;
    device.shutdown().await?;
    Ok(())
}
