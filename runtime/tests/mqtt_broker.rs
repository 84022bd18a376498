//! The sans-IO MQTT stack the Pico W firmware runs (`lua_device::mqtt`), driven over a plain
//! `std::net::TcpStream` against a real mosquitto, with the testkit's gateway on the other side.
//! The firmware moves bytes the same way over embassy-net; everything else is this code.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lua_device::dedup::DedupConfig;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_device::typed::{self, Constraint, FieldPath, Int, Num};

/// What luagen generates for `{type: integer, minimum: 1}` (a u64 field).
static AT_LEAST_ONE: [Constraint; 2] = [
    Constraint::Minimum(Num::Int(1)),
    Constraint::Range(Int::U64),
];
use lua_device::{CommandError, CommandSpec};
use lua_testkit::gateway::Gateway;
use lua_testkit::Mosquitto;
use serde_json::json;

const PREFIX: &str = "lua/devices/agent-1/pico-01/";
const WAIT: Duration = Duration::from_secs(5);
/// The firmware's packet limit (`MAX_PACKET_BYTES` in templates/pico-w/config.rs.j2).
const MAX_PACKET: usize = 2048;
/// The largest command payload kept whole on this device's command topic: the packet less the
/// topic (two length bytes and 35 bytes) and the packet id.
const MAX_COMMAND: usize = MAX_PACKET - 2 - (PREFIX.len() + "command".len()) - 2;

fn client() -> Client {
    Client::new(60, MAX_PACKET)
}

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
    /// Retained commands acknowledged and not run.
    retained: u32,
}

impl Device {
    /// Connect, wait for CONNACK, then subscribe, publish status and registration.
    fn connect(port: u16, client: Client, session: DeviceSession) -> (Device, bool) {
        Self::connect_with(port, client, session, None)
    }

    /// [`Device::connect`], asking the broker for `keep_alive_s` instead of the firmware's.
    fn connect_with(
        port: u16,
        client: Client,
        session: DeviceSession,
        keep_alive_s: Option<u16>,
    ) -> (Device, bool) {
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
            retained: 0,
        };
        let will = d.session.will_payload("2025-01-15T10:30:00.000Z");
        let now = d.now();
        let mut connect = d.session.connect(&will);
        if let Some(k) = keep_alive_s {
            connect.keep_alive_s = k;
        }
        d.client.connect(&connect, now, &mut d.out);
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

    /// Bytes the MQTT client holds for packets not yet complete.
    fn client_buffered(&self) -> usize {
        self.client.buffered()
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn flush(&mut self) {
        self.socket.write_all(&self.out).unwrap();
        self.out.clear();
    }

    /// One read of the socket (up to 50 ms): the bytes read into `buf`, 0 when none came.
    fn read_some(&mut self, buf: &mut [u8]) -> usize {
        match self.socket.read(buf) {
            Ok(0) => panic!("broker closed the connection"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                0
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// One read (up to 50 ms), its events handled like the firmware does.
    fn pump_once(&mut self) -> Vec<Incoming> {
        let mut buf = [0u8; 1024];
        let n = self.read_some(&mut buf);
        if n == 0 {
            return Vec::new();
        }
        let now = self.now();
        let events = self.client.receive(&buf[..n], now, &mut self.out).unwrap();
        self.flush();
        for e in &events {
            self.handle(e);
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
    fn handle(&mut self, event: &Incoming) {
        let now = self.now();
        match self.session.on_incoming(event, now) {
            Inbound::Run(c) => {
                self.runs += 1;
                let result = match c.command.as_str() {
                    "echo" => Ok(Some(c.payload)),
                    "take" => FieldPath::root()
                        .key("n", |p| typed::integer(&c.payload["n"], p, &AT_LEAST_ONE))
                        .map(|()| None),
                    other => Err(CommandError::unknown(other)),
                };
                for p in self.session.complete(&c.command_id, result, now) {
                    self.client.publish(&p, now, &mut self.out);
                }
            }
            Inbound::Publish(p) => self.client.publish(&p, now, &mut self.out),
            Inbound::RetainedCommand => self.retained += 1,
            _ => {}
        }
        self.flush();
    }

    fn is_command(e: &Incoming) -> bool {
        match e {
            Incoming::Message { topic, .. } => topic.ends_with("/command"),
            Incoming::TooLarge(s) => s.topic.ends_with("/command"),
            _ => false,
        }
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
    let (mut device, present) = Device::connect(broker.port(), client(), session());
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
    let (device, _) = Device::connect(broker.port(), client(), session());
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
    let (mut device, _) = Device::connect(broker.port(), client(), session());
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

/// The firmware's loop with its handlers in a worker task (`templates/pico-w/src/connection.rs`
/// and `worker.rs`), blocking: a command runs for `handler_ms` while the next waits its turn,
/// reads stop while one waits, and keep-alive goes on when `keep_alive` is set. Returns the
/// responses' command ids in the order they were published.
fn serve_a_slow_handler(device: &mut Device, handler_ms: u64, keep_alive: bool) -> Vec<String> {
    let mut waiting: std::collections::VecDeque<lua_device::message::Command> = Default::default();
    let mut running: Option<(lua_device::message::Command, u64)> = None;
    let mut answered = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(handler_ms) + WAIT;
    while answered.len() < 2 {
        assert!(Instant::now() < deadline, "answered only {answered:?}");
        let now = device.now();
        if running.as_ref().is_some_and(|(_, end)| now >= *end) {
            let (c, _) = running.take().unwrap();
            for p in device.session.complete(&c.command_id, Ok(None), now) {
                device.client.publish(&p, now, &mut device.out);
            }
            answered.push(c.command_id);
        }
        if running.is_none() {
            if let Some(c) = waiting.pop_front() {
                let end = if c.command == "slow" {
                    now + handler_ms
                } else {
                    now
                };
                running = Some((c, end));
            }
        }
        let reading = waiting.is_empty();
        device.client.hold_reads(!reading, now);
        if keep_alive {
            device
                .client
                .poll(now, &mut device.out)
                .expect("keep-alive holds while the handler runs");
        }
        device.flush();
        if !reading {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut buf = [0u8; 1024];
        let n = device.read_some(&mut buf);
        if n == 0 {
            continue;
        }
        let now = device.now();
        for event in device
            .client
            .receive(&buf[..n], now, &mut device.out)
            .unwrap()
        {
            if let Inbound::Run(c) = device.session.on_incoming(&event, now) {
                waiting.push_back(c);
            }
        }
        device.flush();
    }
    answered
}

/// A device on a fresh broker with a 2 s keep-alive, so that mosquitto drops a silent client
/// after 3 s (the slow handler's 7 s stand for the issue's 90 s against the firmware's 60 s),
/// and a slow command then a quick one on their way to it.
async fn a_slow_command_then_a_quick_one() -> (Mosquitto, Gateway, Device) {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (device, _) = Device::connect_with(broker.port(), client(), session(), Some(2));
    gw.expect("registration", WAIT, |d| d.json().get("apiKey").is_some())
        .await
        .unwrap();
    for (id, command) in [("c1", "slow"), ("c2", "quick")] {
        gw.publish(
            &format!("{PREFIX}command"),
            json!({"commandId": id, "command": command}).to_string(),
        )
        .await
        .unwrap();
    }
    (broker, gw, device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_running_for_three_keep_alives_costs_the_connection_nothing() {
    let (_broker, mut gw, mut device) = a_slow_command_then_a_quick_one().await;
    let answered = serve_a_slow_handler(&mut device, 7_000, true);
    assert_eq!(answered, ["c1", "c2"], "one at a time, in order");
    for id in ["c1", "c2"] {
        gw.expect(id, WAIT, |d| {
            d.topic.ends_with("/response") && d.json()["commandId"] == id
        })
        .await
        .unwrap();
    }
    assert!(
        !gw.drain()
            .iter()
            .any(|d| d.topic.ends_with("/status") && d.json()["status"] == "offline"),
        "the broker never gave the device up"
    );
    // The pings sent while reads were held are answered once reads resume.
    let later = device.now() + 1_500;
    device.client.poll(later, &mut device.out).unwrap();
    device.flush();
    device.pump_until(|e| matches!(e, Incoming::Nothing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_alive_during_the_handler_the_broker_gives_the_device_up() {
    // The control for the test above: the same loop, silent while the handler runs, is
    // dropped by the broker, which publishes the last will.
    let (_broker, mut gw, mut device) = a_slow_command_then_a_quick_one().await;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve_a_slow_handler(&mut device, 7_000, false)
    }));
    gw.expect("last will", WAIT, |d| {
        d.topic.ends_with("/status") && d.json()["status"] == "offline"
    })
    .await
    .unwrap();
    drop(outcome);
}

/// A command of `payload_len` bytes: `{"commandId":ID,"command":"echo","payload":"xx..."}`.
fn sized_command(id: &str, payload_len: usize) -> String {
    let frame = json!({"commandId": id, "command": "echo", "payload": ""}).to_string();
    let filler = "x".repeat(payload_len - frame.len());
    json!({"commandId": id, "command": "echo", "payload": filler}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_commands_are_answered_with_the_limit_and_never_wedge_the_device() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (mut device, _) = Device::connect(broker.port(), client(), session());
    gw.expect("registration", WAIT, |d| d.json().get("apiKey").is_some())
        .await
        .unwrap();
    let error =
        format!("Command too large: {{}} bytes; this device accepts at most {MAX_COMMAND} bytes");

    // The largest command kept whole is answered with its data...
    let largest = sized_command("fits", MAX_COMMAND);
    assert_eq!(largest.len(), MAX_COMMAND);
    gw.publish(&format!("{PREFIX}command"), largest.clone())
        .await
        .unwrap();
    device.wait_runs(1);
    let response = gw
        .expect("response", WAIT, |d| d.topic.ends_with("/response"))
        .await
        .unwrap();
    assert_eq!(response.json()["success"], true, "{}", response.json());
    assert_eq!(
        response.json()["data"],
        serde_json::from_str::<serde_json::Value>(&largest).unwrap()["payload"]
    );

    // ...one byte more, and 3,000,000 bytes, with the size error; a huge one whose id cannot
    // be read (not JSON) is acknowledged and dropped. Each is read through: the device buffers
    // no more than one packet of the limit whatever arrives.
    for (id, size) in [("one-more", MAX_COMMAND + 1), ("huge", 3_000_000)] {
        gw.publish(&format!("{PREFIX}command"), sized_command(id, size))
            .await
            .unwrap();
        device.pump_until(Device::is_command);
        let response = gw
            .expect("size error", WAIT, |d| d.topic.ends_with("/response"))
            .await
            .unwrap();
        assert_eq!(
            response.json(),
            json!({"commandId": id, "success": false,
                   "error": error.replace("{}", &size.to_string())})
        );
        assert!(device.client_buffered() <= MAX_PACKET + 1024);
    }
    gw.publish(&format!("{PREFIX}command"), vec![b'['; 100_000])
        .await
        .unwrap();
    device.pump_until(Device::is_command);

    // Nothing was left unacknowledged: a reconnect gets no redelivery, and the next command
    // runs as usual.
    let Device {
        socket,
        client,
        session,
        runs,
        ..
    } = device;
    drop(socket);
    let (mut device, present) = Device::connect(broker.port(), client, session);
    assert!(present);
    device.runs = runs;
    gw.publish(
        &format!("{PREFIX}command"),
        json!({"commandId":"after","command":"echo","payload":1}).to_string(),
    )
    .await
    .unwrap();
    device.wait_runs(2);
    let mut answers = Vec::new();
    while let Ok(d) = gw.next(Duration::from_millis(500)).await {
        if d.topic.ends_with("/response") {
            answers.push(d.json());
        }
    }
    assert_eq!(
        answers,
        [json!({"commandId":"after","success":true,"data":1})],
        "no oversized command came back"
    );
}

/// Publish one retained QoS 1 message as another client (this crate's own client, over TCP),
/// and wait for the broker's PUBACK.
fn publish_retained(port: u16, topic: &str, payload: &[u8]) {
    use lua_device::mqtt::Connect;
    use lua_device::session::{Publication, Qos};
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut c = Client::new(60, 1024);
    let mut out = Vec::new();
    c.connect(
        &Connect {
            client_id: "retainer",
            username: None,
            password: None,
            keep_alive_s: 60,
            clean_session: true,
            will: None,
        },
        0,
        &mut out,
    );
    let p = Publication {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos: Qos::AtLeastOnce,
        retain: true,
    };
    let mut buf = [0u8; 64];
    socket.write_all(&out).unwrap();
    out.clear();
    while !c.is_connected() {
        let n = socket.read(&mut buf).unwrap();
        c.receive(&buf[..n], 0, &mut out).unwrap();
    }
    c.publish(&p, 0, &mut out);
    socket.write_all(&out).unwrap();
    out.clear();
    while c.inflight() > 0 {
        let n = socket.read(&mut buf).unwrap();
        assert!(n > 0, "broker closed before PUBACK");
        c.receive(&buf[..n], 0, &mut out).unwrap();
    }
    c.disconnect(&mut out);
    socket.write_all(&out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_commands_are_acknowledged_and_never_run() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let topic = format!("{PREFIX}command");
    let mut carried = (client(), session());
    // A retained command waits on the broker before the device ever connected; later, one too
    // large to keep replaces it while the device is away. Each reaches the device when it
    // subscribes, at every start: never run. (The second is also queued for the device's
    // persistent session as a live message, retain flag cleared as MQTT 3.1.1 §3.3.1.3 says,
    // and that delivery is answered once, with the size error.)
    let stale = [
        json!({"commandId":"stale","command":"echo","payload":1}).to_string(),
        sized_command("stale-big", 10_000),
    ];
    for start in 0..4 {
        if let Some(payload) = stale.get(start) {
            publish_retained(broker.port(), &topic, payload.as_bytes());
        }
        let (mut device, _) = Device::connect(broker.port(), carried.0, carried.1);
        let deadline = Instant::now() + WAIT;
        while device.retained < 1 {
            assert!(
                Instant::now() < deadline,
                "start {start}: no retained command"
            );
            device.pump_once();
        }
        assert_eq!(device.runs, 0, "start {start}");
        // A live command is still run.
        gw.publish(
            &topic,
            json!({"commandId": format!("live-{start}"),"command":"echo"}).to_string(),
        )
        .await
        .unwrap();
        device.wait_runs(1);
        // Responses acknowledged before the link goes, so none is resent.
        let deadline = Instant::now() + WAIT;
        while device.client.inflight() > 0 {
            assert!(Instant::now() < deadline, "responses never acknowledged");
            device.pump_once();
        }
        assert_eq!(device.retained, 1, "start {start}");
        let Device {
            socket,
            client,
            session,
            ..
        } = device;
        drop(socket);
        carried = (client, session);
    }
    let mut answered = Vec::new();
    while let Ok(d) = gw.next(Duration::from_millis(500)).await {
        if d.topic.ends_with("/response") {
            answered.push(d.json()["commandId"].as_str().unwrap().to_string());
        }
    }
    answered.sort();
    assert_eq!(
        answered,
        ["live-0", "live-1", "live-2", "live-3", "stale-big"],
        "no retained delivery answered"
    );
}

/// Legal JSON no value holds, too deep a payload, an integer past its field's type: each is
/// answered naming the field, with the text the std runtime sends (`message::tests`, the
/// conformance suite), and the device goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_values_and_integers_past_their_type_are_answered() {
    let broker = Mosquitto::start().unwrap();
    let mut gw = gateway(broker.port()).await;
    let (mut device, _) = Device::connect(broker.port(), client(), session());
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
