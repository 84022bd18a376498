//! The `#[lua_device]` greenhouse against a real broker: typed round trips, schema errors
//! answered before the handler, and a typed trigger acknowledged by the agent.

use std::time::Duration;

use lua_device::agent::AgentClient;
use lua_device::topic::Suffix;
use lua_device::Config;
use lua_testkit::Mosquitto;
use serde_json::json;

const AGENT: &str = "agent-greenhouse";

#[tokio::test]
async fn the_greenhouse_answers_typed_commands_and_fires_its_trigger() {
    let broker = Mosquitto::start().unwrap();
    let client = AgentClient::connect(&broker.url(), "agent-side")
        .await
        .unwrap();
    let mut observed = client.observe();
    let config = Config::new(AGENT, "key", greenhouse::DEVICE_NAME).with_url(broker.url());
    let device = greenhouse::connect(config).await.unwrap();

    let call = |command: &'static str, payload: serde_json::Value| {
        let client = &client;
        async move {
            client
                .call(
                    AGENT,
                    greenhouse::DEVICE_NAME,
                    command,
                    payload,
                    Duration::from_secs(5),
                )
                .await
                .unwrap()
        }
    };
    let on = call("toggle_irrigation", json!({"enabled": true})).await;
    assert_eq!(on.data, Some(json!({"irrigationOn": true})));
    let reading = call("read_environment", json!({})).await;
    let data = reading.data.unwrap();
    assert_eq!(data["irrigationOn"], true);
    assert_eq!(data["soilMoisture"], 42);

    let bad = call("toggle_irrigation", json!({"enabled": "yes"})).await;
    assert_eq!(
        bad.error.as_deref(),
        Some("enabled: must be a boolean, found string")
    );
    let missing = call("toggle_irrigation", json!({})).await;
    assert_eq!(missing.error.as_deref(), Some("enabled: is required"));
    // The rejected payloads did not run the handler: irrigation is still on.
    let again = call("read_environment", json!({})).await;
    assert_eq!(again.data.unwrap()["irrigationOn"], true);

    // The trigger waits for the agent's ack.
    let alert = tokio::spawn({
        let device = device.clone();
        async move { greenhouse::humidity_alert(&device, 83, "bench-1").await }
    });
    let trigger = loop {
        let seen = tokio::time::timeout(Duration::from_secs(5), observed.recv())
            .await
            .unwrap()
            .unwrap();
        if seen.suffix == Suffix::Trigger {
            break seen.json();
        }
    };
    assert_eq!(
        trigger,
        json!({"triggerName": "humidity_alert", "payload": {"humidity": 83, "threshold": 80, "sensor": "bench-1"}})
    );
    let id = client
        .ack_trigger(AGENT, greenhouse::DEVICE_NAME, true)
        .await
        .unwrap();
    let ack = alert.await.unwrap().unwrap();
    assert_eq!(ack.trigger_id, id);
    assert!(ack.received);
    device.shutdown().await.unwrap();
}
