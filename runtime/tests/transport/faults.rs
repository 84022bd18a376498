//! Faults: nothing lost, nothing run twice. The counting device of `lua_testkit::faults`, on
//! the runtime in this process, behind a proxy that cuts its connection, through broker
//! restarts, and away while its commands queue up. The agent resends late commands with the
//! same id, as the gateway's retry does; the device counts its executions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lua_device::backoff::{BackoffPolicy, Jitter};
use lua_device::{CommandError, CommandSpec, Config, Device, DeviceHandle};
use lua_testkit::fault_proxy::{FaultPlan, FaultProxy};
use lua_testkit::faults::{self, FaultAgent, Outcome, Plan, Run};
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;
use serde_json::{json, Value};

/// `lua_testkit::faults`'s counting device: `work` numbers its executions, `stats` counts them.
async fn counting_device(url: &str) -> DeviceHandle {
    let config = Config::new(faults::AGENT_ID, faults::API_KEY, faults::DEVICE_NAME)
        .with_url(url)
        // Every connection is cut within seconds: none would ever count as stable, and the
        // default policy would back off towards 30 s.
        .with_backoff(BackoffPolicy {
            initial_ms: 50,
            max_ms: 500,
            jitter: Jitter::Full,
            stable_after_ms: 1000,
        });
    let runs = Arc::new(AtomicU64::new(0));
    let (work_runs, stats_runs) = (runs.clone(), runs);
    Device::builder(config)
        .command(
            CommandSpec::new("work", "Count one execution"),
            move |p: Value| {
                let seq = work_runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let n = p["n"]
                        .as_u64()
                        .ok_or_else(|| CommandError::invalid_payload("n", "must be an integer"))?;
                    Ok(Some(json!({"n": n, "seq": seq})))
                }
            },
        )
        .command(CommandSpec::new("stats", "Executions of work"), move |_| {
            let runs = stats_runs.load(Ordering::SeqCst);
            async move { Ok(Some(json!({"runs": runs}))) }
        })
        .connect()
        .await
        .expect("the counting device connects")
}

fn plan(commands: u64) -> Plan {
    Plan {
        commands,
        in_flight: 64,
        resend_after: Some(Duration::from_secs(1)),
        cache_ids: faults::CACHE_IDS,
        stall: Duration::from_secs(30),
    }
}

/// Late answers and second executions, then the device's own count.
async fn finish(agent: &mut FaultAgent, mut run: Run) -> Outcome {
    agent
        .settle(&mut run, Duration::from_secs(1), Duration::from_secs(10))
        .await;
    let mut outcome = run.outcome();
    agent
        .device_runs(&mut outcome, Duration::from_secs(2))
        .await
        .expect("stats");
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
    let broker = Mosquitto::start().unwrap();
    let seed = seed();
    let proxy = FaultProxy::start(
        broker.port(),
        FaultPlan {
            // Short lives: the runtime answers 10,000 commands in a few seconds.
            lifetime: Duration::from_millis(20)..Duration::from_millis(250),
            seed,
            ..FaultPlan::default()
        },
    )
    .await
    .unwrap();
    // The runtime's `connect` fails when its first attempt does (a wrong URL or key must not
    // be retried forever), and a 20 ms life can end before a loaded machine's CONNACK: the
    // cuts start once the device is in (a paused proxy's clock restarts when faults resume).
    proxy.set_faults(false);
    let device = counting_device(&proxy.url()).await;
    proxy.set_faults(true);
    let mut agent = FaultAgent::connect(broker.port(), "proxy").await.unwrap();
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
    ran.unwrap_or_else(|e| panic!("{e:#}; {replay}"));
    let outcome = finish(&mut agent, run).await;
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
    device.shutdown().await.unwrap();
}

// Resent as the gateway does (every 3 s, new ids never held back): the restarted broker
// delivers again what the device had answered, next to the resends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_with_persistence_lose_nothing_and_run_nothing_twice() {
    let mut broker = Mosquitto::start_with(Options {
        persistence: true,
        extra_config: faults::persistence_config(),
        ..Default::default()
    })
    .unwrap();
    let device = counting_device(&broker.url()).await;
    let mut agent = FaultAgent::connect(broker.port(), "restart").await.unwrap();
    let mut run = Run::new(Plan::gateway(10_000, 64));
    let mut restarts = 0;
    run.to_end(&mut agent, |answered| {
        if answered >= 2_500 * (restarts + 1) && restarts < 3 {
            restarts += 1;
            tokio::task::block_in_place(|| broker.restart())?;
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(restarts, 3);
    let outcome = finish(&mut agent, run).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    eprintln!(
        "{restarts} restarts: {} commands, {} resends, {} repeat answers, {:?}",
        outcome.commands, outcome.resends, outcome.replays, outcome.wall
    );
    device.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_commands_sent_while_away_are_answered_once_each() {
    let broker = Mosquitto::start().unwrap();
    // Registered once: the broker now keeps its session (clean session false).
    counting_device(&broker.url())
        .await
        .shutdown()
        .await
        .unwrap();
    let mut agent = FaultAgent::connect(broker.port(), "away").await.unwrap();
    // All at once and never resent: anything the session does not keep is lost.
    let mut run = Run::new(Plan {
        in_flight: 1_000,
        resend_after: None,
        ..plan(1_000)
    });
    run.fill(&agent).await.unwrap();
    agent.flush(Duration::from_secs(10)).await.unwrap();
    let device = counting_device(&broker.url()).await;
    run.to_end(&mut agent, |_| Ok(())).await.unwrap();
    let outcome = finish(&mut agent, run).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    assert_eq!((outcome.resends, outcome.replays), (0, 0));
    device.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_sent_while_away_and_resent_every_3_s_runs_each_command_once() {
    const COMMANDS: u64 = 2_000;
    // mosquitto keeps 1,000 messages for an absent client by default; the backlog and its
    // resends are several times that.
    let broker = Mosquitto::start_with(Options {
        extra_config: vec!["max_queued_messages 0".into()],
        ..Options::default()
    })
    .unwrap();
    counting_device(&broker.url())
        .await
        .shutdown()
        .await
        .unwrap();
    let mut agent = FaultAgent::connect(broker.port(), "backlog").await.unwrap();
    let mut run = Run::new(Plan::gateway(COMMANDS, COMMANDS as usize));
    run.fill(&agent).await.unwrap();
    // Away for two resend periods: every id is queued three times before the device is back,
    // and the resends go on while it drains.
    let away =
        tokio::time::Instant::now() + 2 * faults::GATEWAY_RESEND + Duration::from_millis(500);
    while tokio::time::Instant::now() < away {
        run.pump(&mut agent, Duration::from_millis(100))
            .await
            .unwrap();
    }
    agent.flush(Duration::from_secs(10)).await.unwrap();
    let device = counting_device(&broker.url()).await;
    run.to_end(&mut agent, |_| Ok(())).await.unwrap();
    // Every id has its answer; the resends queued behind them, and `stats` behind those,
    // are still to come.
    agent
        .settle(&mut run, Duration::from_secs(3), Duration::from_secs(120))
        .await;
    let outcome = finish(&mut agent, run).await;
    outcome
        .verdict()
        .unwrap_or_else(|e| panic!("{e:#}; {outcome:?}"));
    assert!(
        outcome.resends >= 2 * COMMANDS,
        "the resends queued: {outcome:?}"
    );
    eprintln!(
        "{COMMANDS} commands queued while away, {} resends, {} repeat answers, {:?}",
        outcome.resends, outcome.replays, outcome.wall
    );
    device.shutdown().await.unwrap();
}
