//! The `luagen` binary as a user runs it: output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn luagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_luagen"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the luagen binary runs")
}

/// `luagen args...`, failed if it is still running after `limit`: for what must not hang.
fn luagen_within(limit: Duration, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_luagen"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the luagen binary runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("waiting for luagen").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`luagen {}` still runs after {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("luagen's output")
}

/// `luagen args...` in an address space of `mem_mib`, failed if still running after `limit`:
/// a loader that expands what it reads without bound dies here instead of filling the machine.
fn luagen_confined(limit: Duration, mem_mib: u64, args: &[&str]) -> Output {
    let mut shell_args = vec![
        "-c".to_string(),
        format!("ulimit -v {}; exec \"$0\" \"$@\"", mem_mib * 1024),
        env!("CARGO_BIN_EXE_luagen").to_string(),
    ];
    shell_args.extend(args.iter().map(|a| a.to_string()));
    let mut child = Command::new("sh")
        .args(&shell_args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("waiting for luagen").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`luagen {}` still runs after {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("luagen's output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_one_ok_line_per_valid_manifest() {
    let out = luagen(&[
        "check",
        "manifests/greenhouse-sensor.yaml",
        "manifests/label-printer.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "manifests/greenhouse-sensor.yaml: ok (greenhouse-sensor, 2 commands, 1 trigger)",
            "manifests/label-printer.yaml: ok (label-printer, 3 commands, 2 triggers)",
        ]
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn check_counts_agree_with_their_numbers() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("one-command.yaml");
    std::fs::write(
        &path,
        "name: one-command\ndescription: One command, no trigger\n\
         commands:\n  - name: ping\n    description: Answer\n",
    )
    .unwrap();
    let out = luagen(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(": ok (one-command, 1 command, 0 triggers)\n"),
        "{}",
        text(&out.stdout)
    );

    let out = luagen(&["check", "codegen/core/tests/corpus/invalid/empty.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).ends_with("empty.yaml: 1 error\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let out = luagen(&[
        "check",
        "manifests/greenhouse-sensor.yaml",
        "codegen/core/tests/corpus/invalid/unknown-keys.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    insta::assert_snapshot!(stderr);
    assert!(text(&out.stdout).contains("greenhouse-sensor.yaml: ok"));
}

#[test]
fn unreadable_files_and_bad_usage_exit_2() {
    let out = luagen(&["check", "no/such/device.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/device.yaml: cannot read"));

    let out = luagen(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let out = luagen(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_prints_the_committed_manifest_schema() {
    let out = luagen(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("manifests/device.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

#[test]
fn tools_lists_what_the_agent_sees() {
    let out = luagen(&["tools", "manifests/greenhouse-sensor.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!(tools);
}

/// One manifest, many units: `--device-name` shows a unit's tools, the same tools under its
/// name; a name outside the rule, or one still holding `{uid}`, is a usage error.
#[test]
fn tools_for_one_unit_carry_its_name() {
    let manifest = "manifests/greenhouse-sensor.yaml";
    let parse = |out: &std::process::Output| -> serde_json::Value {
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = parse(&luagen(&["tools", manifest]));
    let unit = parse(&luagen(&[
        "tools",
        manifest,
        "--device-name",
        "greenhouse-e6614c311b7c9a2f",
    ]));
    let tools = plain.as_array().unwrap();
    assert!(!tools.is_empty());
    assert_eq!(tools.len(), unit.as_array().unwrap().len());
    for (a, b) in tools.iter().zip(unit.as_array().unwrap()) {
        let command = a["name"].as_str().unwrap().rsplit("__").next().unwrap();
        assert_eq!(
            b["name"],
            format!("device__greenhouse-e6614c311b7c9a2f__{command}")
        );
        assert_eq!(a["inputSchema"], b["inputSchema"]);
        assert_eq!(a["description"], b["description"]);
    }
    for (name, message) in [
        ("Greenhouse", "lowercase letters and digits"),
        ("green--house", "lowercase letters and digits"),
        ("greenhouse-{uid}", "in place of `{uid}`"),
    ] {
        let out = luagen(&["tools", manifest, "--device-name", name]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
}

/// The entries of one section ("Commands:", "Arguments:", "Options:") of a help page, as
/// (argument, help), whether clap prints the help beside the argument or on the lines under it.
fn help_entries(page: &str, heading: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    for line in page.lines() {
        if !line.is_empty() && !line.starts_with(' ') {
            inside = line == heading;
            continue;
        }
        let body = line.trim();
        if !inside || body.is_empty() {
            continue;
        }
        // Arguments start at column 2 (6 for long-only options); help under them at 10.
        if line.len() - line.trim_start().len() < 10 {
            let (argument, help) = body.split_once("  ").unwrap_or((body, ""));
            entries.push((argument.to_string(), help.trim().to_string()));
        } else if let Some((_, help)) = entries.last_mut() {
            help.push(' ');
            help.push_str(body);
        }
    }
    entries
}

/// An argument's help without what clap adds on its own: `[default: ..]`, `[env: ..]`,
/// `[possible values: ..]` and the "Possible values:" list.
fn own_words(help: &str) -> &str {
    let mut rest = help.split("Possible values:").next().unwrap_or("").trim();
    while let Some(open) = rest.strip_suffix(']').and_then(|r| r.rfind('[')) {
        let note = &rest[open + 1..];
        if !["default:", "env:", "possible values:", "aliases:"]
            .iter()
            .any(|n| note.starts_with(n))
        {
            break;
        }
        rest = rest[..open].trim_end();
    }
    rest
}

#[test]
fn every_argument_of_every_command_has_help_and_every_command_its_exit_codes() {
    let top = luagen(&["--help"]);
    assert_eq!(top.status.code(), Some(0));
    let top = text(&top.stdout);
    let commands: Vec<String> = help_entries(&top, "Commands:")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name != "help")
        .collect();
    assert!(commands.iter().any(|c| c == "check"), "{top}");
    let mut pages = vec![("luagen".to_string(), top)];
    for command in &commands {
        let out = luagen(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        pages.push((format!("luagen {command}"), text(&out.stdout)));
    }

    let mut problems = Vec::new();
    for (name, page) in &pages {
        for heading in ["Commands:", "Arguments:", "Options:"] {
            for (argument, help) in help_entries(page, heading) {
                if own_words(&help).is_empty() {
                    problems.push(format!("{name}: {argument} has no help"));
                }
            }
        }
        if name != "luagen" && !page.contains("\nExit codes:\n  0  ") {
            problems.push(format!("{name}: no exit codes"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The parser reads both of clap's layouts; were it to find nothing, the test would prove
    // nothing.
    let check = &pages.iter().find(|(n, _)| n == "luagen check").unwrap().1;
    assert_eq!(
        help_entries(check, "Arguments:")[0].0,
        "<MANIFESTS>...",
        "{check}"
    );
    let firmware = &pages
        .iter()
        .find(|(n, _)| n == "luagen firmware")
        .unwrap()
        .1;
    assert!(help_entries(firmware, "Options:").iter().any(
        |(a, h)| a == "--target <TARGET>" && own_words(h) == "What the firmware is written in"
    ));
    assert_eq!(own_words("[env: X=] [default: y]"), "");
}

#[test]
fn agent_commands_without_a_broker_say_how_to_get_one_and_stop() {
    // A port nobody listens on: the system's pick, released at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    for command in [
        &["devices"][..],
        &["call", "some-device", "some_command"],
        &["monitor"],
    ] {
        let args: Vec<&str> = command.iter().copied().chain(["--broker", &url]).collect();
        // Refused at once; the bound is the connect timeout (5 s), with room for a slow machine.
        let out = luagen_within(Duration::from_secs(15), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no MQTT broker answered at {url}"))
                && stderr.contains("`luagen dev")
                && stderr.contains("--broker URL"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn alias_bombs_are_refused_in_bounded_memory_and_time() {
    let dir = std::env::temp_dir().join(format!("luagen-bombs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The corpus bomb (9^9 values in 1.3 KB), a wider one as a whole document, and one whose
    // expansion hides in a schema's `enum` where later stages would multiply the cost.
    let mut wide = String::from("a: &a [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        let items = vec![format!("*{prev}"); 16].join(", ");
        wide.push_str(&format!("{next}: &{next} [{items}]\n"));
    }
    let in_enum = format!(
        "name: enum-bomb\ncommands:\n  - name: go\n    description: d\n    inputSchema:\n      \
         type: object\n      properties:\n        x:\n          enum: &e8 [{}]\n",
        (0..8).map(|_| "*e7").collect::<Vec<_>>().join(", ")
    );
    let mut enum_anchors = String::from("x0: &e0 [lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..8 {
        let items = vec![format!("*e{}", i - 1); 8].join(", ");
        enum_anchors.push_str(&format!("x{i}: &e{i} [{items}]\n"));
    }
    let cases = [
        (
            "corpus",
            std::fs::read_to_string(
                root().join("codegen/core/tests/corpus/invalid/alias-bomb.yaml"),
            )
            .unwrap(),
        ),
        ("wide", wide),
        ("in-enum", format!("{enum_anchors}{in_enum}")),
    ];
    for (name, manifest) in cases {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, manifest).unwrap();
        let out = luagen_confined(
            Duration::from_secs(60),
            512,
            &["check", path.to_str().unwrap()],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("more than 10000 values"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{name}.yaml:")),
            "{name}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn firmware_takes_a_language_and_a_board_and_keeps_its_first_spelling() {
    let manifest = root().join("manifests/greenhouse-sensor.yaml");
    let manifest = manifest.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("luagen-cli-board-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (old, new) = (dir.join("old"), dir.join("new"));
    let out = luagen(&[
        "firmware",
        "--target",
        "pico-w",
        manifest,
        "-o",
        old.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = luagen(&[
        "firmware",
        "--target",
        "rust-embassy",
        "--board",
        "pico-w",
        manifest,
        "-o",
        new.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in [
        "Cargo.toml",
        "memory.x",
        ".cargo/config.toml",
        "src/config.rs",
        "README.md",
    ] {
        let (a, b) = (
            std::fs::read_to_string(old.join(file)).unwrap(),
            std::fs::read_to_string(new.join(file)).unwrap(),
        );
        assert_eq!(a, b, "{file}");
    }
    let memory = std::fs::read_to_string(new.join("memory.x")).unwrap();
    assert!(
        memory.contains("RAM   : ORIGIN = 0x20000000, LENGTH = 264K"),
        "{memory}"
    );
    let out = luagen(&[
        "firmware",
        "--target",
        "micropython",
        "--board",
        "pico-x",
        manifest,
        "-o",
        dir.join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("[possible values: pico-w, pico-2-w]"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pattern_a_target_cannot_check_is_refused_at_its_line_and_column() {
    let dir = std::env::temp_dir().join(format!("luagen-cli-refusal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("device.yaml");
    std::fs::write(
        &manifest,
        "name: refusing-device\ncommands:\n  - name: set_word\n    description: A word\n    inputSchema:\n      type: object\n      properties:\n        word: { type: string, pattern: '\\bcat\\b' }\n",
    )
    .unwrap();
    for target in ["micropython", "rust-embassy"] {
        let out = luagen(&[
            "firmware",
            "--target",
            target,
            manifest.to_str().unwrap(),
            "-o",
            dir.join(target).to_str().unwrap(),
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{target}: {stderr}");
        assert!(
            stderr.contains("device.yaml:8:40: error: ")
                && stderr.contains("cannot check pattern `\\bcat\\b`"),
            "{target}: {stderr}"
        );
        assert!(
            stderr.contains("1 problem this target cannot generate"),
            "{target}: {stderr}"
        );
        assert!(!dir.join(target).exists(), "{target}: nothing is written");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dev_checks_its_trigger_results_before_starting() {
    // Each is refused at parse time, before any port is bound: exit 2 naming the problem.
    for (args, message) in [
        (
            &["--trigger-result", "alert={bad"][..],
            "the result for alert is not JSON",
        ),
        (&["--trigger-result", "alert"], "expected NAME=JSON"),
        (&["--trigger-result", "no-such=1"], "not a trigger name"),
        (
            &["--trigger-result", "a=1", "--trigger-result", "a=2"],
            "gives a more than one result",
        ),
        (
            &["--trigger-script", "true", "--trigger-timeout-ms", "0"],
            "must be more than 0",
        ),
    ] {
        let mut all = vec!["dev", "--insecure-any-key", "--listen", "127.0.0.1:1"];
        all.extend_from_slice(args);
        let out = luagen_within(Duration::from_secs(15), &all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let help = text(&luagen(&["dev", "--help"]).stdout);
    for flag in [
        "--trigger-result <NAME=JSON>",
        "--trigger-script <CMD>",
        "--trigger-timeout-ms <MS>",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

#[test]
fn send_without_a_broker_says_how_to_get_one_and_a_bad_result_is_a_usage_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    for command in [
        &["send", "error", "some-device", "CODE", "text"][..],
        &[
            "send",
            "trigger-result",
            "some-device",
            "alert",
            "{\"ok\":true}",
        ],
    ] {
        let args: Vec<&str> = command.iter().copied().chain(["--broker", &url]).collect();
        let out = luagen_within(Duration::from_secs(15), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no MQTT broker answered at {url}"))
                && stderr.contains("`luagen dev"),
            "{command:?}: {stderr}"
        );
    }
    let out = luagen(&["send", "trigger-result", "d", "alert", "{nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not JSON"),
        "{}",
        text(&out.stderr)
    );
    for what in ["error", "trigger-result"] {
        let help = text(&luagen(&["send", what, "--help"]).stdout);
        assert!(help.contains("\nExit codes:\n  0  "), "{what}: {help}");
    }
}

#[test]
fn agent_writes_the_module_and_keeps_the_trigger_handlers() {
    let out_dir = std::env::temp_dir().join(format!("luagen-agent-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let module = out_dir.join("src/devices/greenhouse-sensor.ts");
    let module_arg = module.to_str().unwrap();
    let first = luagen(&[
        "agent",
        "manifests/greenhouse-sensor.yaml",
        "-o",
        module_arg,
    ]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let handlers = out_dir.join("src/devices/greenhouse-sensor.triggers.ts");
    assert!(
        text(&first.stdout).contains("wrote"),
        "{}",
        text(&first.stdout)
    );
    assert!(std::fs::read_to_string(&module)
        .unwrap()
        .contains("export const greenhouseSensor = defineDevice({"));
    // The user's handler survives regeneration; --force replaces it.
    std::fs::write(
        &handlers,
        "export async function humidityAlert() { return 1; }\n",
    )
    .unwrap();
    let again = luagen(&[
        "agent",
        "manifests/greenhouse-sensor.yaml",
        "-o",
        module_arg,
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("kept"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&handlers).unwrap(),
        "export async function humidityAlert() { return 1; }\n"
    );
    let forced = luagen(&[
        "agent",
        "manifests/greenhouse-sensor.yaml",
        "-o",
        module_arg,
        "--force",
    ]);
    assert!(forced.status.success());
    assert!(std::fs::read_to_string(&handlers)
        .unwrap()
        .contains("device.HumidityAlert"));
    // Not a module path, an invalid manifest: usage (2), invalid (1), nothing written.
    let bad = luagen(&[
        "agent",
        "manifests/greenhouse-sensor.yaml",
        "-o",
        "out/device.js",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    let invalid = luagen(&[
        "agent",
        "codegen/core/tests/corpus/invalid/bad-names.yaml",
        "-o",
        out_dir.join("bad.ts").to_str().unwrap(),
    ]);
    assert_eq!(invalid.status.code(), Some(1), "{}", text(&invalid.stderr));
    assert!(!out_dir.join("bad.ts").exists());
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn docs_prints_or_writes_the_page_and_export_writes_asyncapi_in_yaml_or_json() {
    let page = luagen(&["docs", "manifests/greenhouse-sensor.yaml"]);
    assert!(page.status.success(), "{}", text(&page.stderr));
    let page = text(&page.stdout);
    assert!(page.starts_with("<!-- Generated by luagen docs"), "{page}");
    assert!(page.contains("`device__greenhouse-sensor__toggle_irrigation`"));
    let yaml = luagen(&["export", "asyncapi", "manifests/greenhouse-sensor.yaml"]);
    assert!(yaml.status.success(), "{}", text(&yaml.stderr));
    assert!(text(&yaml.stdout).starts_with("asyncapi: \"3.0.0\"\n"));

    let out_dir = std::env::temp_dir().join(format!("luagen-export-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let json_path = out_dir.join("asyncapi.json");
    let written = luagen(&[
        "export",
        "asyncapi",
        "manifests/label-printer.yaml",
        "-o",
        json_path.to_str().unwrap(),
        "--api-version",
        "2.1.0",
    ]);
    assert!(written.status.success(), "{}", text(&written.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(doc["info"]["version"], "2.1.0");
    assert_eq!(doc["info"]["title"], "label-printer");
    let forced = luagen(&[
        "export",
        "asyncapi",
        "manifests/label-printer.yaml",
        "--format",
        "json",
    ]);
    assert!(text(&forced.stdout).starts_with("{\n  \"asyncapi\": \"3.0.0\""));
    let md = out_dir.join("device.md");
    let docs = luagen(&[
        "docs",
        "manifests/label-printer.yaml",
        "-o",
        md.to_str().unwrap(),
    ]);
    assert!(docs.status.success(), "{}", text(&docs.stderr));
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("# label-printer"));

    // An invalid manifest is 1; an unwritable --out, an unknown format or export are 2.
    for command in [&["docs"][..], &["export", "asyncapi"]] {
        let mut args = command.to_vec();
        args.push("codegen/core/tests/corpus/invalid/bad-names.yaml");
        assert_eq!(luagen(&args).status.code(), Some(1), "{args:?}");
        let mut args = command.to_vec();
        args.extend([
            "manifests/label-printer.yaml",
            "-o",
            "/nonexistent-dir/x.out",
        ]);
        assert_eq!(luagen(&args).status.code(), Some(2), "{args:?}");
    }
    let bad_format = luagen(&[
        "export",
        "asyncapi",
        "manifests/label-printer.yaml",
        "--format",
        "xml",
    ]);
    assert_eq!(bad_format.status.code(), Some(2));
    assert_eq!(
        luagen(&["export", "openapi", "manifests/label-printer.yaml"])
            .status
            .code(),
        Some(2)
    );
    // The nested command documents itself as the others do.
    let help = text(&luagen(&["export", "asyncapi", "--help"]).stdout);
    assert!(help.contains("\nExit codes:\n  0  "), "{help}");
    for heading in ["Arguments:", "Options:"] {
        for (argument, words) in help_entries(&help, heading) {
            assert!(!own_words(&words).is_empty(), "{argument} has no help");
        }
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// `luagen args...` run in `dir` (for `REV:path`, which git reads from the current directory).
fn luagen_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_luagen"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the luagen binary runs")
}

#[test]
fn diff_classifies_changes_and_fails_on_breaking_only_when_asked() {
    let pair = |rule: &str| {
        let dir = format!("codegen/core/tests/diff/{rule}");
        (format!("{dir}/old.yaml"), format!("{dir}/new.yaml"))
    };
    let (old, new) = pair("bound-tightened");
    let plain = luagen(&["diff", &old, &new]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    let out = text(&plain.stdout);
    assert!(out.contains("2 breaking, 1 compatible, 0 info"), "{out}");
    assert!(out.contains("\nbreaking (2):\n  commands/set_level/inputSchema/properties/level/maximum  [breaks agents]\n"), "{out}");
    assert!(out.contains(&format!("at {new}:6:84")), "{out}");

    let failing = luagen(&["diff", &old, &new, "--fail-on-breaking"]);
    assert_eq!(failing.status.code(), Some(1));
    assert_eq!(failing.stdout, plain.stdout);

    let (old, new) = pair("bound-loosened");
    let json = luagen(&["diff", "--format", "json", "--fail-on-breaking", &new, &old]);
    // Backwards, loosened is tightened: the output's maxItems shrinks (compatible), the input's
    // minimum rises (breaking).
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["summary"]["breaking"], 1, "{report}");
    assert_eq!(report["findings"][0]["kind"], "bound-tightened");
    assert_eq!(
        report["findings"][0]["breaks"],
        serde_json::json!(["agents"])
    );
    // Compatible changes pass the gate.
    let (old, new) = pair("timeout-changed");
    let compatible = luagen(&["diff", "--fail-on-breaking", &old, &new]);
    assert_eq!(
        compatible.status.code(),
        Some(0),
        "{}",
        text(&compatible.stdout)
    );

    let same = luagen(&[
        "diff",
        "manifests/smart-lock.yaml",
        "manifests/smart-lock.yaml",
    ]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(
        text(&same.stdout),
        "manifests/smart-lock.yaml -> manifests/smart-lock.yaml: no changes\n"
    );
}

#[test]
fn diff_of_an_unreadable_or_invalid_manifest_is_2_with_its_problems() {
    let missing = luagen(&["diff", "manifests/smart-lock.yaml", "no/such.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("no/such.yaml: cannot read"),
        "{}",
        text(&missing.stderr)
    );
    // 2, not 1: with --fail-on-breaking, 1 only ever means a breaking change.
    let invalid = luagen(&[
        "diff",
        "--fail-on-breaking",
        "codegen/core/tests/corpus/invalid/unknown-keys.yaml",
        "manifests/smart-lock.yaml",
    ]);
    assert_eq!(invalid.status.code(), Some(2), "{}", text(&invalid.stderr));
    assert!(
        text(&invalid.stderr).contains("error:"),
        "{}",
        text(&invalid.stderr)
    );
    assert!(invalid.stdout.is_empty());
    let usage = luagen(&["diff", "manifests/smart-lock.yaml"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn diff_reads_rev_colon_path_through_git() {
    let dir = std::env::temp_dir().join(format!("luagen-diff-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    let manifests = root().join("codegen/core/tests/diff/value-removed");
    let old = std::fs::read_to_string(manifests.join("old.yaml")).unwrap();
    let new = std::fs::read_to_string(manifests.join("new.yaml")).unwrap();
    git(&["init", "-q"]);
    std::fs::write(dir.join("device.yaml"), &old).unwrap();
    git(&["add", "device.yaml"]);
    git(&["commit", "-q", "-m", "v1"]);
    std::fs::write(dir.join("device.yaml"), &new).unwrap();

    let out = luagen_in(
        &dir,
        &[
            "diff",
            "--fail-on-breaking",
            "HEAD:device.yaml",
            "device.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    assert!(
        out.starts_with("HEAD:device.yaml -> device.yaml: 1 breaking, 1 compatible"),
        "{out}"
    );
    assert!(out.contains("at device.yaml:6:56"), "{out}");

    let unknown_rev = luagen_in(&dir, &["diff", "v9:device.yaml", "device.yaml"]);
    assert_eq!(unknown_rev.status.code(), Some(2));
    let err = text(&unknown_rev.stderr);
    assert!(
        err.contains("error: cannot read v9:device.yaml from git:"),
        "{err}"
    );
    let unknown_path = luagen_in(&dir, &["diff", "HEAD:nothere.yaml", "device.yaml"]);
    assert_eq!(unknown_path.status.code(), Some(2));
    let err = text(&unknown_path.stderr);
    assert!(
        err.contains("nothere.yaml") && err.contains("does not exist"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cdn_commands_document_themselves_and_refuse_an_unreachable_cdn() {
    for what in ["put", "get"] {
        let help = text(&luagen(&["cdn", what, "--help"]).stdout);
        assert!(help.contains("\nExit codes:\n  0  "), "{what}: {help}");
        assert!(help.contains("LUA_CDN_URL"), "{what}: {help}");
    }
    // A port nobody listens on: the system's pick, released at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let out = luagen(&[
        "cdn",
        "get",
        "0123456789abcdef0123456789abcdef.png",
        "--cdn",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Connection refused"));
}
