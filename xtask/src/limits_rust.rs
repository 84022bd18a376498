//! `cargo xtask bench limits-rust`: what the Rust runtime's limits cost and allow.
//!
//! The fixture device (`conformance-device`, its own process so its peak RSS is its own)
//! registers, is killed, and comes back to a backlog of 300 slow 1 MiB commands queued in its
//! session meanwhile: its peak resident size shows the bounded work queue (unbounded, the
//! device held every command at once, ~300 MB). Then the largest `echo` it answers with data,
//! found by bisection, and what it answers past its 2 MiB limit.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use lua_testkit::device::DeviceEnv;
use lua_testkit::fixtures::{self, Profile};
use lua_testkit::gateway::Gateway;
use lua_testkit::session::{prefix, AGENT_ID, API_KEY};
use lua_testkit::Mosquitto;
use rumqttc::QoS;
use serde_json::{json, Value};

use crate::report::Table;

const BACKLOG: usize = 300;
const MIB: usize = 1024 * 1024;
const SLOW_MS: u64 = 200;

pub fn tables() -> Result<Vec<Table>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("building the fixture device (profile `release`)...");
    let launcher = fixtures::rust_device(Profile::Release)?;
    let broker = Mosquitto::start()?;
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: broker.url(),
        manifest: None,
    };
    let mut first = launcher.spawn(&env)?;
    first.wait_ready(Duration::from_secs(10))?;
    let idle = peak_kib(first.pid())?;
    let _ = first.kill();
    let mut gw = runtime.block_on(Gateway::connect(
        broker.port(),
        "limits-bench",
        &[format!("{}response", prefix())],
    ))?;
    runtime.block_on(async {
        queue_backlog(&gw).await?;
        // The client's queue drains to the broker in the background: let it arrive there,
        // so the device comes back to the whole backlog.
        tokio::time::sleep(Duration::from_secs(5)).await;
        anyhow::Ok(())
    })?;
    let mut device = launcher.spawn(&env)?;
    let wall = std::time::Instant::now();
    device.wait_ready(Duration::from_secs(10))?;
    let pid = device.pid();
    let result = runtime.block_on(async {
        drain_backlog(&mut gw).await?;
        let backlog_wall = wall.elapsed();
        let peak = peak_kib(pid)?;
        let largest = largest_echo(&mut gw).await?;
        let mut over = Vec::new();
        // 12 MiB: the bench's own client sends at most 16 MiB.
        for bytes in [3_000_000, 12 * MIB] {
            let r = call(&mut gw, &format!("over-{bytes}"), bytes).await?;
            over.push((bytes, r));
        }
        let after = peak_kib(pid)?;
        anyhow::Ok((peak, backlog_wall, largest, over, after))
    });
    let _ = device.kill();
    let (peak, backlog_wall, largest, over, after) = result?;

    let mut memory = Table::new(
        format!("Rust runtime: peak RSS draining {BACKLOG} slow ({SLOW_MS} ms) 1 MiB commands queued while it was away; default queue (64 commands, 8 MiB)"),
        &["measure", "value"],
    );
    memory.row(["peak RSS registered, idle (MB)".to_string(), mb(idle)]);
    memory.row(["peak RSS through the backlog (MB)".to_string(), mb(peak)]);
    memory.row([
        "backlog answered in, from the restart (s)".to_string(),
        format!("{:.1}", backlog_wall.as_secs_f64()),
    ]);
    let mut sizes = Table::new(
        "Rust runtime: largest command answered (limit 2 MiB = 2097152 bytes)",
        &["command", "answer"],
    );
    sizes.row([
        format!("{largest} bytes (largest echo answered with data)"),
        "success, data echoed".to_string(),
    ]);
    for (bytes, r) in over {
        sizes.row([
            format!("{bytes} bytes"),
            r["error"].as_str().unwrap_or("?").to_string(),
        ]);
    }
    sizes.row([
        "peak RSS after the oversized commands (MB)".to_string(),
        mb(after),
    ]);
    Ok(vec![memory, sizes])
}

fn mb(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The device's peak resident size so far (VmHWM).
fn peak_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

async fn queue_backlog(gw: &Gateway) -> Result<()> {
    let pad = "x".repeat(MIB);
    let topic = format!("{}command", prefix());
    for n in 0..BACKLOG {
        let message = json!({
            "commandId": format!("backlog-{n}"),
            "command": "slow",
            "payload": {"ms": SLOW_MS, "pad": pad},
        });
        gw.client()
            .publish(&topic, QoS::AtLeastOnce, false, message.to_string())
            .await?;
    }
    Ok(())
}

async fn drain_backlog(gw: &mut Gateway) -> Result<()> {
    let mut answered = 0;
    while answered < BACKLOG {
        let d = gw.next(Duration::from_secs(60)).await?;
        let r = d.json();
        if r["commandId"]
            .as_str()
            .is_some_and(|id| id.starts_with("backlog-"))
        {
            if r["success"] != true {
                bail!("a backlog command failed: {r}");
            }
            answered += 1;
        }
    }
    Ok(())
}

/// `echo` with a payload making the whole command `bytes` long; its response.
async fn call(gw: &mut Gateway, id: &str, bytes: usize) -> Result<Value> {
    let head = format!(r#"{{"commandId":"{id}","command":"echo","payload":""#);
    let mut text = head.into_bytes();
    text.resize(bytes.saturating_sub(2), b'x');
    text.extend_from_slice(br#""}"#);
    gw.client()
        .publish(
            format!("{}command", prefix()),
            QoS::AtLeastOnce,
            false,
            text,
        )
        .await?;
    loop {
        let Ok(d) = gw.next(Duration::from_secs(10)).await else {
            return Ok(json!({"success": false, "error": "no answer within 10 s"}));
        };
        let r = d.json();
        if r["commandId"] == id {
            return Ok(r);
        }
    }
}

/// The largest command `echo` answers with its data, to 64 bytes.
async fn largest_echo(gw: &mut Gateway) -> Result<usize> {
    let (mut ok, mut too_big) = (MIB, 4 * MIB);
    let mut n = 0;
    while too_big - ok > 64 {
        let mid = (ok + too_big) / 2;
        n += 1;
        let r = call(gw, &format!("size-{n}"), mid).await?;
        if r["success"] == true && r["data"].is_string() {
            ok = mid;
        } else {
            too_big = mid;
        }
    }
    Ok(ok)
}
