//! `cargo xtask bench limits-micropython`: the generated MicroPython device at its limits on
//! a Pico W's heap (the unix port with `-X heapsize=192K`): a storm of 20,000 small commands
//! (throughput, and whether all are answered), the time it takes to answer again after a
//! command that exhausts the heap, and the largest command answered with data against the
//! size error past `MAX_COMMAND_BYTES`.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use lua_testkit::device::RunningDevice;
use lua_testkit::faults::{self, FaultAgent, Plan, Run};
use lua_testkit::micropython::{self, limits, limits::CommandAgent};
use lua_testkit::Mosquitto;

use crate::report::Table;

const WAIT: Duration = Duration::from_secs(120);

fn start(dir: &std::path::Path, broker: &Mosquitto) -> Result<RunningDevice> {
    let mut device = micropython::device_with_heap(dir, micropython::PICO_W_HEAP)?
        .spawn(&faults::env(broker.url()))?;
    device.wait_ready(Duration::from_secs(15))?;
    Ok(device)
}

/// The tables of this section.
pub fn tables(runtime: &tokio::runtime::Runtime) -> Result<Vec<Table>> {
    let broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config: vec!["set_tcp_nodelay true".into()],
        ..Default::default()
    })?;
    let mut storm = Table::new(
        "MicroPython storm on a Pico W heap (unix port, -X heapsize=192K)",
        &["measure", "value"],
    );
    let dir = limits::project("")?;
    let device = start(&dir, &broker)?;
    let n = 20_000;
    let (answered, runs, wall) = runtime.block_on(self::storm(&broker, n))?;
    storm.row(["commands sent at once".to_string(), n.to_string()]);
    storm.row([
        "answered / handler runs".to_string(),
        format!("{answered} / {runs}"),
    ]);
    storm.row([
        "wall time s".to_string(),
        format!("{:.1}", wall.as_secs_f64()),
    ]);
    storm.row([
        "commands/s".to_string(),
        format!("{:.0}", answered as f64 / wall.as_secs_f64()),
    ]);
    let (default_limit, largest_default) = runtime.block_on(largest(&broker, 200_000))?;
    drop(device);
    let _ = std::fs::remove_dir_all(&dir);

    // A limit past what the heap holds: commands fail for memory, not for the limit.
    let dir = limits::project("MAX_COMMAND_BYTES = 1000000")?;
    let device = start(&dir, &broker)?;
    let (_, largest_heap) = runtime.block_on(largest(&broker, 200_000))?;
    let recovery = runtime.block_on(recover(&broker))?;
    drop(device);
    let _ = std::fs::remove_dir_all(&dir);
    storm.row([
        "after a command that exhausts the heap: next answer in ms".to_string(),
        format!("{:.0}", recovery.as_secs_f64() * 1000.0),
    ]);

    let dir = limits::project("")?;
    let device = start(&dir, &broker)?;
    let mut sizes = Table::new(
        "MicroPython command sizes on a Pico W heap (echo; unix port, -X heapsize=192K)",
        &["case", "bytes", "answer in ms"],
    );
    sizes.row([
        "MAX_COMMAND_BYTES by default (an eighth of the heap)".to_string(),
        default_limit.to_string(),
        "-".into(),
    ]);
    sizes.row([
        "largest echo answered with data, default limit".to_string(),
        largest_default.to_string(),
        "-".into(),
    ]);
    sizes.row([
        "largest echo answered with data, limit raised past the heap".to_string(),
        largest_heap.to_string(),
        "-".into(),
    ]);
    for size in [1 << 20, 3 << 20, 8 << 20] {
        let ms = runtime.block_on(oversized(&broker, size))?;
        sizes.row([
            "answered with the size error".to_string(),
            size.to_string(),
            format!("{ms:.0}"),
        ]);
    }
    drop(device);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(vec![storm, sizes])
}

/// `n` commands published at once; (answered, handler runs, wall time).
async fn storm(broker: &Mosquitto, n: u64) -> Result<(u64, u64, Duration)> {
    let mut agent = FaultAgent::connect(broker.port(), "bench-storm").await?;
    let mut run = Run::new(Plan {
        commands: n,
        in_flight: n as usize,
        resend_after: None,
        cache_ids: faults::CACHE_IDS,
        stall: Duration::from_secs(60),
    });
    run.fill(&agent).await?;
    run.to_end(&mut agent, |_| Ok(())).await?;
    let mut outcome = run.outcome();
    agent
        .device_runs(&mut outcome, Duration::from_secs(3))
        .await?;
    agent.disconnect().await;
    Ok((outcome.answered, outcome.handler_runs, outcome.wall))
}

/// The device's limit (from its size error) and the largest echo it answers with data,
/// by bisection up to `ceiling` bytes.
async fn largest(broker: &Mosquitto, ceiling: usize) -> Result<(String, usize)> {
    let mut agent = CommandAgent::connect(broker.port(), "bench-largest").await?;
    let (mut lo, mut hi) = (100, ceiling);
    let mut limit = String::from("-");
    let mut probe = 0;
    while hi - lo > 64 {
        let mid = (lo + hi) / 2;
        probe += 1;
        let id = format!("largest-{probe}");
        let answer = agent
            .call(&id, limits::echo_of_size(&id, mid), WAIT)
            .await?;
        if answer["success"] == true {
            lo = mid;
        } else {
            let error = answer["error"].as_str().unwrap_or_default();
            if let Some((_, tail)) = error.split_once("at most ") {
                limit = tail.split(' ').next().unwrap_or_default().to_string();
            }
            hi = mid;
        }
    }
    agent.disconnect().await;
    Ok((limit, lo))
}

/// How long after sending a command that exhausts the heap the next command is answered.
async fn recover(broker: &Mosquitto) -> Result<Duration> {
    let mut agent = CommandAgent::connect(broker.port(), "bench-recover").await?;
    let start = Instant::now();
    agent
        .send(limits::echo_of_size("exhaust", 150_000), false)
        .await?;
    let answer = agent
        .call("next", limits::command("next", "work", r#"{"n":1}"#), WAIT)
        .await?;
    if answer["success"] != true {
        bail!("the command after the exhausting one failed: {answer}");
    }
    let took = start.elapsed();
    agent.disconnect().await;
    Ok(took)
}

/// Milliseconds to the size error for a `size`-byte command.
async fn oversized(broker: &Mosquitto, size: usize) -> Result<f64> {
    let mut agent = CommandAgent::connect(broker.port(), "bench-oversized").await?;
    let id = format!("over-{size}");
    let start = Instant::now();
    let answer = agent
        .call(&id, limits::echo_of_size(&id, size), WAIT)
        .await?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if !answer["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Command too large: ")
    {
        bail!("a {size}-byte command was answered {answer}");
    }
    agent.disconnect().await;
    Ok(ms)
}
