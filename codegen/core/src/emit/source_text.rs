//! What the escaping of every generated language shares: a manifest string written as a
//! double-quoted ASCII literal, and manifest text cut into comment lines. Each language's
//! escape module supplies only what differs (how it writes other characters, which of its
//! comment's closers must be broken), so the rule for what could end a literal or start a
//! source line lives here once.

/// `s` as a double-quoted literal of plain ASCII: backslash, quote, `\n`, `\r` and `\t`
/// escaped as every C-like language writes them, printable ASCII as it is, and every other
/// character written by `other`.
pub(crate) fn quoted(s: &str, other: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c => other(c, &mut out),
        }
    }
    out.push('"');
    out
}

/// Whether a character would start a new source line, or hide in one, if written as it is in
/// a comment: control characters and the Unicode line and paragraph separators and BOM,
/// which some editors and parsers take as line breaks.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Text for comments, one entry per line (any of `\r\n`, `\r`, `\n` ends one), each with tabs
/// as spaces and trailing space trimmed. Every character that [`breaks_a_line`] is written by
/// `control`; `special` writes the characters the language must escape in its comments and
/// returns false for the others, which are kept as they are.
pub(crate) fn comment_lines(
    s: &str,
    control: impl Fn(char, &mut String),
    special: impl Fn(char, &mut String) -> bool,
) -> Vec<String> {
    let normalized = s.replace("\r\n", "\n").replace('\r', "\n");
    normalized
        .split('\n')
        .map(|line| {
            let mut out = String::with_capacity(line.len());
            for c in line.chars() {
                if c == '\t' {
                    out.push(' ');
                } else if breaks_a_line(c) {
                    control(c, &mut out);
                } else if !special(c, &mut out) {
                    out.push(c);
                }
            }
            out.trim_end().to_string()
        })
        .collect()
}
