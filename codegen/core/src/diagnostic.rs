//! Problems found in a manifest, as values with spans until the edge renders them.

use std::fmt;

use crate::source::{SourceFile, Span};

/// One problem in a manifest: where, what rule it breaks, and how to fix it when we know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
    /// A short label under the caret, e.g. "did you mean `commands`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one manifest, in source order.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    source: SourceFile,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(source: SourceFile, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by_key(|d| (d.span.start, d.span.end));
        items.dedup();
        Self { source, items }
    }

    pub fn source(&self) -> &SourceFile {
        &self.source
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `path:line:col: error: message`, one line per problem, without snippets.
    pub fn short(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|d| {
                let at = self.source.line_col(d.span.start);
                format!(
                    "{}:{}:{}: error: {}",
                    self.source.path().display(),
                    at.line,
                    at.col,
                    d.message
                )
            })
            .collect()
    }
}

/// Renders like a compiler: `path:line:col: error: message`, the source line, a caret.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (d, header) in self.items.iter().zip(self.short()) {
            writeln!(f, "{header}")?;
            let start = self.source.line_col(d.span.start);
            let line = self.source.line_text(start.line);
            let gutter = start.line.to_string();
            let pad = " ".repeat(gutter.len());
            // A multi-line span is underlined to the end of its first line.
            let end = self.source.line_col(d.span.end);
            let width = if end.line == start.line {
                end.col.saturating_sub(start.col).max(1)
            } else {
                line.chars().count().saturating_sub(start.col - 1).max(1)
            };
            let (shown, caret_col, width) = window(line, start.col - 1, width);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{gutter} | {shown}")?;
            write!(f, "{pad} | {}{}", " ".repeat(caret_col), "^".repeat(width))?;
            match &d.help {
                Some(help) => writeln!(f, " {help}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Widest source line shown whole; a longer one (minified JSON, a generated manifest) is cut
/// to a window around the caret, so one problem never prints megabytes.
const MAX_SHOWN: usize = 160;

/// The part of `line` to show for a caret at char `col` of `width` chars: the text, the
/// caret's column in it and its width there.
fn window(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let len = line.chars().count();
    if len <= MAX_SHOWN {
        return (line.to_string(), col, width);
    }
    let from = col
        .saturating_sub(MAX_SHOWN / 3)
        .min(len.saturating_sub(MAX_SHOWN));
    let to = (from + MAX_SHOWN).min(len);
    let mut shown: String = line.chars().skip(from).take(to - from).collect();
    let mut caret = col - from;
    if from > 0 {
        shown.insert(0, '…');
        caret += 1;
    }
    if to < len {
        shown.push('…');
    }
    (shown, caret, width.min(to.saturating_sub(col)).max(1))
}

/// `n` and its noun, singular or plural as `n` wants: "1 command", "0 commands". Every count
/// luagen shows a person (the CLI's, the gateway's) goes through here, so they read alike.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_agrees_with_its_number() {
        assert_eq!(count(0, "trigger"), "0 triggers");
        assert_eq!(count(1, "command"), "1 command");
        assert_eq!(count(2, "attempt"), "2 attempts");
    }

    #[test]
    fn a_long_line_is_cut_to_a_window_around_the_caret() {
        let text = format!("{}BAD{}\n", "a".repeat(5000), "b".repeat(5000));
        let src = SourceFile::new("dev.yaml", text);
        let d = Diagnostic::error(Span::new(5000, 5003), "bad");
        let out = Diagnostics::new(src, vec![d]).to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[2].chars().count() < MAX_SHOWN + 10, "{out}");
        let shown = lines[2].split_once("| ").unwrap().1;
        let caret = lines[3].split_once("| ").unwrap().1;
        let at = caret.find('^').unwrap();
        let under: String = shown.chars().skip(at).take(3).collect();
        assert_eq!(under, "BAD");
        assert_eq!(caret.trim(), "^^^");
    }

    #[test]
    fn renders_header_line_and_caret() {
        let src = SourceFile::new("dev.yaml", "name: x\ncomands: []\n");
        let start = src.offset(2, 1);
        let d = Diagnostic::error(Span::new(start, start + 7), "unknown key `comands`")
            .with_help("did you mean `commands`?");
        let out = Diagnostics::new(src, vec![d]).to_string();
        assert_eq!(
            out,
            "dev.yaml:2:1: error: unknown key `comands`\n  |\n2 | comands: []\n  | ^^^^^^^ did you mean `commands`?\n"
        );
    }
}
