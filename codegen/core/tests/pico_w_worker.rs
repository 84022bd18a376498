//! The Pico W firmware's handler worker on the host: `templates/pico-w/src/worker.rs` compiled
//! as it is, with a stand-in for the generated `device.rs`, run by tokio: a slow handler runs
//! in the worker while the connection task's loop (stood in for by a ticking loop) goes on,
//! commands wait their turn and stop the reads, trigger results take their turn too, and
//! every command is answered once, in order.

mod probe;

use std::process::Command;

const PROBE_MAIN: &str = r##"
extern crate alloc;

#[path = "TEMPLATES/src/worker.rs"]
mod worker;

/// What `device.rs` gives the worker: dispatch and trigger results, here logged.
mod device {
    use std::sync::Mutex;
    use std::time::Duration;

    use lua_device::message::TriggerResult;
    use lua_device::value::Value;
    use lua_device::{CommandError, CommandResult, LocalDispatch};

    pub struct Device {
        pub log: Mutex<Vec<String>>,
    }

    impl LocalDispatch for Device {
        async fn dispatch(&self, command: &str, _payload: Value) -> CommandResult {
            self.log.lock().unwrap().push(format!("start {command}"));
            match command {
                "slow" => tokio::time::sleep(Duration::from_millis(1500)).await,
                "fail" => return Err(CommandError::from("deliberate")),
                _ => {}
            }
            self.log.lock().unwrap().push(format!("end {command}"));
            Ok(None)
        }
    }

    impl Device {
        pub async fn trigger_result(&self, result: TriggerResult) {
            self.log.lock().unwrap().push(format!("result {}", result.trigger_name));
        }
    }
}

use std::time::{Duration, Instant};

use lua_device::message::{Command, TriggerResult};
use worker::{Done, Job, Work, WORKER};

fn command(id: &str, name: &str) -> Job {
    let text = format!(r#"{{"commandId":"{id}","command":"{name}"}}"#);
    Job::Command(Command::parse(text.as_bytes()).ok().unwrap())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let device: &'static device::Device = Box::leak(Box::new(device::Device {
        log: std::sync::Mutex::new(Vec::new()),
    }));
    let local = tokio::task::LocalSet::new();
    local.spawn_local(async move { worker::run(&WORKER, device).await });
    local
        .run_until(async move {
            let mut work = Work::new();
            // One read brought these: a slow command, two quick ones, a trigger result.
            work.push(command("c1", "slow"));
            work.push(command("c2", "quick"));
            work.push(Job::TriggerResult(
                TriggerResult::parse(br#"{"triggerName":"alert","result":{"ok":true}}"#).unwrap(),
            ));
            work.push(command("c3", "fail"));
            let start = Instant::now();
            let mut ticks_while_busy = 0u32;
            let mut held_while_waiting = true;
            let mut answered = Vec::new();
            let mut trigger_results = 0;
            while answered.len() < 3 || trigger_results < 1 {
                assert!(start.elapsed() < Duration::from_secs(10), "stuck: {answered:?}");
                work.start(&WORKER);
                let reading = work.reading();
                if reading && answered.is_empty() {
                    // Jobs still wait while the first runs: the link must not be read.
                    held_while_waiting = false;
                }
                tokio::select! {
                    done = WORKER.finished() => {
                        work.finished();
                        match done {
                            Done::Command { id, result } => {
                                answered.push(format!("{id}:{}", if result.is_ok() { "ok" } else { "error" }));
                            }
                            Done::TriggerResult => trigger_results += 1,
                        }
                    }
                    // The connection loop's own turns: pings, heartbeats, triggers.
                    _ = tokio::time::sleep(Duration::from_millis(50)) => ticks_while_busy += 1,
                }
            }
            println!("answered {}", answered.join(","));
            println!("trigger_results {trigger_results}");
            println!("ticks {ticks_while_busy}");
            println!("held_while_waiting {held_while_waiting}");
            println!("reading_at_the_end {}", work.reading());
            println!("log {}", device.log.lock().unwrap().join(","));
        })
        .await;
}
"##;

#[test]
fn a_slow_handler_runs_beside_the_connection_loop_and_jobs_take_turns() {
    if probe::skip("the Pico W worker probe") {
        return;
    }
    // The chip's critical sections are embassy-rp's; on the host, std's.
    let deps = format!(
        "{}\ncritical-section = {{ version = \"1\", features = [\"std\"] }}\n{}",
        probe::dependency("embassy-sync"),
        probe::vendored_lua_device("worker-probe-project")
    );
    let binary = probe::Probe::build("pico-w-worker-probe", PROBE_MAIN, &deps, "").binary;
    let output = Command::new(&binary).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the probe failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no `{key}` in {stdout}"))
            .to_string()
    };
    assert_eq!(
        line("answered"),
        "c1:ok,c2:ok,c3:error",
        "once each, in order"
    );
    assert_eq!(line("trigger_results"), "1");
    assert_eq!(
        line("log"),
        "start slow,end slow,start quick,end quick,result alert,start fail",
        "one job at a time"
    );
    // 1.5 s of slow handler at one loop turn per 50 ms: the loop kept turning.
    let ticks: u32 = line("ticks").parse().unwrap();
    assert!(ticks >= 20, "the connection loop turned {ticks} times");
    assert_eq!(line("held_while_waiting"), "true");
    assert_eq!(line("reading_at_the_end"), "true");
}
