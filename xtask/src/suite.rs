//! `cargo xtask test`: the whole suite as steps, every step run whatever failed before it, and
//! a summary at the end: each step passed, failed or skipped, with its time, and every part a
//! test skipped on this machine (its `lua_testkit::skips` record) under the step it ran in.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_testkit::{deps, skips};

use crate::readme;

/// The firmware builds' test names start so: the workspace step leaves them to their own.
const FIRMWARE_TESTS: &str = "firmware_build_";

/// One step of the suite: its work, run once.
type Step = Box<dyn Fn() -> Result<()>>;

enum Outcome {
    Passed,
    Failed(String),
}

struct Ran {
    name: String,
    outcome: Outcome,
    took: Duration,
    skipped: Vec<(String, String)>,
}

pub fn run() -> Result<()> {
    let root = deps::workspace_root();
    // A full disk shows up as a confusing rustc write error minutes in; say it up front.
    let _ = Command::new("df")
        .args(["-h", "."])
        .current_dir(&root)
        .status();
    skips::clear();
    let docs = [("RUSTDOCFLAGS", "-D warnings")];
    let steps: Vec<(&str, Step)> = vec![
        (
            "prerequisites (cargo xtask deps)",
            Box::new(deps::ensure_all),
        ),
        (
            "cargo fmt --check",
            Box::new(|| cargo(&["fmt", "--all", "--", "--check"], &[])),
        ),
        (
            "cargo clippy -D warnings",
            Box::new(|| {
                cargo(
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                    &[],
                )
            }),
        ),
        (
            "cargo test --workspace",
            Box::new(|| {
                cargo(
                    &[
                        "test",
                        "--workspace",
                        "--no-fail-fast",
                        "--",
                        "--skip",
                        FIRMWARE_TESTS,
                    ],
                    &[],
                )
            }),
        ),
        (
            "Pico W firmware builds (thumbv6m, every route)",
            Box::new(|| {
                cargo(
                    &[
                        "test",
                        "-p",
                        "luagen",
                        "--test",
                        "pico_w_build",
                        "--no-fail-fast",
                        "--",
                        FIRMWARE_TESTS,
                    ],
                    &[],
                )
            }),
        ),
        // The protocol core as the Pico W firmware vendors it: without std, which also picks
        // the chip's data structures (see `lua_device::dedup::DefaultStore`).
        (
            "lua-device-core without std: clippy and tests",
            Box::new(|| {
                cargo(
                    &[
                        "clippy",
                        "-p",
                        "lua-device-core",
                        "--no-default-features",
                        "--lib",
                        "--",
                        "-D",
                        "warnings",
                    ],
                    &[],
                )?;
                // Every rule on: the tests check each one (clippy above saw the build without
                // any, the narrowest a firmware makes).
                cargo(
                    &[
                        "test",
                        "-p",
                        "lua-device-core",
                        "--no-default-features",
                        "--features",
                        "all-rules",
                        "--lib",
                    ],
                    &[],
                )
            }),
        ),
        // `cargo install luagen-cli --no-default-features`: the code generator alone, with no
        // broker, TLS or WebSocket stack to build.
        (
            "luagen CLI without the gateway: clippy",
            Box::new(|| {
                cargo(
                    &[
                        "clippy",
                        "-p",
                        "luagen-cli",
                        "--no-default-features",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                    &[],
                )
            }),
        ),
        // API docs build without a broken link, with and without std (the links differ).
        (
            "API docs (-D warnings)",
            Box::new(move || {
                cargo(&["doc", "--workspace", "--no-deps"], &docs)?;
                cargo(
                    &[
                        "doc",
                        "-p",
                        "lua-device-core",
                        "--no-deps",
                        "--no-default-features",
                        "--features",
                        "all-rules",
                    ],
                    &docs,
                )
            }),
        ),
        (
            "README commands, as written",
            Box::new(|| readme::run(&deps::workspace_root())),
        ),
    ];
    let total = steps.len();
    let mut ran = Vec::new();
    for (i, (name, step)) in steps.iter().enumerate() {
        eprintln!("\n==> [{}/{total}] {name}", i + 1);
        let started = Instant::now();
        let before = skips::all();
        let outcome = match step() {
            Ok(()) => Outcome::Passed,
            Err(e) => {
                eprintln!("==> {name}: FAILED: {e:#}");
                Outcome::Failed(format!("{e:#}"))
            }
        };
        let skipped = skips::all()
            .into_iter()
            .filter(|s| !before.contains(s))
            .collect();
        ran.push(Ran {
            name: name.to_string(),
            outcome,
            took: started.elapsed(),
            skipped,
        });
    }
    let summary = summary(&ran);
    eprintln!("\n{summary}");
    let _ = std::fs::write(root.join("target/xtask-test-summary.txt"), &summary);
    let failed = ran
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    if failed > 0 {
        bail!("{failed} of {total} steps failed");
    }
    Ok(())
}

fn summary(ran: &[Ran]) -> String {
    let width = ran.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::from("summary of cargo xtask test\n");
    for r in ran {
        let verdict = match (&r.outcome, r.skipped.is_empty()) {
            (Outcome::Failed(_), _) => "FAILED",
            (Outcome::Passed, true) => "passed",
            (Outcome::Passed, false) => "passed, with SKIPPED parts",
        };
        out.push_str(&format!(
            "  {:<width$}  {:>7}  {verdict}\n",
            r.name,
            clock(r.took)
        ));
        if let Outcome::Failed(why) = &r.outcome {
            out.push_str(&format!(
                "      {}\n",
                why.lines().next().unwrap_or_default()
            ));
        }
        for (what, why) in &r.skipped {
            out.push_str(&format!("      SKIPPED {what}: {why}\n"));
        }
    }
    let took: Duration = ran.iter().map(|r| r.took).sum();
    out.push_str(&format!("  {:<width$}  {:>7}\n", "total", clock(took)));
    out
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// `cargo args...` in the workspace root, with `env` set.
pub fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .envs(env.iter().copied())
        .args(args)
        .current_dir(deps::workspace_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}
