//! Regeneration when a manifest changes, through every door: `--watch` on `luagen firmware`,
//! `luagen agent` and `luagen rust` (the user's files kept, a broken save reported and
//! waited out), and cargo rebuilding a crate whose build.rs (`luagen::Builder`) or
//! `#[lua_device]` reads a manifest that changed, and only then.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luagen-watch-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `luagen ... --watch` process, killed when dropped.
struct Watching(Child);

impl Watching {
    fn start(args: &[&str], dir: &Path) -> Self {
        Self(
            Command::new(env!("CARGO_BIN_EXE_luagen"))
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// Stop it and return what it said on stderr.
    fn stop(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut said = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut said);
        }
        said
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

const NEW_COMMAND: &str = "  - name: open_vent\n    description: Open the roof vent\n";

#[test]
fn firmware_watch_regenerates_on_change_and_keeps_the_handlers() {
    let dir = scratch("firmware");
    let manifest = dir.join("greenhouse.yaml");
    let original =
        std::fs::read_to_string(root().join("manifests/greenhouse-sensor.yaml")).unwrap();
    std::fs::write(&manifest, &original).unwrap();
    let watching = Watching::start(
        &[
            "firmware",
            "--target",
            "micropython",
            "greenhouse.yaml",
            "-o",
            "out",
            "--watch",
        ],
        &dir,
    );
    let handlers = dir.join("out/handlers.py");
    wait_until("the first generation", || {
        read(&handlers).contains("def toggle_irrigation(")
    });
    // The user writes their handlers.
    let mine = format!("# my greenhouse\n{}", read(&handlers));
    std::fs::write(&handlers, &mine).unwrap();
    // A broken save is reported and waited out: nothing is written from it.
    std::fs::write(&manifest, "name: [").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(read(&handlers), mine);
    // The manifest gains a command: its stub is appended, the user's text kept.
    let grown = original.replace("commands:\n", &format!("commands:\n{NEW_COMMAND}"));
    assert_ne!(grown, original, "the manifest has a commands list");
    std::fs::write(&manifest, &grown).unwrap();
    wait_until("the regeneration", || {
        read(&handlers).contains("def open_vent(")
    });
    assert!(read(&handlers).starts_with(&mine), "{}", read(&handlers));
    assert!(read(&dir.join("out/device_spec.py")).contains("open_vent"));
    let said = watching.stop();
    assert!(said.contains("not regenerated"), "{said}");
    assert!(said.contains("changed: regenerating"), "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn agent_and_rust_watch_regenerate_on_change() {
    let dir = scratch("agent");
    let manifest = dir.join("greenhouse.yaml");
    let original =
        std::fs::read_to_string(root().join("manifests/greenhouse-sensor.yaml")).unwrap();
    std::fs::write(&manifest, &original).unwrap();
    let agent = Watching::start(
        &[
            "agent",
            "greenhouse.yaml",
            "-o",
            "src/greenhouse.ts",
            "--watch",
        ],
        &dir,
    );
    let rust = Watching::start(
        &["rust", "greenhouse.yaml", "-o", "device.rs", "--watch"],
        &dir,
    );
    let module = dir.join("src/greenhouse.ts");
    let triggers = dir.join("src/greenhouse.triggers.ts");
    let source = dir.join("device.rs");
    wait_until("the first generation", || {
        read(&module).contains("toggle_irrigation") && read(&source).contains("ToggleIrrigation")
    });
    let mine = format!("// my handlers\n{}", read(&triggers));
    std::fs::write(&triggers, &mine).unwrap();
    let grown = original.replace("commands:\n", &format!("commands:\n{NEW_COMMAND}"))
        + "  - name: door_opened\n    description: The door opened\n";
    std::fs::write(&manifest, &grown).unwrap();
    wait_until("the regeneration", || {
        read(&module).contains("open_vent")
            && read(&triggers).contains("function doorOpened(")
            && read(&source).contains("open_vent")
    });
    assert!(read(&triggers).starts_with(&mine));
    agent.stop();
    rust.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A crate of its own (its own target directory: the suite's is locked while tests run)
/// that reads one manifest through build.rs and another through `#[lua_device]`.
fn rebuild_crate(dir: &Path) {
    let ws = root().canonicalize().unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "rebuild-check"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
lua-device = {{ path = "{ws}/runtime", default-features = false, features = ["std", "macros"] }}

[build-dependencies]
luagen = {{ path = "{ws}/codegen/core", default-features = false, features = ["format"] }}
"#,
            ws = ws.display()
        ),
    )
    .unwrap();
    // The workspace's resolve, so the crates built are the ones the workspace tested.
    std::fs::copy(ws.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("build.rs"),
        "fn main() {\n    luagen::Builder::new().manifest(\"built.yaml\").generate().unwrap();\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("built.yaml"),
        "name: built-lamp\ncommands:\n  - name: switch_on\n    description: On\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("macro.yaml"),
        "name: macro-lamp\ncommands:\n  - name: switch_on\n    description: On\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        r#"mod built {
    include!(concat!(env!("OUT_DIR"), "/built_lamp.rs"));
}

pub struct Lamp;

#[lua_device::lua_device("macro.yaml")]
impl Lamp {
    async fn switch_on(&self) {}
}
"#,
    )
    .unwrap();
}

/// `cargo build -v` of the crate: (succeeded, stderr).
fn cargo_build(dir: &Path) -> (bool, String) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-v", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root().join("target/rebuild-check"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cargo_rebuilds_when_a_manifest_changes_and_only_then() {
    let dir = scratch("rebuild");
    rebuild_crate(&dir);
    let (ok, log) = cargo_build(&dir);
    assert!(ok, "the crate builds:\n{log}");
    // Nothing changed: nothing is rebuilt (a check that could not fail would prove nothing).
    let (ok, log) = cargo_build(&dir);
    assert!(ok && log.contains("Fresh rebuild-check"), "{log}");
    // build.rs's manifest gains a command: the build script reruns and generates it.
    let built = dir.join("built.yaml");
    std::fs::write(
        &built,
        read(&built) + "  - name: dim\n    description: Dim\n",
    )
    .unwrap();
    let (ok, log) = cargo_build(&dir);
    assert!(ok, "{log}");
    assert!(
        log.contains("build-script-build"),
        "the build script reran:\n{log}"
    );
    let generated = std::fs::read_dir(root().join("target/rebuild-check/debug/build"))
        .unwrap()
        .map(|e| e.unwrap().path().join("out/built_lamp.rs"))
        .filter(|p| p.exists())
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .expect("build.rs wrote built_lamp.rs");
    assert!(read(&generated).contains("fn dim("), "{}", read(&generated));
    // The macro's manifest gains a command: the crate is recompiled, and the macro, having
    // read the new manifest, names the handler the impl block now lacks.
    let macro_yaml = dir.join("macro.yaml");
    std::fs::write(
        &macro_yaml,
        read(&macro_yaml) + "  - name: blink\n    description: Blink\n",
    )
    .unwrap();
    let (ok, log) = cargo_build(&dir);
    assert!(!ok && log.contains("blink"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
