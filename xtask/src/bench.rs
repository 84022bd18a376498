//! `cargo xtask bench [section...]`: every comparison the project makes, each against a peer
//! measured in the same run, printed as tables and collected in `BENCHMARKS.md`:
//! the Rust runtime vs a raw rumqttc echo (ceiling) and the official CPython client
//! (reference); the generated MicroPython device vs the official MicroPython module; code
//! generation vs typify; the fleet curve; the Pico W firmware size; the TLS handshake's work
//! on the Cortex-M0+ (estimated on qemu). Numbers are printed, never asserted: timing is not a
//! test.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_testkit::device::{DeviceEnv, DeviceLauncher, RunningDevice};
use lua_testkit::fixtures::{self, Profile};
use lua_testkit::gateway::Gateway;
use lua_testkit::session::{fixture_manifest, prefix, AGENT_ID, API_KEY};
use lua_testkit::Mosquitto;

use crate::report::{self, Table};
use rumqttc::QoS;
use serde_json::json;

/// How much work each device gets; the official client is slow enough to need less.
struct Workload {
    sequential: usize,
    total: usize,
    in_flight: usize,
}

const FULL: Workload = Workload {
    sequential: 2_000,
    total: 20_000,
    in_flight: 64,
};
const OFFICIAL: Workload = Workload {
    sequential: 300,
    total: 4_000,
    in_flight: 64,
};

/// The MicroPython devices: the official one polls every 100 ms, so it gets little work.
const MICROPYTHON: Workload = Workload {
    sequential: 2_000,
    total: 20_000,
    in_flight: 64,
};
const OFFICIAL_MICROPYTHON: Workload = Workload {
    sequential: 50,
    total: 200,
    in_flight: 64,
};

/// One device's numbers.
struct Measurement {
    p50: Duration,
    p99: Duration,
    per_second: f64,
    rss_kib: u64,
}

/// The sections of the report, in order; `cargo xtask bench <section>...` runs some of them.
const SECTIONS: &[&str] = &[
    "runtime",
    "limits-rust",
    "micropython-heap",
    "micropython-echo",
    "limits-micropython",
    "codegen",
    "fleet",
    "firmware",
    "pico-w-limits",
    "handshake",
];

/// Run the chosen sections (all by default), print each table as it is measured, and write
/// `BENCHMARKS.md`: all of it after a full run, only the re-measured tables after a partial
/// one. A section that fails is reported in its place; the others run.
pub fn run(chosen: &[String]) -> Result<()> {
    for name in chosen {
        if !SECTIONS.contains(&name.as_str()) {
            bail!(
                "unknown section `{name}`; sections: {}",
                SECTIONS.join(", ")
            );
        }
    }
    let all = chosen.is_empty();
    let wanted = |name: &str| all || chosen.iter().any(|c| c == name);
    lua_testkit::deps::ensure_all()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Without it the broker's small writes wait on delayed ACKs: ~40 ms per round trip,
    // which would measure the broker instead of the devices.
    let broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config: vec!["set_tcp_nodelay true".into()],
        ..Default::default()
    })?;
    let mut tables = Vec::new();
    let mut section = |name: &str, result: Result<Vec<Table>>| {
        let tables_of = match result {
            Ok(tables) => tables,
            Err(e) => {
                let mut failed = Table::new(format!("{name}: failed"), &["error"]);
                failed.row([format!("{e:#}")]);
                vec![failed]
            }
        };
        for table in tables_of {
            table.print();
            tables.push(table);
        }
    };
    if wanted("runtime") {
        section("runtime", rust_devices(&runtime, &broker).map(|t| vec![t]));
    }
    if wanted("limits-rust") {
        section("limits-rust", crate::limits_rust::tables());
    }
    if wanted("micropython-heap") {
        section("micropython-heap", micropython_heap());
    }
    if wanted("micropython-echo") {
        section("micropython-echo", micropython_echo(&runtime, &broker));
    }
    if wanted("limits-micropython") {
        section(
            "limits-micropython",
            crate::limits_micropython::tables(&runtime),
        );
    }
    if wanted("codegen") {
        section("codegen", crate::codegen_bench::table().map(|t| vec![t]));
    }
    if wanted("fleet") {
        section("fleet", crate::fleet::curve(None).map(|t| vec![t]));
    }
    if wanted("firmware") {
        section("firmware", crate::firmware_size::table().map(|t| vec![t]));
    }
    if wanted("pico-w-limits") {
        section(
            "pico-w-limits",
            crate::pico_w_limits::tables(&runtime, &broker),
        );
    }
    if wanted("handshake") {
        section("handshake", crate::handshake::tables());
    }
    let path = lua_testkit::deps::workspace_root().join("BENCHMARKS.md");
    if all {
        report::write_benchmarks(&path, "cargo xtask bench", &tables)?;
    } else {
        report::update_benchmarks(&path, &tables)?;
    }
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The Rust runtime's devices against the raw rumqttc echo (ceiling) and the official CPython
/// client (reference), one after the other on the same broker.
fn rust_devices(runtime: &tokio::runtime::Runtime, broker: &Mosquitto) -> Result<Table> {
    eprintln!("building the devices (profile `device`)...");
    let rust = fixtures::rust_device(Profile::Release)?;
    let typed = fixtures::typed_device(Profile::Release)?;
    let raw = fixtures::raw_echo_device(Profile::Release)?;
    let official = fixtures::official_device()?;
    let mut rows: Vec<(String, Result<Measurement>)> = Vec::new();
    let m = runtime.block_on(measure(broker, &rust, &FULL));
    rows.push(("Rust runtime, dynamic API (conformance-device)".into(), m));
    let m = runtime.block_on(measure(broker, &typed, &FULL));
    rows.push(("Rust runtime, #[lua_device] (conformance-typed)".into(), m));
    let m = runtime.block_on(measure(broker, &raw, &FULL));
    rows.push(("raw rumqttc echo (ceiling)".into(), m));
    let m = runtime.block_on(measure(broker, &official, &OFFICIAL));
    rows.push(("official CPython client".into(), m));
    Ok(runtime_table(&rows))
}

/// The generated MicroPython device's heap after start-up against the official MicroPython
/// module's, on the same unix-port binary, and where the generated device's bytes go.
/// Deterministic and quick, so apart from the echo (which wants a quiet machine).
fn micropython_heap() -> Result<Vec<Table>> {
    use lua_testkit::micropython::bench;
    let official_dir = bench::official_project()?;
    let generated_dir = bench::generated_project(false)?;
    let mpy_dir = bench::generated_project(true)?;
    let official_heap = bench::heap_bytes(&official_dir, true)?;
    let generated_heap = bench::heap_bytes(&generated_dir, false)?;
    let mpy_heap = bench::heap_bytes(&mpy_dir, false)?;
    let mut heap = Table::new(
        "MicroPython heap after import + a device with 5 commands (gc.mem_alloc, unix port)",
        &["module", "bytes", "of official"],
    );
    let share = |bytes: u64| format!("{:.0} %", 100.0 * bytes as f64 / official_heap as f64);
    heap.row([
        "official lua_device/micropython.py + umqtt.simple, commands as literals (.mpy)"
            .to_string(),
        official_heap.to_string(),
        share(official_heap),
    ]);
    heap.row([
        "generated, .py modules".to_string(),
        generated_heap.to_string(),
        share(generated_heap),
    ]);
    heap.row([
        "generated, .mpy modules (--mpy)".to_string(),
        mpy_heap.to_string(),
        share(mpy_heap),
    ]);
    heap.note("both sides measured alike: the same five commands, from before the first import to a device made (not connected), after gc.collect(); the official side as a user writes it (client and commands as literals in a module compiled to .mpy, umqtt.simple as mip installs it, .mpy), no harness code inside the window");
    heap.note("the generated device includes the watchdog, reset-after-failures, NTP, background() and callback support and the result checks (none of the five commands has an outputSchema, as on the official side)");
    heap.note(
        "goal: the generated device (validators included, .mpy) <= 50 % of the official module",
    );
    let mut parts = Table::new(
        "Where the generated device's heap goes (.mpy, the same window, step by step)",
        &["step", "bytes", "of official"],
    );
    for (what, bytes) in bench::heap_parts(&mpy_dir)? {
        parts.row([what, bytes.to_string(), share(bytes)]);
    }
    parts.note("each step's growth of the heap after gc.collect(); a name (qstr) is counted where it is first interned, so the parts shift a little with the order, and they sum to about the total above (the stepping helper is outside the window)");
    parts.note("qstrs are never freed: lua_connect's names stay interned after the module itself is dropped");
    for dir in [official_dir, generated_dir, mpy_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(vec![heap, parts])
}

/// The generated MicroPython device against the official MicroPython client, both on the
/// same unix-port binary and this broker: echo latency and throughput, and RSS over a long
/// run.
fn micropython_echo(runtime: &tokio::runtime::Runtime, broker: &Mosquitto) -> Result<Vec<Table>> {
    use lua_testkit::micropython::bench;
    let official_dir = bench::official_project()?;
    let mpy_dir = bench::generated_project(true)?;

    let generated = bench::generated_device(&mpy_dir)?;
    let official = bench::official_device(&official_dir)?;
    let mut echo = Table::new(
        "MicroPython devices answering echo (unix port, same broker)",
        &[
            "device",
            "p50 ms",
            "p99 ms",
            "commands/s (64 in flight)",
            "RSS MB",
        ],
    );
    let mut p50s = Vec::new();
    for (name, launcher, work) in [
        ("generated MicroPython (.mpy)", &generated, &MICROPYTHON),
        (
            "official MicroPython client",
            &official,
            &OFFICIAL_MICROPYTHON,
        ),
    ] {
        match runtime.block_on(measure_split(broker, launcher, work)) {
            Ok((p50, p99, throughput, rss_kib)) => {
                p50s.push(p50);
                echo.row([
                    name.to_string(),
                    format!("{:.3}", p50.as_secs_f64() * 1e3),
                    format!("{:.3}", p99.as_secs_f64() * 1e3),
                    match throughput {
                        Ok(per_second) => format!("{per_second:.0}"),
                        Err(e) => format!("failed: {e:#}"),
                    },
                    format!("{:.1}", rss_kib as f64 / 1024.0),
                ]);
            }
            Err(e) => echo.row([name.to_string(), format!("failed: {e:#}")]),
        }
    }
    if let [generated, official] = p50s[..] {
        echo.note(format!(
            "generated p50 is {:.0}x faster than the official client's (goal: p50 <= 5 ms, >= 500 commands/s)",
            official.as_secs_f64() / generated.as_secs_f64()
        ));
    }
    let soak = runtime.block_on(soak(broker, &generated, 100_000))?;
    echo.note(format!(
        "generated MicroPython over 100,000 echoes (64 in flight): {:.0} commands/s, RSS {} KiB after 1,000, {} KiB after 100,000",
        soak.0, soak.1, soak.2
    ));
    for dir in [official_dir, mpy_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(vec![echo])
}

/// Like [`measure`], but a failure with many commands in flight is reported beside the
/// sequential latencies instead of replacing them (the official MicroPython client's case).
async fn measure_split(
    broker: &Mosquitto,
    launcher: &DeviceLauncher,
    work: &Workload,
) -> Result<(Duration, Duration, Result<f64>, u64)> {
    eprintln!("measuring {}...", launcher.name);
    let mut device = start(broker, launcher, None)?;
    let mut driver = Driver::connect(broker.port(), &launcher.name).await?;
    driver.sequential("warmup", 20).await?;
    let mut latencies = driver.sequential("seq", work.sequential).await?;
    latencies.sort();
    let started = Instant::now();
    let throughput = driver
        .pipelined("tput", work.total, work.in_flight)
        .await
        .map(|()| work.total as f64 / started.elapsed().as_secs_f64())
        .map_err(|e| {
            let stderr = device.stderr();
            let last = stderr.lines().last().unwrap_or("").to_string();
            anyhow::anyhow!("{e:#} (device: {last})")
        });
    let rss_kib = device.rss_kib().unwrap_or(0);
    driver.gateway.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        throughput,
        rss_kib,
    ))
}

/// `total` pipelined echoes; throughput and RSS early and at the end.
async fn soak(
    broker: &Mosquitto,
    launcher: &DeviceLauncher,
    total: usize,
) -> Result<(f64, u64, u64)> {
    eprintln!("soaking {} with {total} commands...", launcher.name);
    let mut device = start(broker, launcher, None)?;
    let mut driver = Driver::connect(broker.port(), &format!("{}-soak", launcher.name)).await?;
    // Its own ids: a device remembers answered ids, and would not run these again.
    driver.pipelined("warm", 1_000, 64).await?;
    let early = device.rss_kib()?;
    let started = Instant::now();
    driver.pipelined("tput", total, 64).await?;
    let per_second = total as f64 / started.elapsed().as_secs_f64();
    let late = device.rss_kib()?;
    driver.gateway.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok((per_second, early, late))
}

async fn measure(
    broker: &Mosquitto,
    launcher: &DeviceLauncher,
    work: &Workload,
) -> Result<Measurement> {
    eprintln!("measuring {}...", launcher.name);
    let mut device = start(broker, launcher, Some(fixture_manifest()))?;
    let mut driver = Driver::connect(broker.port(), &launcher.name).await?;

    driver.sequential("warmup", 100).await?;
    let mut latencies = driver.sequential("seq", work.sequential).await?;
    latencies.sort();
    let started = Instant::now();
    driver.pipelined("tput", work.total, work.in_flight).await?;
    let per_second = work.total as f64 / started.elapsed().as_secs_f64();
    let rss_kib = device.rss_kib()?;
    driver.gateway.disconnect().await;
    let _ = tokio::task::block_in_place(|| device.kill());
    Ok(Measurement {
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        per_second,
        rss_kib,
    })
}

/// Start `launcher`'s device on `broker` and wait until it says it is ready.
fn start(
    broker: &Mosquitto,
    launcher: &DeviceLauncher,
    manifest: Option<std::path::PathBuf>,
) -> Result<RunningDevice> {
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: broker.url(),
        manifest,
    };
    let mut device = launcher.spawn(&env)?;
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10)))?;
    Ok(device)
}

/// The gateway side: publishes `echo` commands and waits for their responses.
struct Driver {
    gateway: Gateway,
    command: String,
    response: String,
    tag: String,
}

impl Driver {
    async fn connect(port: u16, name: &str) -> Result<Self> {
        let response = format!("{}response", prefix());
        let gateway =
            Gateway::connect(port, "bench-driver", std::slice::from_ref(&response)).await?;
        // Unique ids per device so a dedup cache never answers from memory.
        let tag: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        Ok(Self {
            gateway,
            command: format!("{}command", prefix()),
            response,
            tag,
        })
    }

    async fn send(&self, phase: &str, n: usize) -> Result<()> {
        let message = json!({
            "commandId": format!("{}-{phase}-{n}", self.tag),
            "command": "echo",
            "payload": {"n": n, "text": "bench"},
        });
        self.gateway
            .client()
            .publish(&self.command, QoS::AtLeastOnce, false, message.to_string())
            .await
            .context("publishing a command")
    }

    async fn answer(&mut self) -> Result<()> {
        loop {
            let d = self.gateway.next(Duration::from_secs(10)).await?;
            if d.topic != self.response {
                continue;
            }
            if d.json()["success"] != true {
                bail!("the device failed an echo: {}", d.json());
            }
            return Ok(());
        }
    }

    /// One command at a time; the round-trip time of each.
    async fn sequential(&mut self, phase: &str, count: usize) -> Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(count);
        for n in 0..count {
            let t0 = Instant::now();
            self.send(phase, n).await?;
            self.answer().await?;
            latencies.push(t0.elapsed());
        }
        Ok(latencies)
    }

    /// `total` commands with `in_flight` outstanding at any time.
    async fn pipelined(&mut self, label: &str, total: usize, in_flight: usize) -> Result<()> {
        let mut sent = 0;
        while sent < in_flight.min(total) {
            self.send(label, sent).await?;
            sent += 1;
        }
        for _ in 0..total {
            self.answer().await?;
            if sent < total {
                self.send(label, sent).await?;
                sent += 1;
            }
        }
        Ok(())
    }
}

fn runtime_table(rows: &[(String, Result<Measurement>)]) -> Table {
    let mut table = Table::new(
        "Rust devices answering echo (profile `device`, one broker, one driver)",
        &[
            "device",
            "p50 ms",
            "p99 ms",
            "commands/s (64 in flight)",
            "RSS MB",
        ],
    );
    for (name, m) in rows {
        match m {
            Ok(m) => table.row([
                name.clone(),
                format!("{:.3}", m.p50.as_secs_f64() * 1e3),
                format!("{:.3}", m.p99.as_secs_f64() * 1e3),
                format!("{:.0}", m.per_second),
                format!("{:.1}", m.rss_kib as f64 / 1024.0),
            ]),
            Err(e) => table.row([name.clone(), format!("failed: {e:#}")]),
        }
    }
    let get = |i: usize| rows.get(i).and_then(|(_, m)| m.as_ref().ok());
    let (Some(raw), Some(official)) = (get(2), get(3)) else {
        table.note("ratios need the raw echo and official client rows");
        return table;
    };
    for (i, label) in [(0, "Rust runtime"), (1, "#[lua_device]")] {
        let Some(rust) = get(i) else { continue };
        table.note(format!(
            "{label} vs official client: {:.1}x throughput (goal >= 20x), p50 {:.0}x lower; vs raw echo: {:.0} % of the ceiling's throughput (goal >= 80 %)",
            rust.per_second / official.per_second,
            official.p50.as_secs_f64() / rust.p50.as_secs_f64(),
            100.0 * rust.per_second / raw.per_second,
        ));
    }
    table.note(format!(
        "the ceiling itself is {:.1}x the official client: the 20x goal is bounded by the broker round trip, not the runtime",
        raw.per_second / official.per_second
    ));
    table
}
