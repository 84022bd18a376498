//! `cargo xtask <task>`: the project's own tasks, runnable on a fresh machine.

mod bench;
mod build_cost;
mod codegen_bench;
mod faults;
mod field_soak;
mod firmware_size;
mod fleet;
mod fuzz;
mod handshake;
mod limits_micropython;
mod limits_rust;
mod pico_w_limits;
mod pico_w_lock;
mod readme;
mod report;
mod soak;
mod suite;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  deps   install what the suites need (mosquitto, the official client's venv)
  test   deps, then fmt --check, clippy -D warnings, every test in the workspace, the Pico W
         firmware builds by every thumbv6m route this machine has, the API docs (-D warnings)
         and the README's commands as written; every step runs, and a summary ends it
  pico-w-lock  re-resolve the Pico W projects' Cargo.lock (templates/pico-w/Cargo.lock) for
         their rust-version, apply the pins, rebuild by every route, then write it
  bench  [section...]  every comparison, as tables, into BENCHMARKS.md; sections: runtime
         (vs raw rumqttc and the official client), micropython (vs the official module),
         codegen (vs typify), fleet, firmware (Pico W size)
  bench-build  build time of a #[lua_device] crate vs the same code pasted in
  soak   [broker-url]  fault runs (proxy cuts, broker restart, offline, 1M commands) and the
         fleet curve (100 / 1,000 / 10,000 devices), printed as tables
  soak field [minutes]  both firmware targets left alone (default 60 min): commands, a slow
         handler, periodic triggers, a broker restart, a stall; into BENCHMARKS.md
  fuzz   [seconds]  run every cargo-fuzz target for a bounded time (default 60 s, nightly)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => lua_testkit::deps::ensure_all(),
        Some("test") => suite::run(),
        Some("pico-w-lock") => pico_w_lock::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-build") => build_cost::run(),
        Some("codegen-table") => codegen_bench::write_table(args.get(1).map(String::as_str)),
        Some("soak") if args.get(1).map(String::as_str) == Some("field") => {
            soak::field(args.get(2).map(String::as_str))
        }
        Some("soak") => soak::run(args.get(1).map(String::as_str)),
        Some("fuzz") => match args.get(1).map(|s| s.parse::<u64>()) {
            None => fuzz::run(60),
            Some(Ok(seconds)) => fuzz::run(seconds),
            Some(Err(_)) => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
