//! `luagen export asyncapi`: the document of every repository manifest (and of the valid
//! corpus) is accepted by the official AsyncAPI parser from npm (`@asyncapi/parser`, pinned in
//! tests/node) with no error, in its YAML and its JSON form; the YAML reads back as the same
//! value; every message example satisfies its payload schema; the greenhouse document is
//! pinned by a snapshot.

use std::path::{Path, PathBuf};

use lua_testkit::node;
use luagen::emit::asyncapi::{document, to_yaml, Options};
use luagen::Device;
use serde_json::{json, Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &Path) -> Device {
    luagen::load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifests() -> Vec<PathBuf> {
    let all = lua_testkit::corpus::valid_manifests();
    assert!(all.len() >= 8, "{all:?}");
    all
}

/// A YAML tree as JSON (the subset the writer produces).
fn yaml_to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => json!(b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => {
            let f: f64 = r.parse().unwrap();
            json!(f)
        }
        Yaml::String(s) => json!(s),
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .unwrap_or_else(|| panic!("a key that is not a string: {k:?}"));
                    (key.to_string(), yaml_to_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        other => panic!("unexpected YAML {other:?}"),
    }
}

/// Numbers compared by value (YAML has no `1.0` vs `1` distinction worth keeping).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn assert_yaml_reads_back(name: &str, doc: &Value) {
    let text = to_yaml(doc);
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    assert_eq!(docs.len(), 1, "{name}");
    let back = yaml_to_json(&docs[0]);
    assert!(
        same(&back, doc),
        "{name}: the YAML reads back differently:\n{text}"
    );
}

/// Every message example against its payload schema, the document's `components` in reach of
/// its `$ref`s.
fn assert_examples_valid(name: &str, doc: &Value) {
    let messages = doc["components"]["messages"].as_object().unwrap();
    let mut checked = 0;
    for (key, message) in messages {
        let Some(examples) = message.get("examples").and_then(Value::as_array) else {
            continue;
        };
        let mut schema = json!({ "$ref": format!("#/components/messages/{key}/payload") });
        schema["components"] = doc["components"].clone();
        let validator = jsonschema::draft7::options()
            .should_validate_formats(false)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{name}: {key}'s payload schema: {e}"));
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(&example["payload"])
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: {key}'s example {} is refused: {errors:?}",
                example["payload"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "{name}: only {checked} examples");
}

#[test]
fn every_document_reads_back_from_yaml_and_its_examples_fit_their_schemas() {
    for path in manifests() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc = document(&load(&path), &Options::default());
        assert_yaml_reads_back(&name, &doc);
        assert_examples_valid(&name, &doc);
    }
}

#[test]
fn one_channel_per_topic_and_an_operation_per_command_and_trigger() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests");
    let device = load(&root.join("label-printer.yaml"));
    let doc = document(&device, &Options::default());
    let channels = doc["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 10);
    assert_eq!(
        doc["channels"]["command"]["address"],
        "lua/devices/{agentId}/{deviceName}/command"
    );
    assert_eq!(
        doc["operations"]["command.print_label"]["action"],
        "receive"
    );
    assert_eq!(
        doc["operations"]["command.print_label"]["reply"]["channel"]["$ref"],
        "#/channels/response"
    );
    assert_eq!(doc["operations"]["trigger.paper_low"]["action"], "send");
    assert_eq!(
        doc["operations"]["status"]["bindings"]["mqtt"]["retain"],
        true
    );
    assert_eq!(
        doc["operations"]["registration"]["bindings"]["mqtt"]["retain"],
        false
    );
    assert_eq!(doc["operations"]["heartbeat"]["bindings"]["mqtt"]["qos"], 0);
    // The definitions are components, and the payloads point at them.
    assert!(doc["components"]["schemas"]["Address"].is_object());
    assert_eq!(
        doc["components"]["messages"]["command.print_label"]["payload"]["properties"]["payload"]
            ["properties"]["labelData"]["properties"]["to"]["$ref"],
        "#/components/schemas/Address"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["type"],
        "userPassword"
    );
    assert_eq!(doc["servers"]["hosted"]["host"], "mqtt.heylua.ai");
}

#[test]
fn the_greenhouse_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests");
    let doc = document(
        &load(&root.join("greenhouse-sensor.yaml")),
        &Options::default(),
    );
    insta::assert_snapshot!("asyncapi_greenhouse_sensor", to_yaml(&doc));
}

/// Parse each document given on the command line with the official parser and print its
/// error and warning diagnostics (severity 0 and 1), one per line.
const PARSE: &str = r#"
const { Parser } = require("@asyncapi/parser");
const fs = require("fs");
(async () => {
  const parser = new Parser();
  const bad = [];
  for (const path of process.argv.slice(2)) {
    const { document, diagnostics } = await parser.parse(fs.readFileSync(path, "utf8"));
    for (const d of diagnostics) {
      if (d.severity <= 1) {
        bad.push(`${path}: ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
      }
    }
    if (!document) {
      bad.push(`${path}: no document`);
    } else if (document.version() !== "3.0.0") {
      bad.push(`${path}: version ${document.version()}`);
    }
  }
  process.stdout.write(bad.join("\n"));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Run [`PARSE`] on `files` (in `dir`, below the installed packages); the problems it printed.
fn official_parser_errors(dir: &Path, files: &[PathBuf]) -> String {
    std::fs::write(dir.join("parse.cjs"), PARSE).unwrap();
    let out = node::node(Path::new("parse.cjs"), dir)
        .unwrap()
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the parser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_official_parser_accepts_every_document() {
    if !node::available("the AsyncAPI documents' check by @asyncapi/parser (npm)") {
        return;
    }
    let dir = node::scratch("asyncapi").unwrap();
    let mut files = Vec::new();
    for path in manifests() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let doc = document(&load(&path), &Options::default());
        let yaml = dir.join(format!("{stem}.yaml"));
        std::fs::write(&yaml, to_yaml(&doc)).unwrap();
        let json = dir.join(format!("{stem}.json"));
        std::fs::write(&json, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        files.extend([yaml, json]);
    }
    let errors = official_parser_errors(&dir, &files);
    assert!(errors.trim().is_empty(), "{errors}");
    std::fs::remove_dir_all(dir).unwrap();
}
