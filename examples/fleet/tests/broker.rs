//! A small fleet in one process against a real broker: every device registers on its own
//! session, and every one answers a command addressed to it with its own state.

use std::collections::HashSet;
use std::time::Duration;

use fleet::{device_name, Fleet};
use lua_device::agent::AgentClient;
use lua_device::topic::Suffix;
use lua_device::Config;
use lua_testkit::Mosquitto;
use serde_json::json;

const AGENT: &str = "agent-fleet";
const DEVICES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_register_and_each_answers_its_own_commands() {
    let broker = Mosquitto::start().unwrap();
    let agent = AgentClient::connect(&broker.url(), "fleet-agent")
        .await
        .unwrap();
    let mut observed = agent.observe();
    let registrations = tokio::spawn(async move {
        let mut names = HashSet::new();
        while names.len() < DEVICES {
            let o = observed.recv().await.unwrap();
            if o.suffix == Suffix::Status && !o.retain && o.json()["commands"].is_array() {
                assert_eq!(o.agent_id, AGENT);
                names.insert(o.device_name);
            }
        }
        names
    });

    let base = Config::new(AGENT, "key", "unused").with_url(broker.url());
    let fleet = Fleet::start(&base, "sensor", DEVICES, 16).await.unwrap();
    assert_eq!(fleet.devices().len(), DEVICES);
    assert!(fleet.devices().iter().all(|d| d.is_connected()));
    let names = tokio::time::timeout(Duration::from_secs(10), registrations)
        .await
        .expect("every registration reaches the agent")
        .unwrap();
    let expected: HashSet<String> = (0..DEVICES).map(|i| device_name("sensor", i)).collect();
    assert_eq!(names, expected);

    // Irrigation on for even devices only: each answer must come from its own device.
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..DEVICES {
        let agent = agent.clone();
        calls.spawn(async move {
            let name = device_name("sensor", index);
            let call = |command: &'static str, payload| {
                let (agent, name) = (&agent, &name);
                async move {
                    agent
                        .call(AGENT, name, command, payload, Duration::from_secs(20))
                        .await
                        .unwrap_or_else(|e| panic!("{name} {command}: {e}"))
                }
            };
            let on = index % 2 == 0;
            let toggled = call("toggle_irrigation", json!({ "enabled": on })).await;
            assert_eq!(toggled.data, Some(json!({ "irrigationOn": on })), "{name}");
            let reading = call("read_environment", json!({})).await;
            assert_eq!(reading.data.unwrap()["irrigationOn"], on, "{name}");
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    fleet.shutdown().await;
}
