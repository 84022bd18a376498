//! The throughput ceiling for `cargo xtask bench`: a device that only answers `echo`, with
//! nothing between rumqttc and the JSON but a parse and a format.
//!
//! Same environment contract as every device under test; no registration, no dedup.

use std::time::Duration;

use anyhow::{Context, Result};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let agent = std::env::var("LUA_AGENT_ID").context("LUA_AGENT_ID")?;
    let url = std::env::var("LUA_MQTT_URL").context("LUA_MQTT_URL")?;
    let address = url
        .strip_prefix("mqtt://")
        .context("raw-echo speaks mqtt:// only")?;
    let (host, port) = address
        .rsplit_once(':')
        .context("LUA_MQTT_URL needs a port")?;
    // It stands in for the fixture device, so the bench drives every device on the same topics.
    let prefix = format!("lua/devices/{agent}/conformance-device/");

    let mut options = MqttOptions::new(
        format!("lua-{agent}-conformance-device"),
        host,
        port.parse()?,
    );
    options
        .set_keep_alive(Duration::from_secs(60))
        .set_clean_session(true)
        .set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    client
        .subscribe(format!("{prefix}command"), QoS::AtLeastOnce)
        .await?;
    let response_topic = format!("{prefix}response");

    // No signal handling: the bench kills it, and the ceiling needs no graceful goodbye.
    loop {
        match eventloop.poll().await? {
            Event::Incoming(Incoming::SubAck(_)) => println!("ready"),
            Event::Incoming(Incoming::Publish(p)) => {
                let Ok(command) = serde_json::from_slice::<Value>(&p.payload) else {
                    continue;
                };
                let response = json!({
                    "commandId": command["commandId"],
                    "success": true,
                    "data": command["payload"],
                });
                client
                    .publish(
                        &response_topic,
                        QoS::AtLeastOnce,
                        false,
                        response.to_string(),
                    )
                    .await?;
            }
            _ => {}
        }
    }
}
