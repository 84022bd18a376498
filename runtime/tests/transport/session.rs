//! Persistent sessions and duplicate deliveries: every command id runs once.

use std::time::Duration;

use lua_device::message::Command;
use lua_testkit::Mosquitto;
use serde_json::json;

use crate::support::*;

fn command(id: &str, name: &str, payload: serde_json::Value) -> Command {
    Command {
        command_id: id.into(),
        command: name.into(),
        payload,
        timeout: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_while_away_are_answered_once_after_reconnect() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-away";
    let first = start_device(config(&broker.url(), dev)).await;
    first.handle.shutdown().await.unwrap();

    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();
    let ids = ["away-1", "away-2", "away-3"];
    for id in ids {
        gw.send_command(AGENT, dev, &command(id, "count", json!({})))
            .await
            .unwrap();
    }
    // Same client id, clean session false: the broker delivers what it queued.
    let second = start_device(config(&broker.url(), dev)).await;
    let mut answered = Vec::new();
    for _ in 0..ids.len() {
        let o = next_observed(&mut seen, |o| o.json()["commandId"].is_string()).await;
        let r = o.json();
        assert_eq!(r["success"], true, "{r}");
        answered.push(r["commandId"].as_str().unwrap().to_string());
    }
    answered.sort();
    assert_eq!(answered, ids);
    let extra = responses_for(&mut seen, "away-1", Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "each queued command is answered once");
    assert_eq!(second.runs(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_runs_once_and_is_answered_each_time_identically() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-dup";
    let device = start_device(config(&broker.url(), dev)).await;
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();

    // The second delivery arrives while the first is still sleeping.
    let slow = command("dup-1", "slow", json!({"ms": 300}));
    gw.send_command(AGENT, dev, &slow).await.unwrap();
    gw.send_command(AGENT, dev, &slow).await.unwrap();
    let both = responses_for(&mut seen, "dup-1", Duration::from_millis(1500)).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], both[1]);
    assert_eq!(device.runs(), 1);

    // After completion the cached response is replayed, byte for byte.
    gw.send_command(AGENT, dev, &slow).await.unwrap();
    let replay = responses_for(&mut seen, "dup-1", Duration::from_millis(800)).await;
    assert_eq!(replay, vec![both[0].clone()]);
    assert_eq!(device.runs(), 1);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&both[0]).unwrap(),
        json!({"commandId": "dup-1", "success": true, "data": {"slept": 300}})
    );
}
