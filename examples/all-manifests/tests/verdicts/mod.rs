//! What the differential tests share: the run itself ([`corpus_agrees`], [`regressions_agree`]:
//! values from and near every payload schema of every manifest, each target's verdicts
//! compared with the reference), the reference verdict (the `jsonschema` crate), how a
//! refusal's field is compared with jsonschema's, the seed and the number of values. A target
//! is a [`Checks`]: one manifest's generated checks, run over many values at once. Each
//! differential test file is a crate of its own and uses a part of this.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

use super::values;

/// A schema a target checks: `command X` (its input) or `trigger X` (its payload), standalone.
pub struct Checked {
    pub label: String,
    pub schema: Value,
}

/// Every command input and trigger payload schema of `device`, in the manifest's order.
pub fn checked_of(device: &luagen::Device) -> Vec<Checked> {
    let commands = device.commands.iter().filter_map(|c| {
        c.input_schema.as_ref().map(|s| Checked {
            label: format!("command {}", c.name),
            schema: device.standalone_schema(s),
        })
    });
    let triggers = device.triggers.iter().filter_map(|t| {
        t.payload_schema.as_ref().map(|s| Checked {
            label: format!("trigger {}", t.name),
            schema: device.standalone_schema(s),
        })
    });
    commands.chain(triggers).collect()
}

/// One manifest's generated checks on one target.
pub trait Checks {
    /// The schemas checked, in the order values index them.
    fn checked(&self) -> &[Checked];

    /// What the target says of each `(schema index, value)`: `None` (accepted) or its
    /// refusal, `<field>: <rule>`.
    fn verdicts(&self, values: &[(usize, Value)]) -> Vec<Option<String>>;

    /// Whether the target can be held to the reference on `value` at all.
    fn comparable(&self, _value: &Value) -> bool {
        true
    }
}

/// A target's output, one `ok` or `invalid <message>` line per value.
pub fn parse_verdicts(stdout: &str, expected: usize) -> Vec<Option<String>> {
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
    assert_eq!(verdicts.len(), expected, "{stdout}");
    verdicts
}

/// The values file every driver reads: one `<schema index>\t<json>` line per value.
pub fn values_file(values: &[(usize, Value)]) -> String {
    let mut lines = String::new();
    for (target, value) in values {
        writeln!(lines, "{target}\t{value}").unwrap();
    }
    lines
}

/// `target` (`"MicroPython"`) over values from and near every schema `open` finds in each of
/// `manifests`: it must refuse exactly what jsonschema refuses, naming a field inside a value
/// jsonschema faults, and every schema must see both verdicts (a strategy that only ever made
/// one would prove little). Panics with the disagreements.
pub fn corpus_agrees<C: Checks>(
    target: &str,
    manifests: impl IntoIterator<Item = PathBuf>,
    open: impl Fn(&Path) -> C,
) {
    let per_schema = values_per_schema();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed()),
    );
    let (mut schemas, mut total, mut skipped) = (0, 0, 0);
    let mut problems = Vec::new();
    for manifest in manifests {
        let checks = open(&manifest);
        let name = manifest.file_name().unwrap().to_string_lossy().into_owned();
        let mut values = Vec::new();
        for (i, checked) in checks.checked().iter().enumerate() {
            let depth = values::depth_for(&checked.schema);
            let strategy = values::near(&checked.schema, &checked.schema, depth);
            for _ in 0..per_schema {
                values.push((i, strategy.new_tree(&mut runner).unwrap().current()));
            }
        }
        let verdicts = checks.verdicts(&values);
        let references: Vec<jsonschema::Validator> = checks
            .checked()
            .iter()
            .map(|c| validator(&c.schema))
            .collect();
        let mut refused = vec![0usize; checks.checked().len()];
        for ((i, value), verdict) in values.iter().zip(&verdicts) {
            refused[*i] += usize::from(verdict.is_some());
            if !checks.comparable(value) {
                skipped += 1;
                continue;
            }
            if let Some(problem) = disagreement(&references[*i], value, verdict) {
                let label = &checks.checked()[*i].label;
                problems.push(format!("{name} {label}: {value}\n    {problem}"));
            }
        }
        for (checked, refused) in checks.checked().iter().zip(&refused) {
            assert!(
                *refused > 0 && *refused < per_schema,
                "{name} {}: {refused} of {per_schema} refused",
                checked.label
            );
        }
        schemas += checks.checked().len();
        total += values.len();
    }
    eprintln!(
        "{target}: {total} values over {schemas} schemas, {skipped} not comparable, {} disagreements",
        problems.len()
    );
    assert!(schemas > 15, "every manifest's payload schemas are covered");
    assert!(
        skipped * 100 < total,
        "{skipped} of {total} values were not compared"
    );
    assert!(
        problems.is_empty(),
        "{target}: {} disagreements with jsonschema (seed {}):\n{}",
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

/// The [`REGRESSIONS`] through `open`'s checks, each held to jsonschema; `also` may compare
/// the same value with another check (`None`: agreed). Panics with the disagreements.
pub fn regressions_agree<C: Checks>(
    open: impl Fn(&Path) -> C,
    mut also: impl FnMut(&C, &Checked, &Value) -> Option<String>,
) {
    let root = lua_testkit::deps::workspace_root();
    let mut manifests: Vec<&str> = REGRESSIONS.iter().map(|(m, _, _)| *m).collect();
    manifests.dedup();
    let mut problems = Vec::new();
    for manifest in manifests {
        let checks = open(&root.join(manifest));
        let mut values = Vec::new();
        for (_, label, cases) in REGRESSIONS.iter().filter(|(m, _, _)| *m == manifest) {
            let i = checks
                .checked()
                .iter()
                .position(|c| c.label == *label)
                .unwrap_or_else(|| panic!("{manifest} has no {label}"));
            for case in *cases {
                values.push((i, serde_json::from_str::<Value>(case).unwrap()));
            }
        }
        let verdicts = checks.verdicts(&values);
        for ((i, value), verdict) in values.iter().zip(&verdicts) {
            let checked = &checks.checked()[*i];
            if !checks.comparable(value) {
                continue;
            }
            if let Some(problem) = disagreement(&validator(&checked.schema), value, verdict) {
                problems.push(format!(
                    "{manifest} {}: {value}\n    {problem}",
                    checked.label
                ));
            }
            if let Some(problem) = also(&checks, checked, value) {
                problems.push(format!(
                    "{manifest} {}: {value}\n    {problem}",
                    checked.label
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

pub fn validator(schema: &Value) -> jsonschema::Validator {
    // Formats are annotations in luagen's checks (draft 7 makes format validation optional).
    jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(schema)
        .unwrap()
}

/// The path a refusal names (`a.b[2]: rule`, or `payload: rule` at the root).
pub fn message_path(message: &str) -> &str {
    message
        .split_once(": ")
        .map(|(path, _)| path)
        .unwrap_or_else(|| panic!("a refusal is `<path>: <rule>`: {message}"))
}

/// A JSON Pointer into `value` written as a refusal writes its field: keys joined by `.`,
/// indices in brackets, `payload` for the root (and before a leading index).
pub fn field_path(value: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut at = Some(value);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        match at {
            Some(Value::Array(items)) => {
                if out.is_empty() {
                    out.push_str("payload");
                }
                let i: usize = segment.parse().unwrap();
                write!(out, "[{i}]").unwrap();
                at = items.get(i);
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                at = other.and_then(|v| v.get(&segment));
            }
        }
    }
    if out.is_empty() {
        out.push_str("payload");
    }
    out
}

/// Compare one verdict with jsonschema; a description of the disagreement, if any.
pub fn disagreement(
    reference: &jsonschema::Validator,
    value: &Value,
    verdict: &Option<String>,
) -> Option<String> {
    let valid = reference.is_valid(value);
    match verdict {
        None if valid => None,
        None => Some(format!(
            "accepted, jsonschema refuses: {}",
            reference
                .iter_errors(value)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Some(message) if valid => Some(format!("refused ({message}), jsonschema accepts")),
        Some(message) => {
            // The named field lies in (or is) a value jsonschema faults: a `required` or
            // `additionalProperties` error sits on the object, a union's on the union.
            let ours = message_path(message);
            let faulted: Vec<String> = reference
                .iter_errors(value)
                .map(|e| field_path(value, e.instance_path().as_str()))
                .collect();
            let within = |theirs: &String| {
                theirs == "payload"
                    || ours.strip_prefix(theirs.as_str()).is_some_and(|rest| {
                        rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
                    })
            };
            if faulted.iter().any(within) {
                None
            } else {
                Some(format!(
                    "refused at {ours} ({message}), jsonschema faults {faulted:?}"
                ))
            }
        }
    }
}

pub fn values_per_schema() -> usize {
    std::env::var("LUAGEN_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// A fixed seed, so a failure reproduces; `LUAGEN_DIFF_SEED` (32 hex digits... or any text,
/// hashed) explores further.
pub fn seed() -> [u8; 32] {
    let text = std::env::var("LUAGEN_DIFF_SEED").unwrap_or_else(|_| "luagen".into());
    let mut seed = [0u8; 32];
    for (i, b) in text.bytes().enumerate() {
        seed[i % 32] = seed[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    seed
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Values that split the verdicts once, or that the strategies rarely reach (a trailing
/// newline against a `$` anchor, characters outside the BMP against a length, integers past
/// 64 bits, negative zero): (manifest, `command X` or `trigger X`, values). Each also goes
/// through the generated Rust check of the same schema.
pub const REGRESSIONS: &[(&str, &str, &[&str])] = &[
    (
        SMART_LOCK,
        "command add_code",
        &[
            r#"{"label": "a", "code": "1234\n"}"#,
            r#"{"label": "a", "code": "\n1234"}"#,
            r#"{"label": "a", "code": "١٢٣٤"}"#,
            r#"{"label": "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", "code": "1234"}"#,
            r#"{"label": "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", "code": "1234"}"#,
            r#"{"label": "\u0000", "code": "1234"}"#,
        ],
    ),
    (
        SMART_LOCK,
        "command set_lock",
        &[
            r#"{"action": {"kind": "unlock", "relockAfterSeconds": 5.0}}"#,
            r#"{"action": {"kind": "unlock", "relockAfterSeconds": 3600.0000000001}}"#,
            r#"{"action": {"kind": "lock", "relockAfterSeconds": "x"}}"#,
            r#"{"action": {"kind": "lock", "kind": "unlock"}}"#,
        ],
    ),
    (
        LABEL_PRINTER,
        "command print_label",
        &[
            r#"{"labelData": {"tracking": "ABCDEFGH\n", "carrier": "ups", "to": {"name": "A", "street": "S", "city": "C", "postalCode": "1", "country": "DE"}}}"#,
            r#"{"labelData": {"tracking": "ABCDEFGH", "carrier": "ups", "to": {"name": "A", "street": "S", "city": "C", "postalCode": "1", "country": "DE\n"}}}"#,
        ],
    ),
    (
        EVERY_SHAPE,
        "command configure",
        &[
            r#"{"enabled": true, "percent": -0.0}"#,
            r#"{"enabled": true, "percent": 1e2}"#,
            r#"{"enabled": true, "percent": 0, "count": 18446744073709551616}"#,
            r#"{"enabled": true, "percent": 0, "delta": -9223372036854775809}"#,
            r#"{"enabled": true, "percent": 0, "step": 1e20}"#,
            r#"{"enabled": true, "percent": 0, "step": 0.5e1}"#,
            r#"{"enabled": true, "percent": 0, "ratio": 5e-324}"#,
            r#"{"enabled": true, "percent": 0, "priority": 1.0}"#,
            r#"{"enabled": true, "percent": 0, "version": 2.0}"#,
            r#"{"enabled": true, "percent": 0, "tags": ["a", "b", "a"]}"#,
            r#"{"enabled": true, "percent": 0, "address": {"street": "x", "zip": "12345\n"}}"#,
            r#"{"enabled": true, "percent": 0, "maybe_level": false}"#,
            r#"{"enabled": true, "percent": 0, "value": 1.0}"#,
            r#"{"enabled": true, "percent": 0, "value": []}"#,
            r#"{"enabled": true, "percent": 0, "shape": {"kind": "circle", "radius": 1, "side": 1}}"#,
        ],
    ),
    (EVERY_SHAPE, "command echo_text", &[r#""😀""#]),
    (
        EVERY_SHAPE,
        "trigger moved",
        &[r#"{"street": "", "zip": "00000"}"#],
    ),
    (
        TRICKY,
        "command type",
        &[
            r#"{"type": "t", "match": 0, "": 5}"#,
            r#"{"type": "t", "match": 0, "a/b~c": 1}"#,
            r#"{"type": "t", "match": 0, "None": 0}"#,
        ],
    ),
    (
        TRICKY,
        "command class",
        &[r#"{"mode": "quote\"d"}"#, r#"{"mode": "unicode"}"#],
    ),
];

const SMART_LOCK: &str = "manifests/smart-lock.yaml";
const LABEL_PRINTER: &str = "manifests/label-printer.yaml";
const EVERY_SHAPE: &str = "codegen/core/tests/corpus/valid/every-shape.yaml";
const TRICKY: &str = "codegen/core/tests/corpus/valid/tricky-names.yaml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_are_written_as_refusals_write_fields() {
        let value = serde_json::json!({"tree": {"children": [{"label": 1}]}, "a.b": [[0]]});
        assert_eq!(field_path(&value, ""), "payload");
        assert_eq!(
            field_path(&value, "/tree/children/0/label"),
            "tree.children[0].label"
        );
        assert_eq!(field_path(&value, "/a.b/0/0"), "a.b[0][0]");
        assert_eq!(field_path(&serde_json::json!([1, 2]), "/1"), "payload[1]");
        assert_eq!(message_path("labelData.to: is required"), "labelData.to");
    }
}
