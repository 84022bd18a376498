//! Faults on the generated MicroPython device (unix port): nothing lost, nothing run twice.
//! The counting device of `lua_testkit::faults` behind a proxy that cuts its connection,
//! through broker restarts, and killed while its commands queue up. The agent resends late
//! commands with the same id, as the gateway's retry does; the device counts its executions.

use std::time::Duration;

use lua_testkit::device::RunningDevice;
use lua_testkit::fault_proxy::{FaultPlan, FaultProxy};
use lua_testkit::faults::{self, FaultAgent, Outcome, Plan, Run};
use lua_testkit::micropython::{self, limits, limits::CommandAgent};
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;
use serde_json::Value;

fn start(dir: &std::path::Path, url: String) -> RunningDevice {
    let mut device = micropython::device(dir)
        .unwrap()
        .spawn(&faults::env(url))
        .unwrap();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(15))).unwrap();
    device
}

fn plan(commands: u64) -> Plan {
    Plan {
        commands,
        // The device answers one command at a time; more in flight only queue in it.
        in_flight: 32,
        // It reconnects a second after a lost connection, then answers the backlog.
        resend_after: Some(Duration::from_secs(3)),
        cache_ids: faults::CACHE_IDS,
        stall: Duration::from_secs(30),
    }
}

async fn finish(agent: &mut FaultAgent, mut run: Run, device: &RunningDevice) -> Outcome {
    agent
        .settle(&mut run, Duration::from_secs(1), Duration::from_secs(10))
        .await;
    let mut outcome = run.outcome();
    if let Err(e) = agent
        .device_runs(&mut outcome, Duration::from_secs(3))
        .await
    {
        panic!("{e:#}\n{}", device.output());
    }
    outcome
}

fn seed() -> u64 {
    std::env::var("LUA_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_commands_through_a_cutting_proxy_each_run_exactly_once() {
    lua_testkit::require_micropython!(
        "ten thousand commands through a cutting proxy each run exactly once"
    );
    let broker = Mosquitto::start().unwrap();
    let seed = seed();
    let proxy = FaultProxy::start(
        broker.port(),
        FaultPlan {
            // Each cut costs the device a second before it reconnects: longer lives than the
            // Rust runtime's suite, so the run mostly runs.
            lifetime: Duration::from_millis(500)..Duration::from_millis(3000),
            seed,
            ..FaultPlan::default()
        },
    )
    .await
    .unwrap();
    let dir = faults::micropython_project(false).unwrap();
    let device = start(&dir, proxy.url());
    let mut agent = FaultAgent::connect(broker.port(), "mpy-proxy")
        .await
        .unwrap();
    let mut run = Run::new(plan(10_000));
    // A fast machine could outrun the proxy's clock: the agent waits for the cuts to keep up,
    // so every stretch of 2,000 commands sees at least one.
    let ran = run
        .to_end(&mut agent, |answered| {
            tokio::task::block_in_place(|| {
                while (proxy.stats().cuts() as u64) < answered / 2_000 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            Ok(())
        })
        .await;
    proxy.set_faults(false);
    let replay = format!("replay with LUA_FAULT_SEED={seed}");
    ran.unwrap_or_else(|e| panic!("{e:#}; {replay}\n{}", device.output()));
    let outcome = finish(&mut agent, run, &device).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}; {replay}"));
    let stats = proxy.stats();
    assert!(
        stats.cuts() >= 5,
        "only {} cuts: the faults never hit; {replay}",
        stats.cuts()
    );
    eprintln!(
        "seed {seed}: {} commands, {} cuts ({} mid-packet), {} resends, {} replays, {:?}",
        outcome.commands,
        stats.cuts(),
        stats.mid_packet_cuts(),
        outcome.resends,
        outcome.replays,
        outcome.wall
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_with_persistence_lose_nothing_and_run_nothing_twice() {
    lua_testkit::require_micropython!(
        "broker restarts with persistence lose nothing and run nothing twice"
    );
    let mut broker = Mosquitto::start_with(Options {
        persistence: true,
        extra_config: faults::persistence_config(),
        ..Default::default()
    })
    .unwrap();
    let dir = faults::micropython_project(false).unwrap();
    let device = start(&dir, broker.url());
    let mut agent = FaultAgent::connect(broker.port(), "mpy-restart")
        .await
        .unwrap();
    let mut run = Run::new(plan(10_000));
    let mut restarts = 0;
    run.to_end(&mut agent, |answered| {
        if answered >= 2500 * (restarts + 1) && restarts < 3 {
            restarts += 1;
            tokio::task::block_in_place(|| broker.restart())?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    let outcome = finish(&mut agent, run, &device).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    eprintln!(
        "{restarts} restarts: {} commands, {} resends, {} repeat answers, {:?}",
        outcome.commands, outcome.resends, outcome.replays, outcome.wall
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_commands_sent_while_killed_are_answered_once_each() {
    lua_testkit::require_micropython!(
        "a thousand commands sent while killed are answered once each"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = faults::micropython_project(false).unwrap();
    // Registered once, then gone without a word: the broker keeps its session.
    let mut first = start(&dir, broker.url());
    tokio::task::block_in_place(|| first.kill()).unwrap();
    let mut agent = FaultAgent::connect(broker.port(), "mpy-away")
        .await
        .unwrap();
    // All at once and never resent: anything the session does not keep is lost.
    let mut run = Run::new(Plan {
        in_flight: 1_000,
        resend_after: None,
        ..plan(1_000)
    });
    run.fill(&agent).await.unwrap();
    agent.flush(Duration::from_secs(10)).await.unwrap();
    let device = start(&dir, broker.url());
    run.to_end(&mut agent, |_| Ok(()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    let outcome = finish(&mut agent, run, &device).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    assert_eq!((outcome.resends, outcome.replays), (0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cache keeps answered ids within its byte budget: the latest responses are replayed,
/// an older id whose response was let go for room is told it already ran, and nothing runs
/// twice. (The Rust runtime's rule is unit-tested in its ledger.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotency_cache_replays_recent_responses_and_never_runs_an_older_id_twice() {
    lua_testkit::require_micropython!(
        "the idempotency cache replays recent responses and never runs an older id twice"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = faults::micropython_project(false).unwrap();
    // Half of it for responses: room for a few of them.
    limits::append_config(&dir, "IDEMPOTENCY_CACHE_BYTES = 2400").unwrap();
    let device = start(&dir, broker.url());
    let mut agent = FaultAgent::connect(broker.port(), "mpy-cache")
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    for n in 0..48 {
        assert_eq!(agent.work(n, wait).await.unwrap(), n + 1);
    }
    // The latest are cached: a replay, not a run.
    assert_eq!(agent.work(47, wait).await.unwrap(), 48);
    let mut raw = CommandAgent::connect(broker.port(), "cache-raw")
        .await
        .unwrap();
    // An old one ran and its response is gone: an error saying so, and no second run.
    let answer = raw
        .call(
            "mpy-cache-0",
            limits::command("mpy-cache-0", "work", r#"{"n":0}"#),
            wait,
        )
        .await
        .unwrap();
    // lua_device::ledger::ALREADY_RAN: every target words it the same.
    assert_eq!(
        answer["error"],
        "this command already ran; its response is no longer held, so it was not run again",
        "{answer}"
    );
    let mut outcome = Outcome::default();
    agent
        .device_runs(&mut outcome, Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    assert_eq!(outcome.handler_runs, 48);
    std::fs::remove_dir_all(&dir).unwrap();
}

// The limits, on a Pico W's heap (192 KB, `-X heapsize`).

fn start_small(dir: &std::path::Path, url: String) -> RunningDevice {
    let mut device = micropython::device_with_heap(dir, micropython::PICO_W_HEAP)
        .unwrap()
        .spawn(&faults::env(url))
        .unwrap();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(15))).unwrap();
    device
}

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_commands_are_read_past_acknowledged_and_answered_with_the_limit() {
    lua_testkit::require_micropython!(
        "oversized commands are read past acknowledged and answered with the limit"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = limits::project("").unwrap();
    let device = start_small(&dir, broker.url());
    let mut agent = CommandAgent::connect(broker.port(), "big").await.unwrap();
    for size in [60_000, 600_000, 1 << 20, 3 << 20] {
        let id = format!("big-{size}");
        let answer = agent
            .call(&id, limits::echo_of_size(&id, size), WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
        assert_eq!(answer["success"], false, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with("Command too large: "), "{error}");
    }
    // The id after a megabyte of payload, and the command name before it, are still read.
    let pad = "y".repeat(100_000);
    let late = format!(
        r#"{{"command":"echo","payload":{{"pad":"{pad}","x":[1,{{"commandId":"no"}}]}},"commandId":"late"}}"#
    );
    let answer = agent.call("late", late.into_bytes(), WAIT).await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("Command too large: "),
        "{answer}"
    );
    // Without a readable id there is nobody to answer; the device goes on.
    agent
        .send(
            format!(r#"{{"command":"echo","payload":"{pad}"}}"#).into_bytes(),
            false,
        )
        .await
        .unwrap();
    let answer = agent
        .call(
            "small",
            limits::command("small", "work", r#"{"n":1}"#),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(answer["data"]["seq"], 1, "{answer}");
    // Acknowledged: a new connection is not handed them again (nothing ran, nothing is owed).
    assert!(agent.drain(Duration::from_secs(2)).await.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_is_a_setting_and_a_command_within_it_is_answered_with_data() {
    lua_testkit::require_micropython!(
        "the limit is a setting and a command within it is answered with data"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = limits::project("MAX_COMMAND_BYTES = 16000").unwrap();
    let device = start_small(&dir, broker.url());
    let mut agent = CommandAgent::connect(broker.port(), "fit").await.unwrap();
    let within = limits::echo_of_size("within", 15_900);
    let answer = agent
        .call("within", within, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    assert_eq!(answer["success"], true, "{answer}");
    let empty = limits::echo_of_size("within", 0).len();
    assert_eq!(
        answer["data"]["pad"].as_str().unwrap().len(),
        15_900 - empty
    );
    let past = limits::echo_of_size("past", 16_100);
    let answer = agent.call("past", past, WAIT).await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .ends_with("accepts at most 16000 bytes"),
        "{answer}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_too_large_for_the_free_heap_is_answered_and_the_device_goes_on() {
    lua_testkit::require_micropython!(
        "a command too large for the free heap is answered and the device goes on"
    );
    let broker = Mosquitto::start().unwrap();
    // A limit past what the heap holds: the echo runs out of memory on its way.
    let dir = limits::project("MAX_COMMAND_BYTES = 1000000").unwrap();
    let device = start_small(&dir, broker.url());
    let mut agent = CommandAgent::connect(broker.port(), "oom").await.unwrap();
    let answer = agent
        .call("oom", limits::echo_of_size("oom", 120_000), WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    assert_eq!(answer["success"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("out of memory"),
        "{answer}"
    );
    let answer = agent
        .call(
            "after",
            limits::command("after", "work", r#"{"n":1}"#),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(answer["data"]["seq"], 1, "{answer}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_commands_are_acknowledged_logged_and_never_run() {
    lua_testkit::require_micropython!("retained commands are acknowledged logged and never run");
    let broker = Mosquitto::start().unwrap();
    let dir = limits::project("").unwrap();
    let mut agent = CommandAgent::connect(broker.port(), "keep").await.unwrap();
    let retained = limits::command("kept", "work", r#"{"n":7}"#);
    agent.send(retained, true).await.unwrap();
    for start in 0..2 {
        let mut device = start_small(&dir, broker.url());
        let line =
            tokio::task::block_in_place(|| device.wait_line("retained", Duration::from_secs(15)))
                .unwrap();
        assert_eq!(line, "[lua] ignored a retained command");
        let id = format!("stats-{start}");
        let answer = agent
            .call(&id, limits::command(&id, "stats", "{}"), WAIT)
            .await
            .unwrap();
        assert_eq!(answer["data"]["runs"], 0, "{answer}");
        tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10))).unwrap();
    }
    assert!(agent
        .drain(Duration::from_secs(1))
        .await
        .iter()
        .all(|r| r["commandId"] != "kept"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_json_at_the_edges_gets_an_answer_and_lengths_count_characters() {
    lua_testkit::require_micropython!(
        "legal json at the edges gets an answer and lengths count characters"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = limits::project("").unwrap();
    let device = start_small(&dir, broker.url());
    let mut agent = CommandAgent::connect(broker.port(), "edge").await.unwrap();
    let emoji = |n: usize| "\\ud83d\\ude00".repeat(n);
    let cases: Vec<(&str, String, Result<Value, &str>)> = vec![
        // A number past f64 anywhere: accepted where the schema allows any number.
        (
            "count",
            r#"{"n":3,"level":1e400}"#.into(),
            Ok(serde_json::json!({"n": 3})),
        ),
        ("count", r#"{"n":1e400}"#.into(), Err("n: ")),
        (
            "work",
            r#"{"n":2,"extra":[1e400,-1e400]}"#.into(),
            Ok(Value::Null),
        ),
        // Unbounded integers: Python's ints are; 5.4e37 is an integer in JSON Schema.
        (
            "count",
            r#"{"n":9223372036854775808}"#.into(),
            Ok(serde_json::json!({"n": 9223372036854775808u64})),
        ),
        ("count", r#"{"n":5.4e37}"#.into(), Ok(Value::Null)),
        ("count", r#"{"n":0}"#.into(), Err("n: ")),
        // Characters as JSON Schema counts them: an escaped surrogate pair is one.
        (
            "label",
            format!(r#"{{"text":"{}"}}"#, emoji(32)),
            Ok(serde_json::json!({"chars": 64})),
        ),
        (
            "label",
            format!(r#"{{"text":"{}"}}"#, emoji(33)),
            Err("text: "),
        ),
        (
            "label",
            r#"{"text":"\ud800"}"#.into(),
            Ok(serde_json::json!({"chars": 1})),
        ),
        // Echoed back, the response is still JSON: a pair is the character it encodes, a
        // lone half (no character) becomes U+FFFD.
        (
            "echo",
            r#"{"s":"\ud800","e":"\ud83d\ude00"}"#.into(),
            Ok(serde_json::json!({"s": "\u{fffd}", "e": "\u{1f600}"})),
        ),
        // inf cannot be written as JSON: an error, not a silent or broken response.
        ("echo", r#"{"v":1e400}"#.into(), Err("not JSON")),
        (
            "echo",
            format!("{}{}", "[".repeat(100), "]".repeat(100)),
            Err("payload"),
        ),
        (
            "echo",
            format!(r#"{{"d":{}1{}}}"#, "[".repeat(100), "]".repeat(100)),
            Ok(Value::Null),
        ),
    ];
    for (i, (name, payload, expected)) in cases.into_iter().enumerate() {
        let id = format!("edge-{i}");
        let answer = agent
            .call(&id, limits::command(&id, name, &payload), WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name} {payload}: {e:#}\n{}", device.output()));
        match expected {
            Ok(data) => {
                assert_eq!(answer["success"], true, "{name} {payload}: {answer}");
                if !data.is_null() {
                    assert_eq!(answer["data"], data, "{name} {payload}");
                }
            }
            Err(field) => {
                assert_eq!(answer["success"], false, "{name} {payload}: {answer}");
                let error = answer["error"].as_str().unwrap();
                assert!(error.contains(field), "{name} {payload}: {error}");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_commands_at_full_speed_are_all_answered_at_a_pico_w_heap() {
    lua_testkit::require_micropython!(
        "twenty thousand commands at full speed are all answered at a pico w heap"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = limits::project("").unwrap();
    let device = start_small(&dir, broker.url());
    let mut agent = FaultAgent::connect(broker.port(), "storm").await.unwrap();
    // All at once and never resent: the broker's session holds what the device has not read.
    let mut run = Run::new(Plan {
        in_flight: 20_000,
        resend_after: None,
        stall: Duration::from_secs(60),
        ..plan(20_000)
    });
    run.fill(&agent).await.unwrap();
    run.to_end(&mut agent, |_| Ok(()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
    let outcome = finish(&mut agent, run, &device).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    assert_eq!((outcome.answered, outcome.handler_runs), (20_000, 20_000));
    eprintln!("storm: {:?}", outcome.wall);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_id_is_remembered_for_the_gateways_retry_horizon_five_minutes_at_least() {
    lua_testkit::require_micropython!(
        "an id is remembered for the gateways retry horizon five minutes at least"
    );
    let dir = limits::project(r#"AGENT_ID = "agent""#).unwrap();
    let script = r#"import config, device_spec, handlers, lua_runtime
d = lua_runtime.Device(device_spec, handlers, config, None)
print(d.window_ms("slow_retry"), d.window_ms("work"), d.window_ms("no_such_command"))
"#;
    // slow_retry: 3 attempts x 200 s + 30 s; work: 30 s, under the five-minute floor.
    let out = micropython::run_script(&dir, script).unwrap();
    assert_eq!(out.lines().last().unwrap_or(""), "630000 300000 300000");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A packet goes out over ws:// masked piece by piece: with the heap cut into 1 KiB holes, a
/// 40 KB packet (no hole holds it, nor the copy a whole-frame writer would make) is written,
/// and the frame unmasks to it.
#[test]
fn a_websocket_frame_is_masked_as_it_goes_out_never_copied_whole() {
    lua_testkit::require_micropython!(
        "a websocket frame is masked as it goes out never copied whole"
    );
    let dir = limits::project("").unwrap();
    let script = r#"import gc, lua_ws
payload = bytes(range(256)) * 160

class Sink:
    """Unmasks what it is given byte by byte and checks it against the payload."""
    def __init__(self):
        self.mask = None
        self.at = 0
        self.bad = 0
        self.writes = 0
        self.reply = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    def read(self, n):
        out, self.reply = self.reply[:n], self.reply[n:]
        return out
    def write(self, b):
        if bytes(b[:4]) == b"GET ":
            return len(b)  # the upgrade request
        self.writes += 1
        i = 0
        if self.mask is None:
            # FIN, binary; masked, a 16-bit length
            assert b[0] == 0x82 and b[1] == 0xFE, bytes(b[:8])
            assert int.from_bytes(b[2:4], "big") == len(payload)
            self.mask = bytes(b[4:8])
            i = 8
        for j in range(i, len(b)):
            if b[j] ^ self.mask[self.at & 3] != payload[self.at]:
                self.bad += 1
            self.at += 1
        return len(b)

sink = Sink()
ws = lua_ws.Stream(sink, "broker", 80, "/mqtt")
blocks = []
try:
    while True:
        blocks.append(bytearray(1024))
except MemoryError:
    pass
for k in range(0, len(blocks), 2):
    blocks[k] = None
gc.collect()
try:
    bytearray(len(payload))
    print("a hole holds the payload")
except MemoryError:
    pass
print(ws.write(memoryview(payload)), sink.at, sink.bad, sink.writes > 1)
"#;
    let out = micropython::run_script(&dir, script).unwrap();
    assert_eq!(out.trim(), "40960 40960 0 True", "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Over ws:// the frames' payloads stream into the reader as TCP bytes do: a command near the
/// limit is answered with data on a Pico W's heap, larger ones are read past and answered
/// with the size error, and the device goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_websocket_commands_stream_through_at_a_pico_w_heap() {
    lua_testkit::require_micropython!("over websocket commands stream through at a pico w heap");
    let ws_port = lua_testkit::ports::free_port();
    let broker = Mosquitto::start_with(Options {
        extra_config: vec![
            format!("listener {ws_port} 127.0.0.1"),
            "protocol websockets".into(),
        ],
        ..Default::default()
    })
    .unwrap();
    // libwebsockets opens its listener a little after mosquitto's plain one.
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", ws_port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = limits::project("").unwrap();
    let device = start_small(&dir, format!("ws://127.0.0.1:{ws_port}/mqtt"));
    let mut agent = CommandAgent::connect(broker.port(), "ws").await.unwrap();
    // Answering one needs the command, its parsed form and the response on the heap at once:
    // the frame around the response must not need another copy (it once did, and a board
    // whose heap was cut up could not answer).
    for k in 0..5 {
        let id = format!("ws-20k-{k}");
        let answer = agent
            .call(&id, limits::echo_of_size(&id, 20_000), WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
        assert_eq!(answer["success"], true, "{answer}\n{}", device.output());
    }
    for size in [60_000, 200_000] {
        let id = format!("ws-{size}");
        let answer = agent
            .call(&id, limits::echo_of_size(&id, size), WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", device.output()));
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("Command too large: "), "{answer}");
    }
    let answer = agent
        .call(
            "ws-small",
            limits::command("ws-small", "work", r#"{"n":1}"#),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    assert!(
        !device.output().contains("connection failed"),
        "{}",
        device.output()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
