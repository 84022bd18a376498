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
