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

use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::micropython::{scratch_dir, venv_tool};
use luagen::emit::micropython::escape::py_str;
use luagen::emit::micropython::{MicroPythonProject, Options};
use serde_json::Value;
use verdicts::{checked_of, disagreement, parse_verdicts, values_file, Checked, Checks};

/// A manifest generated for MicroPython into a scratch directory (removed when dropped), with
/// its validators.
struct Project {
    /// The device name, as `all_manifests::checks()` knows it.
    device: String,
    manifest: PathBuf,
    dir: PathBuf,
    checked: Vec<Checked>,
    /// Per schema, a Python expression for its validator, with `device_spec` and `validators`
    /// imported.
    functions: Vec<String>,
}

fn project(manifest: &Path) -> Project {
    let device = luagen::load_file(manifest).unwrap();
    let generated = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    let dir = scratch_dir("differential").unwrap();
    generated.write(&dir, true).unwrap();
    let triggers_py = std::fs::read_to_string(dir.join("triggers.py")).unwrap();
    let checked = checked_of(&device);
    let functions = checked
        .iter()
        .map(|c| match c.label.split_once(' ') {
            Some(("command", name)) => format!("device_spec.COMMANDS[{}][1]", py_str(name)),
            Some(("trigger", name)) => {
                format!("validators.{}", trigger_validator(&triggers_py, name))
            }
            _ => unreachable!("{}", c.label),
        })
        .collect();
    Project {
        device: device.name.clone(),
        manifest: manifest.to_path_buf(),
        dir,
        checked,
        functions,
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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

impl Checks for Project {
    fn checked(&self) -> &[Checked] {
        &self.checked
    }

    fn verdicts(&self, values: &[(usize, Value)]) -> Vec<Option<String>> {
        let driver = DRIVER.replace("CHECKS", &self.functions.join(", "));
        std::fs::write(self.dir.join("driver.py"), driver).unwrap();
        std::fs::write(self.dir.join("values.txt"), values_file(values)).unwrap();
        let out = Command::new(venv_tool("micropython").unwrap())
            .arg("driver.py")
            .current_dir(&self.dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}: micropython failed after {} verdicts:\n{}",
            self.manifest.display(),
            stdout.lines().count(),
            String::from_utf8_lossy(&out.stderr)
        );
        parse_verdicts(&stdout, values.len())
    }
}

#[test]
fn generated_micropython_checks_accept_exactly_what_jsonschema_accepts() {
    verdicts::corpus_agrees(
        "MicroPython",
        lua_testkit::corpus::valid_manifests(),
        project,
    );
}

/// The regression values, on MicroPython and through the generated Rust check of the same
/// schema.
#[test]
fn regressions() {
    let rust = all_manifests::checks();
    verdicts::regressions_agree(project, |project, checked, value| {
        let case = rust
            .iter()
            .find(|c| {
                c.device == project.device
                    && serde_json::from_str::<Value>(c.schema).unwrap() == checked.schema
            })
            .unwrap_or_else(|| panic!("no Rust check for {}", checked.label));
        let ours = (case.check)(value).err().map(|e| e.to_string());
        if ours
            .as_deref()
            .is_some_and(|m| past_the_field_type(value, m))
        {
            // The documented limit of a typed device (PROTOCOL.md): MicroPython holds any
            // integer, a Rust field only its type's range.
            return None;
        }
        disagreement(&verdicts::validator(&checked.schema), value, &ours)
            .map(|problem| format!("(Rust) {problem}"))
    });
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
