//! What the differential tests share: the reference verdict (the `jsonschema` crate), how a
//! refusal's field is compared with jsonschema's, the seed and the number of values. Each
//! differential test file is a crate of its own and uses a part of this.
#![allow(dead_code)]

use std::fmt::Write as _;

use serde_json::Value;

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
