//! The agent side's real packages: Node with `lua-cli`, `zod` and `typescript` from npm, pinned
//! by `tests/node/package-lock.json` and installed with `npm ci` into `target/lua-node`, where
//! generated lua-cli modules are type-checked and run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

use crate::deps::{find, workspace_root};

/// The oldest Node that loads lua-cli from CommonJS (`require` of an ES module, unflagged
/// since 20.19), as the suite's runner does.
const MIN_NODE: (u32, u32) = (20, 19);

/// Where the pinned packages are installed: `node_modules` lives here, and generated modules
/// are put below it (see [`scratch`]) so that they resolve `lua-cli` and `zod` as a user's
/// project does.
pub fn root() -> PathBuf {
    workspace_root().join("target").join("lua-node")
}

/// Why the agent-side packages cannot run here (no Node, or one too old), or `None`.
pub fn unavailable() -> Option<String> {
    let Some(node) = find("node") else {
        return Some("no `node` on PATH (Node 20.19 or later runs lua-cli)".into());
    };
    let version = Command::new(node)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if have < MIN_NODE {
        return Some(format!(
            "Node {version} is older than {}.{}, the first that loads lua-cli from CommonJS",
            MIN_NODE.0, MIN_NODE.1
        ));
    }
    if find("npm").is_none() {
        return Some("no `npm` on PATH to install lua-cli, zod and typescript".into());
    }
    None
}

/// Whether Node can run the agent side here; if not, a skip record naming `what`.
pub fn available(what: &str) -> bool {
    match unavailable() {
        None => true,
        Some(why) => {
            crate::skips::record(what, &why);
            false
        }
    }
}

/// Install the pinned packages (once: a stamp holds the lock file they came from) and return
/// [`root`].
pub fn packages() -> Result<PathBuf> {
    let root = root();
    let source = workspace_root().join("tests").join("node");
    let lock = std::fs::read(source.join("package-lock.json")).context("tests/node's lock")?;
    let stamp = root.join(".luagen-installed");
    if std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice())
        && root.join("node_modules").is_dir()
    {
        return Ok(root);
    }
    if let Some(why) = unavailable() {
        bail!("{why}");
    }
    std::fs::create_dir_all(&root)?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(source.join(file), root.join(file))?;
    }
    eprintln!(
        "installing into {}: lua-cli, zod and typescript as tests/node/package-lock.json pins them",
        root.display()
    );
    // No install scripts: lua-cli's dependencies include native voice plugins that the
    // declarations and the device API never load.
    let status = Command::new(find("npm").context("npm")?)
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(&root)
        .status()
        .context("running npm ci")?;
    if !status.success() {
        bail!("npm ci in {} failed with {status}", root.display());
    }
    std::fs::write(&stamp, lock)?;
    Ok(root)
}

/// A fresh directory below [`root`] for one test's modules (removed by the caller when done).
pub fn scratch(label: &str) -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = packages()?.join("work").join(format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A program of the installed packages (`tsc`).
pub fn bin(name: &str) -> Result<PathBuf> {
    let path = packages()?.join("node_modules").join(".bin").join(name);
    if !path.exists() {
        bail!("{} is not installed", path.display());
    }
    Ok(path)
}

/// `node` with `script`, run in `dir`.
pub fn node(script: &Path, dir: &Path) -> Result<Command> {
    let mut cmd = Command::new(find("node").context("node")?);
    cmd.arg(script).current_dir(dir);
    Ok(cmd)
}
