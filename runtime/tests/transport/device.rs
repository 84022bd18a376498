//! Connection sequence, commands, triggers and gateway messages against mosquitto.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lua_device::topic::Suffix;
use lua_device::{Device, DeviceEvent, Error};
use lua_testkit::Mosquitto;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_publishes_registration_then_retained_status_without_key() {
    let broker = Mosquitto::start().unwrap();
    let early = agent(&broker.url(), "early").await;
    let mut seen = early.observe();
    let _device = start_device(
        config(&broker.url(), "dev-reg").with_heartbeat_interval(Duration::from_millis(200)),
    )
    .await;

    let status = next_observed(&mut seen, |o| o.suffix == Suffix::Status).await;
    let status = status.json();
    assert_eq!(status["status"], "online");
    assert_eq!(status["group"], "testers");
    assert!(status.get("apiKey").is_none());
    assert!(status["timestamp"].as_str().unwrap().ends_with('Z'));
    let reg = next_observed(&mut seen, |o| o.suffix == Suffix::Status).await;
    assert!(!reg.retain);
    let reg = reg.json();
    assert_eq!(reg["apiKey"], API_KEY);
    assert_eq!(reg["group"], "testers");
    let names: Vec<&str> = reg["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "echo",
            "fail",
            "no_output",
            "count",
            "panic",
            "slow",
            "fire_trigger",
            "meet"
        ]
    );
    assert_eq!(reg["commands"][5]["timeoutMs"], 65_000);
    assert!(reg["commands"][0].get("timeoutMs").is_none());
    let beat = next_observed(&mut seen, |o| o.suffix == Suffix::Heartbeat).await;
    assert!(beat.payload.is_empty());

    // A later subscriber gets only the retained message: the public status, never the key.
    let retained = next_retained_status(&broker.url()).await;
    assert_eq!(retained["status"], "online");
    assert!(retained.get("apiKey").is_none());
}

async fn next_retained_status(url: &str) -> serde_json::Value {
    // Subscribe with a raw rumqttc client so nothing is missed between SUBACK and the first
    // retained delivery.
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("retained-reader", "127.0.0.1", port), 10);
    client
        .subscribe("lua/devices/+/+/status", QoS::AtLeastOnce)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.retain => {
                return serde_json::from_slice(&p.payload).unwrap();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("reader: {e}"),
            Err(_) => panic!("no retained status"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_success_error_unknown_and_survive_a_panic() {
    let broker = Mosquitto::start().unwrap();
    let gw = agent(&broker.url(), "gw").await;
    let dev = "dev-cmd";
    let _device = start_device(config(&broker.url(), dev)).await;

    let r = gw
        .call(AGENT, dev, "echo", json!({"a": [1, 2]}), WAIT)
        .await
        .unwrap();
    assert!(r.success);
    assert_eq!(r.data, Some(json!({"a": [1, 2]})));

    let r = gw
        .call(AGENT, dev, "no_output", json!({}), WAIT)
        .await
        .unwrap();
    assert!(r.success && r.data.is_none() && r.error.is_none());

    let r = gw.call(AGENT, dev, "fail", json!({}), WAIT).await.unwrap();
    assert!(!r.success);
    assert_eq!(r.error.as_deref(), Some("deliberate failure"));

    let r = gw.call(AGENT, dev, "nope", json!({}), WAIT).await.unwrap();
    assert_eq!(r.error.as_deref(), Some("Unknown command: nope"));

    let r = gw.call(AGENT, dev, "panic", json!({}), WAIT).await.unwrap();
    assert!(!r.success);
    assert_eq!(r.error.as_deref(), Some("Handler panicked: boom"));
    echo_works(&gw, dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_commands_overlap_and_keep_their_ids() {
    let broker = Mosquitto::start().unwrap();
    let gw = agent(&broker.url(), "gw").await;
    let dev = "dev-conc";
    let _device = start_device(config(&broker.url(), dev)).await;

    // Overlap is proven by a rendezvous, not a stopwatch: every `meet` waits for the others.
    let meetings = (0..MEETING).map(|_| {
        let gw = gw.clone();
        async move { gw.call(AGENT, dev, "meet", json!({}), WAIT).await }
    });
    for r in futures_join_all(meetings).await {
        assert!(r.expect("every meeting ends").success);
    }

    let calls = (0..4u64).map(|i| {
        let gw = gw.clone();
        async move {
            gw.call(AGENT, dev, "slow", json!({"ms": 400 - 100 * i}), WAIT)
                .await
        }
    });
    // Reverse durations: answers come back in the opposite order to the calls.
    for (i, r) in futures_join_all(calls).await.into_iter().enumerate() {
        assert_eq!(
            r.unwrap().data,
            Some(json!({"slept": 400 - 100 * i as u64})),
            "response matched to its call"
        );
    }
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_waits_for_the_ack_and_times_out_without_one() {
    let broker = Mosquitto::start().unwrap();
    let gw = agent(&broker.url(), "gw").await;
    let dev = "dev-trig";
    let device = start_device(config(&broker.url(), dev)).await;

    let mut seen = gw.observe();
    let acker = {
        let gw = gw.clone();
        tokio::spawn(async move {
            let t = next_observed(&mut seen, |o| o.suffix == Suffix::Trigger).await;
            assert_eq!(
                t.payload,
                br#"{"triggerName":"alert","payload":{"level":"high"}}"#
            );
            // Prove the device waits: the ack comes late.
            tokio::time::sleep(Duration::from_millis(300)).await;
            gw.ack_trigger(AGENT, dev, true).await.unwrap()
        })
    };
    let started = Instant::now();
    let r = gw
        .call(AGENT, dev, "fire_trigger", json!({"level": "high"}), WAIT)
        .await
        .unwrap();
    let trigger_id = acker.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        r.data,
        Some(json!({"triggerId": trigger_id, "received": true}))
    );

    let quick = Device::builder(
        config(&broker.url(), "dev-trig-timeout")
            .with_trigger_ack_timeout(Duration::from_millis(300)),
    )
    .connect()
    .await
    .unwrap();
    let started = Instant::now();
    let err = quick
        .trigger("alert", serde_json::Value::Null)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TriggerTimeout { .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(device);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_messages_become_events_and_callbacks() {
    let broker = Mosquitto::start().unwrap();
    let gw = agent(&broker.url(), "gw").await;
    let dev = "dev-events";
    let results = Arc::new(Mutex::new(Vec::new()));
    let sink = results.clone();
    let device = Device::builder(config(&broker.url(), dev))
        .on_trigger_result("alert", move |r| sink.lock().unwrap().push(r))
        .connect()
        .await
        .unwrap();
    let mut events = device.events();

    gw.send_trigger_result(AGENT, dev, "alert", json!({"handled": true}))
        .await
        .unwrap();
    next_event(
        &mut events,
        |e| matches!(e, DeviceEvent::TriggerResult { trigger_name, .. } if trigger_name == "alert"),
    )
    .await;
    assert_eq!(*results.lock().unwrap(), vec![json!({"handled": true})]);

    gw.send_error(AGENT, dev, "AUTH", "bad key").await.unwrap();
    let e = next_event(&mut events, |e| {
        matches!(e, DeviceEvent::ServerError { .. })
    })
    .await;
    let DeviceEvent::ServerError { error, .. } = e else {
        unreachable!()
    };
    assert_eq!(
        (error.code.as_deref(), error.message.as_deref()),
        (Some("AUTH"), Some("bad key"))
    );

    gw.confirm_connected(AGENT, dev, "welcome").await.unwrap();
    let e = next_event(&mut events, |e| {
        matches!(e, DeviceEvent::GatewayConfirmed { .. })
    })
    .await;
    assert_eq!(
        e,
        DeviceEvent::GatewayConfirmed {
            message: Some("welcome".into())
        }
    );

    gw.publish(AGENT, dev, Suffix::Error, "not json")
        .await
        .unwrap();
    next_event(
        &mut events,
        |e| matches!(e, DeviceEvent::ServerError { raw, .. } if raw == "not json"),
    )
    .await;
    assert!(device.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_leaves_retained_offline_status() {
    let broker = Mosquitto::start().unwrap();
    let device = start_device(config(&broker.url(), "dev-bye")).await;
    let mut events = device.handle.events();
    device.handle.shutdown().await.unwrap();
    next_event(&mut events, |e| *e == DeviceEvent::Stopped).await;
    assert!(!device.handle.is_connected());
    let status = next_retained_status(&broker.url()).await;
    assert_eq!(status["status"], "offline");
    assert!(status.get("group").is_none() && status.get("apiKey").is_none());
    device.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_resubscribes_and_reregisters_after_broker_restart() {
    let mut broker = Mosquitto::start().unwrap();
    let dev = "dev-restart";
    let device = start_device(config(&broker.url(), dev)).await;
    let mut events = device.handle.events();
    broker.restart().unwrap();
    next_event(&mut events, |e| {
        matches!(e, DeviceEvent::Disconnected { .. })
    })
    .await;
    // The agent connects after the restart, so the new registration is what it sees.
    let gw = agent(&broker.url(), "gw").await;
    // Reconnected is only emitted once the broker acknowledged the new registration.
    next_event(&mut events, |e| *e == DeviceEvent::Reconnected).await;
    assert!(device.handle.is_connected());
    echo_works(&gw, dev).await;
    // The echo above proves the subscriptions were renewed (the broker kept no session), and
    // the retained status was published again on the fresh broker.
    let status = next_retained_status(&broker.url()).await;
    assert_eq!(status["status"], "online");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_fast_when_no_broker_listens() {
    let port = lua_testkit::ports::free_port();
    let err = Device::builder(config(&format!("mqtt://127.0.0.1:{port}"), "dev-none"))
        .connect()
        .await
        .err()
        .expect("no broker, no connection");
    assert!(matches!(err, Error::Connect(_)), "{err}");
}
