//! The Pico W firmware's connection loop on the host, for the field soak: the sans-IO MQTT
//! stack the chip runs (`lua_device::mqtt`) over a TCP socket, its handlers in a worker
//! thread as `worker.rs` has them in a task, reads held while a command waits its turn, a
//! trigger every few seconds from its periodic task, stalled on request by not running.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use lua_device::backoff::{Backoff, BackoffPolicy};
use lua_device::dedup::DedupConfig;
use lua_device::message::Command;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_device::value::{self, Value as Json};
use lua_device::CommandError;
use serde_json::{json, Value};

use super::{AGENT, API_KEY, MANIFEST, PICO_NAME, TICK_S};

/// The Pico W firmware's connection loop, on the host.
pub(super) struct PicoW {
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
    pub(super) fn start(port: u16) -> Self {
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
    pub(super) fn stall(&self, d: Duration) {
        self.stall_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub(super) fn stop(self) {
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
