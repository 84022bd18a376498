//! The ways a machine builds for `thumbv6m-none-eabi` (the Pico W), found as a fresh machine
//! has them, and each one's build command as the generated project's README writes it.
//!
//! Tests never spell a firmware build command themselves: they run the README's block for
//! their route (marked `<!-- build: ID -->`), so the README cannot drift from what is tested.
//!
//! The routes:
//! - **rustup** with the target installed: `cargo build --release --locked`.
//! - **Debian**: `rustc-web` + `rust-web-src` as apt installs them (1.96 with bookworm's
//!   security updates), building `core` and `alloc` with `-Zbuild-std`.
//! - **Debian at the MSRV**: the same packages at 1.85 (bookworm without its updates), which
//!   cannot be installed beside the current ones, so they are unpacked from their `.deb`s
//!   into `target/toolchains` and the README's `/usr/bin/rustc` is pointed there.
//!
//! `LUAGEN_THUMBV6M_ROUTES=rustup,debian,debian-msrv` (any subset) forces the routes a run
//! tests; a forced route that cannot be had is an error, not a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::deps;

/// Debian packages of the Debian route: rustc with its library source (so `-Zbuild-std`
/// compiles `core` and `alloc` for the chip) and the ARM linker.
pub const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "rust-web-src", "binutils-arm-none-eabi"];

/// The rustc the generated projects declare (`rust-version`); the MSRV route tests it.
pub const MSRV: (u32, u32) = (1, 85);

/// From this rustc on, immediately-aborting panics are a panic strategy
/// (`-Cpanic=immediate-abort`, rust-lang/rust#146317); before it, a feature of `core`
/// (`-Zbuild-std-features=panic_immediate_abort`). Each spelling is an error on the other side.
pub const IMMEDIATE_ABORT_STRATEGY: (u32, u32) = (1, 92);

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// Which build the route is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// rustup's toolchain, with the `thumbv6m-none-eabi` target installed.
    Rustup,
    /// Debian's `rustc-web` as installed.
    Debian,
    /// Debian's `rustc-web` at [`MSRV`], unpacked.
    DebianMsrv,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Rustup, Kind::Debian, Kind::DebianMsrv];

    /// The name `LUAGEN_THUMBV6M_ROUTES` uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rustup => "rustup",
            Kind::Debian => "debian",
            Kind::DebianMsrv => "debian-msrv",
        }
    }
}

/// One way to build firmware on this machine.
#[derive(Clone, Debug)]
pub struct Route {
    pub kind: Kind,
    /// The rustc that compiles the firmware, and its version.
    pub rustc: PathBuf,
    pub version: (u32, u32),
    /// For an unpacked toolchain: its shared libraries (rustc's driver and LLVM).
    libraries: Option<PathBuf>,
}

impl Route {
    /// How a report names the route: `Debian rustc-web 1.96`.
    pub fn label(&self) -> String {
        let (major, minor) = self.version;
        match self.kind {
            Kind::Rustup => format!("rustup {major}.{minor}"),
            Kind::Debian => format!("Debian rustc-web {major}.{minor}"),
            Kind::DebianMsrv => format!("Debian rustc-web {major}.{minor} (unpacked)"),
        }
    }

    /// The marker of this route's block in the generated README (`<!-- build: ID -->`).
    pub fn readme_id(&self) -> &'static str {
        match self.kind {
            Kind::Rustup => "rustup",
            Kind::Debian | Kind::DebianMsrv if self.version >= IMMEDIATE_ABORT_STRATEGY => "debian",
            Kind::Debian | Kind::DebianMsrv => "debian-before-1.92",
        }
    }

    /// The README's build command for this route, as written; for the unpacked toolchain with
    /// its one path (`/usr/bin/rustc`) pointed at the unpacked rustc.
    pub fn readme_command(&self, readme: &str) -> Result<String> {
        let command = readme_block(readme, self.readme_id())?;
        if self.kind == Kind::DebianMsrv {
            if !command.contains(DEBIAN_RUSTC) {
                bail!(
                    "the README's {} command does not name {DEBIAN_RUSTC}",
                    self.readme_id()
                );
            }
            return Ok(command.replace(DEBIAN_RUSTC, &self.rustc.to_string_lossy()));
        }
        Ok(command)
    }

    /// `bash` running the README's command in `project` with `extra` arguments appended (the
    /// README asks for `--no-default-features` so), building into `target_dir`; with `offline`, cargo
    /// may not touch the network (every crate must be cached already).
    pub fn build(
        &self,
        readme: &str,
        project: &Path,
        target_dir: &Path,
        extra: &[&str],
        offline: bool,
    ) -> Result<Command> {
        let mut script = self.readme_command(readme)?;
        for arg in extra {
            script.push(' ');
            script.push_str(arg);
        }
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", &script])
            .current_dir(project)
            .env("CARGO_TARGET_DIR", target_dir);
        // What a user's shell would not have: the workspace's own toolchain and flags.
        for var in [
            "RUSTC",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_BOOTSTRAP",
            "CARGO_BUILD_TARGET",
            "RUSTUP_TOOLCHAIN",
        ] {
            cmd.env_remove(var);
        }
        if offline {
            cmd.env("CARGO_NET_OFFLINE", "true");
        }
        if let Some(libraries) = &self.libraries {
            cmd.env("LD_LIBRARY_PATH", libraries);
        }
        Ok(cmd)
    }
}

/// The shell lines of the first ```` ```sh ```` block after `<!-- build: ID -->`.
pub fn readme_block(readme: &str, id: &str) -> Result<String> {
    let marker = format!("<!-- build: {id} -->");
    let after = readme
        .split_once(&marker)
        .with_context(|| format!("the README has no `{marker}`"))?
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .with_context(|| format!("no ```sh block follows `{marker}`"))?
        .0;
    Ok(block.to_string())
}

/// The routes this run tests: every one the machine has (installing Debian's packages when
/// missing, as a fresh machine must), or those `LUAGEN_THUMBV6M_ROUTES` names.
///
/// Each entry is the route or why it is missing.
pub fn routes() -> Vec<(Kind, Result<Route>)> {
    Kind::ALL
        .into_iter()
        .filter(|kind| wanted(*kind) != Wanted::Excluded)
        .map(|kind| (kind, route(kind)))
        .collect()
}

/// How a run treats a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// Tested where the machine has it, skipped (with a record) where not.
    IfAvailable,
    /// Named by `LUAGEN_THUMBV6M_ROUTES`: missing is an error.
    Forced,
    /// Left out by `LUAGEN_THUMBV6M_ROUTES`.
    Excluded,
}

/// How this run treats `kind`, by `LUAGEN_THUMBV6M_ROUTES`.
pub fn wanted(kind: Kind) -> Wanted {
    match std::env::var("LUAGEN_THUMBV6M_ROUTES") {
        Err(_) => Wanted::IfAvailable,
        Ok(names) if names.split(',').any(|n| n.trim() == kind.name()) => Wanted::Forced,
        Ok(_) => Wanted::Excluded,
    }
}

/// The route `kind` on this machine, set up if it can be.
pub fn route(kind: Kind) -> Result<Route> {
    match kind {
        Kind::Rustup => rustup(),
        Kind::Debian => debian(),
        Kind::DebianMsrv => debian_msrv(),
    }
}

/// The first route this machine has, preferring the one a fresh machine has (Debian's).
pub fn any() -> Result<Route> {
    let mut why = Vec::new();
    for kind in [Kind::Debian, Kind::Rustup, Kind::DebianMsrv] {
        match route(kind) {
            Ok(route) => return Ok(route),
            Err(e) => why.push(format!("{}: {e:#}", kind.name())),
        }
    }
    bail!(
        "no way to build for thumbv6m-none-eabi:\n  {}",
        why.join("\n  ")
    )
}

fn rustup() -> Result<Route> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    let has = String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "thumbv6m-none-eabi");
    if !has {
        bail!(
            "rustup has no thumbv6m-none-eabi target (`rustup target add thumbv6m-none-eabi` \
             needs the internet)"
        );
    }
    let rustc = PathBuf::from("rustc");
    let version = rustc_version(&rustc, None)?;
    Ok(Route {
        kind: Kind::Rustup,
        rustc,
        version,
        libraries: None,
    })
}

fn debian() -> Result<Route> {
    deps::ensure_apt(DEBIAN_PACKAGES)?;
    let rustc = PathBuf::from(DEBIAN_RUSTC);
    if !rustc.exists() {
        bail!("{DEBIAN_PACKAGES:?} are installed but there is no {DEBIAN_RUSTC}");
    }
    let version = rustc_version(&rustc, None)?;
    if version < MSRV {
        bail!("Debian's rustc is {version:?}, older than the MSRV {MSRV:?}");
    }
    Ok(Route {
        kind: Kind::Debian,
        rustc,
        version,
        libraries: None,
    })
}

/// Debian's `rustc-web` at the MSRV, unpacked from the archive's `.deb`s (no root needed,
/// nothing installed system-wide) into `target/toolchains/rustc-web-1.85`.
fn debian_msrv() -> Result<Route> {
    let (major, minor) = MSRV;
    let root = deps::workspace_root()
        .join("target/toolchains")
        .join(format!("rustc-web-{major}.{minor}"));
    let rustc = root.join("usr/bin/rustc");
    let libraries = root.join("usr/lib/x86_64-linux-gnu");
    let stamp = root.join(".unpacked");
    if !stamp.exists() {
        unpack_msrv(&root).context("unpacking Debian's rustc-web at the MSRV")?;
        std::fs::write(&stamp, "")?;
    }
    let version = rustc_version(&rustc, Some(&libraries))?;
    if version != MSRV {
        bail!("the unpacked rustc is {version:?}, not {MSRV:?}");
    }
    Ok(Route {
        kind: Kind::DebianMsrv,
        rustc,
        version,
        libraries: Some(libraries),
    })
}

fn unpack_msrv(root: &Path) -> Result<()> {
    let (major, minor) = MSRV;
    let upstream = format!("{major}.{minor}.");
    // The archive's revision of that release (e.g. `1.85.0+dfsg3-1~deb12u3`), whatever it is.
    let madison = Command::new("apt-cache")
        .args(["madison", "rustc-web"])
        .output()
        .context("running apt-cache (is this Debian?)")?;
    let madison = String::from_utf8_lossy(&madison.stdout);
    let version = madison
        .lines()
        .filter_map(|l| l.split('|').nth(1).map(str::trim))
        .find(|v| v.starts_with(&upstream))
        .with_context(|| {
            format!("apt knows no rustc-web {major}.{minor} (`apt-cache madison rustc-web`)")
        })?
        .to_string();
    let llvm = llvm_package(&version)?;
    let downloads = root.with_file_name(format!("rustc-web-{major}.{minor}-debs"));
    std::fs::create_dir_all(&downloads)?;
    let packages = [
        format!("rustc-web={version}"),
        format!("rust-web-src={version}"),
        format!("libstd-rust-web-{major}.{minor}={version}"),
        format!("libstd-rust-web-dev={version}"),
        llvm,
    ];
    eprintln!(
        "downloading Debian packages to unpack: {}",
        packages.join(" ")
    );
    let status = Command::new("apt-get")
        .arg("download")
        .args(&packages)
        .current_dir(&downloads)
        .status()
        .context("running apt-get download")?;
    if !status.success() {
        bail!(
            "apt-get download {} failed with {status}",
            packages.join(" ")
        );
    }
    std::fs::create_dir_all(root)?;
    for deb in std::fs::read_dir(&downloads)? {
        let deb = deb?.path();
        let status = Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(root)
            .status()
            .context("running dpkg -x")?;
        if !status.success() {
            bail!("dpkg -x {} failed with {status}", deb.display());
        }
    }
    Ok(())
}

/// The LLVM library package `libstd-rust-web-{MSRV}` at `version` depends on (`libllvm19`).
fn llvm_package(version: &str) -> Result<String> {
    let (major, minor) = MSRV;
    let show = Command::new("apt-cache")
        .args([
            "show",
            &format!("libstd-rust-web-{major}.{minor}={version}"),
        ])
        .output()
        .context("running apt-cache show")?;
    String::from_utf8_lossy(&show.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Depends:"))
        .flat_map(|deps| deps.split(','))
        .map(|dep| dep.split_whitespace().next().unwrap_or_default())
        .find(|name| name.starts_with("libllvm"))
        .map(String::from)
        .context("libstd-rust-web depends on no libllvm package")
}

/// `(major, minor)` of `rustc --version`.
fn rustc_version(rustc: &Path, libraries: Option<&Path>) -> Result<(u32, u32)> {
    let mut cmd = Command::new(rustc);
    cmd.arg("--version");
    if let Some(libraries) = libraries {
        cmd.env("LD_LIBRARY_PATH", libraries);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} --version", rustc.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).with_context(|| format!("{} --version printed {text:?}", rustc.display()))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text.strip_prefix("rustc ")?.split_whitespace().next()?;
    let mut parts = version.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)\n"),
            Some((1, 85))
        );
        assert_eq!(
            parse_version("rustc 1.96.0-nightly (abc 2026-01-01)"),
            Some((1, 96))
        );
        assert_eq!(parse_version("cargo 1.95.0"), None);
    }

    #[test]
    fn the_panic_spelling_follows_the_version() {
        let route = |version| Route {
            kind: Kind::Debian,
            rustc: DEBIAN_RUSTC.into(),
            version,
            libraries: None,
        };
        assert_eq!(route((1, 85)).readme_id(), "debian-before-1.92");
        assert_eq!(route((1, 91)).readme_id(), "debian-before-1.92");
        assert_eq!(route((1, 92)).readme_id(), "debian");
        assert_eq!(route((1, 96)).readme_id(), "debian");
    }

    #[test]
    fn a_block_is_found_by_its_marker() {
        let readme = "## Build\n<!-- build: a -->\n```sh\nrustup x\n```\n<!-- build: b -->\ntext\n\n```sh\nRUSTC=/usr/bin/rustc cargo build \\\n  --locked\n```\n";
        assert_eq!(readme_block(readme, "a").unwrap(), "rustup x");
        assert_eq!(
            readme_block(readme, "b").unwrap(),
            "RUSTC=/usr/bin/rustc cargo build \\\n  --locked"
        );
        assert!(readme_block(readme, "c").is_err());
    }
}
