//! The fault runs' counting device on the Rust runtime (`lua_testkit::faults` has the same
//! two commands on the generated MicroPython project).
//!
//! `work {"n"}` answers `{"n", "seq"}`, `seq` numbering the executions of `work`; `stats`
//! answers `{"runs"}`. One counter only, so a million commands cost the device no memory of
//! their own and its RSS measures the runtime. Same environment contract as every device
//! under test: prints `ready` once registered, exits after a graceful shutdown on SIGTERM.

#[path = "../fixture.rs"]
mod fixture;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use lua_device::backoff::{BackoffPolicy, Jitter};
use lua_device::{CommandError, CommandSpec, Config, Device};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    fixture::init_logging();
    // The fault proxy cuts every connection within seconds, so none ever counts as stable:
    // the default policy would back off towards 30 s and the run would measure waiting.
    let config = Config::from_env("fault-device")?.with_backoff(BackoffPolicy {
        initial_ms: 50,
        max_ms: 500,
        jitter: Jitter::Full,
        stable_after_ms: 1000,
    });
    let runs = Arc::new(AtomicU64::new(0));
    let (work_runs, stats_runs) = (runs.clone(), runs);
    let work = CommandSpec::new("work", "Count one execution and return its sequence number")
        .with_input_schema(&json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0}},
            "required": ["n"],
        }));
    let device = Device::builder(config)
        .command(work, move |payload: Value| {
            let seq = work_runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let n = payload["n"]
                    .as_u64()
                    .ok_or_else(|| CommandError::invalid_payload("n", "must be an integer"))?;
                Ok(Some(json!({"n": n, "seq": seq})))
            }
        })
        .command(
            CommandSpec::new("stats", "How many times work ran"),
            move |_| {
                let runs = stats_runs.load(Ordering::SeqCst);
                async move { Ok(Some(json!({"runs": runs}))) }
            },
        )
        .connect()
        .await?;
    fixture::serve(device).await
}
