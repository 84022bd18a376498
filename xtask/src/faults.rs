//! Fault runs for `cargo xtask soak`: nothing lost, nothing run twice, memory flat.
//!
//! The full-scale versions of the suites' fault tests (`runtime/tests/transport/faults.rs`,
//! `tests/tests/micropython_faults.rs`), on the same counting device and agent
//! (`lua_testkit::faults`), with each device as its own process so its RSS is its own: the
//! Rust runtime's `fault-device` (profile `device`) and the generated MicroPython project
//! (`.mpy` modules) on the unix port. A run fails only on a lost or doubled command.

use std::time::Duration;

use anyhow::{Context, Result};
use lua_testkit::device::{DeviceLauncher, RunningDevice};
use lua_testkit::fault_proxy::{FaultPlan, FaultProxy};
use lua_testkit::faults::{self, FaultAgent, Outcome, Plan, Run};
use lua_testkit::fixtures::Profile;
use lua_testkit::micropython::venv_tool;
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;

use crate::report::Table;

/// Commands under the fault proxy, and through the broker restarts.
const FAULT_COMMANDS: u64 = 10_000;
const BROKER_RESTARTS: u64 = 3;
const OFFLINE_COMMANDS: u64 = 1_000;
/// The backlog queued while the device is away and resent by the gateway as it drains.
const BACKLOG_COMMANDS: u64 = 20_000;
const SOAK_COMMANDS: u64 = 1_000_000;
const RSS_EVERY: u64 = 100_000;

/// One implementation under test and how its faults are tuned.
struct Subject {
    name: &'static str,
    launcher: DeviceLauncher,
    in_flight: usize,
    resend_after: Duration,
    /// How long the proxy lets a connection live: the MicroPython device waits a second
    /// before reconnecting, so its connections live longer to leave it time to work.
    lifetime: std::ops::Range<Duration>,
}

pub fn run() -> Result<Vec<Table>> {
    lua_testkit::deps::ensure_all()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("building the Rust counting device (profile `device`)...");
    let rust = faults::rust_device(Profile::Release)?;
    let dir = faults::micropython_project(true)?;
    let micropython = DeviceLauncher::new(
        "generated MicroPython (unix port)",
        venv_tool("micropython")?,
        // Run directly (no wrapper), so SIGKILL and RSS are the device's own.
        &[dir.join("main.py").to_str().context("non-UTF-8 path")?],
    );
    let subjects = [
        Subject {
            name: "Rust runtime",
            launcher: rust,
            in_flight: 64,
            resend_after: Duration::from_secs(1),
            // It answers 10,000 commands in seconds: short lives, or it would barely be cut.
            lifetime: Duration::from_millis(20)..Duration::from_millis(250),
        },
        Subject {
            name: "generated MicroPython",
            launcher: micropython,
            in_flight: 32,
            resend_after: Duration::from_secs(3),
            lifetime: Duration::from_millis(500)..Duration::from_millis(3000),
        },
    ];

    let mut table = Table::new(
        "Faults: nothing lost, nothing run twice (agent resends the same commandId when late)",
        &[
            "device / scenario",
            "commands",
            "answered",
            "handler runs",
            "ran twice",
            "lost",
            "resends",
            "repeat answers",
            "faults",
            "wall s",
        ],
    );
    let mut rss = Table::new(
        format!("Device RSS (MB) over {SOAK_COMMANDS} commands, 64 in flight, no faults"),
        &[
            "device",
            "start",
            "100k",
            "200k",
            "300k",
            "400k",
            "500k",
            "600k",
            "700k",
            "800k",
            "900k",
            "1M",
            "commands/s",
        ],
    );
    for (i, subject) in subjects.iter().enumerate() {
        let mut scenarios: Vec<(&str, Result<(Outcome, String)>)> = vec![
            ("fault proxy", runtime.block_on(proxy_run(subject))),
            (
                "broker restarts (persistence)",
                runtime.block_on(restart_run(subject, plan(subject, FAULT_COMMANDS))),
            ),
            ("sent while killed", runtime.block_on(offline_run(subject))),
        ];
        // The gateway's own resends, on the Rust runtime (the MicroPython project's cache is
        // a count of ids, sized for a board).
        if i == 0 {
            scenarios.push((
                "broker restarts, gateway resends every 3 s",
                runtime.block_on(restart_run(
                    subject,
                    Plan::gateway(FAULT_COMMANDS, subject.in_flight),
                )),
            ));
            scenarios.push((
                "20,000 queued while killed, gateway resends every 3 s",
                runtime.block_on(backlog_run(subject)),
            ));
        }
        for (scenario, result) in scenarios {
            let label = format!("{} / {scenario}", subject.name);
            match result {
                Ok((outcome, faults)) => table.row(outcome_row(label, &outcome, faults)),
                Err(e) => table.row([label, format!("failed: {e:#}")]),
            }
        }
        match runtime.block_on(soak_run(subject)) {
            Ok((outcome, samples)) => {
                let mut row = vec![subject.name.to_string()];
                row.extend(
                    samples
                        .iter()
                        .map(|kib| format!("{:.1}", *kib as f64 / 1024.0)),
                );
                row.push(format!(
                    "{:.0}",
                    outcome.commands as f64 / outcome.wall.as_secs_f64()
                ));
                rss.row(row);
                table.row(outcome_row(
                    format!("{} / 1M commands, no faults", subject.name),
                    &outcome,
                    "-".into(),
                ));
            }
            Err(e) => rss.row([subject.name.to_string(), format!("failed: {e:#}")]),
        }
    }
    table.note("handler runs: the device's own count of `work` executions; ran twice = runs - answered ids (must be 0), lost = ids never answered (must be 0)");
    table.note("repeat answers: responses beyond the first for an id, all identical to it (cache replays and redelivered responses): duplicates that did not run again");
    table.note(format!(
        "idempotency cache: the Rust runtime's default (16 MiB, five minutes); the MicroPython project's IDEMPOTENCY_CACHE_BYTES raised to hold {} responses, so the agent never resends an id its budget could have pushed out",
        faults::CACHE_IDS
    ));
    table.note("gateway resends (Rust runtime): every unanswered id resent with the same commandId every 3 s and new ids never held back for the cache, as the gateway does; the 20,000 are queued while the device is killed (2 resend periods, so each id is queued 3 times) and resent as it drains");
    table.note("broker restarts: mosquitto killed (SIGKILL) and started again on its saved sessions, saved every 50 changes; saved every second instead, the restarted broker delivered again up to ~1,400 commands the device had already answered, and the MicroPython device ran ~30 of them twice per run (older than its cache)");
    rss.note("sampled from /proc/PID/status (VmRSS) after every 100,000 answered commands; the devices keep one counter, so growth is the runtime's");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(vec![table, rss])
}

fn outcome_row(label: String, o: &Outcome, faults: String) -> Vec<String> {
    let status = o.verdict().err().map(|e| format!("FAILED: {e:#}"));
    let mut row = vec![
        label,
        o.commands.to_string(),
        o.answered.to_string(),
        o.handler_runs.to_string(),
        o.duplicate_runs().to_string(),
        o.lost().to_string(),
        o.resends.to_string(),
        o.replays.to_string(),
        faults,
        format!("{:.1}", o.wall.as_secs_f64()),
    ];
    row.extend(status);
    row
}

fn plan(subject: &Subject, commands: u64) -> Plan {
    Plan {
        commands,
        in_flight: subject.in_flight,
        resend_after: Some(subject.resend_after),
        cache_ids: faults::CACHE_IDS,
        stall: Duration::from_secs(60),
    }
}

fn start(subject: &Subject, url: String) -> Result<RunningDevice> {
    let mut device = subject.launcher.spawn(&faults::env(url))?;
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(20)))?;
    Ok(device)
}

/// Late answers, second executions, then the device's own count.
async fn finish(agent: &mut FaultAgent, mut run: Run, device: &RunningDevice) -> Result<Outcome> {
    agent
        .settle(&mut run, Duration::from_secs(1), Duration::from_secs(10))
        .await;
    let mut outcome = run.outcome();
    agent
        .device_runs(&mut outcome, Duration::from_secs(3))
        .await
        .with_context(|| device.stderr())?;
    Ok(outcome)
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

async fn proxy_run(subject: &Subject) -> Result<(Outcome, String)> {
    eprintln!(
        "{}: {FAULT_COMMANDS} commands through the fault proxy...",
        subject.name
    );
    let broker = Mosquitto::start()?;
    let seed = seed();
    let proxy = FaultProxy::start(
        broker.port(),
        FaultPlan {
            lifetime: subject.lifetime.clone(),
            seed,
            ..FaultPlan::default()
        },
    )
    .await?;
    let mut device = start(subject, proxy.url())?;
    let mut agent = FaultAgent::connect(broker.port(), "soak-proxy").await?;
    let mut run = Run::new(plan(subject, FAULT_COMMANDS));
    // As in the suites: the agent waits for the cuts to keep up, one per 1,000 commands at
    // least, so a fast device cannot outrun the proxy's clock.
    let ran = run
        .to_end(&mut agent, |answered| {
            tokio::task::block_in_place(|| {
                while (proxy.stats().cuts() as u64) < answered / 1_000 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            Ok(())
        })
        .await;
    proxy.set_faults(false);
    ran.with_context(|| format!("seed {seed}"))?;
    let outcome = finish(&mut agent, run, &device).await?;
    let stats = proxy.stats();
    let faults = format!(
        "{} cuts ({} mid-packet), seed {seed}",
        stats.cuts(),
        stats.mid_packet_cuts()
    );
    agent.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((outcome, faults))
}

async fn restart_run(subject: &Subject, plan: Plan) -> Result<(Outcome, String)> {
    eprintln!(
        "{}: {FAULT_COMMANDS} commands, broker restarted {BROKER_RESTARTS} times...",
        subject.name
    );
    let mut broker = Mosquitto::start_with(Options {
        persistence: true,
        extra_config: faults::persistence_config(),
        ..Default::default()
    })?;
    let mut device = start(subject, broker.url())?;
    let mut agent = FaultAgent::connect(broker.port(), "soak-restart").await?;
    let mut run = Run::new(plan);
    let mut restarts = 0;
    let every = FAULT_COMMANDS / (BROKER_RESTARTS + 1);
    run.to_end(&mut agent, |answered| {
        if answered >= every * (restarts + 1) && restarts < BROKER_RESTARTS {
            restarts += 1;
            tokio::task::block_in_place(|| broker.restart())?;
        }
        Ok(())
    })
    .await
    .with_context(|| device.stderr())?;
    let outcome = finish(&mut agent, run, &device).await?;
    agent.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((outcome, format!("{restarts} broker restarts")))
}

async fn offline_run(subject: &Subject) -> Result<(Outcome, String)> {
    eprintln!(
        "{}: {OFFLINE_COMMANDS} commands sent while it is killed...",
        subject.name
    );
    let broker = Mosquitto::start()?;
    let mut first = start(subject, broker.url())?;
    tokio::task::block_in_place(|| first.kill())?;
    let mut agent = FaultAgent::connect(broker.port(), "soak-away").await?;
    // All at once and never resent: whatever the broker's session does not keep is lost.
    let mut run = Run::new(Plan {
        in_flight: OFFLINE_COMMANDS as usize,
        resend_after: None,
        ..plan(subject, OFFLINE_COMMANDS)
    });
    run.fill(&agent).await?;
    agent.flush(Duration::from_secs(10)).await?;
    let mut device = start(subject, broker.url())?;
    run.to_end(&mut agent, |_| Ok(()))
        .await
        .with_context(|| device.stderr())?;
    let outcome = finish(&mut agent, run, &device).await?;
    agent.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((outcome, "killed, restarted".into()))
}

/// [`BACKLOG_COMMANDS`] sent while the device is killed and resent every 3 s while it is
/// away and while it drains them: the device must remember every id it ran until the last
/// resend of it arrives.
async fn backlog_run(subject: &Subject) -> Result<(Outcome, String)> {
    eprintln!(
        "{}: {BACKLOG_COMMANDS} commands queued while it is killed, resent every 3 s...",
        subject.name
    );
    let broker = Mosquitto::start_with(Options {
        extra_config: vec!["max_queued_messages 0".into()],
        ..Default::default()
    })?;
    let mut first = start(subject, broker.url())?;
    tokio::task::block_in_place(|| first.kill())?;
    let mut agent = FaultAgent::connect(broker.port(), "soak-backlog").await?;
    let mut run = Run::new(Plan::gateway(BACKLOG_COMMANDS, BACKLOG_COMMANDS as usize));
    run.fill(&agent).await?;
    let away = tokio::time::Instant::now() + 2 * faults::GATEWAY_RESEND;
    while tokio::time::Instant::now() < away {
        run.pump(&mut agent, Duration::from_millis(100)).await?;
    }
    agent.flush(Duration::from_secs(30)).await?;
    let mut device = start(subject, broker.url())?;
    let mut peak = device.rss_kib()?;
    run.to_end(&mut agent, |_| {
        peak = peak.max(device.rss_kib().unwrap_or(0));
        Ok(())
    })
    .await
    .with_context(|| device.stderr())?;
    // Every id has its answer, but the resends queued behind them are still arriving, and
    // the `stats` command would wait behind them: let them drain first.
    agent
        .settle(&mut run, Duration::from_secs(5), Duration::from_secs(900))
        .await;
    let outcome = finish(&mut agent, run, &device).await?;
    agent.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((
        outcome,
        format!(
            "killed, restarted; device RSS peak {:.1} MB",
            peak as f64 / 1024.0
        ),
    ))
}

/// A million commands with no faults; RSS at the start and every [`RSS_EVERY`].
async fn soak_run(subject: &Subject) -> Result<(Outcome, Vec<u64>)> {
    eprintln!("{}: {SOAK_COMMANDS} commands, RSS sampled...", subject.name);
    let broker = Mosquitto::start_with(Options {
        extra_config: vec!["set_tcp_nodelay true".into()],
        ..Default::default()
    })?;
    let mut device = start(subject, broker.url())?;
    let mut agent = FaultAgent::connect(broker.port(), "soak-rss").await?;
    let mut run = Run::new(Plan {
        in_flight: 64,
        resend_after: Some(Duration::from_secs(10)),
        ..plan(subject, SOAK_COMMANDS)
    });
    let mut samples = vec![device.rss_kib()?];
    run.to_end(&mut agent, |answered| {
        if answered >= RSS_EVERY * samples.len() as u64 {
            samples.push(device.rss_kib().context("sampling RSS")?);
            eprintln!("  {answered} answered");
        }
        Ok(())
    })
    .await
    .with_context(|| device.stderr())?;
    let outcome = finish(&mut agent, run, &device).await?;
    agent.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((outcome, samples))
}
