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

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use lua_device::backoff::{Backoff, BackoffPolicy};
use lua_device::dedup::DedupConfig;
use lua_device::message::Command;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_device::value::{self, Value as Json};
use lua_device::CommandError;
use lua_testkit::device::{DeviceEnv, DeviceLauncher, RunningDevice};
use lua_testkit::micropython::{generate_ok, scratch_dir, venv_tool, PICO_W_HEAP};
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::report::Table;

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

const MICROPYTHON_HANDLERS: &str = include_str!("field_soak_handlers.py");

/// What the agent saw of one device.
#[derive(Default)]
struct Seen {
    sent: u64,
    answered: u64,
    /// Ids answered twice with different sequence numbers: ran twice.
    doubled: u64,
    latencies_ms: Vec<f64>,
    /// When each command was first sent and when its first answer came.
    answers: Vec<(Instant, Instant)>,
    results_sent: u64,
}

impl Seen {
    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
}

struct Pending {
    device: &'static str,
    command: String,
    payload: Value,
    first: Instant,
    last: Instant,
}

#[derive(Default)]
struct Book {
    pending: HashMap<String, Pending>,
    answered: HashMap<String, Option<u64>>,
    seen: HashMap<&'static str, Seen>,
    stats: HashMap<(String, u64), Value>,
    ticks: u64,
}

/// The gateway's side: sends commands, acknowledges triggers, answers some with a result.
struct Agent {
    client: AsyncClient,
    book: Arc<Mutex<Book>>,
}

fn device_of(topic: &str) -> Option<&'static str> {
    [MICROPYTHON_NAME, PICO_NAME]
        .into_iter()
        .find(|d| topic.starts_with(&format!("lua/devices/{AGENT}/{d}/")))
}

impl Agent {
    async fn connect(port: u16) -> Result<Self> {
        let mut options = MqttOptions::new("field-soak-agent", "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let book = Arc::new(Mutex::new(Book::default()));
        for d in [MICROPYTHON_NAME, PICO_NAME] {
            book.lock().unwrap().seen.insert(d, Seen::default());
        }
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<()>();
        let driver = {
            let client = client.clone();
            let book = book.clone();
            async move {
                let mut ready_tx = Some(ready_tx);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            // Subscriptions are the connection's: made again after each restart.
                            for d in [MICROPYTHON_NAME, PICO_NAME] {
                                for suffix in ["response", "trigger"] {
                                    let _ = client
                                        .subscribe(
                                            format!("lua/devices/{AGENT}/{d}/{suffix}"),
                                            QoS::AtLeastOnce,
                                        )
                                        .await;
                                }
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        // Retained messages come with each subscription: not news.
                        Ok(Event::Incoming(Packet::Publish(p))) if !p.retain => {
                            on_publish(&client, &book, &p.topic, &p.payload).await;
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        };
        tokio::spawn(driver);
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .map_err(|_| anyhow!("the soak agent got no SUBACK within 10 s"))??;
        Ok(Self { client, book })
    }

    async fn publish(&self, device: &str, id: &str, command: &str, payload: &Value) -> Result<()> {
        let message = json!({"commandId": id, "command": command, "payload": payload});
        self.client
            .publish(
                format!("lua/devices/{AGENT}/{device}/command"),
                QoS::AtLeastOnce,
                false,
                message.to_string(),
            )
            .await
            .map_err(|e| anyhow!("publishing a command: {e}"))
    }

    async fn send(
        &self,
        device: &'static str,
        id: &str,
        command: &str,
        payload: Value,
    ) -> Result<()> {
        {
            let mut book = self.book.lock().unwrap();
            let now = Instant::now();
            book.pending.insert(
                id.to_string(),
                Pending {
                    device,
                    command: command.into(),
                    payload: payload.clone(),
                    first: now,
                    last: now,
                },
            );
            book.seen.get_mut(device).expect("a soak device").sent += 1;
        }
        self.publish(device, id, command, &payload).await
    }

    /// Send again, same id, every command unanswered for [`RESEND_AFTER`].
    async fn resend_late(&self) -> Result<()> {
        let late: Vec<(String, &'static str, String, Value)> = {
            let mut book = self.book.lock().unwrap();
            let now = Instant::now();
            book.pending
                .iter_mut()
                .filter(|(_, p)| now - p.last >= RESEND_AFTER)
                .map(|(id, p)| {
                    p.last = now;
                    (id.clone(), p.device, p.command.clone(), p.payload.clone())
                })
                .collect()
        };
        for (id, device, command, payload) in late {
            self.publish(device, &id, &command, &payload).await?;
        }
        Ok(())
    }

    fn unanswered(&self) -> usize {
        self.book.lock().unwrap().pending.len()
    }

    /// The device's `stats` (not counted as work).
    async fn stats(&self, device: &'static str, n: u64) -> Result<Value> {
        let id = format!("{device}-stats-{n}");
        self.publish(device, &id, "stats", &json!({})).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = self
                .book
                .lock()
                .unwrap()
                .stats
                .remove(&(device.to_string(), n))
            {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("{device} did not answer stats within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn report(&self) -> HashMap<&'static str, Seen> {
        std::mem::take(&mut self.book.lock().unwrap().seen)
    }
}

async fn on_publish(client: &AsyncClient, book: &Mutex<Book>, topic: &str, payload: &[u8]) {
    let Some(device) = device_of(topic) else {
        return;
    };
    let message: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    if topic.ends_with("/response") {
        let Some(id) = message["commandId"].as_str() else {
            return;
        };
        let mut book = book.lock().unwrap();
        if let Some(rest) = id.strip_prefix(&format!("{device}-stats-")) {
            let n = if rest == u64::MAX.to_string() {
                u64::MAX
            } else {
                rest.parse().unwrap_or(0)
            };
            book.stats
                .insert((device.to_string(), n), message["data"].clone());
            return;
        }
        let seq = message["data"]["seq"].as_u64();
        if let Some(pending) = book.pending.remove(id) {
            let seen = book.seen.get_mut(device).expect("a soak device");
            seen.answered += 1;
            seen.latencies_ms
                .push(pending.first.elapsed().as_secs_f64() * 1e3);
            seen.answers.push((pending.first, Instant::now()));
            book.answered.insert(id.to_string(), seq);
        } else if let Some(first) = book.answered.get(id).copied() {
            // A replay carries the first answer; a different sequence number is a second run.
            if first != seq {
                book.seen.get_mut(device).expect("a soak device").doubled += 1;
            }
        }
    } else if topic.ends_with("/trigger") {
        let prefix = format!("lua/devices/{AGENT}/{device}/");
        let n = {
            let mut book = book.lock().unwrap();
            book.ticks += 1;
            book.ticks
        };
        let ack = json!({"triggerId": format!("t-{n}"), "received": true});
        let _ = client
            .publish(
                format!("{prefix}trigger_ack"),
                QoS::AtLeastOnce,
                false,
                ack.to_string(),
            )
            .await;
        // Every third trigger the agent's handler returns something.
        if n.is_multiple_of(3) {
            let result = json!({"triggerName": message["triggerName"], "result": {"seen": message["payload"]["n"]}});
            let _ = client
                .publish(
                    format!("{prefix}trigger_result"),
                    QoS::AtLeastOnce,
                    false,
                    result.to_string(),
                )
                .await;
            book.lock()
                .unwrap()
                .seen
                .get_mut(device)
                .expect("a soak device")
                .results_sent += 1;
        }
    }
}

/// The Pico W firmware's connection loop, on the host.
struct PicoW {
    stop: Arc<AtomicBool>,
    stall_ms: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

/// What the Pico W's handlers count (its `State`).
#[derive(Default)]
struct PicoState {
    runs: u64,
    ticks: u64,
    acked: u64,
    results: u64,
    buffered_peak: usize,
}

impl PicoW {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stall_ms = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, stall_ms) = (stop.clone(), stall_ms.clone());
            move || pico_main(port, &stop, &stall_ms)
        });
        Self {
            stop,
            stall_ms,
            thread,
        }
    }

    /// Stop the loop for `d`: no reads, no pings, as a hung main loop.
    fn stall(&self, d: Duration) {
        self.stall_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

fn pico_main(port: u16, stop: &AtomicBool, stall_ms: &AtomicU64) {
    let state = Arc::new(Mutex::new(PicoState::default()));
    let (jobs_tx, jobs) = mpsc::sync_channel::<Command>(1);
    let (done_tx, done) = mpsc::sync_channel::<(String, Result<Option<Json>, CommandError>)>(1);
    // The worker task: one job at a time.
    std::thread::spawn({
        let state = state.clone();
        move || {
            for c in jobs {
                let field = |name: &str| c.payload.get(name).and_then(Json::as_u64).unwrap_or(0);
                let result = match c.command.as_str() {
                    "work" => {
                        let mut s = state.lock().unwrap();
                        s.runs += 1;
                        Ok(Some(to_json(json!({"n": field("n"), "seq": s.runs}))))
                    }
                    "slow" => {
                        std::thread::sleep(Duration::from_secs(field("seconds")));
                        let mut s = state.lock().unwrap();
                        s.runs += 1;
                        Ok(Some(to_json(json!({"seq": s.runs}))))
                    }
                    "stats" => {
                        let s = state.lock().unwrap();
                        Ok(Some(to_json(
                            json!({"runs": s.runs, "ticks": s.ticks, "acked": s.acked, "results": s.results, "buffered": s.buffered_peak}),
                        )))
                    }
                    other => Err(CommandError::unknown(other)),
                };
                if done_tx.send((c.command_id, result)).is_err() {
                    return;
                }
            }
        }
    });
    let mut session = DeviceSession::new(DeviceConfig {
        agent_id: AGENT,
        device_name: PICO_NAME,
        api_key: API_KEY,
        group: None,
        dedup: DedupConfig {
            max_entries: 32,
            max_bytes: 8192,
            ttl_ms: 300_000,
        },
    });
    let mut client = Client::new(60, 2048);
    let mut backoff = Backoff::new(BackoffPolicy::default());
    let mut waiting = std::collections::VecDeque::new();
    let mut busy = false;
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u64;
    let mut tick_n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let failure = converse(
            port,
            stop,
            stall_ms,
            &state,
            &jobs_tx,
            &done,
            &mut session,
            &mut client,
            &mut backoff,
            &mut waiting,
            &mut busy,
            &mut tick_n,
            &now_ms,
        );
        client.disconnected();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        backoff.disconnected(now_ms());
        let delay = backoff.next_delay(rand_u32());
        eprintln!("pico-w (host): connection lost ({failure}); reconnecting in {delay} ms");
        std::thread::sleep(Duration::from_millis(delay));
    }
}

/// Jitter for the backoff (the chip takes it from the ring oscillator).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
}

#[allow(clippy::too_many_arguments)]
fn converse(
    port: u16,
    stop: &AtomicBool,
    stall_ms: &AtomicU64,
    state: &Mutex<PicoState>,
    jobs: &mpsc::SyncSender<Command>,
    done: &mpsc::Receiver<(String, Result<Option<Json>, CommandError>)>,
    session: &mut DeviceSession,
    client: &mut Client,
    backoff: &mut Backoff,
    waiting: &mut std::collections::VecDeque<Command>,
    busy: &mut bool,
    tick_n: &mut u64,
    now_ms: &dyn Fn() -> u64,
) -> String {
    let mut socket = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(20)));
    let mut out = Vec::new();
    let will = session.will_payload(&lua_device::timestamp::iso8601(wall_ms()));
    client.connect(&session.connect(&will), now_ms(), &mut out);
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(10);
    let flush = |socket: &mut TcpStream, out: &mut Vec<u8>| -> std::io::Result<()> {
        socket.write_all(out)?;
        out.clear();
        Ok(())
    };
    if let Err(e) = flush(&mut socket, &mut out) {
        return format!("write: {e}");
    }
    loop {
        if Instant::now() > deadline {
            return "no CONNACK within 10 s".into();
        }
        match socket.read(&mut buf) {
            Ok(0) => return "closed before CONNACK".into(),
            Ok(n) => match client.receive(&buf[..n], now_ms(), &mut out) {
                Ok(events)
                    if events
                        .iter()
                        .any(|e| matches!(e, Incoming::Connected { .. })) =>
                {
                    break
                }
                Ok(_) => {}
                Err(e) => return e.to_string(),
            },
            Err(e) if is_timeout(&e) => {}
            Err(e) => return format!("read: {e}"),
        }
    }
    backoff.connected(now_ms());
    for step in session.after_connack(&commands_json(), &lua_device::timestamp::iso8601(wall_ms()))
    {
        match step {
            Step::Subscribe(subs) => client.subscribe(&subs, now_ms(), &mut out),
            Step::Publish(p) => client.publish(&p, now_ms(), &mut out),
        }
    }
    let mut next_heartbeat = now_ms() + lua_device::mqtt::device::HEARTBEAT_MS;
    let mut next_tick = now_ms() + TICK_S * 1000;
    let mut awaiting_ack: Option<u64> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            client.disconnect(&mut out);
            let _ = flush(&mut socket, &mut out);
            return "stopped".into();
        }
        let stall = stall_ms.swap(0, Ordering::SeqCst);
        if stall > 0 {
            std::thread::sleep(Duration::from_millis(stall));
        }
        let now = now_ms();
        // The worker's result, answered on whatever connection is up.
        if let Ok((id, result)) = done.try_recv() {
            *busy = false;
            for p in session.complete(&id, result, now) {
                client.publish(&p, now, &mut out);
            }
        }
        if !*busy {
            if let Some(c) = waiting.pop_front() {
                jobs.send(c).expect("the worker runs");
                *busy = true;
            }
        }
        let reading = waiting.is_empty();
        client.hold_reads(!reading, now);
        if now >= next_heartbeat {
            client.publish(&session.heartbeat(), now, &mut out);
            next_heartbeat = now + lua_device::mqtt::device::HEARTBEAT_MS;
        }
        if let Err(e) = client.poll(now, &mut out) {
            return e.to_string();
        }
        // The periodic task's trigger; one at a time, 10 s for its ack, as the trigger queue.
        if awaiting_ack.is_some_and(|since| now - since >= 10_000) {
            awaiting_ack = None;
        }
        if awaiting_ack.is_none() && now >= next_tick {
            *tick_n += 1;
            state.lock().unwrap().ticks += 1;
            client.publish(
                &session.trigger("tick", Some(to_json(json!({"n": *tick_n})))),
                now,
                &mut out,
            );
            awaiting_ack = Some(now);
            next_tick = now + TICK_S * 1000;
        }
        {
            let mut s = state.lock().unwrap();
            s.buffered_peak = s.buffered_peak.max(client.buffered());
        }
        if let Err(e) = flush(&mut socket, &mut out) {
            return format!("write: {e}");
        }
        if !reading {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let n = match socket.read(&mut buf) {
            Ok(0) => return "the broker closed the connection".into(),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return format!("read: {e}"),
        };
        let now = now_ms();
        let events = match client.receive(&buf[..n], now, &mut out) {
            Ok(events) => events,
            Err(e) => return e.to_string(),
        };
        for event in &events {
            match session.on_incoming(event, now) {
                Inbound::Run(c) => waiting.push_back(c),
                Inbound::Publish(p) => client.publish(&p, now, &mut out),
                Inbound::TriggerAck(_) if awaiting_ack.take().is_some() => {
                    state.lock().unwrap().acked += 1
                }
                Inbound::TriggerResult(_) => state.lock().unwrap().results += 1,
                _ => {}
            }
        }
    }
}

/// The chip's JSON value of a serde_json one.
fn to_json(v: Value) -> Json {
    value::from_str(&v.to_string()).expect("serde_json writes JSON")
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The registration's commands, as luagen computes them for the chip.
fn commands_json() -> String {
    let device = luagen::load_str("field-device.yaml", MANIFEST).expect("the soak manifest loads");
    serde_json::to_string(&device.registration_commands()).expect("JSON")
}
