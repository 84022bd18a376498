//! The generated MicroPython device left unattended, on the unix port against mosquitto: the
//! watchdog resets a board whose loop stalls (a handler or background() that blocks) and not
//! one that waits cooperatively; too many failed connects in a row reset it; the clock is set
//! by NTP before the first status and again a day later (an hour after no answer); the
//! program's hooks (background(), the callbacks, is_connected()) and the result checks
//! against outputSchema; and the transport guide's greenhouse loop, as the example writes it.
//!
//! The unix port has no `machine.WDT`, `machine.reset` or `ntptime`: the tests put modules of
//! their own in `sys.modules` first, which stand for the board's and print what the board
//! would do (a reset ends the process), so each test shows what a board would do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lua_testkit::deps::workspace_root;
use lua_testkit::device::{DeviceEnv, DeviceLauncher, RunningDevice};
use lua_testkit::gateway::Gateway;
use lua_testkit::micropython::{self, generate_ok, scratch_dir, venv_tool};
use lua_testkit::Mosquitto;
use serde_json::{json, Value};

const AGENT: &str = "field-agent";

const MANIFEST: &str = r#"name: field-device
description: A device left unattended
commands:
  - name: block
    description: Block the loop (a handler that never yields)
    inputSchema:
      type: object
      properties: { ms: { type: integer, minimum: 0 } }
      required: [ms]
  - name: nap
    description: Wait without blocking the connection
    inputSchema:
      type: object
      properties: { ms: { type: integer, minimum: 0 } }
      required: [ms]
  - name: reading
    description: Return the payload's result, checked against the outputSchema
    inputSchema: { type: object }
    outputSchema:
      type: object
      properties:
        value: { type: integer, minimum: 0, maximum: 100 }
        unit: { type: string }
      required: [value]
  - name: stall_background
    description: Make background() block on its next step
  - name: seen
    description: What the callbacks and background() saw
  - name: ntp_due
    description: In how many ms the next NTP sync is due (null when never)
  - name: ntp_now
    description: Make the NTP sync due now
triggers:
  - name: tick
    description: Fired once by background()
    payloadSchema:
      type: object
      properties: { n: { type: integer } }
      required: [n]
"#;

const HANDLERS: &str = r#"import time

import lua_runtime
import triggers

events = []
state = {"steps": 0, "stall": False}


def block(payload):
    time.sleep_ms(payload["ms"])


def nap(payload):
    lua_runtime.current().sleep_ms(payload["ms"])
    return {"napped": payload["ms"]}


def reading(payload):
    return payload.get("result")


def stall_background(payload):
    state["stall"] = True


def seen(payload):
    return {"seen": events, "steps": state["steps"], "connected": lua_runtime.is_connected()}


def ntp_due(payload):
    at = lua_runtime.current().ntp_at
    return None if at is None else time.ticks_diff(at, time.ticks_ms())


def ntp_now(payload):
    lua_runtime.current().ntp_at = time.ticks_ms()


def background():
    while True:
        if state["stall"]:
            time.sleep_ms(6000)
        state["steps"] += 1
        if state["steps"] == 2:
            ack = triggers.tick(2)
            events.append(["acked", ack["triggerId"]])
        yield 100


def on_connected():
    events.append("connected")


def on_reconnected():
    events.append("reconnected")


def on_disconnected(reason):
    events.append("disconnected")


def on_error(error):
    events.append(["error", error])


def on_trigger_result(name, result):
    events.append(["trigger_result", name, result])
"#;

/// Stands for the board's `machine`: a watchdog that resets (ends the process) when fed
/// later than its timeout, and `reset()`; both say so first.
const FAKE_MACHINE: &str = r#"import time


class WDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.last = time.ticks_ms()
        print("WDT started:", timeout)

    def feed(self):
        gap = time.ticks_diff(time.ticks_ms(), self.last)
        self.last = time.ticks_ms()
        if gap > self.timeout:
            print("WDT: not fed for", gap, "ms, the board resets")
            raise SystemExit(3)


def reset():
    print("machine.reset()")
    raise SystemExit(4)
"#;

/// Stands for the board's `ntptime`: says when it is asked (and whether the device had
/// connected by then); answers, or not when SILENT.
const FAKE_NTPTIME: &str = r#"import lua_runtime

host = "unset"


SILENT = False


def settime():
    print("NTP asked:", host, "connected" if lua_runtime.is_connected() else "before connecting")
    if SILENT:
        raise OSError(110)
"#;

/// main.py with the stand-ins in sys.modules first.
const BOOT: &str = r#"import sys
import fake_machine
import fake_ntptime
sys.modules["machine"] = fake_machine
sys.modules["ntptime"] = fake_ntptime
import device_spec
import handlers
import lua_runtime
lua_runtime.main(device_spec, handlers)
"#;

/// The field project with `config` lines appended to its config.py.
fn project(config: &str) -> PathBuf {
    let dir = scratch_dir("field").unwrap();
    let manifest = dir.join("field-device.yaml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    generate_ok(&manifest, &dir, &[]).unwrap();
    std::fs::write(dir.join("handlers.py"), HANDLERS).unwrap();
    std::fs::write(dir.join("fake_machine.py"), FAKE_MACHINE).unwrap();
    std::fs::write(dir.join("fake_ntptime.py"), FAKE_NTPTIME).unwrap();
    std::fs::write(dir.join("boot_fakes.py"), BOOT).unwrap();
    let base = std::fs::read_to_string(dir.join("config.py")).unwrap();
    std::fs::write(dir.join("config.py"), format!("{base}\n{config}\n")).unwrap();
    dir
}

/// The project run by the unix port through `boot_fakes.py` (the board's stand-ins).
fn with_fakes(dir: &Path) -> DeviceLauncher {
    DeviceLauncher::new(
        "generated MicroPython with a board's stand-ins",
        venv_tool("micropython").unwrap(),
        &[dir.join("boot_fakes.py").to_str().unwrap()],
    )
}

fn env(url: String) -> DeviceEnv {
    DeviceEnv {
        agent_id: AGENT.into(),
        api_key: "key".into(),
        mqtt_url: url,
        manifest: None,
    }
}

fn topic(suffix: &str) -> String {
    format!("lua/devices/{AGENT}/field-device/{suffix}")
}

async fn start(launcher: &DeviceLauncher, broker: &Mosquitto) -> RunningDevice {
    let mut device = launcher.spawn(&env(broker.url())).unwrap();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10))).unwrap();
    device
}

fn line(device: &mut RunningDevice, needle: &str, secs: u64) -> String {
    tokio::task::block_in_place(|| device.wait_line(needle, Duration::from_secs(secs)))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()))
}

/// background() of the field handlers fires `tick` on its second step and waits for the
/// ack, holding commands back meanwhile: the gateway acknowledges it.
async fn ack_tick(gateway: &mut Gateway) {
    gateway
        .expect("the tick trigger", Duration::from_secs(10), |d| {
            d.topic == topic("trigger")
        })
        .await
        .unwrap();
    gateway
        .publish(
            &topic("trigger_ack"),
            json!({"triggerId": "t-1", "received": true}).to_string(),
        )
        .await
        .unwrap();
}

/// Send command `name` and return its response.
async fn call(gateway: &mut Gateway, id: &str, name: &str, payload: Value) -> Value {
    let command = json!({"commandId": id, "command": name, "payload": payload});
    gateway
        .publish(&topic("command"), command.to_string())
        .await
        .unwrap();
    gateway
        .expect(
            &format!("the response to {id}"),
            Duration::from_secs(15),
            |d| d.topic == topic("response") && d.json()["commandId"] == id,
        )
        .await
        .unwrap()
        .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_resets_a_stalled_handler_but_not_a_cooperative_wait() {
    lua_testkit::require_micropython!(
        "the watchdog resets a stalled handler but not a cooperative wait"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = project("WATCHDOG_MS = 2000\nNTP_HOST = None");
    let mut device = start(&with_fakes(&dir), &broker).await;
    let mut gateway = Gateway::connect(
        broker.port(),
        "wdt-gateway",
        &[topic("response"), topic("trigger")],
    )
    .await
    .unwrap();
    ack_tick(&mut gateway).await;
    // Three times the watchdog's timeout spent waiting cooperatively: fed all along.
    let napped = call(&mut gateway, "nap", "nap", json!({"ms": 6000})).await;
    assert_eq!(napped["data"], json!({"napped": 6000}), "{napped}");
    // A handler that blocks for more than the timeout: the board resets.
    let command = json!({"commandId": "block", "command": "block", "payload": {"ms": 5000}});
    gateway
        .publish(&topic("command"), command.to_string())
        .await
        .unwrap();
    let said = line(&mut device, "WDT: not fed for", 15);
    let gap: u64 = said.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(gap >= 5000, "{said}");
    let _ = device.kill();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_resets_a_stalled_background() {
    lua_testkit::require_micropython!("the watchdog resets a stalled background");
    let broker = Mosquitto::start().unwrap();
    let dir = project("WATCHDOG_MS = 2000\nNTP_HOST = None");
    let mut device = start(&with_fakes(&dir), &broker).await;
    let mut gateway = Gateway::connect(
        broker.port(),
        "wdt-bg-gateway",
        &[topic("response"), topic("trigger")],
    )
    .await
    .unwrap();
    ack_tick(&mut gateway).await;
    let response = call(&mut gateway, "stall", "stall_background", json!({})).await;
    assert_eq!(response["success"], true, "{response}");
    let said = line(&mut device, "WDT: not fed for", 15);
    assert!(said.contains("the board resets"), "{said}");
    let _ = device.kill();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn too_many_failed_connects_in_a_row_reset_the_board() {
    lua_testkit::require_micropython!("too many failed connects in a row reset the board");
    // Nothing listens on this port: every connect fails at once.
    let url = format!("mqtt://127.0.0.1:{}", lua_testkit::ports::free_port());
    let dir = project("RESET_AFTER_FAILURES = 3\nRECONNECT_MAX_MS = 50\nNTP_HOST = None");
    let mut device = with_fakes(&dir).spawn(&env(url.clone())).unwrap();
    let said = device
        .wait_line("machine.reset()", Duration::from_secs(15))
        .unwrap();
    assert_eq!(said, "machine.reset()");
    let _ = device.kill();

    // The unix port has no machine.reset(): it says so and tries on, counting afresh.
    let mut device = micropython::device(&dir).unwrap().spawn(&env(url)).unwrap();
    device
        .wait_line(
            "3 connection attempts failed in a row: resetting the board",
            Duration::from_secs(15),
        )
        .unwrap();
    device
        .wait_line(
            "no machine.reset() on this port: trying on",
            Duration::from_secs(5),
        )
        .unwrap();
    device
        .wait_line(
            "3 connection attempts failed in a row",
            Duration::from_secs(15),
        )
        .unwrap();
    let _ = device.kill();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_is_set_by_ntp_before_the_first_status_and_again_a_day_later() {
    lua_testkit::require_micropython!(
        "the clock is set by ntp before the first status and again a day later"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = project("NTP_HOST = \"ntp.example\"\nWATCHDOG_MS = 0");
    let mut device = with_fakes(&dir).spawn(&env(broker.url())).unwrap();
    // Asked before the CONNECT, whose last will is the first status.
    let said = line(&mut device, "NTP asked:", 10);
    assert_eq!(said, "NTP asked: ntp.example before connecting");
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10))).unwrap();
    let mut gateway = Gateway::connect(
        broker.port(),
        "ntp-gateway",
        &[topic("response"), topic("status"), topic("trigger")],
    )
    .await
    .unwrap();
    ack_tick(&mut gateway).await;
    let status = gateway
        .expect("the retained online status", Duration::from_secs(5), |d| {
            d.topic == topic("status") && d.retain
        })
        .await
        .unwrap()
        .json();
    // The unix port's clock is the host's, so it is set: a real ISO time, to the second.
    let stamp = status["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let parsed = iso_seconds(stamp).unwrap_or_else(|| panic!("{stamp}"));
    assert!(parsed.abs_diff(now) < 120, "{stamp} is not now");
    // Synced: the next sync is due in a day.
    let due = call(&mut gateway, "d1", "ntp_due", json!({})).await["data"].clone();
    let due = due.as_i64().unwrap_or_else(|| panic!("{due}"));
    assert!((86_300_000..=86_400_000).contains(&due), "{due}");
    // Once due, the main loop syncs again while connected.
    call(&mut gateway, "now", "ntp_now", json!({})).await;
    let said = line(&mut device, "NTP asked:", 10);
    assert_eq!(said, "NTP asked: ntp.example connected");
    let _ = device.kill();

    // No answer: the device comes up anyway and asks again in an hour.
    std::fs::write(
        dir.join("fake_ntptime.py"),
        FAKE_NTPTIME.replace("SILENT = False", "SILENT = True"),
    )
    .unwrap();
    let mut device = with_fakes(&dir).spawn(&env(broker.url())).unwrap();
    line(&mut device, "no time from NTP host ntp.example", 10);
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10))).unwrap();
    ack_tick(&mut gateway).await;
    let due = call(&mut gateway, "d2", "ntp_due", json!({})).await["data"].clone();
    let due = due.as_i64().unwrap_or_else(|| panic!("{due}"));
    assert!((3_500_000..=3_600_000).contains(&due), "{due}");
    let _ = device.kill();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SS...Z`.
fn iso_seconds(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.ends_with('Z') || b[10] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// A clock that reads before 2025 was never set: statuses go without a timestamp rather than
/// with a wrong one.
#[test]
fn an_unset_clock_gives_statuses_without_a_timestamp() {
    lua_testkit::require_micropython!("an unset clock gives statuses without a timestamp");
    let dir = project("");
    std::fs::write(
        dir.join("unset_time.py"),
        "from time import *\n\n\ndef gmtime(*a):\n    return (2021, 1, 1, 0, 0, 5, 4, 1)\n",
    )
    .unwrap();
    let script = "import sys, json\nimport lua_connect\nprint(json.dumps(lua_connect._status('online')))\n\
                  import unset_time\nsys.modules['time'] = unset_time\nsys.modules.pop('lua_connect')\n\
                  import lua_connect\nprint(json.dumps(lua_connect._status('online')))\n";
    let out = micropython::run_script(&dir, script).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0]["timestamp"].as_str().is_some(), "{out}");
    assert_eq!(lines[1], json!({"status": "online"}), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_callbacks_and_result_checks_work_against_a_broker() {
    lua_testkit::require_micropython!(
        "background callbacks and result checks work against a broker"
    );
    let mut broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        persistence: true,
        extra_config: vec!["user root".into()],
        ..Default::default()
    })
    .unwrap();
    let dir = project("NTP_HOST = None");
    let mut device = start(&micropython::device(&dir).unwrap(), &broker).await;
    let watched = [topic("response"), topic("trigger")];
    let mut gateway = Gateway::connect(broker.port(), "hooks-gateway", &watched)
        .await
        .unwrap();
    let trigger = gateway
        .expect("background()'s trigger", Duration::from_secs(10), |d| {
            d.topic == topic("trigger")
        })
        .await
        .unwrap();
    assert_eq!(
        trigger.json(),
        json!({"triggerName": "tick", "payload": {"n": 2}})
    );
    // While the trigger waits for its ack, a command arrives: it is answered once
    // background() has its ack, on the same connection.
    let command = json!({"commandId": "during", "command": "seen", "payload": {}});
    gateway
        .publish(&topic("command"), command.to_string())
        .await
        .unwrap();
    for (suffix, message) in [
        ("trigger_ack", json!({"triggerId": "t-9", "received": true})),
        (
            "trigger_result",
            json!({"triggerName": "tick", "result": {"ok": 1}}),
        ),
        ("error", json!({"code": "E1", "message": "boom"})),
    ] {
        gateway
            .publish(&topic(suffix), message.to_string())
            .await
            .unwrap();
    }
    let during = gateway
        .expect("the response to during", Duration::from_secs(10), |d| {
            d.topic == topic("response") && d.json()["commandId"] == "during"
        })
        .await
        .unwrap()
        .json();
    assert_eq!(during["success"], true, "{during}");
    assert_eq!(during["data"]["connected"], true, "{during}");
    let seen = call(&mut gateway, "seen-1", "seen", json!({})).await;
    let list = &seen["data"]["seen"];
    assert_eq!(list[0], "connected", "{seen}");
    assert!(
        list.as_array().unwrap().contains(&json!(["acked", "t-9"])),
        "{seen}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .contains(&json!(["trigger_result", "tick", {"ok": 1}])),
        "{seen}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .contains(&json!(["error", {"code": "E1", "message": "boom"}])),
        "{seen}"
    );
    let steps = seen["data"]["steps"].as_i64().unwrap();
    assert!(steps >= 2, "{seen}");

    // Results are checked against the outputSchema, naming the field.
    for (id, result, expected) in [
        (
            "ok",
            json!({"value": 50, "unit": "%"}),
            Ok(json!({"value": 50, "unit": "%"})),
        ),
        (
            "high",
            json!({"value": 500}),
            Err("value: must be at most 100"),
        ),
        ("missing", json!({"unit": "%"}), Err("value: is required")),
        (
            "type",
            json!({"value": 5, "unit": 7}),
            Err("unit: must be a string, found number"),
        ),
        (
            "shape",
            json!("x"),
            Err("result: must be an object, found string"),
        ),
    ] {
        let response = call(&mut gateway, id, "reading", json!({"result": result})).await;
        match expected {
            Ok(data) => {
                assert_eq!(response["success"], true, "{response}");
                assert_eq!(response["data"], data, "{response}");
            }
            Err(why) => {
                assert_eq!(response["success"], false, "{response}");
                assert_eq!(
                    response["error"],
                    format!("the result does not match the outputSchema: {why}"),
                    "{response}"
                );
            }
        }
    }

    // A broker restart: on_disconnected, then on_reconnected.
    broker.restart().unwrap();
    let mut gateway = Gateway::connect(broker.port(), "hooks-gateway-2", &watched)
        .await
        .unwrap();
    line(&mut device, "connected to mqtt broker", 20);
    let seen = call(&mut gateway, "seen-2", "seen", json!({})).await;
    let list = seen["data"]["seen"].as_array().unwrap().clone();
    let tail: Vec<&Value> = list.iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [&json!("reconnected"), &json!("disconnected")],
        "{seen}"
    );
    let steps_after = seen["data"]["steps"].as_i64().unwrap();
    assert!(steps_after > steps, "background() stopped: {seen}");
    let status = tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10))).unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The transport guide's greenhouse loop as examples/greenhouse/micropython/handlers.py
/// writes it: its humidity_alert reaches the broker and its ack reaches the loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_greenhouse_example_fires_its_humidity_alert() {
    lua_testkit::require_micropython!("the greenhouse example fires its humidity alert");
    let broker = Mosquitto::start().unwrap();
    let dir = scratch_dir("greenhouse").unwrap();
    let root = workspace_root();
    generate_ok(&root.join("manifests/greenhouse-sensor.yaml"), &dir, &[]).unwrap();
    let example =
        std::fs::read_to_string(root.join("examples/greenhouse/micropython/handlers.py")).unwrap();
    // The guide's 10 s, shortened: each reading is over 80 a quarter of the time.
    assert!(example.contains("\nPERIOD_MS = 10000\n"));
    std::fs::write(
        dir.join("handlers.py"),
        example.replace("\nPERIOD_MS = 10000\n", "\nPERIOD_MS = 100\n"),
    )
    .unwrap();
    micropython::typecheck(&dir).unwrap();
    let mut device = micropython::device(&dir)
        .unwrap()
        .spawn(&env(broker.url()))
        .unwrap();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10))).unwrap();
    let prefix = format!("lua/devices/{AGENT}/greenhouse-sensor/");
    let mut gateway = Gateway::connect(
        broker.port(),
        "greenhouse-gateway",
        &[format!("{prefix}trigger"), format!("{prefix}response")],
    )
    .await
    .unwrap();
    let alert = gateway
        .expect("humidity_alert", Duration::from_secs(30), |d| {
            d.topic == format!("{prefix}trigger")
        })
        .await
        .unwrap()
        .json();
    assert_eq!(alert["triggerName"], "humidity_alert", "{alert}");
    let humidity = alert["payload"]["humidity"].as_i64().unwrap();
    // Over 80 before rounding, as the guide writes it.
    assert!((80..=85).contains(&humidity), "{alert}");
    assert_eq!(alert["payload"]["threshold"], 80, "{alert}");
    assert_eq!(alert["payload"]["sensor"], "greenhouse-sensor", "{alert}");
    gateway
        .publish(
            &format!("{prefix}trigger_ack"),
            json!({"triggerId": "gh-1", "received": true}).to_string(),
        )
        .await
        .unwrap();
    line(&mut device, "humidity_alert acknowledged: gh-1", 10);
    // The commands answer meanwhile, their results checked against the outputSchema.
    let command = json!({"commandId": "env", "command": "read_environment", "payload": {}});
    gateway
        .publish(&format!("{prefix}command"), command.to_string())
        .await
        .unwrap();
    let response = gateway
        .expect("read_environment", Duration::from_secs(15), |d| {
            d.topic == format!("{prefix}response")
        })
        .await
        .unwrap()
        .json();
    assert_eq!(response["success"], true, "{response}");
    assert!(iso_seconds(response["data"]["timestamp"].as_str().unwrap()).is_some());
    let status = tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10))).unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
