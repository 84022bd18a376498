//! Manifests in, diagnostics or IR out: each corpus file beside its reviewed snapshot.

use std::path::Path;

use serde::Serialize;

/// The path from the workspace root, so snapshots do not depend on where the clone lives.
fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("corpus files are readable")
}

#[test]
fn invalid_manifests_report_every_problem_with_its_position() {
    insta::glob!("corpus/invalid/*.yaml", |path| {
        let err = luagen::load_str(relative(path), &read(path))
            .expect_err("every manifest in corpus/invalid must be rejected");
        assert!(!err.is_empty());
        insta::assert_snapshot!(err.to_string());
    });
}

/// What a reviewer needs to see of a loaded device: its commands and every type.
#[derive(Serialize)]
struct Summary<'a> {
    name: &'a str,
    group: Option<&'a str>,
    commands: Vec<CommandSummary<'a>>,
    triggers: Vec<(&'a str, Option<String>)>,
    types: &'a luagen::ir::TypeSpace,
}

#[derive(Serialize)]
struct CommandSummary<'a> {
    name: &'a str,
    input: Option<String>,
    output: Option<String>,
    timeout_ms: u32,
    retry: Option<luagen::Retry>,
}

fn summarize(device: &luagen::Device) -> Summary<'_> {
    // The names a Rust user writes for the payload types.
    let types = luagen::emit::rust::DeviceNames::new(device).types;
    let name = |id: Option<luagen::ir::TypeId>| id.map(|id| types.ty(id).to_string());
    Summary {
        name: &device.name,
        group: device.group.as_deref(),
        commands: device
            .commands
            .iter()
            .map(|c| CommandSummary {
                name: &c.name,
                input: name(c.input),
                output: name(c.output),
                timeout_ms: c.timeout_ms,
                retry: c.retry,
            })
            .collect(),
        triggers: device
            .triggers
            .iter()
            .map(|t| (t.name.as_str(), name(t.payload)))
            .collect(),
        types: &device.types,
    }
}

#[test]
fn valid_manifests_build_the_expected_ir() {
    insta::glob!("corpus/valid/*.yaml", |path| {
        let device =
            luagen::load_str(relative(path), &read(path)).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_yaml_snapshot!(summarize(&device));
    });
}

#[test]
fn example_manifests_are_valid_and_build_the_expected_ir() {
    insta::glob!("../../../manifests", "*.yaml", |path| {
        let device =
            luagen::load_str(relative(path), &read(path)).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_yaml_snapshot!(summarize(&device));
    });
}

#[test]
fn committed_manifest_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/device.schema.json");
    let committed: serde_json::Value =
        serde_json::from_str(&read(&path)).expect("device.schema.json is JSON");
    assert!(
        committed == luagen::manifest::manifest_schema(),
        "manifests/device.schema.json is stale: run `cargo run -p luagen-cli -- schema > manifests/device.schema.json`"
    );
}

#[test]
fn registration_and_tools_are_self_contained() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/label-printer.yaml");
    let device = luagen::load_file(&path).unwrap();
    let tools = device.tools();
    let print = &tools[0];
    assert_eq!(print["name"], "device__label-printer__print_label");
    // The Address definition travels with the schema, so its $refs resolve for the agent.
    let schema = &print["inputSchema"];
    assert!(schema["definitions"]["Address"].is_object());
    let validator = jsonschema::draft7::new(schema).unwrap();
    let ok = serde_json::json!({"labelData": {"tracking": "ABCD12345", "carrier": "ups",
        "to": {"name": "A", "street": "B", "city": "C", "postalCode": "12345", "country": "DE"}}});
    assert!(validator.is_valid(&ok));
    let bad = serde_json::json!({"labelData": {"tracking": "abc", "carrier": "ups",
        "to": {"name": "A", "street": "B", "city": "C", "postalCode": "12345", "country": "DE"}}});
    assert!(!validator.is_valid(&bad));

    let commands = device.registration_commands();
    assert_eq!(commands[0]["timeoutMs"], 15000);
    assert_eq!(
        commands[0]["retry"],
        serde_json::json!({"maxAttempts": 3, "backoffMs": 2000})
    );
    // 30000 is the protocol default and is left out, as the official client does.
    assert!(commands[1].get("timeoutMs").is_none());
    assert!(commands[1].get("inputSchema").is_none());
}
