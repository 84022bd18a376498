//! The sans-IO MQTT stack the Pico W firmware runs (`lua_device::mqtt`), driven over a plain
//! `std::net::TcpStream` against a real mosquitto, with the testkit's gateway on the other side.
//! The firmware moves bytes the same way over embassy-net; everything else is this code.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lua_device::dedup::DedupConfig;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_device::typed::{self, FieldPath, Int};
use lua_device::{CommandError, CommandSpec};
use lua_testkit::gateway::Gateway;
use lua_testkit::Mosquitto;
use serde_json::json;

const PREFIX: &str = "lua/devices/agent-1/pico-01/";
const WAIT: Duration = Duration::from_secs(5);

fn session() -> DeviceSession {
    DeviceSession::new(DeviceConfig {
        agent_id: "agent-1",
        device_name: "pico-01",
        api_key: "k3y",
        group: Some("g"),
        dedup: DedupConfig {
            max_entries: 32,
            max_bytes: 8192,
            ttl_ms: 300_000,
        },
    })
}

/// What the firmware's connection task does, blocking instead of async.
struct Device {
    socket: TcpStream,
    client: Client,
    session: DeviceSession,
    out: Vec<u8>,
    start: Instant,
    runs: u32,
}

impl Device {
    /// Connect, wait for CONNACK, then subscribe, publish status and registration.
    fn connect(port: u16, client: Client, session: DeviceSession) -> (Device, bool) {
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut d = Device {
            socket,
            client,
            session,
            out: Vec::new(),
            start: Instant::now(),
            runs: 0,
        };
        let will = d.session.will_payload("2025-01-15T10:30:00.000Z");
        let now = d.now();
        d.client.connect(&d.session.connect(&will), now, &mut d.out);
        d.flush();
        let present = d
            .pump_until(|e| matches!(e, Incoming::Connected { .. }))
            .into_iter()
            .find_map(|e| match e {
                Incoming::Connected { session_present } => Some(session_present),
                _ => None,
            })
            .expect("CONNACK");
        let commands =
            serde_json::to_string(&[CommandSpec::new("echo", "Return the payload")]).unwrap();
        for step in d
            .session
            .after_connack(&commands, "2025-01-15T10:30:00.000Z")
        {
            let now = d.now();
            match step {
                Step::Subscribe(subs) => d.client.subscribe(&subs, now, &mut d.out),
                Step::Publish(p) => d.client.publish(&p, now, &mut d.out),
            }
        }
        d.flush();
        (d, present)
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn flush(&mut self) {
        self.socket.write_all(&self.out).unwrap();
        self.out.clear();
    }

    /// One read (up to 50 ms), its events handled like the firmware does.
    fn pump_once(&mut self) -> Vec<Incoming> {
        let mut buf = [0u8; 1024];
        let n = match self.socket.read(&mut buf) {
            Ok(0) => panic!("broker closed the connection"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Vec::new()
            }
            Err(e) => panic!("{e}"),
        };
        let now = self.now();
        let events = self.client.receive(&buf[..n], now, &mut self.out).unwrap();
        self.flush();
        for e in &events {
            if let Incoming::Message { topic, payload } = e {
                self.handle(topic, payload);
            }
        }
        events
    }

    /// Pump until an event matches `done` (or panic after [`WAIT`]).
    fn pump_until(&mut self, done: impl Fn(&Incoming) -> bool) -> Vec<Incoming> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let events = self.pump_once();
            let hit = events.iter().any(&done);
            seen.extend(events);
            if hit {
                return seen;
            }
        }
        panic!("timed out; saw {seen:?}")
    }

    /// Pump until the handler has run `n` times in all.
    fn wait_runs(&mut self, n: u32) {
        let deadline = Instant::now() + WAIT;
        while self.runs < n {
            assert!(
                Instant::now() < deadline,
                "the handler ran {} times, not {n}",
                self.runs
            );
            self.pump_once();
        }
    }

    /// The firmware's `handle`, with an `echo` command as the dispatch.
    fn handle(&mut self, topic: &str, payload: &[u8]) {
        let now = self.now();
        match self.session.on_message(topic, payload, now) {
            Inbound::Run(c) => {
                self.runs += 1;
                let result = match c.command.as_str() {
                    "echo" => Ok(Some(c.payload)),
                    // What a generated check does with `{type: integer, minimum: 1}` (a u64).
                    "take" => FieldPath::root()
                        .key("n", |p| {
                            typed::integer(&c.payload["n"], p, Some(1), None, None, Int::U64)
                        })
                        .map(|()| None),
                    other => Err(CommandError::unknown(other)),
                };
                for p in self.session.complete(&c.command_id, result, now) {
                    self.client.publish(&p, now, &mut self.out);
                }
            }
            Inbound::Publish(p) => self.client.publish(&p, now, &mut self.out),
            _ => {}
        }
        self.flush();
    }

    fn is_command(e: &Incoming) -> bool {
        matches!(e, Incoming::Message { topic, .. } if topic.ends_with("/command"))
    }
}

async fn gateway(port: u16) -> Gateway {
    Gateway::connect(port, "gateway", &[format!("{PREFIX}#")])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_serves_commands_and_replays_duplicates() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (mut device, present) = Device::connect(broker.port(), Client::new(60), session());
    assert!(!present);

    let status = gw
        .expect("retained online status", WAIT, |d| {
            d.topic.ends_with("/status") && d.json()["timestamp"].is_string()
        })
        .await
        .unwrap();
    assert_eq!(
        status.json(),
        json!({"status":"online","timestamp":"2025-01-15T10:30:00.000Z","group":"g"})
    );
    let reg = gw
        .expect("registration", WAIT, |d| d.json().get("apiKey").is_some())
        .await
        .unwrap();
    assert_eq!(
        reg.json()["commands"],
        json!([{"name":"echo","description":"Return the payload"}])
    );
    assert!(!reg.retain);

    let command = json!({"commandId":"c1","command":"echo","payload":{"x":1}}).to_string();
    for expected_runs in [1, 1] {
        gw.publish(&format!("{PREFIX}command"), command.clone())
            .await
            .unwrap();
        device.pump_until(Device::is_command);
        let response = gw
            .expect("response", WAIT, |d| d.topic.ends_with("/response"))
            .await
            .unwrap();
        assert_eq!(
            response.json(),
            json!({"commandId":"c1","success":true,"data":{"x":1}})
        );
        assert_eq!(
            device.runs, expected_runs,
            "a duplicate is answered from the cache"
        );
    }

    gw.publish(
        &format!("{PREFIX}command"),
        r#"{"commandId":"c2","command":"nope"}"#,
    )
    .await
    .unwrap();
    device.pump_until(Device::is_command);
    let response = gw
        .expect("error", WAIT, |d| d.topic.ends_with("/response"))
        .await
        .unwrap();
    assert_eq!(
        response.json(),
        json!({"commandId":"c2","success":false,"error":"Unknown command: nope"})
    );

    let trigger = device.session.trigger("alert", Some(json!({"level":3})));
    let now = device.now();
    device.client.publish(&trigger, now, &mut device.out);
    device.flush();
    let t = gw
        .expect("trigger", WAIT, |d| d.topic.ends_with("/trigger"))
        .await
        .unwrap();
    assert_eq!(
        t.json(),
        json!({"triggerName":"alert","payload":{"level":3}})
    );
    // PUBACKs of the earlier responses and of the trigger arrive in any number of reads.
    let deadline = Instant::now() + WAIT;
    while device.client.inflight() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} QoS 1 publishes never acknowledged",
            device.client.inflight()
        );
        device.pump_once();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_will_and_persistent_session_across_a_lost_link() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (device, _) = Device::connect(broker.port(), Client::new(60), session());
    gw.expect("registration", WAIT, |d| d.json().get("apiKey").is_some())
        .await
        .unwrap();

    // The link dies without DISCONNECT: the broker publishes the will.
    let Device {
        socket,
        mut client,
        session,
        ..
    } = device;
    socket.shutdown(std::net::Shutdown::Both).unwrap();
    drop(socket);
    client.disconnected();
    let will = gw
        .expect("last will", WAIT, |d| d.json()["status"] == "offline")
        .await
        .unwrap();
    assert_eq!(
        will.json(),
        json!({"status":"offline","timestamp":"2025-01-15T10:30:00.000Z"})
    );

    // A command sent while the device is away is queued (clean session false)...
    let command = json!({"commandId":"away","command":"echo","payload":"queued"}).to_string();
    gw.publish(&format!("{PREFIX}command"), command)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ...and delivered when it comes back.
    let (mut device, present) = Device::connect(broker.port(), client, session);
    assert!(present, "the broker kept the session");
    device.wait_runs(1);
    let response = gw
        .expect("response", WAIT, |d| d.topic.ends_with("/response"))
        .await
        .unwrap();
    assert_eq!(
        response.json(),
        json!({"commandId":"away","success":true,"data":"queued"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_ping_is_answered() {
    let broker = Mosquitto::start().unwrap();
    let (mut device, _) = Device::connect(broker.port(), Client::new(60), session());
    device.pump_until(|e| matches!(e, Incoming::Nothing)); // SUBACK
                                                           // Half the keep-alive from now, the client pings; mosquitto answers PINGRESP.
    let later = device.now() + 30_000;
    device.client.poll(later, &mut device.out).unwrap();
    assert_eq!(device.out, [0xc0, 0]);
    device.flush();
    device.pump_until(|e| matches!(e, Incoming::Nothing));
    assert!(
        device.client.poll(later + 59_000, &mut device.out).is_ok(),
        "the pong cleared the ping"
    );
}

/// Legal JSON no value holds, too deep a payload, an integer past its field's type: each is
/// answered naming the field, with the text the std runtime sends (`message::tests`, the
/// conformance suite), and the device goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_values_and_integers_past_their_type_are_answered() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (mut device, _) = Device::connect(broker.port(), Client::new(60), session());
    gw.expect("registration", WAIT, |d| d.json().get("apiKey").is_some())
        .await
        .unwrap();
    let float = "is a number beyond the range of a 64-bit float (about ±1.8e308)";
    let surrogate = r"has a lone UTF-16 surrogate escape (\ud800-\udfff), not a character";
    let deep = "payload: nests arrays and objects deeper than a command may (64 levels, the \
                command's own object included)";
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    let cases = [
        (
            r#"{"commandId":"u1","command":"echo","payload":{"x":1e400}}"#.to_string(),
            format!("x: {float}"),
        ),
        (
            r#"{"commandId":"u2","command":"echo","payload":{"label":"\ud800"}}"#.into(),
            format!("label: {surrogate}"),
        ),
        (
            format!(
                r#"{{"commandId":"u3","command":"echo","payload":{}}}"#,
                nested(100)
            ),
            deep.into(),
        ),
        (
            r#"{"commandId":"u4","command":"take","payload":{"n":5.4e37}}"#.into(),
            "n: must be from 0 to 18446744073709551615, the range this device supports".into(),
        ),
    ];
    for (i, (command, error)) in cases.iter().enumerate() {
        let id = format!("u{}", i + 1);
        gw.publish(&format!("{PREFIX}command"), command.clone())
            .await
            .unwrap();
        device.pump_until(Device::is_command);
        let response = gw
            .expect("response", WAIT, |d| {
                d.topic.ends_with("/response") && d.json()["commandId"] == id.as_str()
            })
            .await
            .unwrap();
        assert_eq!(
            response.json(),
            json!({"commandId": id, "success": false, "error": error})
        );
    }
    assert_eq!(device.runs, 1, "only the integer reached its handler");

    // The deepest payload a command may carry is served, and so is the largest integer.
    let deepest = format!(
        r#"{{"commandId":"ok1","command":"echo","payload":{}}}"#,
        nested(lua_device::json::MAX_DEPTH - 1)
    );
    let largest = r#"{"commandId":"ok2","command":"take","payload":{"n":18446744073709551615}}"#;
    for (id, command) in [("ok1", deepest.as_str()), ("ok2", largest)] {
        gw.publish(&format!("{PREFIX}command"), command.to_string())
            .await
            .unwrap();
        device.pump_until(Device::is_command);
        let response = gw
            .expect("response", WAIT, |d| {
                d.topic.ends_with("/response") && d.json()["commandId"] == id
            })
            .await
            .unwrap();
        assert_eq!(response.json()["success"], true, "{id}");
    }
}
