//! Escaping for Markdown, which every target's README (and rustdoc, which is Markdown too)
//! is written in: a manifest string reaches it through here, so it stays one plain line.

/// Text for one line of Markdown (the generated README): line breaks become spaces and the
/// characters Markdown gives meaning to are backslash-escaped, so a description cannot open
/// a code block, a link or a table cell.
pub fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_stays_one_plain_line() {
        assert_eq!(
            md_inline("a `b` *c*\n[d](e) | f"),
            r"a \`b\` \*c\* \[d\](e) \| f"
        );
        assert_eq!(md_inline("say \"hi\" {{ x }}"), "say \"hi\" {{ x }}");
    }
}
