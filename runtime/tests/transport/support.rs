//! A device with one command per behaviour under test, and helpers to watch the wire.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lua_device::agent::{AgentClient, Observed};
use lua_device::backoff::{BackoffPolicy, Jitter};
use lua_device::topic::Suffix;
use lua_device::{CommandError, CommandSpec, Config, Device, DeviceEvent, DeviceHandle};
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub const AGENT: &str = "agent-t";
pub const API_KEY: &str = "key-secret-123";
pub const WAIT: Duration = Duration::from_secs(5);
/// How many `meet` calls the device's barrier waits for.
pub const MEETING: usize = 4;

pub struct TestDevice {
    pub handle: DeviceHandle,
    /// How many times `count` and `slow` really ran.
    pub runs: Arc<AtomicU32>,
}

impl TestDevice {
    pub fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }
}

pub fn config(url: &str, name: &str) -> Config {
    Config::new(AGENT, API_KEY, name)
        .with_url(url)
        .with_group("testers")
        .with_trigger_ack_timeout(Duration::from_secs(3))
        .with_backoff(BackoffPolicy {
            initial_ms: 50,
            max_ms: 500,
            jitter: Jitter::Full,
            stable_after_ms: 1000,
        })
}

pub async fn start_device(config: Config) -> TestDevice {
    let runs = Arc::new(AtomicU32::new(0));
    let builder = Device::builder(config);
    let handle = builder.handle();
    let (count_runs, slow_runs) = (runs.clone(), runs.clone());
    // `meet` returns only once MEETING calls are inside it at the same time: a device that
    // ran commands one at a time would never answer the first.
    let meeting = Arc::new(tokio::sync::Barrier::new(MEETING));
    let handle = builder
        .command(
            CommandSpec::new("echo", "Echo"),
            |p| async move { Ok(Some(p)) },
        )
        .command(CommandSpec::new("fail", "Fail"), |_| async {
            Err("deliberate failure".into())
        })
        .command(CommandSpec::new("no_output", "Nothing"), |_| async {
            Ok(None)
        })
        .command(CommandSpec::new("count", "Count"), move |_| {
            let n = count_runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(Some(json!({ "count": n }))) }
        })
        .command(CommandSpec::new("panic", "Panic"), |_| async {
            panic!("boom");
        })
        .command(
            CommandSpec::new("slow", "Sleep").with_timeout_ms(65_000),
            move |p: Value| {
                let runs = slow_runs.clone();
                async move {
                    let ms = p["ms"]
                        .as_u64()
                        .ok_or_else(|| CommandError::invalid_payload("ms", "must be an integer"))?;
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(Some(json!({ "slept": ms })))
                }
            },
        )
        .command(
            CommandSpec::new("fire_trigger", "Trigger"),
            move |p: Value| {
                let handle = handle.clone();
                async move {
                    let ack = handle
                        .trigger("alert", json!({ "level": p["level"] }))
                        .await
                        .map_err(|e| CommandError::handler(e.to_string()))?;
                    Ok(Some(
                        json!({ "triggerId": ack.trigger_id, "received": ack.received }),
                    ))
                }
            },
        )
        .command(CommandSpec::new("meet", "Wait for the others"), move |_| {
            let meeting = meeting.clone();
            async move {
                meeting.wait().await;
                Ok(None)
            }
        })
        .connect()
        .await
        .expect("device connects");
    TestDevice { handle, runs }
}

pub async fn agent(url: &str, id: &str) -> AgentClient {
    AgentClient::connect(url, id).await.expect("agent connects")
}

/// The next observed message matching `pred`, within [`WAIT`].
pub async fn next_observed(
    rx: &mut broadcast::Receiver<Observed>,
    pred: impl Fn(&Observed) -> bool,
) -> Observed {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(o)) if pred(&o) => return o,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("observer failed: {e}"),
            Err(_) => panic!("nothing matching arrived within {WAIT:?}"),
        }
    }
}

/// Every response observed for `id` during `window`.
pub async fn responses_for(
    rx: &mut broadcast::Receiver<Observed>,
    id: &str,
    window: Duration,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + window;
    let mut found = Vec::new();
    while let Ok(Ok(o)) = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        rx.recv(),
    )
    .await
    {
        if o.suffix == Suffix::Response && o.json()["commandId"] == id {
            found.push(o.payload);
        }
    }
    found
}

pub async fn next_event(
    rx: &mut broadcast::Receiver<DeviceEvent>,
    pred: impl Fn(&DeviceEvent) -> bool,
) -> DeviceEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(e)) if pred(&e) => return e,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event stream failed: {e}"),
            Err(_) => panic!("no matching event within {WAIT:?}"),
        }
    }
}

pub async fn echo_works(agent: &AgentClient, device: &str) {
    let r = agent
        .call(AGENT, device, "echo", json!({"still": "alive"}), WAIT)
        .await
        .expect("echo answers");
    assert!(r.success);
    assert_eq!(r.data, Some(json!({"still": "alive"})));
}
