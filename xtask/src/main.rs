//! `cargo xtask <task>`: the project's own tasks, runnable on a fresh machine.

mod bench;
mod build_cost;
mod codegen_bench;
mod faults;
mod firmware_size;
mod fleet;
mod fuzz;
mod readme;
mod report;
mod soak;

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  deps   install what the suites need (mosquitto, the official client's venv)
  test   deps, then fmt --check, clippy -D warnings, every test in the workspace, the API
         docs (-D warnings), and the README's commands as written
  bench  [section...]  every comparison, as tables, into BENCHMARKS.md; sections: runtime
         (vs raw rumqttc and the official client), micropython (vs the official module),
         codegen (vs typify), fleet, firmware (Pico W size)
  bench-build  build time of a #[lua_device] crate vs the same code pasted in
  soak   [broker-url]  fault runs (proxy cuts, broker restart, offline, 1M commands) and the
         fleet curve (100 / 1,000 / 10,000 devices), printed as tables
  fuzz   [seconds]  run every cargo-fuzz target for a bounded time (default 60 s, nightly)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => lua_testkit::deps::ensure_all(),
        Some("test") => test(),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-build") => build_cost::run(),
        Some("codegen-table") => codegen_bench::write_table(args.get(1).map(String::as_str)),
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

fn test() -> Result<()> {
    // A full disk shows up as a confusing rustc write error minutes in; say it up front.
    let _ = Command::new("df")
        .args(["-h", "."])
        .current_dir(lua_testkit::deps::workspace_root())
        .status();
    lua_testkit::deps::ensure_all()?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])?;
    // The protocol core as the Pico W firmware vendors it: without std, which also picks the
    // chip's data structures (see `lua_device::dedup::DefaultStore`).
    cargo(&[
        "clippy",
        "-p",
        "lua-device",
        "--no-default-features",
        "--lib",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "-p", "lua-device", "--no-default-features", "--lib"])?;
    // API docs build without a broken link, with and without std (the links differ).
    let docs = [("RUSTDOCFLAGS", "-D warnings")];
    cargo_env(&["doc", "--workspace", "--no-deps"], &docs)?;
    cargo_env(
        &[
            "doc",
            "-p",
            "lua-device",
            "--no-deps",
            "--no-default-features",
        ],
        &docs,
    )?;
    readme::run(&lua_testkit::deps::workspace_root())
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

fn cargo_env(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .envs(env.iter().copied())
        .args(args)
        .current_dir(lua_testkit::deps::workspace_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}
