//! `cargo xtask <task>`: the project's own tasks, runnable on a fresh machine.

mod bench;
mod build_cost;
mod fuzz;

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  deps   install what the suites need (mosquitto, the official client's venv)
  test   deps, then fmt --check, clippy -D warnings, and every test in the workspace
  bench  echo latency, throughput and RSS: Rust runtime vs raw rumqttc vs official client
  bench-build  build time of a #[lua_device] crate vs the same code pasted in
  fuzz   [seconds]  run every cargo-fuzz target for a bounded time (default 60 s, nightly)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => lua_testkit::deps::ensure_all(),
        Some("test") => test(),
        Some("bench") => bench::run(),
        Some("bench-build") => build_cost::run(),
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
    cargo(&["test", "--workspace"])
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(lua_testkit::deps::workspace_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}
