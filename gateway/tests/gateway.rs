//! The dev gateway over real sockets: devices of every kind connect to an embedded gateway on
//! free loopback ports, register, and answer calls made with the library and the `luagen`
//! binary; refusals (bad key, foreign topics, bad payload) and retries are checked on the wire.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{luagen, luagen_bin};
use lua_testkit::device::DeviceEnv;
use lua_testkit::fixtures::{self, Profile};
use luagen_gateway::call::{CallOptions, Caller, Target};
use luagen_gateway::{AgentLogin, Gateway, GatewayConfig, KeyPolicy, Keys};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS, SubscribeReasonCode,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const AGENT: &str = "agent-1";
const KEY: &str = "key-good-0123";
const WAIT: Duration = Duration::from_secs(30);

async fn gateway() -> Gateway {
    Gateway::start(GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(
        AGENT, KEY,
    ))))
    .await
    .expect("the gateway starts")
}

fn login(gw: &Gateway) -> AgentLogin {
    AgentLogin {
        url: gw.url().unwrap(),
        agent_id: AGENT.into(),
        api_key: Some(KEY.into()),
    }
}

fn call_args(gw: &Gateway, rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "call",
        "--broker",
        &gw.url().unwrap(),
        "--agent-id",
        AGENT,
        "--api-key",
        KEY,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A device written on bare rumqttc, so a test sees every command that reaches it.
struct RawDevice {
    client: AsyncClient,
    commands: Arc<Mutex<Vec<Value>>>,
    acks: mpsc::UnboundedReceiver<Packet>,
}

/// When the raw device answers a command: on this attempt (1-based), or never.
#[derive(Clone, Copy)]
enum Answer {
    OnAttempt(usize),
    Never,
}

fn raw_options(name: &str, key: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(format!("lua-{AGENT}-{name}"), "127.0.0.1", port);
    o.set_credentials(format!("{AGENT}:{name}"), key)
        .set_keep_alive(Duration::from_secs(60))
        .set_clean_session(true);
    o
}

impl RawDevice {
    /// Connect as `name`, subscribe to its command topic and register `commands`.
    async fn start(
        gw: &Gateway,
        name: &str,
        group: Option<&str>,
        commands: Value,
        answer: Answer,
    ) -> Self {
        let addr = gw.url().unwrap().trim_start_matches("mqtt://").to_string();
        let (host, port) = addr.rsplit_once(':').unwrap();
        assert_eq!(host, "127.0.0.1");
        let options = raw_options(name, KEY, port.parse().unwrap());
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let prefix = format!("lua/devices/{AGENT}/{name}/");
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let (ready_tx, mut ready) = mpsc::unbounded_channel();
        let registration =
            json!({"status": "online", "apiKey": KEY, "group": group, "commands": commands});
        {
            let (client, seen, prefix) = (client.clone(), seen.clone(), prefix.clone());
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            client
                                .subscribe(format!("{prefix}command"), QoS::AtLeastOnce)
                                .await
                                .unwrap();
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let command: Value = serde_json::from_slice(&p.payload).unwrap();
                            let attempt = {
                                let mut seen = seen.lock().unwrap();
                                seen.push(command.clone());
                                seen.iter()
                                    .filter(|c| c["commandId"] == command["commandId"])
                                    .count()
                            };
                            let reply = match answer {
                                Answer::OnAttempt(n) => attempt >= n,
                                Answer::Never => false,
                            };
                            if reply {
                                let response = json!({"commandId": command["commandId"], "success": true,
                                    "data": {"attempt": attempt}});
                                client
                                    .publish(
                                        format!("{prefix}response"),
                                        QoS::AtLeastOnce,
                                        false,
                                        response.to_string(),
                                    )
                                    .await
                                    .unwrap();
                            }
                        }
                        Ok(Event::Incoming(packet @ (Packet::SubAck(_) | Packet::PubAck(_)))) => {
                            let _ = ready_tx.send(());
                            let _ = acks_tx.send(packet);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
        }
        tokio::time::timeout(WAIT, ready.recv())
            .await
            .expect("subscribed")
            .unwrap();
        client
            .publish(
                format!("{prefix}status"),
                QoS::AtLeastOnce,
                false,
                registration.to_string(),
            )
            .await
            .unwrap();
        gw.wait_registered(AGENT, name, WAIT).await.unwrap();
        let mut device = Self {
            client,
            commands: seen,
            acks,
        };
        device.drain_acks();
        device
    }

    fn drain_acks(&mut self) {
        while self.acks.try_recv().is_ok() {}
    }

    fn commands(&self) -> Vec<Value> {
        self.commands.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_is_refused_with_a_connack() {
    let gw = gateway().await;
    let port: u16 = gw
        .url()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();

    // Wrong key, unknown username shape, a device using another device's client id.
    for (client_id, user, key, expected) in [
        (
            format!("lua-{AGENT}-dev-a"),
            format!("{AGENT}:dev-a"),
            "key-wrong",
            ConnectReturnCode::NotAuthorized,
        ),
        (
            "whoever".to_string(),
            "a:b:c".to_string(),
            KEY,
            ConnectReturnCode::BadUserNamePassword,
        ),
        (
            format!("lua-{AGENT}-dev-b"),
            format!("{AGENT}:dev-a"),
            KEY,
            ConnectReturnCode::BadClientId,
        ),
        // A key valid for another agent only.
        (
            "lua-agent-2-dev-a".to_string(),
            "agent-2:dev-a".to_string(),
            KEY,
            ConnectReturnCode::NotAuthorized,
        ),
    ] {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_credentials(user.clone(), key);
        let (_client, mut eventloop) = AsyncClient::new(o, 8);
        let refusal = tokio::time::timeout(WAIT, eventloop.poll()).await.unwrap();
        match refusal {
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(code, expected, "{user}")
            }
            other => panic!("{user}: expected a refused CONNACK, got {other:?}"),
        }
    }

    // A last will on another device's topic would publish as that device: refused too.
    let mut o = raw_options("dev-a", KEY, port);
    o.set_last_will(rumqttc::LastWill::new(
        format!("lua/devices/{AGENT}/dev-b/status"),
        r#"{"status":"offline"}"#,
        QoS::AtLeastOnce,
        true,
    ));
    let (_client, mut eventloop) = AsyncClient::new(o, 8);
    match tokio::time::timeout(WAIT, eventloop.poll()).await.unwrap() {
        Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, ConnectReturnCode::NotAuthorized)
        }
        other => panic!("a foreign last will must be refused, got {other:?}"),
    }

    // The runtime device reports the refusal instead of connecting.
    let config = lua_device::Config::new(AGENT, "key-wrong", "dev-a").with_url(gw.url().unwrap());
    assert!(greenhouse::connect(config).await.is_err());
    assert!(
        gw.devices().is_empty(),
        "a refused device must not be recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_with_a_foreign_key_is_refused() {
    let keys = Keys::parse(&format!("{AGENT} {KEY}\nagent-2 other-key\n")).unwrap();
    let gw = Gateway::start(GatewayConfig::ephemeral(KeyPolicy::Keys(keys)))
        .await
        .unwrap();
    let port: u16 = gw
        .url()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let o = raw_options("dev-a", KEY, port);
    let (client, mut eventloop) = AsyncClient::new(o, 8);
    let prefix = format!("lua/devices/{AGENT}/dev-a/");
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let _ = tx.send((
                    p.topic.clone(),
                    serde_json::from_slice::<Value>(&p.payload).unwrap(),
                ));
            }
        }
    });
    client
        .subscribe(format!("{prefix}+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let registration =
        json!({"status": "online", "apiKey": "other-key", "group": null, "commands": []});
    client
        .publish(
            format!("{prefix}status"),
            QoS::AtLeastOnce,
            false,
            registration.to_string(),
        )
        .await
        .unwrap();
    // The device also hears its own status echoed back; the refusal comes on `error`.
    let body = loop {
        let (topic, body) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if topic == format!("{prefix}error") {
            break body;
        }
    };
    assert_eq!(body["code"], "INVALID_API_KEY");
    assert!(!gw.devices().iter().any(|d| d.registered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_confined_to_its_own_topics() {
    let gw = gateway().await;
    let mut dev_a = RawDevice::start(&gw, "dev-a", None, json!([]), Answer::Never).await;
    let _dev_b = RawDevice::start(
        &gw,
        "dev-b",
        None,
        json!([{"name": "ping", "description": "p"}]),
        Answer::OnAttempt(1),
    )
    .await;

    // An agent-side observer of every response.
    let (_link, mut seen) = luagen_gateway::AgentLink::connect(
        &login(&gw),
        &[
            format!("lua/devices/{AGENT}/+/response"),
            format!("lua/devices/{AGENT}/dev-b/command"),
        ],
    )
    .await
    .unwrap();

    // Subscribing to another device's commands, or to everything, is refused.
    for filter in [
        format!("lua/devices/{AGENT}/dev-b/command"),
        "#".to_string(),
        format!("lua/devices/{AGENT}/+/command"),
    ] {
        dev_a
            .client
            .subscribe(filter.clone(), QoS::AtLeastOnce)
            .await
            .unwrap();
        let ack = tokio::time::timeout(WAIT, dev_a.acks.recv())
            .await
            .unwrap()
            .unwrap();
        match ack {
            Packet::SubAck(ack) => assert_eq!(
                ack.return_codes,
                vec![SubscribeReasonCode::Failure],
                "{filter}"
            ),
            other => panic!("expected SUBACK for {filter}, got {other:?}"),
        }
    }

    // Publishing as dev-b (a forged response, a forged command) is acknowledged but dropped;
    // the device's own response, sent after, arrives.
    let forged = json!({"commandId": "forged", "success": true});
    dev_a
        .client
        .publish(
            format!("lua/devices/{AGENT}/dev-b/response"),
            QoS::AtLeastOnce,
            false,
            forged.to_string(),
        )
        .await
        .unwrap();
    dev_a
        .client
        .publish(
            format!("lua/devices/{AGENT}/dev-b/command"),
            QoS::AtLeastOnce,
            false,
            json!({"commandId": "x", "command": "ping"}).to_string(),
        )
        .await
        .unwrap();
    dev_a
        .client
        .publish(
            format!("luagen/gateway/devices/{AGENT}/dev-b"),
            QoS::AtLeastOnce,
            true,
            "{}",
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let ack = tokio::time::timeout(WAIT, dev_a.acks.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(ack, Packet::PubAck(_)), "{ack:?}");
    }
    let own = json!({"commandId": "own", "success": true});
    dev_a
        .client
        .publish(
            format!("lua/devices/{AGENT}/dev-a/response"),
            QoS::AtLeastOnce,
            false,
            own.to_string(),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.topic,
        format!("lua/devices/{AGENT}/dev-a/response"),
        "a forged message got through"
    );
    assert!(
        _dev_b.commands().is_empty(),
        "dev-b received a forged command"
    );
    let dir = luagen_gateway::devices::list(&login(&gw)).await.unwrap();
    assert!(
        dir.get("dev-b").unwrap().registered,
        "the directory entry was overwritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_refuses_a_bad_payload_locally_and_resends_the_same_id_on_timeout() {
    let gw = gateway().await;
    let commands = json!([
        {"name": "toggle", "description": "t", "inputSchema": {"type": "object",
            "properties": {"enabled": {"type": "boolean"}}, "required": ["enabled"]}},
        {"name": "stuck", "description": "never answers", "timeoutMs": 300,
            "retry": {"maxAttempts": 3, "backoffMs": 50}},
    ]);
    let device = RawDevice::start(&gw, "raw-device", None, commands, Answer::Never).await;

    let out = luagen(call_args(
        &gw,
        &["raw-device", "toggle", r#"{"enabled":"yes"}"#],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nothing sent")
            && stderr.contains("/enabled")
            && stderr.contains("boolean"),
        "{stderr}"
    );

    let out = luagen(call_args(&gw, &["raw-device", "toggle"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("enabled"),
        "{}",
        text(&out.stderr)
    );

    let out = luagen(call_args(&gw, &["raw-device", "no_such_command"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("toggle, stuck"),
        "{}",
        text(&out.stderr)
    );

    let started = Instant::now();
    let out = luagen(call_args(&gw, &["raw-device", "stuck"])).await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("timed out after 3 attempts"),
        "{}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["success"], false);
    assert!(took >= Duration::from_millis(3 * 300 + 2 * 50), "{took:?}");

    let received = device.commands();
    assert_eq!(
        received.len(),
        3,
        "only the three attempts of `stuck` reach the device: {received:?}"
    );
    assert!(received
        .iter()
        .all(|c| c["command"] == "stuck" && c["commandId"] == received[0]["commandId"]));
    assert_eq!(received[0]["timeout"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_that_gets_an_answer_succeeds_and_groups_fan_out() {
    let gw = gateway().await;
    let commands = json!([{"name": "ping", "description": "p", "timeoutMs": 250, "retry": {"maxAttempts": 3, "backoffMs": 10}}]);
    let late = RawDevice::start(
        &gw,
        "late",
        Some("shelf"),
        commands.clone(),
        Answer::OnAttempt(2),
    )
    .await;
    let _prompt =
        RawDevice::start(&gw, "prompt", Some("shelf"), commands, Answer::OnAttempt(1)).await;
    let caller = Caller::connect(&login(&gw)).await.unwrap();

    let plan = caller
        .plan(
            &Target::Device("late".into()),
            "ping",
            &json!({}),
            &CallOptions::default(),
        )
        .unwrap();
    let outcome = caller.send(&plan[0]).await.unwrap();
    assert!(outcome.succeeded());
    assert_eq!(outcome.sent, 2);
    assert_eq!(outcome.response.unwrap().data, Some(json!({"attempt": 2})));
    let ids: Vec<Value> = late
        .commands()
        .iter()
        .map(|c| c["commandId"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!(outcome.command_id), json!(outcome.command_id)]
    );

    let out = luagen(call_args(&gw, &["--group", "shelf", "ping"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["late", "prompt"]);
    assert!(report
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["response"]["success"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_conformance_device_answers_luagen_call() {
    let gw = gateway().await;
    let launcher = fixtures::rust_device(Profile::Dev).unwrap();
    let env = DeviceEnv {
        agent_id: AGENT.into(),
        api_key: KEY.into(),
        mqtt_url: gw.url().unwrap(),
        manifest: None,
    };
    let mut device = tokio::task::spawn_blocking(move || {
        let mut d = launcher.spawn(&env).unwrap();
        d.wait_ready(WAIT).unwrap();
        d
    })
    .await
    .unwrap();
    let record = gw
        .wait_registered(AGENT, "conformance-device", WAIT)
        .await
        .unwrap();
    assert_eq!(record.group.as_deref(), Some("conformance"));

    let out = luagen(call_args(
        &gw,
        &["conformance-device", "echo", r#"{"x":[1,2]}"#],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (response["success"].clone(), response["data"].clone()),
        (json!(true), json!({"x": [1, 2]}))
    );

    let out = luagen(call_args(&gw, &["conformance-device", "fail"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("deliberate failure"),
        "{}",
        text(&out.stderr)
    );

    let out = luagen(call_args(
        &gw,
        &["conformance-device", "fire_trigger", r#"{"level":"high"}"#],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["data"]["received"], true);
    assert!(response["data"]["triggerId"]
        .as_str()
        .unwrap()
        .starts_with("trg-"));

    let mut args = call_args(&gw, &[]);
    args[0] = "devices".into();
    let out = luagen(args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("conformance-device")
            && table.contains("conformance")
            && table.contains("fire_trigger"),
        "{table}"
    );

    tokio::task::spawn_blocking(move || device.terminate(WAIT).unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while gw.devices().iter().any(|d| d.online) {
        assert!(
            Instant::now() < deadline,
            "the graceful offline status was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_over_websocket_registers_answers_and_gets_trigger_acks() {
    let gw = gateway().await;
    let launcher = fixtures::official_device().unwrap();
    let env = DeviceEnv {
        agent_id: AGENT.into(),
        api_key: KEY.into(),
        mqtt_url: gw.ws_url().unwrap(),
        manifest: None,
    };
    let mut device = tokio::task::spawn_blocking(move || {
        let mut d = launcher.spawn(&env).unwrap();
        d.wait_ready(WAIT).unwrap();
        d
    })
    .await
    .unwrap();
    let record = gw
        .wait_registered(AGENT, "conformance-device", WAIT)
        .await
        .unwrap();
    assert_eq!(record.command("slow").unwrap()["timeoutMs"], 65000);

    let caller = Caller::connect(&login(&gw)).await.unwrap();
    let target = Target::Device("conformance-device".into());
    let call = |command: &'static str, payload: Value| {
        let plan = caller
            .plan(&target, command, &payload, &CallOptions::default())
            .unwrap();
        let caller = &caller;
        async move { caller.send(&plan[0]).await.unwrap() }
    };
    let echo = call("echo", json!({"hello": "world"})).await;
    assert_eq!(echo.response.unwrap().data, Some(json!({"hello": "world"})));
    for level in ["low", "high"] {
        let fired = call("fire_trigger", json!({"level": level})).await;
        let data = fired.response.unwrap().data.unwrap();
        assert_eq!(data["received"], true, "{data}");
        assert!(
            data["triggerId"].as_str().unwrap().starts_with("trg-"),
            "{data}"
        );
    }
    assert!(matches!(
        caller.plan(
            &target,
            "fire_trigger",
            &json!({"level": "medium"}),
            &CallOptions::default()
        ),
        Err(luagen_gateway::call::Refusal::InvalidPayload { .. })
    ));

    // Killed without a word: the broker publishes the last will and the gateway marks it offline.
    tokio::task::spawn_blocking(move || device.kill().unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while gw.devices().iter().any(|d| d.online) {
        assert!(Instant::now() < deadline, "the last will was not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn luagen_demo_runs_and_exits_zero() {
    let out = luagen(vec!["demo".into()]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for expected in [
        "lines of typed Rust",
        "→ call read_environment",
        "\"irrigationOn\":true",
        "refused locally",
        "trigger_ack triggerId=trg-",
        "demo finished",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_to_an_offline_device_waits_in_its_persistent_session() {
    let gw = gateway().await;
    let config =
        lua_device::Config::new(AGENT, KEY, "greenhouse-sensor").with_url(gw.url().unwrap());
    let device = greenhouse::connect(config.clone()).await.unwrap();
    gw.wait_registered(AGENT, "greenhouse-sensor", WAIT)
        .await
        .unwrap();
    device.shutdown().await.unwrap();
    let deadline = Instant::now() + WAIT;
    while gw.devices().iter().any(|d| d.online) {
        assert!(
            Instant::now() < deadline,
            "the offline status was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Watch the command go out, so the device comes back only once it waits in the session.
    let (_watch, mut sent) = luagen_gateway::AgentLink::connect(
        &login(&gw),
        &[format!("lua/devices/{AGENT}/greenhouse-sensor/command")],
    )
    .await
    .unwrap();
    tokio::task::spawn_blocking(luagen_bin).await.unwrap();
    let call = tokio::spawn(luagen(call_args(
        &gw,
        &[
            "--timeout-ms",
            "20000",
            "greenhouse-sensor",
            "toggle_irrigation",
            r#"{"enabled":true}"#,
        ],
    )));
    tokio::time::timeout(WAIT, sent.recv())
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let device = greenhouse::connect(config).await.unwrap();
    let out = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("offline") && stderr.contains("queued"),
        "{stderr}"
    );
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["data"], json!({"irrigationOn": true}));
    device.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_tails_a_devices_traffic() {
    let gw = gateway().await;
    let commands = json!([{"name": "ping", "description": "p"}]);
    let _device = RawDevice::start(&gw, "pinger", None, commands, Answer::OnAttempt(1)).await;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let monitor = {
        let (login, lines) = (login(&gw), lines.clone());
        tokio::spawn(async move {
            luagen_gateway::monitor::run(&login, Some("pinger"), Some(2), |l| {
                lines.lock().unwrap().push(l)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = Caller::connect(&login(&gw)).await.unwrap();
    let plan = caller
        .plan(
            &Target::Device("pinger".into()),
            "ping",
            &json!({"n": 1}),
            &CallOptions::default(),
        )
        .unwrap();
    assert!(caller.send(&plan[0]).await.unwrap().succeeded());
    tokio::time::timeout(WAIT, monitor)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines[0].contains("pinger")
            && lines[0].contains("command")
            && lines[0].contains(r#""n":1"#),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("response") && lines[1].contains(r#""success":true"#),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn luagen_dev_serves_devices_and_masks_their_keys_in_its_log() {
    let bin = tokio::task::spawn_blocking(luagen_bin).await.unwrap();
    let mut dev = Command::new(bin)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--ws-listen",
            "127.0.0.1:0",
            "--insecure-any-key",
        ])
        .env("RUST_LOG", "info,rumqttd=off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = dev.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        // Keep reading, so the gateway never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        first
            .trim()
            .strip_prefix("luagen dev gateway: ")
            .unwrap()
            .to_string()
    })
    .await
    .unwrap();
    assert!(url.starts_with("mqtt://127.0.0.1:"), "{url}");

    let secret = "sk-secret-do-not-log-123";
    let config = lua_device::Config::new(AGENT, secret, "greenhouse-sensor").with_url(&url);
    let device = greenhouse::connect(config).await.unwrap();
    let caller = Caller::connect(&AgentLogin {
        url: url.clone(),
        agent_id: AGENT.into(),
        api_key: Some("any".into()),
    })
    .await
    .unwrap();
    let plan = caller
        .plan(
            &Target::Device("greenhouse-sensor".into()),
            "read_environment",
            &json!({}),
            &CallOptions::default(),
        )
        .unwrap();
    let outcome = caller.send(&plan[0]).await.unwrap();
    if !outcome.succeeded() {
        dev.kill().unwrap();
        let out = dev.wait_with_output().unwrap();
        panic!("{outcome:?}\n{}", text(&out.stderr));
    }
    let ack = greenhouse::humidity_alert(&device, 90, "greenhouse-sensor")
        .await
        .unwrap();
    assert!(ack.received);
    device.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    dev.kill().unwrap();
    let out = tokio::task::spawn_blocking(move || dev.wait_with_output().unwrap())
        .await
        .unwrap();
    let log = text(&out.stderr);
    for expected in [
        "INSECURE",
        "REGISTERED 2 commands",
        "TRIGGER humidity_alert",
        "is OFFLINE",
        "read_environment",
    ] {
        assert!(
            log.contains(expected),
            "missing {expected:?} in the log:\n{log}"
        );
    }
    assert!(
        !log.contains(secret),
        "the API key leaked into the log:\n{log}"
    );
    assert!(log.contains("sk-…(24 chars)"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_serve_mqtts_and_wss() {
    let dir = std::env::temp_dir().join(format!("luagen-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let mut config = GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(AGENT, KEY)));
    config.tls = Some(luagen_gateway::TlsFiles {
        cert: cert.clone(),
        key,
    });
    let gw = Gateway::start(config).await.unwrap();
    let pem = std::fs::read(&cert).unwrap();
    for (name, url) in [
        ("gh-mqtts", gw.url().unwrap()),
        ("gh-wss", gw.ws_url().unwrap()),
    ] {
        assert!(
            url.starts_with("mqtts://") || url.starts_with("wss://"),
            "{url}"
        );
        let config = lua_device::Config::new(AGENT, KEY, name)
            .with_url(&url)
            .with_ca_pem(pem.clone());
        let device = greenhouse::connect(config)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        gw.wait_registered(AGENT, name, WAIT).await.unwrap();
        assert!(
            greenhouse::humidity_alert(&device, 90, name)
                .await
                .unwrap()
                .received
        );
        device.shutdown().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_works_against_any_broker_with_a_manifest() {
    let broker = lua_testkit::Mosquitto::start().unwrap();
    let config = lua_device::Config::new(AGENT, KEY, "greenhouse-sensor").with_url(broker.url());
    let device = greenhouse::connect(config).await.unwrap();
    let manifest = lua_testkit::deps::workspace_root().join("manifests/greenhouse-sensor.yaml");
    let manifest = manifest.to_str().unwrap();
    let args = |rest: &[&str]| {
        let mut args: Vec<String> = ["call", "--broker", &broker.url(), "--agent-id", AGENT]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    };

    // Mosquitto keeps no registrations: without a manifest there is nothing to validate with.
    let out = luagen(args(&[
        "greenhouse-sensor",
        "toggle_irrigation",
        r#"{"enabled":true}"#,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--manifest"),
        "{}",
        text(&out.stderr)
    );

    let out = luagen(args(&[
        "--manifest",
        manifest,
        "greenhouse-sensor",
        "toggle_irrigation",
        r#"{"enabled":1}"#,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/enabled"),
        "{}",
        text(&out.stderr)
    );

    let out = luagen(args(&[
        "--manifest",
        manifest,
        "greenhouse-sensor",
        "toggle_irrigation",
        r#"{"enabled":true}"#,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["data"], json!({"irrigationOn": true}));

    // `devices` still lists it, from its retained status.
    let mut list = args(&["--all"]);
    list[0] = "devices".into();
    let out = luagen(list).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("greenhouse-sensor"),
        "{}",
        text(&out.stdout)
    );
    device.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_micropython_device_on_the_unix_port_answers_luagen_call() {
    let gw = gateway().await;
    let env = DeviceEnv {
        agent_id: AGENT.into(),
        api_key: KEY.into(),
        mqtt_url: gw.url().unwrap(),
        manifest: None,
    };
    let (dir, mut device) = tokio::task::spawn_blocking(move || {
        let dir = lua_testkit::micropython::conformance_project().unwrap();
        let mut d = lua_testkit::micropython::device(&dir)
            .unwrap()
            .spawn(&env)
            .unwrap();
        d.wait_ready(WAIT).unwrap();
        (dir, d)
    })
    .await
    .unwrap();
    gw.wait_registered(AGENT, "conformance-device", WAIT)
        .await
        .unwrap();

    let out = luagen(call_args(
        &gw,
        &["conformance-device", "echo", r#"{"from":"cli"}"#],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["data"], json!({"from": "cli"}));

    let out = luagen(call_args(
        &gw,
        &["conformance-device", "fire_trigger", r#"{"level":"low"}"#],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["data"]["received"], true, "{response}");

    tokio::task::spawn_blocking(move || device.terminate(WAIT).unwrap())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
