//! Fault runs: nothing lost, nothing run twice.
//!
//! A counting device (the same two commands on every implementation) and the gateway's side
//! of a fault run: commands with several in flight, each resent with the same `commandId`
//! when its answer is late, as the gateway's retry does. The suites and `cargo xtask soak`
//! drive the same code; only the faults between them differ (a [`crate::fault_proxy`], broker
//! restarts, a device that is away).
//!
//! How "exactly once" is proven: `work` returns `{"n", "seq"}` where `seq` numbers the
//! device's executions of `work`, and `stats` returns how many there were. A response can only
//! come from an execution or a replay of one, so every id answered means every id ran at least
//! once; executions equal to ids then means none ran twice. An id that did run twice shows
//! itself by two responses with different `seq`s, which the run records by id. The device
//! keeps one counter, so a million commands cost it no memory of their own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::device::{DeviceEnv, DeviceLauncher};
use crate::fixtures::{cargo_build_binary, Profile};
use crate::micropython::{generate_ok, scratch_dir};

/// The agent every fault device belongs to.
pub const AGENT_ID: &str = "agent-faults";
/// Its API key (a test value).
pub const API_KEY: &str = "key-faults-0123456789";
/// The counting device's name.
pub const DEVICE_NAME: &str = "fault-device";

/// The idempotency cache the runs assume, in ids: the Rust runtime's default and the official
/// client's. The generated MicroPython device defaults to 32 to spare a board's heap, so its
/// project is generated with this size instead (see [`micropython_project`]).
pub const CACHE_IDS: usize = 1000;

/// mosquitto lines for the broker-restart runs. A broker killed mid-run comes back with the
/// sessions it last saved: every command the device acknowledged since is delivered again,
/// and runs again once more ids than the idempotency cache holds ran after it. Saved every
/// second (the testkit's default), that window held ~1,000 commands at 700 commands/s and the
/// MicroPython device ran ~30 ids twice per restart; saved every 50 changes, it holds far
/// fewer than the cache. (mosquitto's own default saves every 30 minutes.)
pub fn persistence_config() -> Vec<String> {
    vec![
        "autosave_on_changes true".into(),
        "autosave_interval 50".into(),
        // Started as root, mosquitto drops to its own user, which cannot write our temp dir.
        "user root".into(),
    ]
}

/// `lua/devices/{agent}/{device}/`.
pub fn prefix() -> String {
    format!("lua/devices/{AGENT_ID}/{DEVICE_NAME}/")
}

/// The contract's environment for a counting device connecting to `mqtt_url`.
pub fn env(mqtt_url: String) -> DeviceEnv {
    DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url,
        manifest: None,
    }
}

/// The counting device's manifest.
pub const MANIFEST: &str = r#"name: fault-device
description: Counts how often its handlers run, for the fault runs
commands:
  - name: work
    description: Count one execution and return its sequence number
    inputSchema:
      type: object
      properties:
        n: { type: integer, minimum: 0 }
      required: [n]
  - name: stats
    description: How many times work ran
"#;

/// Its handlers on the generated MicroPython project.
pub const MICROPYTHON_HANDLERS: &str = r#"# The fault runs' counting device: one counter, so its own memory stays flat.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_runs = [0]


def work(payload: dict) -> dict:
    _runs[0] += 1
    return {"n": payload["n"], "seq": _runs[0]}


def stats(payload: "Any") -> dict:
    return {"runs": _runs[0]}
"#;

/// The counting device as a generated MicroPython project (with `mpy`, its modules compiled
/// and only the `.mpy` kept), its idempotency cache raised to hold [`CACHE_IDS`] responses
/// (config.py's `IDEMPOTENCY_CACHE_BYTES`).
pub fn micropython_project(mpy: bool) -> Result<PathBuf> {
    let dir = scratch_dir("faults")?;
    let manifest = dir.join("fault-device.yaml");
    std::fs::write(&manifest, MANIFEST)?;
    let extra: &[&str] = if mpy { &["--mpy"] } else { &[] };
    generate_ok(&manifest, &dir, extra)?;
    std::fs::write(dir.join("handlers.py"), MICROPYTHON_HANDLERS)?;
    if mpy {
        // As a board would hold them: the compiled modules only.
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "mpy") {
                let _ = std::fs::remove_file(path.with_extension("py"));
            }
        }
    }
    let config = dir.join("config.py");
    let mut text = std::fs::read_to_string(&config).context("the generated config.py")?;
    // Half the budget holds responses, each its bytes and some 160 of bookkeeping.
    let bytes = CACHE_IDS * 1000;
    text.push_str(&format!("\nIDEMPOTENCY_CACHE_BYTES = {bytes}\n"));
    std::fs::write(&config, text)?;
    Ok(dir)
}

/// The counting device on the Rust runtime (`examples/conformance-device/src/bin/fault-device.rs`).
pub fn rust_device(profile: Profile) -> Result<DeviceLauncher> {
    let binary = cargo_build_binary("conformance-device", "fault-device", profile)?;
    Ok(DeviceLauncher::new(
        "Rust runtime (fault-device)",
        binary,
        &[],
    ))
}

/// How a run sends its commands.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Distinct command ids to send.
    pub commands: u64,
    /// Most ids sent and not yet answered.
    pub in_flight: usize,
    /// Resend an unanswered id (same `commandId`) after this long; `None` never resends, so
    /// anything the device misses shows as lost.
    pub resend_after: Option<Duration>,
    /// The device's idempotency cache, in ids. A new id is held back while the oldest
    /// unanswered one could otherwise be pushed out of it before its resend: the protocol
    /// promises deduplication only for ids still cached.
    pub cache_ids: usize,
    /// Fail when no id has been answered for this long.
    pub stall: Duration,
}

/// How often the gateway resends a command that has no answer yet, in the runs that send
/// like it does.
pub const GATEWAY_RESEND: Duration = Duration::from_secs(3);

impl Plan {
    /// Send as the gateway does: `in_flight` ids out, each resent with the same `commandId`
    /// every [`GATEWAY_RESEND`] until answered, and new ids never held back for the device's
    /// idempotency cache (the gateway does not know it): the device must remember what it
    /// ran for as long as resends of it may arrive.
    pub fn gateway(commands: u64, in_flight: usize) -> Self {
        Self {
            commands,
            in_flight,
            resend_after: Some(GATEWAY_RESEND),
            cache_ids: usize::MAX,
            stall: Duration::from_secs(60),
        }
    }
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub commands: u64,
    pub answered: u64,
    /// Sends beyond the first of an id.
    pub resends: u64,
    /// Responses beyond the first of an id that were byte-identical replays.
    pub replays: u64,
    /// Ids answered with two different `seq`s: their handler ran twice.
    pub ran_twice: Vec<u64>,
    /// Ids answered with `success: false`, with the error.
    pub failed: Vec<(u64, String)>,
    /// `work` executions the device counted (filled in by [`FaultAgent::device_runs`]).
    pub handler_runs: u64,
    pub wall: Duration,
}

impl Outcome {
    /// Ids never answered.
    pub fn lost(&self) -> u64 {
        self.commands - self.answered
    }

    /// Executions beyond one per id.
    pub fn duplicate_runs(&self) -> u64 {
        self.handler_runs.saturating_sub(self.answered)
    }

    /// Nothing lost, nothing failed, nothing run twice; otherwise what went wrong.
    pub fn verdict(&self) -> Result<()> {
        let mut wrong = Vec::new();
        if self.lost() > 0 {
            wrong.push(format!(
                "{} of {} never answered",
                self.lost(),
                self.commands
            ));
        }
        if !self.failed.is_empty() {
            wrong.push(format!(
                "{} answered with an error, first: {:?}",
                self.failed.len(),
                &self.failed[..self.failed.len().min(3)]
            ));
        }
        if !self.ran_twice.is_empty() {
            let first: Vec<u64> = self.ran_twice.iter().take(10).copied().collect();
            wrong.push(format!(
                "{} ids answered by two different executions: {first:?}",
                self.ran_twice.len()
            ));
        }
        if self.handler_runs != self.answered {
            wrong.push(format!(
                "the device ran `work` {} times for {} answered ids",
                self.handler_runs, self.answered
            ));
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            bail!("{}", wrong.join("; "))
        }
    }
}

/// The gateway's side: a plain rumqttc client connected straight to the broker (never through
/// the fault proxy), reconnecting and resubscribing by itself across broker restarts.
pub struct FaultAgent {
    client: AsyncClient,
    responses: mpsc::UnboundedReceiver<Bytes>,
    command_topic: String,
    marker_topic: String,
    tag: String,
    calls: u64,
    driver: JoinHandle<()>,
}

impl FaultAgent {
    /// Connect to `127.0.0.1:port` and subscribe to the counting device's responses. `tag`
    /// starts every command id, so runs on one broker never share ids.
    pub async fn connect(port: u16, tag: &str) -> Result<Self> {
        let client_id = format!("faults-agent-{tag}");
        let mut options = MqttOptions::new(&client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_inflight(u16::MAX)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1 << 20);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let response_topic = format!("{}response", prefix());
        let marker_topic = format!("faults/{tag}/marker");
        let (tx, responses) = mpsc::unbounded_channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let filters = vec![response_topic, marker_topic.clone()];
        let driver = tokio::spawn(drive(eventloop, client.clone(), filters, tx, ready_tx));
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .map_err(|_| anyhow!("{client_id}: no SUBACK from 127.0.0.1:{port} within 10 s"))?
            .map_err(|_| anyhow!("{client_id}: the connection ended before SUBACK"))?;
        Ok(Self {
            client,
            responses,
            command_topic: format!("{}command", prefix()),
            marker_topic,
            tag: tag.to_string(),
            calls: 0,
            driver,
        })
    }

    fn id(&self, n: u64) -> String {
        format!("{}-{n}", self.tag)
    }

    /// Publish `work` for `n` (QoS 1).
    async fn send_work(&self, n: u64) -> Result<()> {
        let message = json!({"commandId": self.id(n), "command": "work", "payload": {"n": n}});
        self.publish(message).await
    }

    async fn publish(&self, message: Value) -> Result<()> {
        self.client
            .publish(
                &self.command_topic,
                QoS::AtLeastOnce,
                false,
                message.to_string(),
            )
            .await
            .map_err(|e| anyhow!("publishing a command: {e}"))
    }

    /// Send `work` for `n` and wait up to `timeout` for its answer's `seq` (no resend).
    pub async fn work(&mut self, n: u64, timeout: Duration) -> Result<u64> {
        self.send_work(n).await?;
        let id = self.id(n);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.responses.recv()).await {
                Ok(Some(payload)) => {
                    let response: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                    if response["commandId"] == id.as_str() {
                        return response["data"]["seq"]
                            .as_u64()
                            .ok_or_else(|| anyhow!("work answered {response}"));
                    }
                }
                Ok(None) => bail!("the agent's connection ended"),
                Err(_) => bail!("no answer to {id} within {timeout:?}"),
            }
        }
    }

    /// Wait until the broker has taken every command published so far: it handles one
    /// client's packets in order, so once a marker published after them comes back, they are
    /// stored (queued for an absent device, or delivered).
    pub async fn flush(&mut self, timeout: Duration) -> Result<()> {
        self.calls += 1;
        let mark = format!("{}-{}", self.tag, self.calls);
        self.client
            .publish(&self.marker_topic, QoS::AtLeastOnce, false, mark.clone())
            .await
            .map_err(|e| anyhow!("publishing the marker: {e}"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.responses.recv()).await {
                Ok(Some(p)) if p.as_ref() == format!("marker:{mark}").as_bytes() => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) => bail!("the agent's connection ended"),
                Err(_) => bail!("the broker did not return the marker within {timeout:?}"),
            }
        }
    }

    /// Call `stats` (resending every `resend_after`) and put the device's count of `work`
    /// executions into `outcome`.
    pub async fn device_runs(
        &mut self,
        outcome: &mut Outcome,
        resend_after: Duration,
    ) -> Result<()> {
        self.calls += 1;
        let id = format!("{}-stats-{}", self.tag, self.calls);
        let message = json!({"commandId": id, "command": "stats", "payload": {}});
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            self.publish(message.clone()).await?;
            let until = tokio::time::Instant::now() + resend_after;
            while let Ok(Some(payload)) =
                tokio::time::timeout_at(until, self.responses.recv()).await
            {
                let response: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                if response["commandId"] == id.as_str() {
                    outcome.handler_runs = response["data"]["runs"]
                        .as_u64()
                        .ok_or_else(|| anyhow!("stats answered {response}"))?;
                    return Ok(());
                }
            }
        }
        bail!("the device never answered `stats`")
    }

    /// Take responses until none arrived for `quiet` (at most `limit`), recording late
    /// replays and second executions into `run`.
    pub async fn settle(&mut self, run: &mut Run, quiet: Duration, limit: Duration) {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let until = (tokio::time::Instant::now() + quiet).min(end);
            match tokio::time::timeout_at(until, self.responses.recv()).await {
                Ok(Some(payload)) => run.record(&self.tag, &payload),
                _ => return,
            }
        }
    }

    /// Send DISCONNECT and stop the event loop.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.driver.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.driver.abort();
    }
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<String>,
    tx: mpsc::UnboundedSender<Bytes>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                // Clean session: every connection subscribes again (after a broker restart too).
                let subs = filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                let _ = client.try_subscribe_many(subs);
            }
            Ok(Event::Incoming(Incoming::SubAck(_))) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                let payload = if p.topic.ends_with("/marker") {
                    Bytes::from([b"marker:".as_slice(), &p.payload].concat())
                } else {
                    p.payload
                };
                if tx.send(payload).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            // The broker is restarting: rumqttc reconnects on the next poll.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One fault run in progress: which ids are out, which came back and how.
pub struct Run {
    plan: Plan,
    next: u64,
    // id -> when it was last sent
    outstanding: BTreeMap<u64, Instant>,
    // id -> the `seq` of its first answer (0: none yet)
    seq: Vec<u64>,
    outcome: Outcome,
    started: Instant,
    last_answer: Instant,
}

impl Run {
    pub fn new(plan: Plan) -> Self {
        let now = Instant::now();
        Self {
            seq: vec![0; plan.commands as usize],
            outcome: Outcome {
                commands: plan.commands,
                ..Outcome::default()
            },
            plan,
            next: 0,
            outstanding: BTreeMap::new(),
            started: now,
            last_answer: now,
        }
    }

    /// Ids answered so far.
    pub fn answered(&self) -> u64 {
        self.outcome.answered
    }

    /// Whether every id is answered.
    pub fn done(&self) -> bool {
        self.outcome.answered == self.plan.commands
    }

    /// Send new ids while the window and the cache allow.
    pub async fn fill(&mut self, agent: &FaultAgent) -> Result<()> {
        while self.next < self.plan.commands && self.outstanding.len() < self.plan.in_flight {
            if self.plan.resend_after.is_some() {
                // Ids run after the oldest unanswered one: at most those sent after it, plus
                // those already out when it was sent. All must fit in the cache beside it.
                let oldest = self.outstanding.keys().next().copied().unwrap_or(self.next);
                let newer = (self.next - oldest) as usize + self.plan.in_flight;
                if newer >= self.plan.cache_ids {
                    break;
                }
            }
            agent.send_work(self.next).await?;
            self.outstanding.insert(self.next, Instant::now());
            self.next += 1;
        }
        Ok(())
    }

    /// Take the responses that arrive within `wait`, resend what is overdue, send new ids.
    pub async fn pump(&mut self, agent: &mut FaultAgent, wait: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + wait;
        while let Ok(Some(payload)) = tokio::time::timeout_at(until, agent.responses.recv()).await {
            self.record(&agent.tag, &payload);
            while let Ok(payload) = agent.responses.try_recv() {
                self.record(&agent.tag, &payload);
            }
            self.fill(agent).await?;
        }
        if let Some(after) = self.plan.resend_after {
            let due: Vec<u64> = self
                .outstanding
                .iter()
                .filter(|(_, sent)| sent.elapsed() >= after)
                .map(|(n, _)| *n)
                .collect();
            for n in due {
                agent.send_work(n).await?;
                self.outstanding.insert(n, Instant::now());
                self.outcome.resends += 1;
            }
        }
        self.fill(agent).await?;
        if self.last_answer.elapsed() > self.plan.stall {
            let first: Vec<u64> = self.outstanding.keys().take(10).copied().collect();
            bail!(
                "no answer for {:?}: {} of {} answered, {} out (first {first:?})",
                self.plan.stall,
                self.outcome.answered,
                self.plan.commands,
                self.outstanding.len()
            );
        }
        Ok(())
    }

    /// Pump until every id is answered; `each` sees the count after every pump (to restart
    /// a broker at set points, say).
    pub async fn to_end(
        &mut self,
        agent: &mut FaultAgent,
        mut each: impl FnMut(u64) -> Result<()>,
    ) -> Result<()> {
        self.fill(agent).await?;
        while !self.done() {
            self.pump(agent, Duration::from_millis(50)).await?;
            each(self.outcome.answered)?;
        }
        Ok(())
    }

    fn record(&mut self, tag: &str, payload: &[u8]) {
        let Ok(response) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        let Some(n) = response["commandId"]
            .as_str()
            .and_then(|id| id.strip_prefix(tag)?.strip_prefix('-')?.parse::<u64>().ok())
            .filter(|n| *n < self.plan.commands)
        else {
            return;
        };
        if response["success"] != true {
            let error = response["error"].as_str().unwrap_or("?").to_string();
            self.outcome.failed.push((n, error));
        }
        let seq = response["data"]["seq"].as_u64().unwrap_or(u64::MAX);
        let first = &mut self.seq[n as usize];
        if *first == 0 {
            *first = seq;
            self.outcome.answered += 1;
            self.outstanding.remove(&n);
            self.last_answer = Instant::now();
        } else if *first == seq {
            self.outcome.replays += 1;
        } else if !self.outcome.ran_twice.contains(&n) {
            self.outcome.ran_twice.push(n);
        }
    }

    /// The outcome so far, with the wall time since the run was created.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            wall: self.started.elapsed(),
            ..self.outcome.clone()
        }
    }
}
