//! `luagen docs`: the page of every repository manifest (and of the valid corpus) is pinned by
//! a snapshot, and every example on it, read back out of the Markdown, is accepted by the
//! device's checks: luagen's own validator (what the mock device and `luagen call` use) and
//! the `jsonschema` crate, against the payload's schema with its definitions.

use std::path::Path;

use luagen::emit::docs::docs;
use luagen::validator::{Dialect, Validator};
use luagen::Device;
use serde_json::Value;

/// Which payload a part of the page documents.
#[derive(Clone, Debug, PartialEq)]
enum Subject {
    Input(String),
    Output(String),
    Trigger(String),
    Definition(usize),
}

/// Every ```json block of the page with the payload it is the example of, found from the
/// anchors (`<a id="command-x">`) and the `####` part headings above it.
fn examples(page: &str) -> Vec<(Subject, Value)> {
    let mut out = Vec::new();
    let mut anchor = String::new();
    let mut part = String::new();
    let mut block: Option<String> = None;
    for line in page.lines() {
        if let Some(text) = &mut block {
            if line == "```" {
                let value: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("an example is not JSON ({e}):\n{text}"));
                let subject = if let Some(name) = anchor.strip_prefix("command-") {
                    match part.as_str() {
                        "Input" => Subject::Input(name.into()),
                        "Output" => Subject::Output(name.into()),
                        other => panic!("an example under #### {other} of a command"),
                    }
                } else if let Some(name) = anchor.strip_prefix("trigger-") {
                    Subject::Trigger(name.into())
                } else if let Some(index) = anchor.strip_prefix("definition-") {
                    Subject::Definition(index.parse().unwrap())
                } else {
                    panic!("an example outside a command, trigger or definition")
                };
                out.push((subject, value));
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
        } else if line == "```json" {
            block = Some(String::new());
        } else if let Some(id) = line
            .strip_prefix("<a id=\"")
            .and_then(|l| l.strip_suffix("\"></a>"))
        {
            anchor = id.to_string();
            part.clear();
        } else if let Some(heading) = line.strip_prefix("#### ") {
            part = heading.to_string();
        } else if line.starts_with("## ") {
            anchor.clear();
        }
    }
    assert!(block.is_none(), "an example block is never closed");
    out
}

fn schema_of(device: &Device, subject: &Subject) -> Value {
    let schema = match subject {
        Subject::Input(name) => device
            .commands
            .iter()
            .find(|c| c.name == *name)
            .and_then(|c| c.input_schema.clone()),
        Subject::Output(name) => device
            .commands
            .iter()
            .find(|c| c.name == *name)
            .and_then(|c| c.output_schema.clone()),
        Subject::Trigger(name) => device
            .triggers
            .iter()
            .find(|t| t.name == *name)
            .and_then(|t| t.payload_schema.clone()),
        Subject::Definition(i) => device.definitions.get_index(*i).map(|(_, s)| s.clone()),
    };
    let schema = schema.unwrap_or_else(|| panic!("{subject:?} has an example but no schema"));
    device.standalone_schema(&schema)
}

/// Every payload the device has a schema for, each once.
fn payloads(device: &Device) -> Vec<Subject> {
    let mut out = Vec::new();
    for c in &device.commands {
        if c.input_schema.is_some() {
            out.push(Subject::Input(c.name.clone()));
        }
        if c.output_schema.is_some() {
            out.push(Subject::Output(c.name.clone()));
        }
    }
    for t in &device.triggers {
        if t.payload_schema.is_some() {
            out.push(Subject::Trigger(t.name.clone()));
        }
    }
    out.extend((0..device.definitions.len()).map(Subject::Definition));
    out
}

fn check_examples(name: &str, device: &Device, page: &str) {
    let found = examples(page);
    let subjects: Vec<Subject> = found.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        subjects,
        payloads(device),
        "{name}: one example per payload, in order"
    );
    for (subject, example) in &found {
        let schema = schema_of(device, subject);
        let errors = Validator::new(&schema, Dialect::Draft7).errors(example);
        assert!(
            errors.is_empty(),
            "{name}: the example of {subject:?} is refused: {errors:?}\n{example}"
        );
        let theirs = jsonschema::draft7::options()
            .should_validate_formats(false)
            .build(&schema)
            .unwrap();
        assert!(
            theirs.is_valid(example),
            "{name}: jsonschema refuses the example of {subject:?}: {example}"
        );
    }
}

#[test]
fn every_repository_manifest_has_a_page_whose_examples_the_device_accepts() {
    let manifests = lua_testkit::corpus::valid_manifests();
    assert!(manifests.len() >= 8, "{manifests:?}");
    for path in manifests {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let device = luagen::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let page = docs(&device);
        check_examples(&name, &device, &page);
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("docs", page);
        });
    }
}

#[test]
fn the_page_names_every_tool_and_the_rules_in_the_device_words() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests");
    let device = luagen::load_file(root.join("label-printer.yaml")).unwrap();
    let page = docs(&device);
    for c in &device.commands {
        assert!(
            page.contains(&format!("`{}`", device.tool_name(c))),
            "{}",
            c.name
        );
    }
    // The words of the device's own error messages, and a pattern as code.
    assert!(page.contains("must have at least 1 characters"), "{page}");
    assert!(page.contains("must be from 1 to 70000") || page.contains("must be at least 1"));
    assert!(page.contains(r"must match `^[A-Z0-9]{8,20}$`"), "{page}");
    assert!(
        page.contains(r#"must be one of "ups", "fedex", "dhl", "usps""#),
        "{page}"
    );
    // Nested fields by the paths the device's messages use, definitions linked.
    assert!(page.contains("| `labelData.tracking` |"), "{page}");
    assert!(page.contains("[Address](#definition-0)"), "{page}");
    assert!(
        page.contains("Fields not listed here are refused."),
        "{page}"
    );
}
