//! The scripted gateway session every device implementation runs: connect and register, a
//! series of commands exercising each part of the protocol, a graceful disconnect, then a
//! reconnect ended by SIGKILL to see the last will.
//!
//! [`run`] is the strict session of `manifests/conformance-device.yaml`, whose handlers are
//! known; [`run_plan`] derives the commands from any manifest ([`Plan`]). Command ids are
//! fixed strings so transcripts of different implementations line up.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::device::{DeviceEnv, DeviceLauncher, RunningDevice};
use crate::gateway::{Delivery, Gateway};
use crate::plan::{self, Call, Plan};
use crate::proxy::RecordingProxy;
use crate::recorder::{Direction, Event, PublishRecord, Recorder};
use crate::transcript::{Observed, Transcript, WillObservation};
use crate::Mosquitto;

/// The agent id the session gives the device.
pub const AGENT_ID: &str = "agent-conformance";
/// The API key the session gives the device; recorded only as "matches" / "does not".
pub const API_KEY: &str = "key-conformance-0123456789";
/// The fixture manifest's device name.
pub const DEVICE_NAME: &str = "conformance-device";
/// Every wait in the session gives up after this long.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The command ids the session sends, so assertions can find their responses.
pub mod ids {
    pub const ECHO: &str = "cmd-echo";
    pub const COUNT_FIRST: &str = "cmd-count-1";
    pub const COUNT_SECOND: &str = "cmd-count-2";
    pub const FAIL: &str = "cmd-fail";
    pub const NO_OUTPUT: &str = "cmd-no-output";
    pub const UNKNOWN: &str = "cmd-unknown";
    pub const TRIGGER: &str = "cmd-fire-trigger";
    pub const AFTER_ERROR: &str = "cmd-after-error";
    pub const AFTER_CONNECTED: &str = "cmd-after-connected";
    pub const INVALID_PAYLOAD: &str = "cmd-invalid-payload";
    pub const AFTER_GARBAGE: &str = "cmd-after-garbage";
    pub const SLOW: &str = "cmd-concurrent-slow";
    pub const FAST: &str = "cmd-concurrent-fast";
    pub const CONCURRENT_ECHO: &str = "cmd-concurrent-echo";
}

/// How many triggers a manifest-derived session acknowledges before it gives up.
const MAX_UNPROMPTED_TRIGGERS: usize = 100;
/// The trigger id the session's gateway acknowledges the device's trigger with.
pub const TRIGGER_ID: &str = "trig-1";
/// The payload the session sends to `echo`.
pub fn echo_payload() -> Value {
    json!({"text": "hello", "n": [1, 2.5, null], "nested": {"ok": true}})
}

/// `lua/devices/{AGENT_ID}/{DEVICE_NAME}/`.
pub fn prefix() -> String {
    format!("lua/devices/{AGENT_ID}/{DEVICE_NAME}/")
}

/// The fixture manifest every implementation runs.
pub fn fixture_manifest() -> PathBuf {
    crate::deps::workspace_root()
        .join("manifests")
        .join("conformance-device.yaml")
}

/// Run the whole session against `launcher` and return what was seen. On failure the error
/// carries the transcript recorded up to that point.
pub fn run(launcher: &DeviceLauncher) -> Result<Transcript> {
    run_script(launcher, None)
}

/// Run the session derived from `plan`'s manifest against `launcher`: each command twice with
/// the same id (byte-identical answers, the handler's effects once), an unknown command, an
/// invalid payload, the error and connected events and garbage each followed by a command,
/// then the graceful disconnect and the SIGKILL. Triggers the device fires on its own are
/// acknowledged wherever they come.
pub fn run_plan(launcher: &DeviceLauncher, plan: &Plan) -> Result<Transcript> {
    run_script(launcher, Some(plan))
}

fn run_script(launcher: &DeviceLauncher, plan: Option<&Plan>) -> Result<Transcript> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Delayed ACKs on the broker's side would add ~40 ms to every step.
        let broker = Mosquitto::start_with(crate::mosquitto::Options {
            extra_config: vec!["set_tcp_nodelay true".into()],
            ..Default::default()
        })?;
        let recorder = Recorder::new(API_KEY);
        let proxy = RecordingProxy::start(broker.port(), recorder.clone()).await?;
        let mut session = Session {
            launcher,
            env: DeviceEnv {
                agent_id: AGENT_ID.into(),
                api_key: API_KEY.into(),
                mqtt_url: proxy.url(),
                manifest: Some(plan.map_or_else(fixture_manifest, |p| p.manifest.clone())),
            },
            prefix: plan.map_or_else(prefix, |p| {
                format!("lua/devices/{AGENT_ID}/{}/", p.device_name)
            }),
            ack_triggers: plan.is_some(),
            triggers_acked: 0,
            broker,
            recorder,
            gateway: None,
            observer: None,
            observed: Vec::new(),
            will: None,
        };
        let outcome = session.script(plan).await;
        let transcript = session.transcript();
        match outcome {
            Ok(()) => Ok(transcript),
            Err(e) => Err(e.context(format!(
                "conformance session of {} failed; transcript so far:\n{}",
                launcher.name,
                transcript.render()
            ))),
        }
    })
}

struct Session<'a> {
    launcher: &'a DeviceLauncher,
    env: DeviceEnv,
    prefix: String,
    broker: Mosquitto,
    recorder: Recorder,
    gateway: Option<Gateway>,
    observer: Option<Gateway>,
    observed: Vec<Observed>,
    will: Option<WillObservation>,
    /// Acknowledge every trigger met while waiting for something else (manifest-derived
    /// sessions: a device may fire on its own at any time).
    ack_triggers: bool,
    triggers_acked: usize,
}

impl Session<'_> {
    /// The fixed commands, or `plan`'s, between the same opening and the same two endings.
    async fn script(&mut self, plan: Option<&Plan>) -> Result<()> {
        let port = self.broker.port();
        self.observer =
            Some(Gateway::connect(port, "conformance-observer", &["lua/devices/#".into()]).await?);
        let watched = ["status", "response", "trigger", "heartbeat"].map(|s| self.topic(s));
        self.gateway = Some(Gateway::connect(port, "conformance-gateway", &watched).await?);

        let mut device = self.start_device().await?;
        match plan {
            None => self.commands().await?,
            Some(plan) => self.plan_commands(plan).await?,
        }
        self.graceful_disconnect(&mut device).await?;

        let mut device = self.start_device().await?;
        self.abrupt_kill(&mut device).await
    }

    /// The manifest-derived commands; see [`run_plan`].
    async fn plan_commands(&mut self, plan: &Plan) -> Result<()> {
        for call in &plan.calls {
            self.call_twice(call).await?;
        }
        self.call(&plan.unknown).await?;
        if let Some(invalid) = &plan.invalid {
            self.call(&invalid.call).await?;
        }
        let error = json!({"code": "test", "message": "injected"});
        self.publish_on("error", error.to_string()).await?;
        self.call(&plan.probe_call(plan::ids::AFTER_ERROR)).await?;
        let connected = json!({"message": "welcome"});
        self.publish_on("connected", connected.to_string()).await?;
        self.call(&plan.probe_call(plan::ids::AFTER_CONNECTED))
            .await?;
        self.publish_on("command", "this is not JSON").await?;
        self.call(&plan.probe_call(plan::ids::AFTER_GARBAGE))
            .await?;
        Ok(())
    }

    /// Send `call`, then the same id again: the second answer must be the cached first one,
    /// byte for byte, and nothing the handler did the first time may show up again.
    async fn call_twice(&mut self, call: &Call) -> Result<()> {
        let from = self.recorder.entries().len();
        let first = self.call(call).await?;
        let first_effects = self.effects_since(from, &call.id).await?;
        let from = self.recorder.entries().len();
        let again = self.call(call).await?;
        if again.payload != first.payload {
            bail!(
                "the duplicate of {} was answered with {:?}, not the cached {:?}",
                call.id,
                String::from_utf8_lossy(&again.payload),
                String::from_utf8_lossy(&first.payload)
            );
        }
        for effect in self.effects_since(from, &call.id).await? {
            let trigger = self.topic("trigger");
            // A trigger the device fires on its own may fall anywhere; a repeated effect or
            // any other publish means the handler ran again.
            if effect.topic != trigger || first_effects.contains(&effect) {
                bail!(
                    "the duplicate of {} ran the handler again: it published {effect:?} \
                     (the first call published {first_effects:?})",
                    call.id
                );
            }
        }
        Ok(())
    }

    /// The device's publishes after entry `from` up to its response to `id`, responses and
    /// heartbeats left out: what the handler did that the gateway can see.
    async fn effects_since(&self, from: usize, id: &str) -> Result<Vec<PublishRecord>> {
        let response = self.topic("response");
        let heartbeat = self.topic("heartbeat");
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let entries = self.recorder.entries();
            let mut effects = Vec::new();
            for entry in entries.iter().skip(from) {
                let Event::Publish(p) = &entry.event else {
                    continue;
                };
                if entry.direction != Direction::DeviceToBroker || p.topic == heartbeat {
                    continue;
                }
                if p.topic != response {
                    effects.push(p.clone());
                } else if p.payload.json().is_some_and(|j| j["commandId"] == id) {
                    return Ok(effects);
                }
            }
            // The gateway can get the response a moment before the proxy records it.
            if tokio::time::Instant::now() > deadline {
                bail!("the proxy never recorded the response to {id}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn call(&mut self, call: &Call) -> Result<Delivery> {
        self.command(&call.id, &call.command, call.payload.clone())
            .await
    }

    /// The first delivery matching `want`; in manifest-derived sessions, triggers met on the
    /// way are acknowledged (received: true) so the device is not left waiting.
    async fn expect(&mut self, what: &str, want: impl Fn(&Delivery) -> bool) -> Result<Delivery> {
        let trigger = self.topic("trigger");
        let ack_triggers = self.ack_triggers;
        loop {
            let found = self
                .gateway()
                .expect(what, STEP_TIMEOUT, |d| {
                    want(d) || (ack_triggers && d.topic == trigger)
                })
                .await?;
            if want(&found) {
                return Ok(found);
            }
            self.triggers_acked += 1;
            // Each trigger restarts the wait; a device firing without end must not stall it.
            if self.triggers_acked > MAX_UNPROMPTED_TRIGGERS {
                bail!("more than {MAX_UNPROMPTED_TRIGGERS} triggers while waiting for {what}");
            }
            let ack = json!({"triggerId": format!("trig-auto-{}", self.triggers_acked), "received": true});
            self.publish_on("trigger_ack", ack.to_string()).await?;
        }
    }

    async fn start_device(&mut self) -> Result<RunningDevice> {
        let mut device = self.launcher.spawn(&self.env)?;
        tokio::task::block_in_place(|| device.wait_ready(STEP_TIMEOUT))?;
        let status = self.topic("status");
        self.expect("the public online status", |d| {
            d.topic == status && d.json()["status"] == "online" && d.json().get("apiKey").is_none()
        })
        .await?;
        self.expect("the registration (status with apiKey)", |d| {
            d.topic == status && d.json().get("apiKey").is_some()
        })
        .await?;
        Ok(device)
    }

    async fn commands(&mut self) -> Result<()> {
        self.command(ids::ECHO, "echo", echo_payload()).await?;
        self.command(ids::COUNT_FIRST, "count", json!({})).await?;
        // Same id again: the cached response comes back and the handler does not run, which
        // the next count (2, not 3) proves.
        self.command(ids::COUNT_FIRST, "count", json!({})).await?;
        self.command(ids::COUNT_SECOND, "count", json!({})).await?;
        self.command(ids::FAIL, "fail", json!({})).await?;
        self.command(ids::NO_OUTPUT, "no_output", json!({})).await?;
        self.command(ids::UNKNOWN, "does_not_exist", json!({}))
            .await?;
        self.trigger_round_trip().await?;

        let error = json!({"code": "test", "message": "injected"});
        self.publish_on("error", error.to_string()).await?;
        self.command(ids::AFTER_ERROR, "echo", json!({"after": "error"}))
            .await?;

        let connected = json!({"message": "welcome"});
        self.publish_on("connected", connected.to_string()).await?;
        self.command(ids::AFTER_CONNECTED, "echo", json!({"after": "connected"}))
            .await?;

        // `ms` must be an integer: the official client runs the handler anyway and fails in
        // it; PROTOCOL.md asks generated devices to reject it before the handler.
        self.command(ids::INVALID_PAYLOAD, "slow", json!({"ms": "fast"}))
            .await?;

        self.publish_on("command", "this is not JSON").await?;
        self.command(ids::AFTER_GARBAGE, "echo", json!({"after": "garbage"}))
            .await?;

        self.concurrent_commands().await
    }

    /// Send a command and wait for its response.
    async fn command(&mut self, id: &str, name: &str, payload: Value) -> Result<Delivery> {
        self.send(id, name, payload).await?;
        self.response(id).await
    }

    async fn send(&mut self, id: &str, name: &str, payload: Value) -> Result<()> {
        let message = json!({"commandId": id, "command": name, "payload": payload});
        self.publish_on("command", message.to_string()).await
    }

    async fn response(&mut self, id: &str) -> Result<Delivery> {
        let topic = self.topic("response");
        self.expect(&format!("the response to {id}"), |d| {
            d.topic == topic && d.json()["commandId"] == id
        })
        .await
    }

    async fn trigger_round_trip(&mut self) -> Result<()> {
        self.send(ids::TRIGGER, "fire_trigger", json!({"level": "high"}))
            .await?;
        let topic = self.topic("trigger");
        self.gateway()
            .expect("the alert trigger", STEP_TIMEOUT, |d| d.topic == topic)
            .await?;
        let ack = json!({"triggerId": TRIGGER_ID, "received": true});
        self.publish_on("trigger_ack", ack.to_string()).await?;
        self.response(ids::TRIGGER).await?;
        Ok(())
    }

    /// Three commands in flight at once: the slow one must not hold up the others' answers
    /// for ever, and comparisons treat their order as free.
    async fn concurrent_commands(&mut self) -> Result<()> {
        self.send(ids::SLOW, "slow", json!({"ms": 300})).await?;
        self.send(ids::FAST, "slow", json!({"ms": 0})).await?;
        self.send(ids::CONCURRENT_ECHO, "echo", json!({"concurrent": true}))
            .await?;
        for id in [ids::SLOW, ids::FAST, ids::CONCURRENT_ECHO] {
            self.response(id).await?;
        }
        Ok(())
    }

    async fn graceful_disconnect(&mut self, device: &mut RunningDevice) -> Result<()> {
        let status = tokio::task::block_in_place(|| device.terminate(STEP_TIMEOUT))?;
        if !status.success() {
            bail!("{} exited with {status} after SIGTERM", self.launcher.name);
        }
        let topic = self.topic("status");
        self.expect("the offline status after SIGTERM", |d| {
            d.topic == topic && d.json()["status"] == "offline"
        })
        .await?;
        self.observe_until("the observer's copy of the offline status", |d| {
            d.topic == topic && d.json()["status"] == "offline"
        })
        .await?;
        self.wait_closed(0).await
    }

    async fn abrupt_kill(&mut self, device: &mut RunningDevice) -> Result<()> {
        let topic = self.topic("status");
        // Once the observer is past this connection's registration, the next status it
        // receives can only come from the broker.
        self.observe_until("the observer's copy of the registration", |d| {
            d.topic == topic && d.json().get("apiKey").is_some()
        })
        .await?;
        tokio::task::block_in_place(|| device.kill())?;
        let delivered = self
            .observe_until("the last will after SIGKILL", |d| d.topic == topic)
            .await?;
        let reader = Gateway::connect(
            self.broker.port(),
            "conformance-late-reader",
            std::slice::from_ref(&topic),
        )
        .await?
        .expect_retained(&topic)
        .await;
        self.will = Some(WillObservation {
            delivered,
            retained_afterwards: reader.map(|d| self.recorder.payload(&d.payload)),
        });
        Ok(())
    }

    /// Record what the observer receives until `want` matches; return that one.
    async fn observe_until(
        &mut self,
        what: &str,
        want: impl Fn(&Delivery) -> bool,
    ) -> Result<Observed> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let delivery = self
                .observer()
                .next(left)
                .await
                .with_context(|| format!("the observer waiting for {what}"))?;
            let matched = want(&delivery);
            let observed = self.observed_from(delivery);
            self.observed.push(observed.clone());
            if matched {
                return Ok(observed);
            }
        }
    }

    /// Wait until the proxy saw the device's side of `connection` close.
    async fn wait_closed(&self, connection: usize) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let closed = self.recorder.entries().iter().any(|e| {
                e.connection == connection
                    && e.direction == Direction::DeviceToBroker
                    && e.event == Event::Closed
            });
            if closed {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the device did not close connection #{connection} within {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn collect_observed(&mut self) {
        let Some(observer) = self.observer.as_mut() else {
            return;
        };
        let drained = observer.drain();
        let observed: Vec<Observed> = drained.into_iter().map(|d| self.observed_from(d)).collect();
        self.observed.extend(observed);
    }

    fn observed_from(&self, d: Delivery) -> Observed {
        // Deliveries carry an Instant; place them on the recorder's clock.
        let age = d.received.elapsed();
        Observed {
            at: self.recorder.elapsed().saturating_sub(age),
            topic: d.topic,
            retain: d.retain,
            payload: self.recorder.payload(&d.payload),
        }
    }

    fn transcript(&mut self) -> Transcript {
        self.collect_observed();
        Transcript {
            device: self.launcher.name.clone(),
            prefix: self.prefix.clone(),
            entries: self.recorder.entries(),
            observed: self.observed.clone(),
            will: self.will.clone(),
        }
    }

    async fn publish_on(&mut self, suffix: &str, payload: impl Into<Vec<u8>>) -> Result<()> {
        let topic = self.topic(suffix);
        self.gateway().publish(&topic, payload).await
    }

    fn topic(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    fn gateway(&mut self) -> &mut Gateway {
        self.gateway.as_mut().expect("the gateway connects first")
    }

    fn observer(&mut self) -> &mut Gateway {
        self.observer.as_mut().expect("the observer connects first")
    }
}

impl Gateway {
    /// The retained message on `topic`, which the broker sends right after subscribing.
    async fn expect_retained(mut self, topic: &str) -> Option<Delivery> {
        let found = self
            .expect("a retained status", Duration::from_secs(2), |d| {
                d.topic == topic && d.retain
            })
            .await
            .context("no retained status");
        self.disconnect().await;
        found.ok()
    }
}
