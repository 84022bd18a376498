//! The generated MicroPython validators, run on the MicroPython unix port, accept exactly the
//! payloads the `jsonschema` crate accepts for the command's (standalone) input schema, and
//! name the field and the rule when they refuse.
//!
//! Needs the workspace venv (`cargo xtask deps` installs the unix port into
//! `target/lua-venv`).

use std::path::{Path, PathBuf};
use std::process::Command;

use luagen::emit::micropython::escape::py_str;
use luagen::emit::micropython::{MicroPythonProject, Options};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn micropython() -> PathBuf {
    let bin = root().join("target/lua-venv/bin/micropython");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo xtask deps` to install the MicroPython unix port",
        bin.display()
    );
    bin
}

/// What the generated validator says of each payload: `None` (valid) or its message.
fn run_validators(manifest: &str, command: &str, payloads: &[Value]) -> Vec<Option<String>> {
    let device = luagen::load_file(root().join(manifest)).unwrap();
    let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "luagen-mpy-validators-{}-{command}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    project.write(&dir, true).unwrap();
    let cases = serde_json::to_string(&payloads).unwrap();
    let script = format!(
        r#"import json
import device_spec
import validators
check = device_spec.COMMANDS[{command}][1]
for payload in json.loads({cases}):
    try:
        check(payload)
        print("ok")
    except validators.Invalid as e:
        print("invalid " + e.args[0].replace("\n", "\\n"))
"#,
        command = py_str(command),
        cases = py_str(&cases),
    );
    std::fs::write(dir.join("check.py"), script).unwrap();
    let out = Command::new(micropython())
        .arg("check.py")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "micropython failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let results: Vec<Option<String>> = stdout
        .lines()
        .map(|l| l.strip_prefix("invalid ").map(str::to_string))
        .collect();
    assert_eq!(results.len(), payloads.len(), "{stdout}");
    results
}

/// Run the cases on the device and compare every verdict with the jsonschema crate; return
/// the messages for the invalid ones.
fn agree(manifest: &str, command: &str, payloads: &[Value]) -> Vec<Option<String>> {
    let device = luagen::load_file(root().join(manifest)).unwrap();
    let c = device.commands.iter().find(|c| c.name == command).unwrap();
    let schema = device.standalone_schema(c.input_schema.as_ref().unwrap());
    let reference = jsonschema::validator_for(&schema).unwrap();
    let results = run_validators(manifest, command, payloads);
    for (payload, result) in payloads.iter().zip(&results) {
        assert_eq!(
            result.is_none(),
            reference.is_valid(payload),
            "{manifest} {command}: the device says {result:?} of {payload}, jsonschema disagrees"
        );
    }
    results
}

#[test]
fn every_shape_agrees_with_jsonschema() {
    lua_testkit::require_micropython!("every shape agrees with jsonschema");
    let base = json!({"enabled": true, "percent": 50});
    let with = |key: &str, value: Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    let full = json!({
        "enabled": false, "percent": 0, "offset": -128, "port": 1, "count": 0, "delta": -5,
        "step": 15, "ratio": 1, "temperature": -273.15, "name": "ünï", "when": "2024-01-01T00:00:00Z",
        "note": null, "level": "high", "maybe_level": null, "priority": 3, "version": 2,
        "tags": ["a", "b"], "labels": {"x": "y"}, "extra": {"any": [1]}, "anything": null,
        "address": {"street": "Main", "zip": "12345"},
        "tree": {"label": "root", "children": [{"label": "leaf", "children": []}]},
        "shipping": {"carrier": "dhl", "parcels": [{"weight": 0.5}]},
        "shape": {"kind": "circle", "radius": 2},
        "value": ["s"]
    });
    let cases = vec![
        base.clone(),
        full,
        json!({"percent": 1}),
        json!({"enabled": true}),
        json!([]),
        json!(null),
        with("enabled", json!(1)),
        with("percent", json!(101)),
        with("percent", json!(-1)),
        with("percent", json!(50.0)),
        with("percent", json!(50.5)),
        with("percent", json!(true)),
        with("offset", json!(128)),
        with("port", json!(0)),
        with("port", json!(65536)),
        with("step", json!(12)),
        with("ratio", json!(0)),
        with("ratio", json!(1.0001)),
        with("temperature", json!(-300)),
        with("name", json!("")),
        with("name", json!("é".repeat(32))),
        with("name", json!("é".repeat(33))),
        with("note", json!(5)),
        with("level", json!("extreme")),
        with("maybe_level", json!("medium")),
        with("priority", json!(4)),
        with("priority", json!(true)),
        with("version", json!(3)),
        with("version", json!(2.0)),
        with("tags", json!([])),
        with("tags", json!(["a", "a"])),
        with("tags", json!(["a", 1])),
        with("tags", json!(["1", "2", "3", "4", "5", "6", "7", "8", "9"])),
        with("labels", json!({"x": 1})),
        with("extra", json!("not an object")),
        with("address", json!({"zip": "12345"})),
        with("address", json!({"street": "x", "zip": "1234"})),
        with("address", json!({"street": "x", "zip": "123456"})),
        with("address", json!({"street": "x", "zip": "1234a"})),
        with(
            "tree",
            json!({"label": "r", "children": [{"children": []}]}),
        ),
        with("shipping", json!({"carrier": "fedex"})),
        with(
            "shipping",
            json!({"carrier": "ups", "parcels": [{"weight": -1}]}),
        ),
        with("shape", json!({"kind": "square", "side": 1})),
        with("shape", json!({"kind": "square", "radius": 1})),
        with("shape", json!({"kind": "triangle"})),
        with("shape", json!({"radius": 1})),
        with("value", json!(7)),
        with("value", json!(7.5)),
        with("value", json!({"no": 1})),
        with("undeclared", json!(1)),
    ];
    let results = agree(
        "codegen/core/tests/corpus/valid/every-shape.yaml",
        "configure",
        &cases,
    );
    let message = |payload: &Value| {
        let i = cases.iter().position(|c| c == payload).unwrap();
        results[i].clone().unwrap_or_default()
    };
    assert_eq!(message(&json!({"percent": 1})), "enabled: is required");
    assert_eq!(
        message(&with("percent", json!(101))),
        "percent: must be at most 100"
    );
    assert_eq!(
        message(&with("percent", json!(50.5))),
        "percent: must be an integer, found number"
    );
    assert_eq!(message(&with("port", json!(0))), "port: must be at least 1");
    assert_eq!(
        message(&with("ratio", json!(0))),
        "ratio: must be greater than 0"
    );
    assert_eq!(
        message(&with("name", json!("é".repeat(33)))),
        "name: must have at most 32 characters"
    );
    assert_eq!(
        message(&with("level", json!("extreme"))),
        r#"level: must be one of "low", "medium", "high""#
    );
    assert_eq!(
        message(&with("tags", json!(["a", "a"]))),
        "tags: must not contain duplicate items"
    );
    assert_eq!(
        message(&with("tags", json!(["a", 1]))),
        "tags[1]: must be a string, found number"
    );
    assert_eq!(
        message(&with("address", json!({"street": "x", "zip": "1234a"}))),
        "address.zip: does not match ^[0-9]{5}$"
    );
    assert_eq!(
        message(&with(
            "tree",
            json!({"label": "r", "children": [{"children": []}]})
        )),
        "tree.children[0].label: is required"
    );
    assert_eq!(
        message(&with("shape", json!({"kind": "triangle"}))),
        r#"shape.kind: must be one of "circle", "square""#
    );
    assert_eq!(message(&with("version", json!(3))), "version: must be 2");
    assert_eq!(
        message(&with("undeclared", json!(1))),
        "undeclared: is not allowed"
    );
    assert_eq!(
        message(&json!([])),
        "payload: must be an object, found array"
    );
}

#[test]
fn label_printer_patterns_and_nested_paths() {
    lua_testkit::require_micropython!("label printer patterns and nested paths");
    let label = |tracking: &str| {
        json!({"labelData": {"tracking": tracking, "carrier": "ups",
            "to": {"name": "A", "street": "S", "city": "C", "postalCode": "AB1 2C", "country": "DE"}}})
    };
    let cases = vec![
        label("ABCDEFGH"),
        label("ABCDEFGHIJKLMNOPQRST"),
        label("ABCDEFG"),
        label("ABCDEFGHIJKLMNOPQRSTU"),
        label("abcdefgh"),
        label("xxABCDEFGHxx"),
        json!({"labelData": {"tracking": "ABCDEFGH", "carrier": "ups",
            "to": {"name": "A", "street": "S", "city": "C", "postalCode": "AB1 2C", "country": "DEU"}}}),
        json!({"labelData": {"tracking": "ABCDEFGH", "carrier": "ups"}}),
        json!({"labelData": {}, "copies": 11}),
    ];
    let results = agree("manifests/label-printer.yaml", "print_label", &cases);
    assert_eq!(
        results[4].as_deref(),
        Some("labelData.tracking: does not match ^[A-Z0-9]{8,20}$")
    );
    assert_eq!(
        results[6].as_deref(),
        Some("labelData.to.country: does not match ^[A-Z]{2}$")
    );
    assert_eq!(results[7].as_deref(), Some("labelData.to: is required"));
}

#[test]
fn odd_enum_values_and_plain_string_inputs() {
    lua_testkit::require_micropython!("odd enum values and plain string inputs");
    let cases: Vec<Value> = [
        "",
        "a b",
        "1st",
        "with-dash",
        "UPPER",
        "ünïcode",
        "None",
        "self",
        "Self",
        "quote\"d",
        "none",
        "x",
    ]
    .iter()
    .map(|m| json!({"mode": m}))
    .collect();
    let results = agree(
        "codegen/core/tests/corpus/valid/tricky-names.yaml",
        "class",
        &cases,
    );
    assert!(results[..10].iter().all(Option::is_none), "{results:?}");
    let cases = vec![
        json!("short"),
        json!("é".repeat(280)),
        json!("é".repeat(281)),
        json!(5),
    ];
    agree(
        "codegen/core/tests/corpus/valid/every-shape.yaml",
        "echo_text",
        &cases,
    );
}
