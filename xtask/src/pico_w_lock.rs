//! `cargo xtask pico-w-lock`: refresh, on purpose, the `Cargo.lock` every generated Pico W
//! project ships (`templates/pico-w/Cargo.lock`, see `luagen::emit::pico_w::lockfile`).
//!
//! Resolve afresh for the projects' `rust-version` (cargo's MSRV-aware resolver), hold back
//! the crates in [`PINS`], build the greenhouse project by every thumbv6m route this machine
//! has with `--locked`, and only when every build passed write the lock back.

use anyhow::{bail, Context, Result};
use lua_testkit::{deps, thumbv6m};
use luagen::emit::pico_w::{lockfile, PicoWProject};

/// Crates held back because a newer release breaks the MSRV build though its `rust-version`
/// does not say so: (crate, version, why).
const PINS: &[(&str, &str, &str)] = &[(
    "embassy-time-queue-utils",
    "0.3.0",
    "0.3.1 and later depend on heapless 0.9, which needs rustc 1.87 (FromBytesWithNulError's \
     variants) though it declares no rust-version that says so",
)];

pub fn run() -> Result<()> {
    let root = deps::workspace_root();
    let work = root.join("target/pico-w-lock");
    let manifest = root.join("manifests/greenhouse-sensor.yaml");
    let device = luagen::load_file(&manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pico = PicoWProject::new(&device);
    let dir = work.join("project");
    pico.project()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .write(&dir, true)?;
    std::fs::write(
        dir.join(".env"),
        "LUA_WIFI_SSID=lab\nLUA_WIFI_PASSWORD=lab\nLUA_AGENT_ID=agent-1\nLUA_API_KEY=key\n\
         LUA_MQTT_URL=mqtt://192.168.1.10:1883\n",
    )?;
    std::fs::remove_file(dir.join("Cargo.lock"))?;

    eprintln!("resolving for rust-version {}", lockfile::RUST_VERSION);
    cargo_in(&dir, &["generate-lockfile"])?;
    for (krate, version, why) in PINS {
        eprintln!("pinning {krate} {version}: {why}");
        cargo_in(&dir, &["update", "-p", krate, "--precise", version])?;
    }

    let readme = std::fs::read_to_string(dir.join("README.md"))?;
    let mut built = 0;
    for (kind, route) in thumbv6m::routes() {
        let route = match route {
            Ok(route) => route,
            Err(e) => {
                eprintln!("route {}: not on this machine ({e:#})", kind.name());
                continue;
            }
        };
        eprintln!("building by {}", route.label());
        let target_dir = work.join("target").join(kind.name());
        // The plain build, the one every route (the MSRV's too) can make; the lock holds
        // the `tls` feature's crates all the same.
        let status = route
            .build(
                &readme,
                &dir,
                &target_dir,
                &["--no-default-features"],
                false,
            )?
            .status()?;
        if !status.success() {
            bail!(
                "the build by {} failed: the lock is not written",
                route.label()
            );
        }
        built += 1;
    }
    if built == 0 {
        bail!("no thumbv6m route on this machine: the lock cannot be tried, so it is not written");
    }

    let lock = std::fs::read_to_string(dir.join("Cargo.lock"))?;
    let kept = lockfile::rename_root(&lock, &pico.crate_name(), lockfile::TEMPLATE_PACKAGE);
    let path = root.join("templates/pico-w/Cargo.lock");
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    if before == kept {
        eprintln!("{} is unchanged", path.display());
    } else {
        std::fs::write(&path, kept)?;
        eprintln!(
            "wrote {}: review `git diff` and run `cargo xtask test`",
            path.display()
        );
    }
    Ok(())
}

fn cargo_in(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let status = std::process::Command::new("cargo")
        .args(args)
        .current_dir(dir)
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback")
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}
