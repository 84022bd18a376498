//! End to end: the dev gateway (MQTT and CDN), the camera on it, an agent calling `snapshot`,
//! and the picture downloaded from the URL in the answer.

use std::time::Duration;

use lua_device::cdn::Cdn;
use lua_device::Config;
use luagen_gateway::call::{CallOptions, Caller, Target};
use luagen_gateway::{AgentLogin, Gateway, GatewayConfig, KeyPolicy, Keys};
use serde_json::json;

const AGENT: &str = "agent-1";
const KEY: &str = "key-camera-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_gets_the_snapshot_through_its_cdn_url() {
    let mut config = GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(AGENT, KEY)));
    config.ws = None;
    let gw = Gateway::start(config).await.unwrap();
    let (mqtt, cdn_url) = (gw.url().unwrap(), gw.cdn_url().unwrap());

    let device = camera::connect(
        Config::new(AGENT, KEY, camera::DEVICE_NAME)
            .with_url(&mqtt)
            .with_cdn_url(&cdn_url),
    )
    .await
    .unwrap();
    gw.wait_registered(AGENT, camera::DEVICE_NAME, Duration::from_secs(30))
        .await
        .unwrap();

    let caller = Caller::connect(&AgentLogin {
        url: mqtt,
        agent_id: AGENT.into(),
        api_key: Some(KEY.into()),
    })
    .await
    .unwrap();
    let plan = caller
        .plan(
            &Target::Device(camera::DEVICE_NAME.into()),
            "snapshot",
            &json!({}),
            &CallOptions::default(),
        )
        .unwrap();
    let outcome = caller.send(&plan[0]).await.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    let answer = outcome.response.unwrap().data.unwrap();
    let picture = camera::frame(0);
    let file_id = answer["fileId"].as_str().unwrap();
    assert_eq!(answer["url"], format!("{cdn_url}/{file_id}"), "{answer}");
    assert_eq!(answer["mediaType"], camera::MEDIA_TYPE);
    assert_eq!(answer["bytes"], picture.len());

    // The agent needs no key to read it: the URL is public.
    let reader = Cdn::new("", &cdn_url).unwrap();
    let fetched = reader.fetch(answer["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(fetched, picture);
    assert!(gw.cdn_dir().unwrap().join(file_id).is_file());

    caller.close().await;
    device.shutdown().await.unwrap();
}
