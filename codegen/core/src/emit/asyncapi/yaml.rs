//! A JSON value written as block YAML, for documents people read (`asyncapi.yaml`). Strings
//! are plain only when YAML cannot read them as anything else; every other string is a
//! double-quoted scalar with JSON's escapes plus those YAML needs (C1 controls, U+2028, ...),
//! so no manifest string can end a scalar, start a mapping or become another type.

use serde_json::Value;

/// `value` as a YAML 1.2 document (also read the same by YAML 1.1 parsers).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value that fits on its key's line: a scalar or an empty collection.
fn inline(value: &Value) -> Option<String> {
    match value {
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        other => Some(scalar(other)),
    }
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, at: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first entry of a map inside a sequence follows its `- `.
        if i > 0 || at == 0 || !out.ends_with("- ") {
            indent(out, at);
        }
        out.push_str(&string(k));
        out.push(':');
        match inline(v) {
            Some(text) => {
                out.push(' ');
                out.push_str(&text);
                out.push('\n');
            }
            None => {
                out.push('\n');
                block(out, v, at + 2);
            }
        }
    }
}

fn seq(out: &mut String, items: &[Value], at: usize) {
    for item in items {
        indent(out, at);
        match inline(item) {
            Some(text) => {
                out.push_str("- ");
                out.push_str(&text);
                out.push('\n');
            }
            None => match item {
                Value::Object(m) => {
                    out.push_str("- ");
                    map(out, m, at + 2);
                }
                _ => {
                    out.push_str("-\n");
                    block(out, item, at + 2);
                }
            },
        }
    }
}

fn block(out: &mut String, value: &Value, at: usize) {
    match value {
        Value::Object(m) => map(out, m, at),
        Value::Array(a) => seq(out, a, at),
        _ => unreachable!("scalars are written inline"),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) | Value::Object(_) => unreachable!("collections are written as blocks"),
    }
}

/// Words YAML 1.1 or 1.2 read as something other than a string.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

/// A string as a plain scalar when that is unambiguous, else double-quoted.
fn string(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '/')
        && !s.ends_with(' ')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, ' ' | '_' | '-' | '.' | '/' | '$' | '(' | ')' | ',')
        })
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_could_be_read_as_something_else_are_quoted() {
        assert_eq!(string("object"), "object");
        assert_eq!(string("$ref"), "$ref");
        assert_eq!(string("yes"), "\"yes\"");
        assert_eq!(string("1.0"), "\"1.0\"");
        assert_eq!(string("a: b"), "\"a: b\"");
        assert_eq!(string("#/components"), "\"#/components\"");
        assert_eq!(string("x\u{2028}y\u{85}"), "\"x\\u2028y\\u0085\"");
        assert_eq!(string(""), "\"\"");
    }

    #[test]
    fn blocks_nest() {
        let v = json!({"a": {"b": [1, {"c": "d", "e": []}, [true, null]]}, "f": {}});
        assert_eq!(
            to_yaml(&v),
            "a:\n  b:\n    - 1\n    - c: d\n      e: []\n    -\n      - true\n      - null\nf: {}\n"
        );
    }
}
