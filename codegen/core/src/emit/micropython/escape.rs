//! Escaping for Python source: one function for string literals, one for text inside
//! comments and docstrings. Every manifest string reaches generated Python through one of
//! these, so no quote, `"""`, backslash, newline, NUL or brace can end what it sits in.

use serde_json::Value;

use crate::emit::source_text::{comment_lines, quoted};

/// A double-quoted Python string literal for `s`. The literal is plain ASCII: control
/// characters and everything outside ASCII are written as escapes, which MicroPython's
/// parser reads the same way CPython's does.
pub fn py_str(s: &str) -> String {
    quoted(s, |c, out| {
        let n = c as u32;
        out.push_str(&if n < 0x100 {
            format!("\\x{n:02x}")
        } else if n < 0x10000 {
            format!("\\u{n:04x}")
        } else {
            format!("\\U{n:08x}")
        })
    })
}

/// Text for comments and docstrings, one entry per line. Each line is safe both after `#`
/// and inside a `"""` docstring: backslashes and quotes are escaped (so `"""` cannot close
/// the docstring), and control characters and Unicode line separators, which would start a
/// new source line, are written as `\xNN`/`\uNNNN`. Other non-ASCII text is kept readable.
pub fn doc_lines(s: &str) -> Vec<String> {
    comment_lines(
        s,
        |c, out| {
            let n = c as u32;
            out.push_str(&if n < 0x100 {
                format!("\\x{n:02x}")
            } else {
                format!("\\u{n:04x}")
            })
        },
        |c, out| match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
                true
            }
            _ => false,
        },
    )
}

/// [`doc_lines`] joined into one line, for short inline comments.
pub fn doc_inline(s: &str) -> String {
    doc_lines(s).join(" ")
}

/// A JSON value as a Python expression that evaluates to what `json.loads` would give.
pub fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            let text = n.to_string();
            if n.is_f64() && !text.contains(['.', 'e', 'E']) {
                format!("{text}.0")
            } else {
                text
            }
        }
        Value::String(s) => py_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_value).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_literals_cannot_break_out() {
        assert_eq!(py_str(r#"a"b"#), r#""a\"b""#);
        assert_eq!(py_str(r#"""""#), r#""\"\"\"""#);
        assert_eq!(py_str("back\\slash"), r#""back\\slash""#);
        assert_eq!(py_str("line\nbreak\r"), r#""line\nbreak\r""#);
        assert_eq!(py_str("nul\0"), r#""nul\x00""#);
        assert_eq!(py_str("{{ x }} {% y %}"), r#""{{ x }} {% y %}""#);
        assert_eq!(py_str("ünï 温 🦀"), r#""\xfcn\xef \u6e29 \U0001f980""#);
        assert_eq!(py_str("\u{2028}"), r#""\u2028""#);
    }

    #[test]
    fn doc_text_stays_inside_its_comment_or_docstring() {
        assert_eq!(
            doc_lines("a \"\"\" b\nsecond\\"),
            vec![r#"a \"\"\" b"#.to_string(), r#"second\\"#.to_string()]
        );
        assert_eq!(
            doc_lines("nul \0 sep \u{2028} x"),
            vec![r"nul \x00 sep \u2028 x"]
        );
        assert_eq!(doc_lines("crlf\r\nend"), vec!["crlf", "end"]);
        assert_eq!(doc_inline("*/ {{ t }}\nnext"), "*/ {{ t }} next");
        assert_eq!(doc_inline("température"), "température");
    }

    #[test]
    fn json_values_become_python_expressions() {
        assert_eq!(
            py_value(&json!({"a": [1, 2.5, null, true], "b\"": "x"})),
            r#"{"a": [1, 2.5, None, True], "b\"": "x"}"#
        );
        assert_eq!(py_value(&json!(1.0)), "1.0");
        assert_eq!(py_value(&json!(-3)), "-3");
    }
}
