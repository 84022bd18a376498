//! The fleet curve for `cargo xtask soak` and `cargo xtask bench`: one process (the `fleet`
//! example: typed greenhouse sensors, each its own MQTT session) runs 100, 1,000 and 10,000
//! devices. For each size: how long until the agent has seen every registration, the fleet's
//! resident memory per device, and the round trip of commands sent open-loop at a fixed rate
//! to random devices. The driver plays the agent in this process, so the RSS is the fleet's.
//!
//! Nothing here is asserted on time: a size fails only when its devices cannot come online.
//! `LUAGEN_FLEET_SIZES` (e.g. `100,1000`) and `LUAGEN_FLEET_SECONDS` shorten a run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use lua_testkit::device::{DeviceEnv, DeviceLauncher};
use lua_testkit::fixtures::{self, Profile};
use lua_testkit::mosquitto::Options;
use lua_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS, SubscribeFilter};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::report::Table;

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const COMMANDS_PER_SECOND: u64 = 1_000;
const DRIVE_SECONDS: u64 = 15;
/// Goal of the issue: a simulated device costs at most this much resident memory.
const GOAL_KIB: f64 = 64.0;
/// How long answers sent before the end of the drive may still arrive.
const GRACE: Duration = Duration::from_secs(10);
/// Idle time between coming online and reading RSS: lets the last handshakes' buffers settle.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the idle fleet's CPU time is sampled: one heartbeat period (the runtime's default),
/// so every device beats once in it; the beats also stand in for keep-alive pings.
const IDLE: Duration = Duration::from_secs(30);
const PREFIX: &str = "greenhouse";
/// As `fleet::CONNECTING_AT_ONCE` (the example is a binary to this crate, not a dependency).
const CONNECTING_AT_ONCE: usize = 64;

/// One fleet size's numbers.
struct Point {
    online: Duration,
    rss_kib: u64,
    /// Share of one core the fleet used while idle.
    idle_cpu: f64,
    rss_after_kib: u64,
    drive: Option<Drive>,
}

struct Drive {
    sent: usize,
    per_second: f64,
    latencies: Vec<Duration>,
    errors: usize,
    timeouts: usize,
}

/// Where the fleet and the driver connect.
struct Broker {
    /// What the devices get: the URL without the driver's login.
    device_url: String,
    host: String,
    port: u16,
    login: Option<(String, String)>,
}

impl Broker {
    /// `mqtt://[user:password@]host[:port]`: the driver is a plain MQTT client; the login,
    /// when given, is the driver's own (devices log in as `{agentId}:{deviceName}`).
    fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| {
                anyhow!("the fleet driver speaks plain mqtt:// (got {url:?}); put a TLS broker behind a plain listener for the harness")
            })?;
        let rest = rest.trim_end_matches('/');
        let (login, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((user.to_string(), password.to_string())), authority)
            }
            None => (None, rest),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_string(),
                port.parse()
                    .with_context(|| format!("port in broker URL {url:?}"))?,
            ),
            None => (authority.to_string(), 1883),
        };
        if host.is_empty() {
            bail!("no host in broker URL {url:?}");
        }
        Ok(Self {
            device_url: format!("mqtt://{authority}"),
            host,
            port,
            login,
        })
    }
}

pub fn curve(broker_url: Option<&str>) -> Result<Table> {
    let sizes = sizes()?;
    let seconds = env_number("LUAGEN_FLEET_SECONDS", DRIVE_SECONDS)?;
    let largest = sizes.iter().copied().max().unwrap_or(1);
    // The local broker inherits this process's limits, and holds one socket per device.
    let open_files = raise_fd_limit(largest as u64 + 256)?;
    let external = broker_url.map(Broker::parse).transpose()?;
    eprintln!("building the fleet (profile `device`)...");
    let binary = fixtures::cargo_build_binary("fleet", "fleet", Profile::Release)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let agent_id = std::env::var("LUA_AGENT_ID").unwrap_or_else(|_| "fleet-bench".into());
    let api_key = std::env::var("LUA_API_KEY").unwrap_or_else(|_| "fleet-bench-key".into());

    // Each size gets a fresh local broker, so no size inherits another's sessions.
    let run = |count: usize, drive: Option<Duration>| -> Result<Point> {
        let local;
        let broker = match &external {
            Some(broker) => broker,
            None => {
                let mosquitto = Mosquitto::start_with(Options {
                    extra_config: vec!["set_tcp_nodelay true".into()],
                    ..Default::default()
                })?;
                local = (
                    Broker::parse(&mosquitto.url())?,
                    // Kept alive until the run ends.
                    mosquitto,
                );
                &local.0
            }
        };
        let env = DeviceEnv {
            agent_id: agent_id.clone(),
            api_key: api_key.clone(),
            mqtt_url: broker.device_url.clone(),
            manifest: None,
        };
        let launcher = DeviceLauncher::new("fleet", &binary, &[&count.to_string(), PREFIX]);
        runtime.block_on(measure(&launcher, &env, broker, count, drive))
    };

    eprintln!("fleet: 1 device (baseline)...");
    let baseline = run(1, None).context("the one-device baseline")?;
    let mut table = Table::new(
        "Fleet: N greenhouse sensors in one process, each its own MQTT session",
        &[
            "devices",
            "online s",
            "fleet RSS MiB",
            "KiB/device",
            "commands/s",
            "p50 ms",
            "p99 ms",
            "errors/timeouts",
            "idle CPU %",
        ],
    );
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let mut per_device = Vec::new();
    for &count in &sizes {
        eprintln!("fleet: {count} devices...");
        match run(count, Some(Duration::from_secs(seconds))) {
            Ok(point) => {
                let kib = point.rss_kib.saturating_sub(baseline.rss_kib) as f64
                    / count.saturating_sub(1).max(1) as f64;
                per_device.push((count, kib, point.rss_after_kib));
                let mut cells = vec![
                    group_thousands(count),
                    format!("{:.2}", point.online.as_secs_f64()),
                    format!("{:.1}", point.rss_kib as f64 / 1024.0),
                    format!("{kib:.1}"),
                ];
                if let Some(drive) = &point.drive {
                    let mut sorted = drive.latencies.clone();
                    sorted.sort();
                    cells.push(format!("{:.0}", drive.per_second));
                    cells.push(percentile_ms(&sorted, 50));
                    cells.push(percentile_ms(&sorted, 99));
                    cells.push(format!("{}/{}", drive.errors, drive.timeouts));
                    cells.push(format!("{:.1}", 100.0 * point.idle_cpu));
                    if drive.errors + drive.timeouts > 0 {
                        eprintln!(
                            "fleet: {count} devices: {} of {} commands failed or timed out",
                            drive.errors + drive.timeouts,
                            drive.sent
                        );
                    }
                }
                table.row(cells);
            }
            Err(e) => table.row([group_thousands(count), format!("failed: {e:#}")]),
        }
    }
    table.note(format!(
        "KiB/device = (fleet RSS at N - RSS of the same binary with 1 device, {:.1} MiB) / (N - 1); goal <= {GOAL_KIB:.0} KiB: {}",
        baseline.rss_kib as f64 / 1024.0,
        verdicts(&per_device)
    ));
    if let Some((count, _, after)) = per_device.last() {
        table.note(format!(
            "RSS is read idle, {} s after the last registration; after the commands the {} device fleet held {:.1} MiB (idempotency caches, grown buffers)",
            (SETTLE + IDLE).as_secs(),
            group_thousands(*count),
            *after as f64 / 1024.0
        ));
    }
    table.note(format!(
        "online = from starting the process to the agent seeing the last registration, {CONNECTING_AT_ONCE} devices connecting at a time; commands: {COMMANDS_PER_SECOND}/s open-loop for {seconds} s to random devices, round trip from publish to response as seen by the agent"
    ));
    table.note(match broker_url {
        Some(url) => format!("broker: {} (given)", Broker::parse(url)?.device_url),
        None => format!(
            "broker: a local mosquitto per size, fd limit {open_files}; fleet, broker and driver share the machine's cores (load average {load} when the curve started)"
        ),
    });
    table.note(format!(
        "idle CPU = the fleet's CPU time over {} s idle, one heartbeat period (every device beats once; its beats keep the connection alive, so no pings), as a share of one core",
        IDLE.as_secs()
    ));
    Ok(table)
}

/// Start a fleet of `count`, wait for every registration, read its RSS, drive commands.
async fn measure(
    launcher: &DeviceLauncher,
    env: &DeviceEnv,
    broker: &Broker,
    count: usize,
    drive: Option<Duration>,
) -> Result<Point> {
    let agent = Agent::connect(broker, &env.agent_id).await?;
    let mut responses = agent.responses;
    let mut registrations = agent.registrations;
    let started = Instant::now();
    let mut device = launcher.spawn(env).context("starting the fleet")?;
    let limit = Duration::from_secs(60) + Duration::from_millis(20 * count as u64);
    let mut seen = HashSet::new();
    let online = tokio::time::timeout(limit, async {
        while seen.len() < count {
            match registrations.recv().await {
                Some(name) => {
                    seen.insert(name);
                }
                None => break,
            }
        }
    })
    .await;
    if online.is_err() || seen.len() < count {
        let why = tokio::task::block_in_place(|| device.wait_ready(Duration::from_millis(100)))
            .err()
            .map(|e| format!(": {e:#}"))
            .unwrap_or_default();
        let _ = tokio::task::block_in_place(|| device.kill());
        bail!(
            "{} of {count} devices registered within {limit:?}{why}",
            seen.len()
        );
    }
    let online = started.elapsed();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(30)))?;
    tokio::time::sleep(SETTLE).await;
    let before = cpu_time(device.pid())?;
    tokio::time::sleep(IDLE).await;
    let idle_cpu = (cpu_time(device.pid())? - before).as_secs_f64() / IDLE.as_secs_f64();
    let rss_kib = device.rss_kib()?;
    let drive = match drive {
        Some(duration) => Some(
            drive_commands(
                &agent.client,
                &agent.sent,
                &mut responses,
                &env.agent_id,
                count,
                duration,
            )
            .await?,
        ),
        None => None,
    };
    let rss_after_kib = device.rss_kib()?;
    // Graceful: every device publishes its offline status; a stuck fleet is killed.
    if tokio::task::block_in_place(|| device.terminate(Duration::from_secs(60))).is_err() {
        let _ = tokio::task::block_in_place(|| device.kill());
    }
    let _ = agent.client.disconnect().await;
    Ok(Point {
        online,
        rss_kib,
        idle_cpu,
        rss_after_kib,
        drive,
    })
}

/// Send `COMMANDS_PER_SECOND` commands for `duration`, each to a random device, on a fixed
/// schedule whatever the answers do (open loop), then wait up to [`GRACE`] for the rest.
async fn drive_commands(
    client: &AsyncClient,
    sent_at: &Arc<Mutex<HashMap<u64, Instant>>>,
    responses: &mut mpsc::UnboundedReceiver<Answer>,
    agent_id: &str,
    count: usize,
    duration: Duration,
) -> Result<Drive> {
    let total = (COMMANDS_PER_SECOND * duration.as_secs()) as usize;
    let mut random = XorShift::seeded();
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    let mut tally = |answer: Answer| {
        latencies.push(answer.latency);
        if !answer.success {
            errors += 1;
        }
    };
    let mut answered = 0;
    let started = Instant::now();
    let mut sent = 0usize;
    while sent < total {
        let due =
            ((started.elapsed().as_secs_f64() * COMMANDS_PER_SECOND as f64) as usize).min(total);
        while sent < due {
            let device = random.below(count as u64) as usize;
            let (command, payload) = if sent.is_multiple_of(2) {
                ("read_environment", json!({}))
            } else {
                (
                    "toggle_irrigation",
                    json!({ "enabled": random.below(2) == 1 }),
                )
            };
            let id = sent as u64;
            let body = json!({
                "commandId": format!("fleet-{id}"),
                "command": command,
                "payload": payload,
                "timeout": 30_000,
            });
            let topic = format!(
                "lua/devices/{agent_id}/{}/command",
                fleet_device_name(device)
            );
            sent_at
                .lock()
                .expect("sent table")
                .insert(id, Instant::now());
            client
                .publish(topic, QoS::AtLeastOnce, false, body.to_string())
                .await
                .map_err(|e| anyhow!("publishing a command: {e}"))?;
            sent += 1;
        }
        while let Ok(answer) = responses.try_recv() {
            tally(answer);
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let per_second = sent as f64 / started.elapsed().as_secs_f64();
    let deadline = tokio::time::Instant::now() + GRACE;
    while answered < sent {
        match tokio::time::timeout_at(deadline, responses.recv()).await {
            Ok(Some(answer)) => {
                tally(answer);
                answered += 1;
            }
            Ok(None) | Err(_) => break,
        }
    }
    sent_at.lock().expect("sent table").clear();
    Ok(Drive {
        sent,
        per_second,
        timeouts: sent - answered,
        latencies,
        errors,
    })
}

/// User plus system CPU time of a process so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    let ticks: u64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

fn fleet_device_name(index: usize) -> String {
    format!("{PREFIX}-{index}")
}

/// A response matched to its command.
struct Answer {
    latency: Duration,
    success: bool,
}

/// The agent's side: one plain MQTT session watching every device's status and responses.
struct Agent {
    client: AsyncClient,
    sent: Arc<Mutex<HashMap<u64, Instant>>>,
    registrations: mpsc::UnboundedReceiver<String>,
    responses: mpsc::UnboundedReceiver<Answer>,
}

impl Agent {
    async fn connect(broker: &Broker, agent_id: &str) -> Result<Self> {
        let client_id = format!("fleet-driver-{}", std::process::id());
        let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_inflight(u16::MAX)
            .set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = &broker.login {
            options.set_credentials(user.clone(), password.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let filters = ["status", "response"].map(|suffix| {
            SubscribeFilter::new(
                format!("lua/devices/{agent_id}/+/{suffix}"),
                QoS::AtLeastOnce,
            )
        });
        client
            .subscribe_many(filters)
            .await
            .map_err(|e| anyhow!("subscribing: {e}"))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => bail!("the fleet driver could not connect to the broker: {e}"),
                Err(_) => bail!("the broker did not acknowledge the driver's subscription"),
            }
        }
        let sent = Arc::new(Mutex::new(HashMap::new()));
        let (registered, registrations) = mpsc::unbounded_channel();
        let (answered, responses) = mpsc::unbounded_channel();
        tokio::spawn(route(eventloop, Arc::clone(&sent), registered, answered));
        Ok(Self {
            client,
            sent,
            registrations,
            responses,
        })
    }
}

/// Registrations (a `status` message carrying `commands`) go out by device name, responses
/// to commands this run sent go out with their round trip; everything else is dropped.
async fn route(
    mut eventloop: EventLoop,
    sent: Arc<Mutex<HashMap<u64, Instant>>>,
    registered: mpsc::UnboundedSender<String>,
    answered: mpsc::UnboundedSender<Answer>,
) {
    loop {
        let publish = match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::Publish(p))) => p,
            Ok(_) => continue,
            Err(_) => return,
        };
        let arrived = Instant::now();
        let mut segments = publish.topic.rsplit('/');
        let (Some(suffix), Some(device)) = (segments.next(), segments.next()) else {
            continue;
        };
        let Ok(body) = serde_json::from_slice::<Value>(&publish.payload) else {
            continue;
        };
        match suffix {
            "status" if body["commands"].is_array() && device.starts_with(PREFIX) => {
                let _ = registered.send(device.to_string());
            }
            "response" => {
                let id = body["commandId"]
                    .as_str()
                    .and_then(|id| id.strip_prefix("fleet-"))
                    .and_then(|n| n.parse::<u64>().ok());
                let Some(started) = id.and_then(|id| sent.lock().expect("sent table").remove(&id))
                else {
                    continue;
                };
                let _ = answered.send(Answer {
                    latency: arrived - started,
                    success: body["success"] == true,
                });
            }
            _ => {}
        }
    }
}

fn sizes() -> Result<Vec<usize>> {
    match std::env::var("LUAGEN_FLEET_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow!("LUAGEN_FLEET_SIZES: {n:?} is not a device count"))
            })
            .collect(),
        Err(_) => Ok(SIZES.to_vec()),
    }
}

fn env_number(key: &str, default: u64) -> Result<u64> {
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| anyhow!("{key}: {v:?} is not a positive number")),
        Err(_) => Ok(default),
    }
}

fn verdicts(per_device: &[(usize, f64, u64)]) -> String {
    if per_device.is_empty() {
        return "no size completed".into();
    }
    per_device
        .iter()
        .map(|(count, kib, _)| {
            format!(
                "{} at {} ({:.0} % of the goal)",
                if *kib <= GOAL_KIB { "met" } else { "missed" },
                group_thousands(*count),
                100.0 * kib / GOAL_KIB
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile_ms(sorted: &[Duration], percent: usize) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let index = (sorted.len() * percent / 100).min(sorted.len() - 1);
    format!("{:.2}", sorted[index].as_secs_f64() * 1e3)
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Enough randomness to spread commands over the fleet; not for anything else.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Raise the soft limit on open files to the hard limit; fail if even that is below `needed`.
fn raise_fd_limit(needed: u64) -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of each call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above; the soft limit stays within the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    let soft = limit.rlim_cur;
    if soft < needed {
        bail!("{needed} open files needed for the fleet's broker, but the hard limit is {soft} (raise it: ulimit -Hn)");
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_split_the_drivers_login_from_the_devices_url() {
        let b = Broker::parse("mqtt://agent:secret@emqx.local:1884").unwrap();
        assert_eq!(
            (b.device_url.as_str(), b.host.as_str(), b.port),
            ("mqtt://emqx.local:1884", "emqx.local", 1884)
        );
        assert_eq!(b.login, Some(("agent".into(), "secret".into())));
        let b = Broker::parse("tcp://10.0.0.5").unwrap();
        assert_eq!((b.port, b.login), (1883, None));
        assert!(Broker::parse("mqtts://x").is_err());
        assert!(Broker::parse("mqtt://:1883").is_err());
    }

    #[test]
    fn reads_this_process_cpu_time_and_it_grows() {
        let before = cpu_time(std::process::id()).unwrap();
        // Spin until the clock ticks: only a parse that ignores the process's time never moves.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut x = 0u64;
        while cpu_time(std::process::id()).unwrap() <= before {
            assert!(Instant::now() < deadline, "CPU time never grew");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn percentiles_and_grouping() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 50), "51.00");
        assert_eq!(percentile_ms(&sorted, 99), "100.00");
        assert_eq!(percentile_ms(&[], 99), "-");
        assert_eq!(group_thousands(10_000), "10,000");
        assert_eq!(group_thousands(100), "100");
    }
}
