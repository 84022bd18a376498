//! A mock of every repository manifest registers on the gateway, answers each command called
//! with an example payload, with data its `outputSchema` accepts (held to the `jsonschema`
//! crate's verdict), and gets every trigger acknowledged.

use std::time::Duration;

use lua_testkit::corpus::valid_manifests;
use lua_testkit::schema_instance::errors;
use luagen_gateway::call::{CallOptions, Caller, Target};
use luagen_gateway::mock::MockDevice;
use luagen_gateway::{AgentLogin, Gateway, GatewayConfig, KeyPolicy, Keys};
use serde_json::json;

const AGENT: &str = "agent-1";
const KEY: &str = "key-good-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mock_of_every_manifest_answers_with_valid_data_and_fires_its_triggers() {
    let gw = Gateway::start(GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(
        AGENT, KEY,
    ))))
    .await
    .unwrap();
    let url = gw.url().unwrap();
    let login = AgentLogin {
        url: url.clone(),
        agent_id: AGENT.into(),
        api_key: Some(KEY.into()),
    };
    let manifests = valid_manifests();
    assert!(manifests.len() > 5, "{manifests:?}");
    for path in manifests {
        let manifest = luagen::load_file(&path).unwrap();
        let what = path.display().to_string();
        let config = lua_device::Config::new(AGENT, KEY, &manifest.name).with_url(&url);
        let mock = MockDevice::start(&manifest, config)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:#}"));
        gw.wait_registered(AGENT, &manifest.name, Duration::from_secs(10))
            .await
            .unwrap();
        // Connected after the registration, so its directory already holds the device.
        let caller = Caller::connect(&login).await.unwrap();
        let target = Target::Device(manifest.name.clone());
        for command in &manifest.commands {
            let payload = match &command.input_schema {
                Some(s) => manifest.example_of(s).unwrap(),
                None => json!({}),
            };
            let plans = caller
                .plan(&target, &command.name, &payload, &CallOptions::default())
                .unwrap_or_else(|e| panic!("{what} {}: {e}", command.name));
            let outcome = caller.send(&plans[0]).await.unwrap();
            let response = outcome.to_json();
            assert!(outcome.succeeded(), "{what} {}: {response}", command.name);
            match &command.output_schema {
                Some(schema) => {
                    let problems =
                        errors(&manifest.standalone_schema(schema), &response["data"]).unwrap();
                    assert!(problems.is_empty(), "{what} {}: {problems:?}", command.name);
                }
                None => assert!(response.get("data").is_none(), "{what}: {response}"),
            }
        }
        for trigger in &manifest.triggers {
            let payload = mock.trigger_payload(&trigger.name).unwrap();
            if let Some(schema) = &trigger.payload_schema {
                let problems = errors(&manifest.standalone_schema(schema), payload).unwrap();
                assert!(problems.is_empty(), "{what} {}: {problems:?}", trigger.name);
            }
            let ack = mock.fire(&trigger.name).await.unwrap();
            assert!(ack.received, "{what} {}", trigger.name);
        }
        mock.shutdown().await.unwrap();
        caller.close().await;
    }
}
