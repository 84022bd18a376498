//! `cargo xtask soak field [minutes]`: both firmware targets left alone for an hour (by
//! default), as a board in the field is: a command every second, a handler that takes 5 s
//! every minute, a trigger every 10 s from the device's own periodic task, answered with a
//! `trigger_result` now and then, the broker killed and restarted a third of the way in, and
//! the device stalled for two minutes (longer than the broker's keep-alive grace) two thirds
//! of the way in.
//!
//! The two devices: the generated MicroPython project (`.mpy` modules, `background()` firing
//! the trigger) on the unix port with a Pico W's heap, stalled by SIGSTOP; and the Pico W
//! firmware's connection loop on the host: the sans-IO MQTT stack the chip runs
//! (`lua_device::mqtt`), with its handlers in a worker thread as `worker.rs` has them in a
//! task, reads held while a command waits its turn, stalled by not running at all.
//!
//! The agent resends a command unanswered for 30 s with the same id, as the gateway's retry
//! does. Nothing here is asserted on time: the run fails on a command lost or run twice,
//! a device that never comes back, or memory that grows; the times are figures.

mod agent;
mod pico_w;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_testkit::device::{DeviceEnv, DeviceLauncher, RunningDevice};
use lua_testkit::micropython::{generate_ok, scratch_dir, venv_tool, PICO_W_HEAP};
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;
use serde_json::json;

use crate::report::Table;
use agent::Agent;
use pico_w::PicoW;

const AGENT: &str = "agent-field";
const API_KEY: &str = "key-field-0123456789";
const MICROPYTHON_NAME: &str = "field-micropython";
const PICO_NAME: &str = "field-pico-w";
/// How long a stall lasts: past the broker's grace (1.5 x the 60 s keep-alive).
const STALL: Duration = Duration::from_secs(120);
/// The gateway's retry: an unanswered command is sent again, same id, after this.
const RESEND_AFTER: Duration = Duration::from_secs(30);
/// The slow handler's time.
const SLOW_S: u64 = 5;
/// The device's trigger period.
const TICK_S: u64 = 10;

/// The soak device's manifest: counted work, a slow command, stats, a periodic trigger.
const MANIFEST: &str = r#"name: field-device
description: Counts its work, sleeps when asked, and ticks every ten seconds, for the field soak
commands:
  - name: work
    description: Count one execution and return its sequence number
    inputSchema:
      type: object
      properties:
        n: { type: integer, minimum: 0 }
      required: [n]
    outputSchema:
      type: object
      properties:
        n: { type: integer }
        seq: { type: integer }
      required: [n, seq]
  - name: slow
    description: Take a few seconds, then count one execution
    inputSchema:
      type: object
      properties:
        seconds: { type: integer, minimum: 1, maximum: 60 }
      required: [seconds]
    timeoutMs: 60000
  - name: stats
    description: Executions, ticks sent and results received so far, and the free heap
triggers:
  - name: tick
    description: Sent every ten seconds by the device's periodic task
    payloadSchema:
      type: object
      properties:
        n: { type: integer, minimum: 0 }
      required: [n]
"#;

pub fn run(minutes: u64) -> Result<Table> {
    if minutes < 8 {
        bail!("the field soak needs 8 minutes at least: a two-minute stall and two of draining fit in it");
    }
    lua_testkit::deps::ensure_all()?;
    let total = Duration::from_secs(minutes * 60);
    let mut broker = Mosquitto::start_with(Options {
        persistence: true,
        extra_config: lua_testkit::faults::persistence_config(),
        ..Options::default()
    })?;
    let port = broker.port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    let dir = micropython_project()?;
    let launcher = DeviceLauncher::new(
        "generated MicroPython (unix port, Pico W heap)",
        venv_tool("micropython")?,
        &[
            "-X",
            &format!("heapsize={PICO_W_HEAP}"),
            dir.join("main.py").to_str().context("non-UTF-8 path")?,
        ],
    );
    let mut micropython = launcher.spawn(&DeviceEnv {
        agent_id: AGENT.into(),
        api_key: API_KEY.into(),
        mqtt_url: broker.url(),
        manifest: None,
    })?;
    micropython.wait_ready(Duration::from_secs(30))?;
    let pico = PicoW::start(port);

    let agent = runtime.block_on(Agent::connect(port))?;
    let start = Instant::now();
    eprintln!(
        "field soak: {minutes} min; broker restart at {:?}, stalls at {:?}",
        total / 3,
        total * 2 / 3
    );
    let mut restarted_at = None;
    let mut stalled_until = None;
    let mut rss = Vec::new();
    let mut heap = BTreeMap::new();
    let mut n = 0u64;
    let sending = total.saturating_sub(Duration::from_secs(120));
    while start.elapsed() < sending {
        let t = start.elapsed();
        if restarted_at.is_none() && t >= total / 3 {
            eprintln!("field soak: restarting the broker at {t:?}");
            broker.restart()?;
            restarted_at = Some(Instant::now());
        }
        if stalled_until.is_none() && t >= total * 2 / 3 {
            eprintln!("field soak: stalling both devices for {STALL:?} at {t:?}");
            signal(&micropython, libc::SIGSTOP)?;
            pico.stall(STALL);
            std::thread::sleep(STALL);
            signal(&micropython, libc::SIGCONT)?;
            stalled_until = Some(Instant::now());
        }
        for device in [MICROPYTHON_NAME, PICO_NAME] {
            let id = format!("{device}-{n}");
            let (command, payload) = if n % 60 == 59 {
                ("slow", json!({"seconds": SLOW_S}))
            } else {
                ("work", json!({"n": n}))
            };
            runtime.block_on(agent.send(device, &id, command, payload))?;
        }
        if n.is_multiple_of(300) {
            rss.push(micropython.rss_kib().unwrap_or(0));
            for device in [MICROPYTHON_NAME, PICO_NAME] {
                if let Ok(stats) = runtime.block_on(agent.stats(device, n)) {
                    heap.entry(device)
                        .or_insert_with(Vec::new)
                        .push(stats["free"].as_u64());
                }
            }
        }
        runtime.block_on(agent.resend_late())?;
        n += 1;
        std::thread::sleep(Duration::from_secs(1).saturating_sub(start.elapsed() - t));
    }
    // Answer what is left, resending what was lost with the link, for two minutes at most.
    let drain_until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < drain_until && agent.unanswered() > 0 {
        runtime.block_on(agent.resend_late())?;
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut final_stats = HashMap::new();
    for device in [MICROPYTHON_NAME, PICO_NAME] {
        final_stats.insert(device, runtime.block_on(agent.stats(device, u64::MAX))?);
    }
    rss.push(micropython.rss_kib().unwrap_or(0));
    let _ = micropython.terminate(Duration::from_secs(10));
    pico.stop();

    let report = agent.report();
    let restarted_at = restarted_at.context("the run was too short to restart the broker")?;
    let stalled_until = stalled_until.context("the run was too short to stall the devices")?;
    let mut table = Table::new(
        "Field soak, both firmware targets (left alone: commands, a slow handler, periodic triggers, a broker restart, a stall)",
        &[
            "device",
            "commands",
            "answered",
            "lost",
            "ran twice",
            "p50 ms",
            "p99 ms",
            "triggers acked",
            "results handled",
            "back after restart s",
            "back after stall s",
            "memory",
        ],
    );
    let mut failures = Vec::new();
    for device in [MICROPYTHON_NAME, PICO_NAME] {
        let r = &report[device];
        let stats = &final_stats[device];
        let runs = stats["runs"].as_u64().unwrap_or(0);
        // Every answered id ran at least once (a response comes from a run or a replay of
        // one); runs beyond the ids answered are ids that ran twice.
        let twice = runs.saturating_sub(r.answered) + r.doubled;
        let lost = r.sent - r.answered;
        // Back: the first answer to a command sent after the event.
        let back = |after: Instant| {
            r.answers
                .iter()
                .filter(|(sent, _)| *sent >= after)
                .map(|(_, answered)| *answered)
                .min()
                .map_or("never".to_string(), |t| {
                    format!("{:.1}", (t - after).as_secs_f64())
                })
        };
        let memory = if device == MICROPYTHON_NAME {
            let free = heap
                .get(device)
                .map(|v| v.iter().flatten().copied().collect::<Vec<_>>())
                .unwrap_or_default();
            format!(
                "RSS {} -> {} KiB; heap free {} -> {} B",
                rss.first().copied().unwrap_or(0),
                rss.last().copied().unwrap_or(0),
                free.first().copied().unwrap_or(0),
                stats["free"].as_u64().unwrap_or(0)
            )
        } else {
            format!(
                "client buffer peak {} B",
                stats["buffered"].as_u64().unwrap_or(0)
            )
        };
        table.row([
            device.to_string(),
            r.sent.to_string(),
            r.answered.to_string(),
            lost.to_string(),
            twice.to_string(),
            format!("{:.1}", r.percentile(0.50)),
            format!("{:.1}", r.percentile(0.99)),
            format!(
                "{} of {}",
                stats["acked"].as_u64().unwrap_or(0),
                stats["ticks"].as_u64().unwrap_or(0)
            ),
            format!(
                "{} of {}",
                stats["results"].as_u64().unwrap_or(0),
                r.results_sent
            ),
            back(restarted_at),
            back(stalled_until),
            memory,
        ]);
        if lost > 0 {
            failures.push(format!("{device}: {lost} commands never answered"));
        }
        if twice > 0 {
            failures.push(format!("{device}: {twice} commands ran twice"));
        }
        if back(restarted_at) == "never" || back(stalled_until) == "never" {
            failures.push(format!("{device}: did not come back online"));
        }
    }
    table.note(format!(
        "{minutes} min: a command every second, a {SLOW_S} s handler every minute (so p99 is a slow command), a trigger every {TICK_S} s from the device's periodic task, every third answered with a trigger_result, the broker killed and restarted at a third, both devices stalled {} s (past the broker's 90 s keep-alive grace) at two thirds",
        STALL.as_secs()
    ));
    table.note("latency from the first send of a command to its first answer, the gateway's resends (30 s) included: a command sent while the device is away waits for it");
    table.note("back after: from the broker's restart, or the stall's end, to the first answer to a command sent after it");
    if !failures.is_empty() {
        table.print();
        bail!("field soak failed: {}", failures.join("; "));
    }
    Ok(table)
}

fn signal(device: &RunningDevice, signal: i32) -> Result<()> {
    // SAFETY: kill(2) on a child process id this process started and has not reaped.
    if unsafe { libc::kill(device.pid() as i32, signal) } != 0 {
        bail!(
            "kill({}, {signal}): {}",
            device.pid(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// The soak device as a generated MicroPython project, `.mpy` modules only, as a board holds
/// them, with its handlers and the periodic task.
fn micropython_project() -> Result<PathBuf> {
    let dir = scratch_dir("field-soak")?;
    let manifest = dir.join("field-device.yaml");
    std::fs::write(&manifest, MANIFEST)?;
    generate_ok(&manifest, &dir, &["--mpy"])?;
    std::fs::write(dir.join("handlers.py"), MICROPYTHON_HANDLERS)?;
    let config = dir.join("config.py");
    let mut text = std::fs::read_to_string(&config).context("the generated config.py")?;
    text.push_str(&format!("\nDEVICE_NAME = \"{MICROPYTHON_NAME}\"\n"));
    std::fs::write(&config, text)?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "mpy") {
            let _ = std::fs::remove_file(path.with_extension("py"));
        }
    }
    Ok(dir)
}

const MICROPYTHON_HANDLERS: &str = include_str!("handlers.py");
