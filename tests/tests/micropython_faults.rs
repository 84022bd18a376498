//! Faults on the generated MicroPython device (unix port): nothing lost, nothing run twice.
//! The counting device of `lua_testkit::faults` behind a proxy that cuts its connection,
//! through broker restarts, and killed while its commands queue up. The agent resends late
//! commands with the same id, as the gateway's retry does; the device counts its executions.

use std::time::Duration;

use lua_testkit::device::RunningDevice;
use lua_testkit::fault_proxy::{FaultPlan, FaultProxy};
use lua_testkit::faults::{self, FaultAgent, Outcome, Plan, Run};
use lua_testkit::micropython;
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;

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
        panic!("{e:#}\n{}", device.stderr());
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
    ran.unwrap_or_else(|e| panic!("{e:#}; {replay}\n{}", device.stderr()));
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
    .unwrap_or_else(|e| panic!("{e:#}\n{}", device.stderr()));
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
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.stderr()));
    let outcome = finish(&mut agent, run, &device).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    assert_eq!((outcome.resends, outcome.replays), (0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cache is bounded: with room for 16 ids, the 16 latest are answered from it and an
/// older one runs again. (The Rust runtime's bound is unit-tested in `dedup.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotency_cache_keeps_the_latest_ids_and_forgets_older_ones() {
    lua_testkit::require_micropython!(
        "the idempotency cache keeps the latest ids and forgets older ones"
    );
    let broker = Mosquitto::start().unwrap();
    let dir = faults::micropython_project(false).unwrap();
    let config = dir.join("config.py");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + "IDEMPOTENCY_CACHE_SIZE = 16\n").unwrap();
    let device = start(&dir, broker.url());
    let mut agent = FaultAgent::connect(broker.port(), "mpy-cache")
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    for n in 0..48 {
        assert_eq!(agent.work(n, wait).await.unwrap(), n + 1);
    }
    // 32..=47 are cached: a replay, not a run.
    assert_eq!(agent.work(32, wait).await.unwrap(), 33);
    assert_eq!(agent.work(47, wait).await.unwrap(), 48);
    // 31 was pushed out: it runs again, as the 49th execution.
    assert_eq!(agent.work(31, wait).await.unwrap(), 49);
    let mut outcome = Outcome::default();
    agent
        .device_runs(&mut outcome, Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", device.stderr()));
    assert_eq!(outcome.handler_runs, 49);
    std::fs::remove_dir_all(&dir).unwrap();
}
