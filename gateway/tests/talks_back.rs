//! The dev gateway talks back: after a trigger's ack it publishes the `trigger_result` an
//! answerer gives (a fixed result, a script run per trigger) or, when answering fails (the
//! script exits non-zero, hangs past the timeout, prints what is not JSON), an `error`
//! naming the trigger; `luagen send error` reaches an agent's own device and no other
//! agent's. Each is received by a real device's documented handler: the Rust runtime's
//! `on_trigger_result` and `DeviceEvent::ServerError`, the generated MicroPython device's
//! `on_trigger_result` and `on_error` on the unix port.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{luagen, luagen_bin};
use lua_device::{Config, Device, DeviceEvent, DeviceHandle};
use lua_testkit::device::DeviceEnv;
use lua_testkit::micropython;
use luagen_gateway::answer::{FixedResults, ScriptAnswerer, TriggerAnswerer};
use luagen_gateway::send::{send, Notice};
use luagen_gateway::{AgentLogin, Gateway, GatewayConfig, KeyPolicy, Keys, TriggerAnswers};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

const AGENT: &str = "agent-1";
const KEY: &str = "key-good-0123";
const OTHER_AGENT: &str = "agent-2";
const OTHER_KEY: &str = "key-other-4567";
const DEVICE: &str = "sensor-1";
const WAIT: Duration = Duration::from_secs(20);

fn keys() -> KeyPolicy {
    let file = std::env::temp_dir().join(format!(
        "luagen-talks-back-keys-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&file, format!("{AGENT} {KEY}\n{OTHER_AGENT} {OTHER_KEY}\n")).unwrap();
    let keys = Keys::load(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    KeyPolicy::Keys(keys)
}

async fn gateway_answering(
    answerer: Option<Arc<dyn TriggerAnswerer>>,
    timeout: Duration,
    max_in_flight: usize,
) -> Gateway {
    let mut config = GatewayConfig::ephemeral(keys());
    config.answers = TriggerAnswers {
        answerer,
        timeout,
        max_in_flight,
    };
    Gateway::start(config).await.expect("the gateway starts")
}

fn script(command: &str) -> Option<Arc<dyn TriggerAnswerer>> {
    Some(Arc::new(ScriptAnswerer::new(command)))
}

fn fixed(results: &[(&str, Value)]) -> Option<Arc<dyn TriggerAnswerer>> {
    let map: BTreeMap<String, Value> = results
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    Some(Arc::new(FixedResults(map)))
}

fn login(gw: &Gateway, agent: &str, key: &str) -> AgentLogin {
    AgentLogin {
        url: gw.url().unwrap(),
        agent_id: agent.into(),
        api_key: Some(key.into()),
    }
}

/// A Rust runtime device whose `on_trigger_result` handlers (for `triggers`) report here.
struct RustDevice {
    handle: DeviceHandle,
    results: mpsc::UnboundedReceiver<(String, Value)>,
    events: broadcast::Receiver<DeviceEvent>,
}

impl RustDevice {
    async fn start(gw: &Gateway, triggers: &[&str]) -> Self {
        let config = Config::new(AGENT, KEY, DEVICE).with_url(gw.url().unwrap());
        let mut builder = Device::builder(config);
        let (tx, results) = mpsc::unbounded_channel();
        for name in triggers {
            let (tx, name) = (tx.clone(), name.to_string());
            builder = builder.on_trigger_result(name.clone(), move |result| {
                let _ = tx.send((name.clone(), result));
            });
        }
        let events = builder.handle().events();
        let handle = builder.connect().await.expect("the device connects");
        gw.wait_registered(AGENT, DEVICE, WAIT).await.unwrap();
        Self {
            handle,
            results,
            events,
        }
    }

    /// Fire `name` and check the gateway acknowledged it.
    async fn fire(&self, name: &str, payload: Value) {
        let ack = self.handle.trigger(name, payload).await.unwrap();
        assert!(ack.received, "{ack:?}");
    }

    /// The next result a `trigger_result` handler got.
    async fn next_result(&mut self, within: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(within, self.results.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next message on `error`, as parsed JSON.
    async fn next_error(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return None,
                Ok(Ok(DeviceEvent::ServerError { raw, .. })) => {
                    return Some(serde_json::from_str(&raw).unwrap())
                }
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(_)) => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_result_reaches_the_rust_devices_handler_and_other_triggers_get_none() {
    let gw = gateway_answering(
        fixed(&[("humidity_alert", json!({"action": "vent", "minutes": 5}))]),
        Duration::from_secs(5),
        16,
    )
    .await;
    let mut device = RustDevice::start(&gw, &["humidity_alert", "door_open"]).await;
    device.fire("humidity_alert", json!({"humidity": 91})).await;
    let (name, result) = device.next_result(WAIT).await.expect("a trigger_result");
    assert_eq!(name, "humidity_alert");
    assert_eq!(result, json!({"action": "vent", "minutes": 5}));
    // A trigger the answerer does not know is acknowledged and left unanswered.
    device.fire("door_open", json!({})).await;
    assert_eq!(device.next_result(Duration::from_millis(800)).await, None);
    assert_eq!(device.next_error(Duration::from_millis(200)).await, None);
    device.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_reads_the_trigger_on_stdin_and_its_json_is_the_result() {
    // The result wraps what the script read, so the test sees its input too.
    let gw = gateway_answering(
        script(r#"printf '{"seen":'; cat; printf '}'"#),
        Duration::from_secs(10),
        16,
    )
    .await;
    let mut device = RustDevice::start(&gw, &["humidity_alert"]).await;
    device.fire("humidity_alert", json!({"humidity": 91})).await;
    let (_, result) = device.next_result(WAIT).await.expect("a trigger_result");
    let seen = &result["seen"];
    assert_eq!(
        (
            &seen["agentId"],
            &seen["deviceName"],
            &seen["triggerName"],
            &seen["payload"]
        ),
        (
            &json!(AGENT),
            &json!(DEVICE),
            &json!("humidity_alert"),
            &json!({"humidity": 91})
        ),
        "{result}"
    );
    assert!(seen["triggerId"].as_str().unwrap().starts_with("trg-"));
    device.handle.shutdown().await.unwrap();
}

/// Fire `trigger` at a gateway answering with `command` and return the error the device got.
async fn script_error(command: &str, timeout: Duration) -> (Value, Duration) {
    let gw = gateway_answering(script(command), timeout, 16).await;
    let mut device = RustDevice::start(&gw, &["door_open"]).await;
    let fired = Instant::now();
    device.fire("door_open", json!({"door": "north"})).await;
    let error = device.next_error(WAIT).await.expect("an error message");
    let took = fired.elapsed();
    assert_eq!(device.next_result(Duration::from_millis(300)).await, None);
    device.handle.shutdown().await.unwrap();
    (error, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_exits_non_zero_sends_the_device_an_error_naming_the_trigger() {
    let (error, _) = script_error(
        "echo 'secret-ish detail' >&2; echo '{\"x\":1}'; exit 3",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(error["code"], "TRIGGER_RESULT_FAILED", "{error}");
    assert_eq!(error["triggerName"], "door_open", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("door_open") && message.contains("status 3"),
        "{message}"
    );
    // What the script said on stderr stays in the gateway's log.
    assert!(!error.to_string().contains("secret-ish"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_prints_what_is_not_json_sends_an_error() {
    let (error, _) = script_error("echo 'vent please'", Duration::from_secs(10)).await;
    assert_eq!(error["code"], "TRIGGER_RESULT_FAILED", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("door_open") && message.contains("not JSON"),
        "{message}"
    );
    assert!(!message.contains("vent please"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_hangs_is_killed_with_its_children_after_the_timeout() {
    let pids = std::env::temp_dir().join(format!("luagen-hang-{}", std::process::id()));
    let _ = std::fs::remove_file(&pids);
    // A background child holds stdout open too: killing `sh` alone would not end the wait.
    let command = format!(
        "sleep 60 & echo $$ $! > {}; wait; echo '{{}}'",
        pids.display()
    );
    let (error, took) = script_error(&command, Duration::from_millis(700)).await;
    assert_eq!(error["code"], "TRIGGER_RESULT_TIMEOUT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("door_open"),
        "{error}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let written = std::fs::read_to_string(&pids).unwrap();
    let _ = std::fs::remove_file(&pids);
    for pid in written.split_whitespace() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "process {pid} of the hung script still runs"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether `pid` runs (a zombie waiting for its parent's `wait` does not).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_beyond_the_bound_get_a_busy_error_at_once() {
    let gw = gateway_answering(script("sleep 3; echo 1"), Duration::from_secs(10), 1).await;
    let mut device = RustDevice::start(&gw, &["door_open"]).await;
    device.fire("door_open", json!({})).await;
    device.fire("door_open", json!({})).await;
    let error = device
        .next_error(Duration::from_secs(2))
        .await
        .expect("the second answer is refused at once");
    assert_eq!(error["code"], "TRIGGER_RESULT_BUSY", "{error}");
    // The first still gets its result.
    let (_, result) = device.next_result(WAIT).await.expect("the first result");
    assert_eq!(result, json!(1));
    device.handle.shutdown().await.unwrap();
}

/// A bare agent-side client of `agent`, for publishing what `luagen send` would not.
async fn raw_agent(gw: &Gateway, agent: &str, key: &str) -> AsyncClient {
    let port: u16 = gw
        .url()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut options = MqttOptions::new(format!("raw-{agent}"), "127.0.0.1", port);
    options.set_credentials(agent, key).set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_error_reaches_the_agents_own_device_and_no_other_agent_reaches_it() {
    let gw = gateway_answering(None, Duration::from_secs(5), 16).await;
    let mut device = RustDevice::start(&gw, &["door_open"]).await;

    // Another agent, with a valid key of its own, tries the device's error and
    // trigger_result topics: the gateway drops both.
    let intruder = raw_agent(&gw, OTHER_AGENT, OTHER_KEY).await;
    let prefix = format!("lua/devices/{AGENT}/{DEVICE}/");
    for (suffix, body) in [
        (
            "error",
            json!({"code": "FORGED", "message": "from agent-2"}),
        ),
        (
            "trigger_result",
            json!({"triggerName": "door_open", "result": "forged"}),
        ),
    ] {
        intruder
            .publish(
                format!("{prefix}{suffix}"),
                QoS::AtLeastOnce,
                false,
                body.to_string(),
            )
            .await
            .unwrap();
    }
    // `luagen send` as the other agent addresses its own agent's device of that name.
    let foreign = send(
        &login(&gw, OTHER_AGENT, OTHER_KEY),
        DEVICE,
        &Notice::Error {
            code: "FORGED".into(),
            message: "from agent-2".into(),
        },
        false,
    )
    .await
    .unwrap_err();
    assert!(foreign.to_string().contains("nothing sent"), "{foreign}");

    send(
        &login(&gw, AGENT, KEY),
        DEVICE,
        &Notice::Error {
            code: "QUOTA_EXCEEDED".into(),
            message: "slow down".into(),
        },
        false,
    )
    .await
    .unwrap();
    let error = device.next_error(WAIT).await.expect("the error");
    assert_eq!(
        error,
        json!({"code": "QUOTA_EXCEEDED", "message": "slow down"})
    );
    assert_eq!(device.next_error(Duration::from_millis(500)).await, None);
    assert_eq!(device.next_result(Duration::from_millis(100)).await, None);

    // A trigger_result sent by hand reaches the handler as the gateway's would.
    send(
        &login(&gw, AGENT, KEY),
        DEVICE,
        &Notice::TriggerResult {
            trigger_name: "door_open".into(),
            result: json!({"by": "hand"}),
        },
        false,
    )
    .await
    .unwrap();
    let (name, result) = device.next_result(WAIT).await.expect("the result");
    assert_eq!(
        (name.as_str(), result),
        ("door_open", json!({"by": "hand"}))
    );
    device.handle.shutdown().await.unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `luagen dev` as a process, killed when dropped.
struct DevProcess(Child);

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn luagen_dev_answers_with_its_flags_result_first_then_its_script() {
    let port = lua_testkit::ports::free_port();
    let bin = luagen_bin();
    let dev = DevProcess(
        Command::new(bin)
            .args([
                "dev",
                "--insecure-any-key",
                "--no-ws",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--trigger-result",
                r#"humidity_alert={"action":"vent"}"#,
                "--trigger-script",
                r#"printf '{"script":true}'"#,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("mqtt://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "luagen dev did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = Config::new(AGENT, "any-key", DEVICE).with_url(url.clone());
    let (tx, mut results) = mpsc::unbounded_channel();
    let mut builder = Device::builder(config);
    for name in ["humidity_alert", "door_open"] {
        let tx = tx.clone();
        builder = builder.on_trigger_result(name, move |r| {
            let _ = tx.send((name, r));
        });
    }
    let mut events = builder.handle().events();
    let handle = builder.connect().await.unwrap();
    // Registered once the gateway confirmed it on `connected`.
    tokio::time::timeout(WAIT, async {
        while !matches!(
            events.recv().await,
            Ok(DeviceEvent::GatewayConfirmed { .. })
        ) {}
    })
    .await
    .unwrap();
    for name in ["humidity_alert", "door_open"] {
        assert!(handle.trigger(name, json!({})).await.unwrap().received);
        let got = tokio::time::timeout(WAIT, results.recv()).await.unwrap();
        let want = match name {
            "humidity_alert" => json!({"action": "vent"}),
            _ => json!({"script": true}),
        };
        assert_eq!(got, Some((name, want)));
    }

    // `luagen send error` through the same gateway reaches the device's error event.
    let out = luagen(
        [
            "send",
            "error",
            DEVICE,
            "MAINTENANCE",
            "back at noon",
            "--broker",
            &url,
            "--agent-id",
            AGENT,
            "--api-key",
            "any-key",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let error = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(DeviceEvent::ServerError { error, .. }) = events.recv().await {
                return error;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (error.code.as_deref(), error.message.as_deref()),
        (Some("MAINTENANCE"), Some("back at noon"))
    );
    // A device the gateway does not list is refused, exit 1, unless --unlisted.
    let out = luagen(
        [
            "send",
            "error",
            "nobody",
            "X",
            "y",
            "--broker",
            &url,
            "--api-key",
            "k",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--unlisted"),
        "{}",
        text(&out.stderr)
    );
    handle.shutdown().await.unwrap();
    drop(dev);
}

/// handlers.py of the conformance fixture with the two callbacks a user would add.
const CALLBACKS: &str = r#"

def on_trigger_result(name, result):
    print("TRIGGER_RESULT " + str(name) + " " + json.dumps(result))


def on_error(error):
    print("ON_ERROR " + json.dumps(error))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_micropython_device_gets_both_through_its_documented_callbacks() {
    lua_testkit::require_micropython!(
        "the micropython device gets both through its documented callbacks"
    );
    let gw = gateway_answering(
        fixed(&[("alert", json!({"ack": "seen", "level": 2}))]),
        Duration::from_secs(5),
        16,
    )
    .await;
    let dir = micropython::conformance_project().unwrap();
    let handlers = format!(
        "import json\n{}{CALLBACKS}",
        micropython::CONFORMANCE_HANDLERS
    );
    std::fs::write(dir.join("handlers.py"), handlers).unwrap();
    let launcher = micropython::device(&dir).unwrap();
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
    gw.wait_registered(AGENT, "conformance-device", WAIT)
        .await
        .unwrap();

    // The device fires `alert` from a command; the gateway acks and answers it.
    let args = |rest: &[&str]| -> Vec<String> {
        let url = gw.url().unwrap();
        let mut args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "--broker",
                url.as_str(),
                "--agent-id",
                AGENT,
                "--api-key",
                KEY,
            ]
            .map(String::from),
        );
        args
    };
    let out = luagen(args(&[
        "call",
        "conformance-device",
        "fire_trigger",
        r#"{"level":"high"}"#,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (mut device, result) = tokio::task::spawn_blocking(move || {
        let line = device.wait_line("TRIGGER_RESULT ", WAIT);
        (device, line)
    })
    .await
    .unwrap();
    let result = result.unwrap_or_else(|e| panic!("{e}\n{}", device.output()));
    let out = luagen(args(&[
        "send",
        "error",
        "conformance-device",
        "QUOTA_EXCEEDED",
        "slow down",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (device, error) = tokio::task::spawn_blocking(move || {
        let line = device.wait_line("ON_ERROR ", WAIT);
        let _ = device.terminate(WAIT);
        (device, line)
    })
    .await
    .unwrap();
    let error = error.unwrap_or_else(|e| panic!("{e}\n{}", device.output()));
    let result = result.trim().strip_prefix("TRIGGER_RESULT alert ").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(result).unwrap(),
        json!({"ack": "seen", "level": 2})
    );
    let error = error.trim().strip_prefix("ON_ERROR ").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(error).unwrap(),
        json!({"code": "QUOTA_EXCEEDED", "message": "slow down"})
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn luagen_demo_shows_a_trigger_result_and_an_error_reaching_the_device() {
    let out = luagen(vec!["demo".into()]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for expected in [
        "← trigger_ack triggerId=trg-",
        "← trigger_result {\"handledBy\":\"luagen demo\",\"trigger\":\"humidity_alert\"}, received by the device",
        "→ error DEMO_NOTICE: ",
        "← the device's error event got code=DEMO_NOTICE message=",
        "1 trigger answered, 1 error delivered",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// The greenhouse's lua-cli module (`luagen agent`) in a project with lua-cli installed, its
/// `humidity_alert` handler written as a user would: it decides from the checked payload.
fn greenhouse_agent_module() -> Option<PathBuf> {
    if !lua_testkit::node::available("the dev gateway answering with a lua-cli module") {
        return None;
    }
    use luagen::emit::typescript::{AgentModule, Options};
    let manifest = lua_testkit::deps::workspace_root().join("manifests/greenhouse-sensor.yaml");
    let device = luagen::load_file(&manifest).unwrap();
    let out = PathBuf::from("greenhouse-sensor.ts");
    let project = AgentModule::generate(&device, &Options::for_paths(&manifest, &out)).unwrap();
    let dir = lua_testkit::node::scratch("agent-module").unwrap();
    project.write(&dir, true).unwrap();
    let handlers = dir.join("greenhouse-sensor.triggers.ts");
    let stub = std::fs::read_to_string(&handlers).unwrap();
    let written = stub.replacen(
        "return null;",
        "return { vent: payload.humidity > payload.threshold, unit: context.device.name };",
        1,
    );
    assert_ne!(
        stub, written,
        "the stub returns null for the user to replace"
    );
    std::fs::write(&handlers, written).unwrap();
    Some(dir.join("greenhouse-sensor.ts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_lua_cli_module_answers_with_its_trigger_handler() {
    let Some(module) = greenhouse_agent_module() else {
        return;
    };
    let answerer = luagen_gateway::agent_module::AgentModule::new(&module).unwrap();
    let gw = gateway_answering(Some(Arc::new(answerer)), Duration::from_secs(20), 16).await;
    let mut device = RustDevice::start(&gw, &["humidity_alert", "door_open"]).await;
    device
        .fire("humidity_alert", json!({"humidity": 91, "threshold": 80}))
        .await;
    let (name, result) = device.next_result(WAIT).await.expect("a trigger_result");
    assert_eq!(name, "humidity_alert");
    assert_eq!(result, json!({"vent": true, "unit": DEVICE}));
    // A payload the module's schema refuses (humidity is 0..100) never reaches the handler:
    // the device is told, naming the trigger.
    device
        .fire("humidity_alert", json!({"humidity": 910, "threshold": 80}))
        .await;
    let error = device.next_error(WAIT).await.expect("an error");
    assert_eq!(error["code"], "TRIGGER_RESULT_FAILED", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("humidity_alert"),
        "{error}"
    );
    assert_eq!(device.next_result(Duration::from_millis(300)).await, None);
    // A trigger the module does not declare gets no answer.
    device.fire("door_open", json!({})).await;
    assert_eq!(device.next_result(Duration::from_secs(3)).await, None);
    assert_eq!(device.next_error(Duration::from_millis(200)).await, None);
    device.handle.shutdown().await.unwrap();
    std::fs::remove_dir_all(module.parent().unwrap()).unwrap();
}
