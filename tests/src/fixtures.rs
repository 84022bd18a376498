//! Launchers for the device implementations the suites compare.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::deps::{python_venv, workspace_root};
use crate::device::DeviceLauncher;

/// The fixture device on the official CPython client (`tests/python/official_device.py`).
pub fn official_device() -> Result<DeviceLauncher> {
    let python = python_venv()?;
    let script = workspace_root()
        .join("tests")
        .join("python")
        .join("official_device.py");
    Ok(DeviceLauncher::new(
        "official CPython client",
        python,
        &["-u", script.to_str().context("non-UTF-8 workspace path")?],
    ))
}

/// Build the Rust fixture device and return its launcher.
pub fn rust_device(profile: Profile) -> Result<DeviceLauncher> {
    let binary = cargo_build_binary("conformance-device", "conformance-device", profile)?;
    Ok(DeviceLauncher::new("Rust runtime", binary, &[]))
}

/// The same fixture on `#[lua_device]`: generated payload types and checks.
pub fn typed_device(profile: Profile) -> Result<DeviceLauncher> {
    let binary = cargo_build_binary("conformance-device", "conformance-typed", profile)?;
    Ok(DeviceLauncher::new("Rust #[lua_device]", binary, &[]))
}

/// The raw rumqttc echo device (`src/bin/raw-echo.rs`): the throughput ceiling.
pub fn raw_echo_device(profile: Profile) -> Result<DeviceLauncher> {
    let binary = cargo_build_binary("lua-testkit", "raw-echo", profile)?;
    Ok(DeviceLauncher::new("raw rumqttc echo", binary, &[]))
}

/// Which cargo profile to build a device with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Dev,
    /// The workspace's `device` profile: release, built for size, as a device ships.
    Release,
}

/// `cargo build -p package --bin bin` and the path cargo reports for the executable, so the
/// caller's `CARGO_TARGET_DIR` (or its absence) is honoured without guessing.
pub fn cargo_build_binary(package: &str, bin: &str, profile: Profile) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "-p",
            package,
            "--bin",
            bin,
        ])
        .stderr(Stdio::inherit());
    if profile == Profile::Release {
        cmd.args(["--profile", "device"]);
    }
    let output = cmd
        .output()
        .with_context(|| format!("running cargo build -p {package}"))?;
    if !output.status.success() {
        bail!(
            "cargo build -p {package} --bin {bin} failed with {}",
            output.status
        );
    }
    executable_from_messages(&output.stdout, bin)
        .with_context(|| format!("cargo did not report the `{bin}` executable"))
}

fn executable_from_messages(stdout: &[u8], bin: &str) -> Result<PathBuf> {
    for line in stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let is_bin = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == bin
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if let (true, Some(path)) = (is_bin, message["executable"].as_str()) {
            return Ok(Path::new(path).to_path_buf());
        }
    }
    bail!("no compiler-artifact message for bin `{bin}`")
}

/// Any manifest's device on the official CPython client (`tests/python/generic_device.py`):
/// it registers `plan`'s commands and answers each with the plan's reference output.
pub fn official_generic_device(plan: &crate::plan::Plan) -> Result<DeviceLauncher> {
    let python = python_venv()?;
    let script = workspace_root()
        .join("tests")
        .join("python")
        .join("generic_device.py");
    let manifest = plan.reference_manifest().to_string();
    Ok(DeviceLauncher::new(
        "official CPython client",
        python,
        &[
            "-u",
            script.to_str().context("non-UTF-8 workspace path")?,
            &manifest,
        ],
    ))
}

/// An example's device binary (`examples/{package}`), built with `profile`.
pub fn example_device(package: &str, bin: &str, profile: Profile) -> Result<DeviceLauncher> {
    let binary = cargo_build_binary(package, bin, profile)?;
    Ok(DeviceLauncher::new(
        format!("example {package}"),
        binary,
        &[],
    ))
}
