//! Differential testing of the generated MicroPython checks against the `jsonschema` crate,
//! on the MicroPython unix port: for every command input and trigger payload of every manifest
//! (examples and the valid corpus), values generated from (and near) its schema must be refused
//! by the generated validator exactly when jsonschema refuses them, and a refusal must name a
//! field inside a value jsonschema also faults. A disagreement is a generator bug; the value
//! is printed so it can be kept in [`verdicts::REGRESSIONS`].
//!
//! The values of one manifest go to one file and one `micropython` process checks them all.
//! `LUAGEN_DIFF_CASES` sets the values per schema (default 1000: about 22,000 values).

mod values;
mod verdicts;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::micropython::{scratch_dir, venv_tool};
use luagen::emit::micropython::escape::py_str;
use luagen::emit::micropython::{MicroPythonProject, Options};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use verdicts::{disagreement, hex, seed, validator, values_per_schema, REGRESSIONS};

/// One validator of a generated project and the schema it was generated from.
struct Target {
    /// `command X` or `trigger X`.
    label: String,
    /// A Python expression for the validator function, with `device_spec` and `validators`
    /// imported.
    function: String,
    schema: Value,
}

/// A manifest generated for MicroPython into a scratch directory, with its validators.
struct Project {
    /// The device name, as `all_manifests::checks()` knows it.
    device: String,
    manifest: PathBuf,
    dir: PathBuf,
    targets: Vec<Target>,
}

fn project(manifest: &Path) -> Project {
    let device = luagen::load_file(manifest).unwrap();
    let generated = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    let dir = scratch_dir("differential").unwrap();
    generated.write(&dir, true).unwrap();
    let triggers_py = std::fs::read_to_string(dir.join("triggers.py")).unwrap();
    let mut targets = Vec::new();
    for c in &device.commands {
        if let Some(schema) = &c.input_schema {
            targets.push(Target {
                label: format!("command {}", c.name),
                function: format!("device_spec.COMMANDS[{}][1]", py_str(&c.name)),
                schema: device.standalone_schema(schema),
            });
        }
    }
    for t in &device.triggers {
        if let Some(schema) = &t.payload_schema {
            targets.push(Target {
                label: format!("trigger {}", t.name),
                function: format!("validators.{}", trigger_validator(&triggers_py, &t.name)),
                schema: device.standalone_schema(schema),
            });
        }
    }
    Project {
        device: device.name.clone(),
        manifest: manifest.to_path_buf(),
        dir,
        targets,
    }
}

/// The validator a trigger function of `triggers.py` calls right before sending `name`.
fn trigger_validator(triggers_py: &str, name: &str) -> String {
    let send = format!("({}, payload", py_str(name));
    let lines: Vec<&str> = triggers_py.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&send))
        .unwrap_or_else(|| panic!("triggers.py sends no {name}"));
    let call = lines[at - 1].trim();
    call.strip_prefix("validators.")
        .and_then(|c| c.strip_suffix("(payload)"))
        .unwrap_or_else(|| panic!("{name} is sent unchecked: {call}"))
        .to_string()
}

/// Runs on the unix port: one input line `<target>\t<json>` in, one verdict line out.
const DRIVER: &str = r#"import json
import device_spec
import validators
checks = [CHECKS]
with open("values.txt") as f:
    for line in f:
        target, value = line.rstrip("\n").split("\t", 1)
        try:
            checks[int(target)](json.loads(value))
            print("ok")
        except validators.Invalid as e:
            print("invalid " + e.args[0].replace("\n", "\\n"))
"#;

/// What the generated validators say of each `(target, value)`: `None` (valid) or the message.
fn run(project: &Project, values: &[(usize, Value)]) -> Vec<Option<String>> {
    let functions: Vec<&str> = project
        .targets
        .iter()
        .map(|t| t.function.as_str())
        .collect();
    let driver = DRIVER.replace("CHECKS", &functions.join(", "));
    std::fs::write(project.dir.join("driver.py"), driver).unwrap();
    let mut lines = String::new();
    for (target, value) in values {
        writeln!(lines, "{target}\t{value}").unwrap();
    }
    std::fs::write(project.dir.join("values.txt"), lines).unwrap();
    let out = Command::new(venv_tool("micropython").unwrap())
        .arg("driver.py")
        .current_dir(&project.dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}: micropython failed after {} verdicts:\n{}",
        project.manifest.display(),
        stdout.lines().count(),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Option<String>> = stdout
        .lines()
        .map(|l| match l {
            "ok" => None,
            other => Some(
                other
                    .strip_prefix("invalid ")
                    .unwrap_or_else(|| panic!("not a verdict: {other}"))
                    .to_string(),
            ),
        })
        .collect();
    assert_eq!(verdicts.len(), values.len(), "{stdout}");
    verdicts
}

#[test]
fn generated_micropython_checks_accept_exactly_what_jsonschema_accepts() {
    let per_schema = values_per_schema();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed()),
    );
    let mut schemas = 0;
    let mut total = 0;
    let mut problems = Vec::new();
    for manifest in lua_testkit::corpus::valid_manifests() {
        let project = project(&manifest);
        let mut values = Vec::new();
        for (i, target) in project.targets.iter().enumerate() {
            let depth = values::depth_for(&target.schema);
            let strategy = values::near(&target.schema, &target.schema, depth);
            for _ in 0..per_schema {
                values.push((i, strategy.new_tree(&mut runner).unwrap().current()));
            }
        }
        let verdicts = run(&project, &values);
        let references: Vec<jsonschema::Validator> = project
            .targets
            .iter()
            .map(|t| validator(&t.schema))
            .collect();
        let mut refused = vec![0usize; project.targets.len()];
        for ((target, value), verdict) in values.iter().zip(&verdicts) {
            refused[*target] += usize::from(verdict.is_some());
            if let Some(problem) = disagreement(&references[*target], value, verdict) {
                problems.push(format!(
                    "{} {}: {value}\n    {problem}",
                    manifest.file_name().unwrap().to_string_lossy(),
                    project.targets[*target].label,
                ));
            }
        }
        for (target, refused) in project.targets.iter().zip(&refused) {
            // A strategy that only ever produced one verdict would prove little.
            eprintln!(
                "{} {}: {refused} of {per_schema} refused",
                manifest.file_name().unwrap().to_string_lossy(),
                target.label
            );
            assert!(
                *refused > 0 && *refused < per_schema,
                "{} {}: {refused} of {per_schema} refused",
                manifest.display(),
                target.label
            );
        }
        schemas += project.targets.len();
        total += values.len();
        std::fs::remove_dir_all(&project.dir).unwrap();
    }
    eprintln!(
        "{total} values over {schemas} schemas, {} disagreements",
        problems.len()
    );
    assert!(schemas > 15, "every manifest's payload schemas are covered");
    assert!(
        problems.is_empty(),
        "{} disagreements with jsonschema (seed {}):\n{}",
        problems.len(),
        hex(&seed()),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn regressions() {
    let root = lua_testkit::deps::workspace_root();
    let mut by_manifest: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    for (manifest, label, values) in REGRESSIONS {
        let values = values
            .iter()
            .map(|v| (*label, serde_json::from_str(v).unwrap()));
        match by_manifest.iter_mut().find(|(m, _)| m == manifest) {
            Some((_, v)) => v.extend(values),
            None => by_manifest.push((manifest, values.collect())),
        }
    }
    let mut problems = Vec::new();
    for (manifest, cases) in by_manifest {
        let project = project(&root.join(manifest));
        let values: Vec<(usize, Value)> = cases
            .iter()
            .map(|(label, value)| {
                let target = project
                    .targets
                    .iter()
                    .position(|t| t.label == *label)
                    .unwrap_or_else(|| panic!("{manifest} has no {label}"));
                (target, value.clone())
            })
            .collect();
        let verdicts = run(&project, &values);
        let rust = all_manifests::checks();
        for ((target, value), verdict) in values.iter().zip(&verdicts) {
            let target = &project.targets[*target];
            let reference = validator(&target.schema);
            if let Some(problem) = disagreement(&reference, value, verdict) {
                problems.push(format!(
                    "{manifest} {}: {value}\n    {problem}",
                    target.label
                ));
            }
            // The same value through the generated Rust check of the same schema.
            let case = rust
                .iter()
                .find(|c| {
                    c.device == project.device
                        && serde_json::from_str::<Value>(c.schema).unwrap() == target.schema
                })
                .unwrap_or_else(|| panic!("no Rust check for {manifest} {}", target.label));
            let ours = (case.check)(value).err().map(|e| e.to_string());
            if ours
                .as_deref()
                .is_some_and(|m| past_the_field_type(value, m))
            {
                // The documented limit of a typed device (PROTOCOL.md): MicroPython holds any
                // integer, a Rust field only its type's range.
                continue;
            }
            if let Some(problem) = disagreement(&reference, value, &ours) {
                problems.push(format!(
                    "{manifest} {} (Rust): {value}\n    {problem}",
                    target.label
                ));
            }
        }
        std::fs::remove_dir_all(&project.dir).unwrap();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `message` is the typed device's refusal of an integer past its field's type
/// ("must be from LO to HI, the range this device supports") and `value` holds such an integer.
fn past_the_field_type(value: &Value, message: &str) -> bool {
    let Some(range) = message
        .strip_suffix(", the range this device supports")
        .and_then(|m| m.rsplit_once("must be from "))
        .and_then(|(_, r)| r.split_once(" to "))
    else {
        return false;
    };
    let (Ok(lo), Ok(hi)) = (range.0.parse::<i128>(), range.1.parse::<i128>()) else {
        return false;
    };
    fn integers(value: &Value, out: &mut Vec<i128>) {
        match value {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    out.push(i.into());
                } else if let Some(u) = n.as_u64() {
                    out.push(u.into());
                } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                    // Saturating: 1e300 stands for "past any range".
                    out.push(f as i128);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| integers(v, out)),
            Value::Object(map) => map.values().for_each(|v| integers(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    integers(value, &mut found);
    found.iter().any(|n| *n < lo || *n > hi)
}
