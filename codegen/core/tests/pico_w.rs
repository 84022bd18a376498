//! `luagen firmware --target pico-w`: the generated project, file by file, for every manifest.
//!
//! The thumbv6m build of these projects is `pico_w_build.rs`; this suite is fast.

use std::path::{Path, PathBuf};

use luagen::emit::pico_w::PicoWProject;
use luagen::emit::project::{Ownership, Project};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn project(manifest: &Path) -> Project {
    let device =
        luagen::load_file(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    PicoWProject::new(&device)
        .project()
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()))
}

fn text<'p>(project: &'p Project, path: &str) -> &'p str {
    let file = project.file(path).unwrap_or_else(|| panic!("no {path}"));
    std::str::from_utf8(&file.contents).unwrap()
}

/// The files luagen computes from the manifest, as a reviewer reads them; the static ones
/// (main.rs, connection.rs, ...) and the vendored core are the templates themselves.
#[test]
fn generated_files_per_manifest() {
    for manifest in lua_testkit::corpus::valid_manifests() {
        let project = project(&manifest);
        let name = manifest.file_stem().unwrap().to_string_lossy().into_owned();
        for path in [
            "Cargo.toml",
            "src/config.rs",
            "src/device.rs",
            "src/handlers.rs",
            "README.md",
        ] {
            insta::assert_snapshot!(
                format!("{name}__{}", path.replace('/', "_")),
                text(&project, path)
            );
        }
    }
}

/// Each path once: a second entry would silently overwrite the first on disk.
#[test]
fn every_file_is_written_once() {
    for manifest in lua_testkit::corpus::valid_manifests() {
        let project = project(&manifest);
        let mut paths: Vec<_> = project.files.iter().map(|f| &f.path).collect();
        let all = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), all, "{}: a path repeats", manifest.display());
    }
}

#[test]
fn handlers_are_the_only_user_file() {
    let project = project(&workspace().join("manifests/greenhouse-sensor.yaml"));
    let user: Vec<_> = project
        .files
        .iter()
        .filter(|f| f.ownership == Ownership::User)
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(user, ["src/handlers.rs"]);
}

/// The project is self-contained: the core is vendored, nothing points back into this repo.
#[test]
fn project_is_self_contained() {
    let project = project(&workspace().join("manifests/greenhouse-sensor.yaml"));
    for path in [
        "lua-device/src/mqtt/codec.rs",
        "lua-device/src/ledger.rs",
        "lua-device/src/typed.rs",
    ] {
        assert!(project.file(path).is_some(), "{path} is vendored");
    }
    let cargo = text(&project, "Cargo.toml");
    // The greenhouse's checks hold types, bounds and required members only: no rule feature.
    assert!(cargo.contains(r#"lua-device = { path = "lua-device", features = [] }"#));
    // The vendored copy's rule features are the core's.
    let all_rules = |manifest: &str| {
        manifest
            .lines()
            .find(|l| l.starts_with("all-rules = "))
            .map(str::to_string)
    };
    let core_manifest =
        std::fs::read_to_string(workspace().join("runtime/core/Cargo.toml")).unwrap();
    assert!(all_rules(&core_manifest).is_some());
    assert_eq!(
        all_rules(text(&project, "lua-device/Cargo.toml")),
        all_rules(&core_manifest)
    );
    for file in &project.files {
        let s = String::from_utf8_lossy(&file.contents);
        assert!(
            !s.contains("../runtime") && !s.contains("/work/"),
            "{} points outside",
            file.path.display()
        );
    }
    // Every file of the runtime core goes with the project, byte for byte.
    let core = workspace().join("runtime/core/src");
    let mut modules = vec![core.clone()];
    while let Some(dir) = modules.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                modules.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&core)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let vendored = project
                .file(format!("lua-device/src/{relative}"))
                .unwrap_or_else(|| panic!("runtime/core/src/{relative} is not vendored"));
            assert_eq!(
                String::from_utf8_lossy(&vendored.contents),
                std::fs::read_to_string(&path).unwrap(),
                "{relative} vendored verbatim"
            );
        }
    }
}

/// Secrets come from `.env` at build time: even with them in luagen's environment, no
/// generated file holds one, the example leaves them empty, and git ignores `.env`. (The
/// thumbv6m build in `pico_w_build.rs` checks the same after a real build.)
#[test]
fn no_secret_is_written() {
    const SENTINEL: &str = "s3cret-sentinel-value";
    for key in [
        "LUA_WIFI_PASSWORD",
        "LUA_API_KEY",
        "LUA_WIFI_SSID",
        "LUA_AGENT_ID",
    ] {
        // SAFETY: no other test in this binary reads or writes these variables.
        unsafe { std::env::set_var(key, SENTINEL) };
    }
    for manifest in lua_testkit::corpus::valid_manifests() {
        let project = project(&manifest);
        for file in &project.files {
            assert_ne!(file.path, Path::new(".env"), "luagen never writes .env");
            let s = String::from_utf8_lossy(&file.contents);
            assert!(
                !s.contains(SENTINEL),
                "{} holds a secret",
                file.path.display()
            );
        }
        for line in text(&project, ".env.example").lines() {
            if let Some(value) = line
                .strip_prefix("LUA_WIFI_PASSWORD=")
                .or(line.strip_prefix("LUA_API_KEY="))
            {
                assert!(value.is_empty(), "example secrets stay empty: {line}");
            }
        }
        assert!(text(&project, ".gitignore").lines().any(|l| l == ".env"));
    }
}

#[test]
fn user_handlers_survive_regeneration() {
    let dir = std::env::temp_dir().join(format!("luagen-picow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let project = project(&workspace().join("manifests/greenhouse-sensor.yaml"));
    project.write(&dir, false).unwrap();
    std::fs::write(dir.join("src/handlers.rs"), "// mine").unwrap();
    let report = project.write(&dir, false).unwrap();
    assert_eq!(report.kept, [PathBuf::from("src/handlers.rs")]);
    assert_eq!(
        std::fs::read_to_string(dir.join("src/handlers.rs")).unwrap(),
        "// mine"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cargo fmt` in a generated project changes nothing: handlers.rs is the user's file and the
/// rest is what they read; the files generated from the manifest are marked `rustfmt::skip`.
#[test]
fn projects_are_rustfmt_clean() {
    for manifest in lua_testkit::corpus::valid_manifests() {
        let name = manifest.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = std::env::temp_dir().join(format!("luagen-fmt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        project(&manifest).write(&dir, true).unwrap();
        // The two crate roots: rustfmt follows their modules (and the `tls` one, cfg'd out).
        let out = std::process::Command::new("rustfmt")
            .current_dir(&dir)
            .args(["--edition", "2021", "--check", "src/main.rs", "build.rs"])
            .arg("lua-device/src/lib.rs")
            .output()
            .expect("rustfmt (rustup component add rustfmt)");
        assert!(
            out.status.success(),
            "{name}: rustfmt would change the project:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// For development: `LUAGEN_PICOW_OUT=dir cargo test -p luagen --test pico_w write_projects`
/// writes every project under `dir`.
#[test]
fn write_projects() {
    let Some(out) = std::env::var_os("LUAGEN_PICOW_OUT") else {
        return;
    };
    for manifest in lua_testkit::corpus::valid_manifests() {
        let name = manifest.file_stem().unwrap();
        project(&manifest)
            .write(&Path::new(&out).join(name), true)
            .unwrap();
    }
}

/// The project's build script, compiled here for its URL parsing.
#[allow(dead_code)]
#[path = "../../../templates/pico-w/build.rs"]
mod build_script;

/// A project as generated points at the hosted gateway (WebSocket over TLS), which its
/// default features can reach.
#[test]
fn the_default_broker_is_the_hosted_gateway() {
    let project = project(&workspace().join("manifests/greenhouse-sensor.yaml"));
    let example = text(&project, ".env.example");
    assert!(example
        .lines()
        .any(|l| l == "LUA_MQTT_URL=wss://mqtt.heylua.ai/mqtt"));
    assert!(text(&project, "Cargo.toml").contains("default = [\"tls\"]"));
    let b = build_script::broker("wss://mqtt.heylua.ai/mqtt");
    assert_eq!(
        (b.tls, b.websocket, b.host.as_str(), b.port, b.path.as_str()),
        (true, true, "mqtt.heylua.ai", 443, "/mqtt")
    );
}

/// Each scheme's transport, default port and path, as build.rs hands them to the firmware.
#[test]
fn broker_urls_map_to_transports() {
    for (url, expected) in [
        ("mqtt://h", (false, false, "h", 1883, "/mqtt")),
        (
            "tcp://10.0.0.2:1884",
            (false, false, "10.0.0.2", 1884, "/mqtt"),
        ),
        ("mqtts://h", (true, false, "h", 8883, "/mqtt")),
        ("ssl://h:9999/ignored", (true, false, "h", 9999, "/ignored")),
        // The official clients' defaults: ws:// on 8083, the path /mqtt.
        ("ws://h", (false, true, "h", 8083, "/mqtt")),
        ("ws://h:80/", (false, true, "h", 80, "/")),
        ("ws://h:9001/mqtt", (false, true, "h", 9001, "/mqtt")),
        (
            "wss://h/a/b?token=x#frag",
            (true, true, "h", 443, "/a/b?token=x"),
        ),
        ("wss://h?x=1", (true, true, "h", 443, "/mqtt?x=1")),
        ("wss://h:8443", (true, true, "h", 8443, "/mqtt")),
    ] {
        let b = build_script::broker(url);
        assert_eq!(
            (b.tls, b.websocket, b.host.as_str(), b.port, b.path.as_str()),
            expected,
            "{url}"
        );
    }
    for (url, message) in [
        ("http://h", "speaks MQTT over TCP"),
        ("wss://user:pw@h/mqtt", "user names and passwords"),
        ("ws://h:port/", "bad port"),
        ("wss:///mqtt", "no host"),
        ("ws://h/a b", "printable ASCII"),
    ] {
        let Err(panic) = std::panic::catch_unwind(|| build_script::broker(url)) else {
            panic!("{url} was accepted");
        };
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains(message), "{url}: {text}");
    }
}

/// `LUA_DEVICE_NAME` and `LUA_DEVICE_GROUP` as build.rs checks them: PROTOCOL.md's name rule,
/// with `{uid}` counted as the 16 hex digits it becomes.
#[test]
fn unit_names_are_checked_at_build_time() {
    for (name, group, uid) in [
        ("", "", false),
        ("greenhouse-north-2", "", false),
        ("greenhouse-{uid}", "greenhouse-sensors", true),
        ("{uid}", "", true),
        ("{uid}-pump", "g1", true),
        // 47 + 1 + 16 = 64 characters: just fits.
        (&format!("{}-{{uid}}", "a".repeat(47)), "", true),
    ] {
        assert_eq!(
            build_script::check_identity(name, group),
            Ok(uid),
            "{name:?} {group:?}"
        );
    }
    for (name, group, message) in [
        (
            "Greenhouse",
            "",
            "LUA_DEVICE_NAME=Greenhouse: a device name is lowercase",
        ),
        ("green house", "", "words"),
        ("green_house", "", "words"),
        ("green--house", "", "words"),
        ("-{uid}", "", "words"),
        ("{uid}{uid}", "", "may appear once"),
        ("{UID}", "", "lowercase"),
        ("a/b", "", "lowercase"),
        ("{id}", "", "lowercase"),
        (&format!("{}-{{uid}}", "a".repeat(48)), "", "at most 64"),
        (
            "ok",
            "Sensors",
            "LUA_DEVICE_GROUP=Sensors: a group is lowercase",
        ),
        ("ok", "a+b", "LUA_DEVICE_GROUP"),
    ] {
        let Err(text) = build_script::check_identity(name, group) else {
            panic!("{name:?} {group:?} was accepted");
        };
        assert!(text.contains(message), "{name:?} {group:?}: {text}");
    }
}

/// The firmware's own completion of the name, on the host.
#[path = "../../../templates/pico-w/src/identity.rs"]
mod identity;
// identity.rs is `no_std` code: its `alloc::` paths need the crate in scope here too.
extern crate alloc;

#[test]
fn the_uid_is_lower_case_hex_and_the_name_stays_valid() {
    let uid = [0xe6, 0x61, 0x4c, 0x31, 0x1b, 0x7c, 0x9a, 0x2f];
    let name = identity::unit_name("greenhouse-{uid}", &uid);
    assert_eq!(name, "greenhouse-e6614c311b7c9a2f");
    assert_eq!(
        format!("greenhouse-{}", build_script::SAMPLE_UID).len(),
        name.len(),
        "build.rs checks names with as many digits as the firmware writes"
    );
    assert_eq!(build_script::check_identity(&name, ""), Ok(false));
    assert_eq!(identity::unit_name("plain", &uid), "plain");
    assert_eq!(identity::unit_name("{uid}", &[0, 0xff]), "00ff");
}

/// A second board is its record plus its chip module: the Pico 2 W's project differs from the
/// Pico W's only where the RP2350 and the RM2 module do.
#[test]
fn the_pico_2_w_is_the_same_project_with_its_board_value() {
    use luagen::board::{PICO_2_W, PICO_W};
    let device = luagen::load_file(workspace().join("manifests/greenhouse-sensor.yaml")).unwrap();
    let one = PicoWProject::new(&device).board(&PICO_W).project().unwrap();
    let two = PicoWProject::new(&device)
        .board(&PICO_2_W)
        .project()
        .unwrap();
    let paths = |p: &Project| p.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&one), paths(&two));
    let differ: Vec<String> = one
        .files
        .iter()
        .zip(&two.files)
        .filter(|(a, b)| a.contents != b.contents)
        .map(|(a, _)| a.path.display().to_string())
        .collect();
    assert_eq!(
        differ,
        [
            "src/chip.rs",
            "Cargo.lock",
            "memory.x",
            ".cargo/config.toml",
            "Cargo.toml",
            "README.md",
            "src/config.rs",
        ],
        "only what the board changes differs"
    );
    let memory = text(&two, "memory.x");
    assert!(!memory.contains("BOOT2"), "{memory}");
    assert!(
        memory.contains("FLASH : ORIGIN = 0x10000000, LENGTH = 4096K"),
        "{memory}"
    );
    assert!(
        memory.contains("RAM   : ORIGIN = 0x20000000, LENGTH = 512K"),
        "{memory}"
    );
    assert!(memory.contains("KEEP(*(.start_block));"), "{memory}");
    let cargo = text(&two, "Cargo.toml");
    assert!(
        cargo.contains(r#"features = ["rp235xa", "time-driver""#),
        "{cargo}"
    );
    assert!(
        cargo.contains("name = \"greenhouse-sensor-pico-2-w\""),
        "{cargo}"
    );
    let config = text(&two, ".cargo/config.toml");
    assert!(
        config.contains("target = \"thumbv8m.main-none-eabihf\""),
        "{config}"
    );
    assert!(config.contains("runner = \"picotool load"), "{config}");
    assert!(text(&two, "src/chip.rs").contains("otp::get_chipid"));
    assert!(text(&one, "src/chip.rs").contains("blocking_unique_id"));
    assert!(text(&two, "src/config.rs").contains("cyw43_pio::RM2_CLOCK_DIVIDER"));
    assert!(text(&one, "src/config.rs").contains("cyw43_pio::DEFAULT_CLOCK_DIVIDER"));
    let readme = text(&two, "README.md");
    assert!(readme.contains("CARGO_TARGET_THUMBV8M_MAIN_NONE_EABIHF_LINKER=arm-none-eabi-ld"));
    assert!(readme.contains("picotool load -u -v -x -t elf target/thumbv8m.main-none-eabihf/release/greenhouse-sensor-pico-2-w"));
}

/// A pattern the chip cannot check is refused at the manifest's spans, every one at once.
#[test]
fn patterns_the_chip_cannot_check_are_refused_where_the_manifest_writes_them() {
    let manifest = r#"name: refusing-device
commands:
  - name: set_word
    description: A word on its own
    inputSchema:
      type: object
      properties:
        word: { type: string, pattern: '\bcat\b' }
        dog: { type: string, pattern: '\bdog' }
        digits: { type: string, pattern: '^[0-9]+$' }
"#;
    let device = luagen::load_str("refusing.yaml", manifest).unwrap();
    let refused = PicoWProject::new(&device).project().unwrap_err();
    assert_eq!(refused.len(), 2, "{refused}");
    let text = refused.to_string();
    assert!(
        text.starts_with(
            "refusing.yaml:8:40: error: the Raspberry Pi Pico W cannot check pattern `\\bcat\\b`"
        ),
        "{text}"
    );
    assert!(text.contains("refusing.yaml:9:39: error"), "{text}");
    assert!(!text.contains("[0-9]"), "{text}");
}
