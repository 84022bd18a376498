//! The MicroPython target on real tools: every generated module compiles with `mpy-cross` and
//! type-checks against the Pico W stubs; the conformance fixture, generated and run on the
//! MicroPython unix port, is indistinguishable on the wire from the official CPython client
//! except for PROTOCOL.md's improvements; it survives a broker restart with its persistent
//! session; regenerating keeps the user's handlers.

use std::path::Path;
use std::time::Duration;

use lua_testkit::conformance::assert_indistinguishable;
use lua_testkit::deps::workspace_root;
use lua_testkit::device::DeviceEnv;
use lua_testkit::fixtures;
use lua_testkit::gateway::Gateway;
use lua_testkit::micropython::{self, conformance_project};
use lua_testkit::session::{self, AGENT_ID, API_KEY};
use lua_testkit::Mosquitto;
use serde_json::json;

#[test]
fn every_generated_module_compiles_with_mpy_cross_and_type_checks_against_the_pico_w_stubs() {
    lua_testkit::require_micropython!(
        "every generated module compiles with mpy cross and type checks against the pico w stubs"
    );
    let manifests = lua_testkit::corpus::valid_manifests();
    assert!(manifests.len() >= 7, "{manifests:?}");
    for manifest in manifests {
        let dir = micropython::scratch_dir("check").unwrap();
        micropython::generate_ok(&manifest, &dir, &[]).unwrap();
        micropython::mpy_cross_all(&dir)
            .unwrap_or_else(|e| panic!("{}: {e:#}", manifest.display()));
        micropython::typecheck(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", manifest.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // The filled-in handlers of the conformance fixture are checked the same way.
    let dir = conformance_project().unwrap();
    micropython::typecheck(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mpy_option_precompiles_the_modules() {
    lua_testkit::require_micropython!("mpy option precompiles the modules");
    let dir = micropython::scratch_dir("mpy-option").unwrap();
    let manifest = workspace_root().join("manifests/label-printer.yaml");
    micropython::generate_ok(&manifest, &dir, &["--mpy"]).unwrap();
    for module in [
        "lua_runtime",
        "lua_connect",
        "lua_events",
        "lua_ws",
        "lua_trigger",
        "device_spec",
        "device_registration",
        "validators",
        "triggers",
    ] {
        let mpy = std::fs::read(dir.join(format!("{module}.mpy"))).unwrap();
        assert_eq!(mpy[0], b'M', "{module}.mpy is not MicroPython bytecode");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("lua_runtime.mpy"), "{readme}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_generated_device_is_indistinguishable_from_the_official_client() {
    lua_testkit::require_micropython!(
        "the generated device is indistinguishable from the official client"
    );
    let dir = conformance_project().unwrap();
    let device = micropython::device(&dir).unwrap();
    let generated = session::run(&device).unwrap_or_else(|e| panic!("{e:?}"));
    let official = session::run(&fixtures::official_device().expect("official client venv"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The duplicate id was answered from the cache: same response, and the handler ran
    // once (the next count is 2).
    let first = generated.responses_to(session::ids::COUNT_FIRST);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], first[1]);

    assert_indistinguishable(
        &official,
        &generated,
        "ms: must be an integer, found string",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn topic(suffix: &str) -> String {
    format!("{}{suffix}", session::prefix())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_broker_restart_and_receives_what_was_sent_while_away() {
    lua_testkit::require_micropython!(
        "reconnects after a broker restart and receives what was sent while away"
    );
    let mut broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        persistence: true,
        // Started as root, mosquitto drops to its own user and then cannot write the
        // session store into our temp dir; run as whoever started it (ignored otherwise).
        extra_config: vec!["user root".into()],
        ..Default::default()
    })
    .unwrap();
    let dir = conformance_project().unwrap();
    let launcher = micropython::device(&dir).unwrap();
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: broker.url(),
        manifest: None,
    };
    let mut device = launcher.spawn(&env).unwrap();
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(10))).unwrap();
    // The broker saves its sessions every second: give it a few chances to save the
    // device's, even on a loaded machine.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    broker.restart().unwrap();

    // The device waits a second before reconnecting: the command lands in its session.
    let watched = [topic("response"), topic("status")];
    let mut gateway = Gateway::connect(broker.port(), "restart-gateway", &watched)
        .await
        .unwrap();
    let command = json!({"commandId": "while-away", "command": "echo", "payload": {"x": 1}});
    gateway
        .publish(&topic("command"), command.to_string())
        .await
        .unwrap();
    let early = gateway.drain();
    assert!(
        !early
            .iter()
            .any(|d| d.topic == topic("status") && d.json().get("apiKey").is_some()),
        "the device re-registered before the command was sent: the test proves nothing"
    );
    gateway
        .expect(
            "the registration after the restart",
            Duration::from_secs(15),
            |d| d.topic == topic("status") && d.json().get("apiKey").is_some(),
        )
        .await
        .unwrap();
    let response = gateway
        .expect(
            "the response to the command sent while away",
            Duration::from_secs(20),
            |d| d.topic == topic("response"),
        )
        .await
        .unwrap();
    assert_eq!(
        response.json(),
        json!({"commandId": "while-away", "success": true, "data": {"x": 1}})
    );
    // And it still answers new commands on the new connection.
    let again = json!({"commandId": "after", "command": "count", "payload": {}});
    gateway
        .publish(&topic("command"), again.to_string())
        .await
        .unwrap();
    let response = gateway
        .expect(
            "the response after reconnecting",
            Duration::from_secs(10),
            |d| d.topic == topic("response") && d.json()["commandId"] == "after",
        )
        .await
        .unwrap();
    assert_eq!(response.json()["data"], json!({"count": 1}));
    let status = tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10))).unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn regenerating_keeps_edited_handlers_and_adds_stubs_for_new_commands() {
    lua_testkit::require_micropython!(
        "regenerating keeps edited handlers and adds stubs for new commands"
    );
    let dir = micropython::scratch_dir("regen").unwrap();
    let original = workspace_root().join("manifests/conformance-device.yaml");
    micropython::generate_ok(&original, &dir, &[]).unwrap();
    std::fs::write(dir.join("handlers.py"), micropython::CONFORMANCE_HANDLERS).unwrap();
    std::fs::write(dir.join("config.py"), "AGENT_ID = \"mine\"\n").unwrap();

    // Same manifest: nothing of the user's changes.
    let out = micropython::generate(&original, &dir, &[]).unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
    assert_eq!(read(&dir, "handlers.py"), micropython::CONFORMANCE_HANDLERS);
    assert_eq!(read(&dir, "config.py"), "AGENT_ID = \"mine\"\n");

    // The manifest gains a command: its stub is appended, the rest stays byte for byte.
    let grown = dir.join("grown.yaml");
    let text = std::fs::read_to_string(&original).unwrap().replace(
        "triggers:",
        "  - name: reboot_now\n    description: Reboot \"now\"\ntriggers:",
    );
    std::fs::write(&grown, text).unwrap();
    micropython::generate_ok(&grown, &dir, &[]).unwrap();
    let handlers = read(&dir, "handlers.py");
    assert!(handlers.starts_with(micropython::CONFORMANCE_HANDLERS));
    let added = &handlers[micropython::CONFORMANCE_HANDLERS.len()..];
    assert!(added.contains("def reboot_now(payload"), "{added}");
    assert!(!added.contains("def echo("), "{added}");
    assert!(read(&dir, "device_spec.py").contains("\"reboot_now\""));
    micropython::typecheck(&dir).unwrap();

    // --force: fresh stubs.
    micropython::generate_ok(&grown, &dir, &["--force"]).unwrap();
    assert!(read(&dir, "handlers.py")
        .contains("raise NotImplementedError(\"echo is not implemented yet\")"));
    assert!(
        !dir.join("secrets.py").exists(),
        "secrets.py is never written"
    );
    assert!(read(&dir, ".gitignore").lines().any(|l| l == "secrets.py"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Start the conformance project with `url` (and `config_py` as its config.py), then send
/// one echo through the broker's plain listener and return the response.
async fn echo_through(
    broker: &Mosquitto,
    url: String,
    config_py: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let dir = conformance_project()?;
    if let Some(config) = config_py {
        std::fs::write(dir.join("config.py"), config)?;
    }
    let launcher = micropython::device(&dir)?;
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: url,
        manifest: None,
    };
    let mut device = launcher.spawn(&env)?;
    tokio::task::block_in_place(|| device.wait_ready(Duration::from_secs(5)))?;
    let mut gateway =
        Gateway::connect(broker.port(), "transport-gateway", &[topic("response")]).await?;
    let big = "x".repeat(70_000);
    let command = json!({"commandId": "t1", "command": "echo", "payload": {"big": big}});
    gateway
        .publish(&topic("command"), command.to_string())
        .await?;
    let response = gateway
        .expect("the echo", Duration::from_secs(10), |d| {
            d.topic == topic("response")
        })
        .await?;
    let status = tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10)))?;
    assert!(status.success());
    std::fs::remove_dir_all(&dir)?;
    Ok(response.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_mqtt_over_websocket() {
    lua_testkit::require_micropython!("speaks mqtt over websocket");
    let ws_port = lua_testkit::ports::free_port();
    let broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config: vec![
            format!("listener {ws_port} 127.0.0.1"),
            "protocol websockets".into(),
        ],
        ..Default::default()
    })
    .unwrap();
    let response = echo_through(&broker, format!("ws://127.0.0.1:{ws_port}/mqtt"), None)
        .await
        .unwrap();
    assert_eq!(response["success"], true);
    // 70 kB each way: WebSocket frames with the 64-bit length.
    assert_eq!(response["data"]["big"].as_str().unwrap().len(), 70_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifies_the_broker_certificate() {
    lua_testkit::require_micropython!("verifies the broker certificate");
    let certs = lua_testkit::tls::Certificates::generate().unwrap();
    let tls_port = lua_testkit::ports::free_port();
    let wss_port = lua_testkit::ports::free_port();
    let mut config = certs.listener(tls_port);
    // The gateway's default transport: MQTT over WebSocket over TLS.
    let mut wss = certs.listener(wss_port);
    wss.insert(1, "protocol websockets".into());
    config.extend(wss);
    // Started as root, mosquitto drops to its own user, which cannot read our key.
    config.push("user root".into());
    let broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config: config,
        ..Default::default()
    })
    .unwrap();
    let url = format!("mqtts://localhost:{tls_port}");
    let trusted = format!(
        "TLS_VERIFY = True\nCA_FILE = {:?}\n",
        certs.path("ca.der").display().to_string()
    );
    let response = echo_through(&broker, url.clone(), Some(trusted.clone()))
        .await
        .unwrap();
    assert_eq!(response["success"], true);
    let wss = format!("wss://localhost:{wss_port}/mqtt");
    let response = echo_through(&broker, wss, Some(trusted)).await.unwrap();
    assert_eq!(response["success"], true);
    // A CA that did not sign the broker's certificate: no connection, so never ready.
    let untrusted = format!(
        "TLS_VERIFY = True\nCA_FILE = {:?}\n",
        certs.path("server.pem").display().to_string()
    );
    let err = echo_through(&broker, url, Some(untrusted))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("ready"), "{err:#}");
}

/// One generated project, two units (issue 16): config.py names them `unit-{uid}`, and on the
/// unix port, which has no `machine.unique_id()`, each process draws its own id. Both are
/// online at once on one broker with their own topics, client ids and registrations (the
/// group from config.py), neither knocks the other off, and both answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_units_of_one_project_are_two_devices() {
    lua_testkit::require_micropython!("two units of one project are two devices");
    let broker = Mosquitto::start().unwrap();
    let dir = conformance_project().unwrap();
    let config = read(&dir, "config.py");
    // Both settings are shown commented out at their defaults: uncommented, as a user would.
    assert!(
        config.contains("\n# DEVICE_NAME = None\n") && config.contains("\n# DEVICE_GROUP = None\n")
    );
    let config = config
        .replace(
            "\n# DEVICE_NAME = None\n",
            "\nDEVICE_NAME = \"unit-{uid}\"\n",
        )
        .replace("\n# DEVICE_GROUP = None\n", "\nDEVICE_GROUP = \"field\"\n");
    std::fs::write(dir.join("config.py"), config).unwrap();
    let agent = format!("lua/devices/{AGENT_ID}/");
    let watched = [format!("{agent}+/status"), format!("{agent}+/response")];
    let mut gateway = Gateway::connect(broker.port(), "units-gateway", &watched)
        .await
        .unwrap();
    let launcher = micropython::device(&dir).unwrap();
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: broker.url(),
        manifest: None,
    };
    let mut units = Vec::new();
    for _ in 0..2 {
        let mut unit = launcher.spawn(&env).unwrap();
        tokio::task::block_in_place(|| unit.wait_ready(Duration::from_secs(10))).unwrap();
        units.push(unit);
    }
    let mut names = Vec::new();
    while names.len() < 2 {
        let registration = gateway
            .expect("a unit's registration", Duration::from_secs(10), |d| {
                d.topic.ends_with("/status") && d.json().get("apiKey").is_some()
            })
            .await
            .unwrap();
        assert_eq!(registration.json()["group"], "field");
        let name =
            registration.topic[agent.len()..registration.topic.len() - "/status".len()].to_string();
        let uid = name.strip_prefix("unit-").expect(&name);
        assert!(
            uid.len() == 8
                && uid
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{name}"
        );
        names.push(name);
    }
    assert_ne!(names[0], names[1], "the two units drew the same id");
    for (i, name) in names.iter().enumerate() {
        let id = format!("unit-cmd-{i}");
        let command = json!({"commandId": id, "command": "echo", "payload": {"unit": name}});
        gateway
            .publish(&format!("{agent}{name}/command"), command.to_string())
            .await
            .unwrap();
        let response = gateway
            .expect("a unit's echo", Duration::from_secs(10), |d| {
                d.topic == format!("{agent}{name}/response")
            })
            .await
            .unwrap();
        assert_eq!(
            response.json(),
            json!({"commandId": id, "success": true, "data": {"unit": name}})
        );
    }
    // A unit knocked off by a twin would have reconnected and registered again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again: Vec<String> = gateway
        .drain()
        .into_iter()
        .filter(|d| d.json().get("apiKey").is_some())
        .map(|d| d.topic)
        .collect();
    assert!(again.is_empty(), "registered again: {again:?}");
    for mut unit in units {
        let status =
            tokio::task::block_in_place(|| unit.terminate(Duration::from_secs(10))).unwrap();
        assert!(status.success());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A name outside PROTOCOL.md's rule stops the device at start, saying which setting and why.
#[test]
fn a_bad_unit_name_is_refused_at_start() {
    lua_testkit::require_micropython!("a bad unit name is refused at start");
    let dir = conformance_project().unwrap();
    for (setting, message) in [
        ("DEVICE_NAME = \"Unit_{uid}\"", "DEVICE_NAME 'Unit_"),
        (
            "DEVICE_GROUP = \"a/b\"",
            "DEVICE_GROUP 'a/b' must be lowercase letters",
        ),
    ] {
        let key = setting.split(' ').next().unwrap();
        let config = read(&dir, "config.py")
            .replace("\nAGENT_ID = \"\"\n", "\nAGENT_ID = \"a\"\n")
            .replace(&format!("\n# {key} = None\n"), &format!("\n{setting}\n"));
        std::fs::write(dir.join("config.py"), &config).unwrap();
        let script = "import config, device_spec, handlers, lua_runtime\n\
                      lua_runtime.Device(device_spec, handlers, config, None)\n";
        let err = micropython::run_script(&dir, script)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(message) && err.contains("words joined by hyphens"),
            "{err}"
        );
        std::fs::write(
            dir.join("config.py"),
            config.replace(setting, &format!("# {key} = None")),
        )
        .unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Where a unit's name and group come from: the environment (unix port), then config.py,
/// then the board's secrets.py, then the manifest.
#[test]
fn a_units_name_comes_from_config_then_secrets_then_the_manifest() {
    lua_testkit::require_micropython!(
        "a units name comes from config then secrets then the manifest"
    );
    let dir = conformance_project().unwrap();
    let config = read(&dir, "config.py").replace("\nAGENT_ID = \"\"\n", "\nAGENT_ID = \"a\"\n");
    let script = "import config, device_spec, handlers, lua_runtime, secrets\n\
                  d = lua_runtime.Device(device_spec, handlers, config, secrets)\n\
                  print(d.name, d.group, d.prefix)\n";
    for (in_config, in_secrets, expected) in [
        (
            "",
            "",
            "conformance-device conformance lua/devices/a/conformance-device/",
        ),
        (
            "",
            "DEVICE_NAME = \"board-7\"\n",
            "board-7 conformance lua/devices/a/board-7/",
        ),
        (
            "DEVICE_NAME = \"shared\"\nDEVICE_GROUP = \"north\"\n",
            "DEVICE_NAME = \"board-7\"\n",
            "shared north lua/devices/a/shared/",
        ),
    ] {
        std::fs::write(dir.join("config.py"), format!("{config}\n{in_config}")).unwrap();
        std::fs::write(dir.join("secrets.py"), in_secrets).unwrap();
        let out = micropython::run_script(&dir, script).unwrap();
        // The last line: a port without a watchdog says so first.
        assert_eq!(
            out.lines().last().unwrap_or(""),
            expected,
            "{in_config:?} {in_secrets:?}"
        );
    }
    // On the unix port the environment comes first, as LUA_AGENT_ID does.
    let out = std::process::Command::new(micropython::venv_tool("micropython").unwrap())
        .arg("_luagen_test_script.py")
        .current_dir(&dir)
        .env("LUA_DEVICE_NAME", "from-env-{uid}")
        .env("LUA_DEVICE_GROUP", "env-group")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let (name, rest) = printed.lines().last().unwrap().split_once(' ').unwrap();
    let uid = name.strip_prefix("from-env-").expect(name);
    assert_eq!(uid.len(), 8, "{printed}");
    assert!(
        rest.starts_with("env-group lua/devices/a/from-env-"),
        "{printed}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
