//! Limits that keep a device answering: a bounded work queue under a backlog of large slow
//! commands, retained commands never run, and ids remembered after their responses are gone.

use std::process::{Command as Process, Stdio};
use std::time::Duration;

use lua_device::dedup::DedupConfig;
use lua_device::ledger::ALREADY_RAN;
use lua_device::message::Command;
use lua_device::topic::{Suffix, Topics};
use lua_device::Config;
use lua_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::json;

use crate::support::*;

const BACKLOG: usize = 300;
const MIB: usize = 1024 * 1024;

/// Publish `commands` slow 1 MiB commands to `dev` and wait for every answer; returns the
/// responses per id.
async fn slow_backlog(
    gw: &lua_device::agent::AgentClient,
    dev: &str,
    commands: usize,
) -> Vec<usize> {
    let mut seen = gw.observe();
    send_backlog(gw, dev, commands).await;
    answers(&mut seen, commands).await
}

async fn send_backlog(gw: &lua_device::agent::AgentClient, dev: &str, commands: usize) {
    let pad = "x".repeat(MIB);
    for i in 0..commands {
        let command = Command {
            command_id: format!("big-{i}"),
            command: "slow".into(),
            payload: json!({"ms": 200, "pad": pad}),
            timeout: None,
        };
        gw.send_command(AGENT, dev, &command).await.unwrap();
    }
}

/// How many answers each of `commands` backlog ids got, once all have one.
async fn answers(
    seen: &mut tokio::sync::broadcast::Receiver<lua_device::agent::Observed>,
    commands: usize,
) -> Vec<usize> {
    let mut answers = vec![0; commands];
    let mut answered = 0;
    while answered < commands {
        let o = tokio::time::timeout(Duration::from_secs(120), seen.recv())
            .await
            .expect("the backlog keeps draining")
            .expect("observer");
        if o.suffix != Suffix::Response {
            continue;
        }
        let r = o.json();
        assert_eq!(r["success"], true, "{r}");
        let id = r["commandId"].as_str().unwrap();
        let i: usize = id.trim_start_matches("big-").parse().unwrap();
        answers[i] += 1;
        if answers[i] == 1 {
            answered += 1;
        }
    }
    answers
}

/// Run as a child process by `a_backlog_of_large_slow_commands_stays_bounded_in_memory`, so
/// that its peak resident size is the device's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the device half of a memory test; its parent runs it"]
async fn backlog_device_child() {
    let url = std::env::var("LUA_BACKLOG_URL").expect("run by its parent test");
    let device = start_device(config(&url, "dev-backlog")).await;
    // The parent reads this process's peak, then ends it.
    println!("device-ready");
    std::future::pending::<()>().await;
    drop(device);
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// The device as a child process, once it has registered.
fn device_child(url: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "limits::backlog_device_child",
            "--ignored",
            "--nocapture",
        ])
        .env("LUA_BACKLOG_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("device-ready"))),
        "the device child started"
    );
    child
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_large_slow_commands_stays_bounded_in_memory() {
    let broker = Mosquitto::start().unwrap();
    // Registered, then killed: its session keeps what arrives meanwhile.
    let mut away = device_child(&broker.url());
    away.kill().unwrap();
    away.wait().unwrap();
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();
    send_backlog(&gw, "dev-backlog", BACKLOG).await;
    let mut child = device_child(&broker.url());
    // Every id answered (a response may come twice: QoS 1 resends it after a reconnection).
    answers(&mut seen, BACKLOG).await;
    let peak_mib = peak_rss_kib(child.id()) / 1024;
    child.kill().unwrap();
    child.wait().unwrap();
    // Unbounded, the device held every command at once: 300 MiB and more. Bounded, it holds
    // its queue (8 MiB) and the broker's in-flight window (mosquitto: 20 commands).
    eprintln!("device peak RSS {peak_mib} MiB under {BACKLOG} x 1 MiB");
    assert!(
        peak_mib < 120,
        "the device peaked at {peak_mib} MiB under {BACKLOG} x 1 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_past_the_held_bytes_are_delivered_again_and_answered_once() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-held";
    // One command at a time, and room to hold one more: the rest of mosquitto's window of 20
    // loses its payloads and comes again after a reconnection.
    let device = start_device(
        config(&broker.url(), dev)
            .with_queue_limits(1, MIB)
            .with_max_held_bytes(MIB + MIB / 2),
    )
    .await;
    let gw = agent(&broker.url(), "gw").await;
    // Every id answered (a response may come twice: QoS 1 resends it after a reconnection).
    slow_backlog(&gw, dev, 30).await;
    assert_eq!(device.runs(), 30, "each ran once");
    echo_works(&gw, dev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_command_is_never_run_and_the_device_answers_fresh_ones() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-retained";
    let mut options = MqttOptions::new("retainer", "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    client
        .publish(
            Topics::new(AGENT, dev).topic(Suffix::Command),
            QoS::AtLeastOnce,
            true,
            r#"{"commandId":"stale","command":"count","payload":{}}"#,
        )
        .await
        .unwrap();
    loop {
        match eventloop.poll().await.unwrap() {
            Event::Incoming(Incoming::PubAck(_)) => break,
            _ => continue,
        }
    }
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();
    let device = start_device(config(&broker.url(), dev)).await;
    let r = gw
        .call(AGENT, dev, "count", json!({}), WAIT)
        .await
        .expect("a fresh command is answered");
    assert_eq!(
        r.data,
        Some(json!({"count": 1})),
        "the retained one did not run"
    );
    assert_eq!(device.runs(), 1);
    assert!(
        responses_for(&mut seen, "stale", Duration::from_millis(500))
            .await
            .is_empty(),
        "a retained command gets no answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_its_response_was_dropped_gets_an_error_not_a_second_run() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-horizon";
    // Room for one answered response of this size; older ids stay without theirs.
    let device = start_device(config(&broker.url(), dev).with_dedup(DedupConfig {
        max_entries: 1000,
        max_bytes: 800,
        ttl_ms: 60_000,
    }))
    .await;
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();
    let first = Command {
        command_id: "first".into(),
        command: "count".into(),
        payload: json!({"pad": "y".repeat(100)}),
        timeout: None,
    };
    gw.send_command(AGENT, dev, &first).await.unwrap();
    let r = next_observed(&mut seen, |o| o.json()["commandId"] == "first")
        .await
        .json();
    assert_eq!(r["data"], json!({"count": 1}));
    for _ in 0..5 {
        gw.call(AGENT, dev, "echo", json!({"pad": "z".repeat(300)}), WAIT)
            .await
            .unwrap();
    }
    gw.send_command(AGENT, dev, &first).await.unwrap();
    let r = next_observed(&mut seen, |o| o.json()["commandId"] == "first")
        .await
        .json();
    assert_eq!(
        r,
        json!({"commandId": "first", "success": false, "error": ALREADY_RAN})
    );
    assert_eq!(device.runs(), 1, "the retry did not run");
}

/// A raw client allowed to publish past the device's limit.
async fn publisher(port: u16) -> (AsyncClient, tokio::task::JoinHandle<()>) {
    let mut options = MqttOptions::new("oversender", "127.0.0.1", port);
    options.set_max_packet_size(16 * MIB, 16 * MIB);
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    let task = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    (client, task)
}

/// `{"commandId":id,"command":"echo","payload":"xx..."}` of exactly `bytes` bytes.
fn command_of(id: &str, bytes: usize) -> Vec<u8> {
    let head = format!(r#"{{"commandId":"{id}","command":"echo","payload":""#);
    let mut text = head.into_bytes();
    text.resize(bytes - 2, b'x');
    text.extend_from_slice(br#""}"#);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_command_is_acknowledged_and_answered_with_the_limit() {
    let broker = Mosquitto::start().unwrap();
    answers_oversized_commands(&broker, || config(&broker.url(), "dev-huge"), 3_000_000).await;
}

/// A device configured by `make` (on `broker`, by whatever URL) answers a command of `huge`
/// bytes, past its limit, with the limit; survives one without an id; does not get either
/// again after a restart; and runs a command just within the limit.
pub async fn answers_oversized_commands(
    broker: &Mosquitto,
    make: impl Fn() -> Config,
    huge: usize,
) {
    let Config {
        device_name,
        max_packet_size: limit,
        ..
    } = make();
    let dev = device_name.as_str();
    let device = start_device(make()).await;
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();
    let (raw, _task) = publisher(broker.port()).await;
    let topic = Topics::new(AGENT, dev).topic(Suffix::Command);
    raw.publish(&topic, QoS::AtLeastOnce, false, command_of("huge", huge))
        .await
        .unwrap();
    let r = next_observed(&mut seen, |o| o.json()["commandId"] == "huge")
        .await
        .json();
    assert_eq!(
        r,
        json!({"commandId": "huge", "success": false,
               "error": format!("Command too large: {huge} bytes; this device accepts at most {limit} bytes")})
    );
    // Without an id there is nobody to answer; either way the device keeps working.
    raw.publish(&topic, QoS::AtLeastOnce, false, vec![b'['; huge])
        .await
        .unwrap();
    echo_works(&gw, dev).await;
    // Acknowledged: a reconnection brings neither of them back.
    device.handle.shutdown().await.unwrap();
    let _device = start_device(make()).await;
    echo_works(&gw, dev).await;
    assert!(
        responses_for(&mut seen, "huge", Duration::from_millis(500))
            .await
            .is_empty(),
        "answered once"
    );
    // Just within the limit, the same command runs.
    let fits = command_of("fits", limit - 64);
    raw.publish(&topic, QoS::AtLeastOnce, false, fits)
        .await
        .unwrap();
    let r = next_observed(&mut seen, |o| o.json()["commandId"] == "fits")
        .await
        .json();
    assert_eq!(r["success"], true);
}
