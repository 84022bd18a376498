//! `cargo xtask fuzz [seconds]`: every cargo-fuzz target for a bounded time each, on the
//! rustup nightly toolchain (cargo-fuzz needs `-Zsanitizer`); prints executions per target.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Fuzz targets under `fuzz/`, with the seed corpus each starts from.
const TARGETS: &[(&str, &str)] = &[
    ("load_manifest", "fuzz/seeds/manifest"),
    ("rust_codegen", "fuzz/seeds/manifest"),
    ("micropython_codegen", "fuzz/seeds/manifest"),
    ("runtime_payload", "fuzz/seeds/payload"),
    ("json_reader", "fuzz/seeds/json"),
];

pub fn run(seconds: u64) -> Result<()> {
    let root = lua_testkit::deps::workspace_root();
    let has_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("installing cargo-fuzz");
        let status = Command::new("cargo")
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?;
        if !status.success() {
            bail!("cargo install cargo-fuzz failed");
        }
    }
    for (target, seeds) in TARGETS {
        let corpus = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        eprintln!("$ cargo +nightly fuzz run {target} ({seconds} s)");
        let status = Command::new("cargo")
            .current_dir(&root)
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(root.join(seeds))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // Memory and time are findings too: a manifest that makes the loader allocate
            // 512 MB or think for 10 s (an alias bomb, a pathological schema) fails the run
            // like a panic does, with the input saved under fuzz/artifacts.
            .arg("-rss_limit_mb=512")
            .arg("-malloc_limit_mb=256")
            .arg("-timeout=10")
            .arg("-print_final_stats=1")
            .status()
            .with_context(|| format!("running the {target} fuzzer"))?;
        if !status.success() {
            bail!("fuzz target {target} found a failure (see fuzz/artifacts/{target})");
        }
    }
    Ok(())
}
