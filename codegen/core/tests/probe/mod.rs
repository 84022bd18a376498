//! What the host probes of the Pico W's sources share: the firmware's own dependency lines
//! (from the project template), so the host compiles the versions and features the chip does,
//! and the building of such a probe.

// Each test crate that includes this uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CARGO_TEMPLATE: &str = include_str!("../../../../templates/pico-w/Cargo.toml.j2");

/// The firmware's dependency line for `name`, as a host dependency (no `defmt`).
pub fn dependency(name: &str) -> String {
    let line = CARGO_TEMPLATE
        .lines()
        .find(|l| l.starts_with(&format!("{name} =")))
        .unwrap_or_else(|| panic!("Cargo.toml.j2 has no {name} dependency"));
    line.replace(", optional = true", "")
        .replace(", features = [\"defmt\"]", "")
        .replace(", \"defmt\"]", "]")
}

/// The `[dependencies]` lines of every crate the template's `tls` feature turns on (its
/// `dep:NAME` entries), plus `extra` crates of the firmware's.
pub fn tls_dependencies(extra: &[&str]) -> String {
    let feature = CARGO_TEMPLATE
        .lines()
        .find(|l| l.starts_with("tls = ["))
        .expect("Cargo.toml.j2 has a tls feature");
    feature
        .split('"')
        .filter_map(|part| part.strip_prefix("dep:"))
        .chain(extra.iter().copied())
        .map(dependency)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The luagen checkout.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A dependency line on the `lua-device` a generated Pico W project vendors (the greenhouse's,
/// written to `target/pico-w/<name>`): the runtime's no_std core exactly as the chip builds it.
pub fn vendored_lua_device(name: &str) -> String {
    let project = workspace().join("target/pico-w").join(name);
    let device = luagen::load_file(workspace().join("manifests/greenhouse-sensor.yaml")).unwrap();
    luagen::emit::pico_w::PicoWProject::new(&device)
        .project()
        .unwrap()
        .write(&project, true)
        .unwrap();
    format!(
        "lua-device = {{ path = \"{}\" }}",
        project.join("lua-device").display()
    )
}

/// Whether `LUAGEN_SKIP_FIRMWARE_BUILD` asks to skip `what`; says so loudly if it does.
pub fn skip(what: &str) -> bool {
    if std::env::var_os("LUAGEN_SKIP_FIRMWARE_BUILD").is_some() {
        eprintln!("\n!!! SKIPPED: {what} (LUAGEN_SKIP_FIRMWARE_BUILD is set) !!!\n");
        return true;
    }
    false
}

/// A host program built from firmware sources: `main` names them `TEMPLATES/src/...`, and its
/// crate depends on `dependencies` (lines of `[dependencies]`) plus tokio and its adapters.
pub struct Probe {
    /// The crate's directory (`target/pico-w/<name>` of the checkout).
    pub dir: PathBuf,
    /// The built binary.
    pub binary: PathBuf,
}

impl Probe {
    /// Write and build the probe `name` (`Cargo.toml` tail `extra`: profiles, path crates).
    pub fn build(name: &str, main: &str, dependencies: &str, extra: &str) -> Probe {
        // Tests of one file run on threads: one writes and builds while the others wait, then
        // find it built.
        static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = workspace().join("target/pico-w").join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 publish = false\n\n[workspace]\n\n[dependencies]\n{dependencies}\n\
                 embedded-io-adapters = {{ version = \"0.6\", features = [\"tokio-1\"] }}\n\
                 getrandom = \"0.2\"\n\
                 tokio = {{ version = \"1\", features = [\"rt\", \"net\", \"macros\", \"io-util\", \"time\"] }}\n\
                 {extra}"
            ),
        )
        .unwrap();
        let templates = workspace().join("templates/pico-w").canonicalize().unwrap();
        std::fs::write(
            dir.join("src/main.rs"),
            main.replace("TEMPLATES", &templates.display().to_string()),
        )
        .unwrap();
        let probe = Probe {
            binary: dir.join("target/debug").join(name),
            dir,
        };
        let output = cargo(&probe.dir, &["build", "--quiet"]);
        assert!(
            output.status.success(),
            "the probe {name} did not build\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        probe
    }
}

/// Cargo in a probe's crate `dir`, for the host (whatever the test run's own target flags).
pub fn cargo(dir: &Path, args: &[&str]) -> Output {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .args(args);
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        cargo.env_remove(var);
    }
    cargo.output().unwrap()
}
