//! Escaping for TypeScript source: one function for string literals, one for comment text.
//! Every manifest string reaches a generated module through one of these, so no quote,
//! backslash, line break or `*/` can end what it sits in.

use crate::emit::source_text::{comment_lines, quoted};

/// A double-quoted string literal for `s`, in plain ASCII: control characters, quotes and
/// everything outside ASCII are escapes (UTF-16, as JavaScript strings are).
pub fn ts_str(s: &str) -> String {
    quoted(s, |c, out| {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    })
}

/// Text for a `/** ... */` or `//` comment, one entry per line: `*/` cannot close the
/// comment, and control characters and Unicode line separators (which would start a new
/// source line) are written as `\uNNNN`. Other text is kept readable.
pub fn doc_lines(s: &str) -> Vec<String> {
    comment_lines(
        s,
        |c, out| out.push_str(&format!("\\u{:04x}", c as u32)),
        |_, _| false,
    )
    .into_iter()
    .map(|line| line.replace("*/", "*\\/"))
    .collect()
}

/// [`doc_lines`] on one line.
pub fn doc_inline(s: &str) -> String {
    doc_lines(s).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_ends_a_literal_or_a_comment() {
        assert_eq!(ts_str("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(ts_str("é😀\u{2028}"), r#""\u00e9\ud83d\ude00\u2028""#);
        assert_eq!(doc_lines("x */ y\nz\u{2028}w"), ["x *\\/ y", "z\\u2028w"]);
    }
}
