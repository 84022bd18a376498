//! JSON Schema `pattern` -> a JavaScript regular expression (`u` flag) that matches exactly
//! what the device's check matches.
//!
//! Devices search a pattern with the `regex` crate's syntax and semantics (the host) or tables
//! compiled from it (the Pico W). Handing the source to `new RegExp` would mostly agree and
//! sometimes not: `.` stops at `\r` in JavaScript but not in Rust, `\d` and `\w` are Unicode
//! in Rust and ASCII in JavaScript, and Rust-only syntax (`\pL`, `(?i)`, `[[:alpha:]]`) does
//! not compile. So the pattern is parsed as the device parses it and printed back in the
//! subset of JavaScript whose meaning is unambiguous: every class as explicit code-point
//! ranges, every group non-capturing, every assertion spelled out.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Above this, a printed pattern (Unicode classes spelled out) is not worth its size.
const MAX_PRINTED: usize = 64 * 1024;

/// `pattern` as the source of a JavaScript `RegExp` with the `u` flag, or why it cannot be.
pub fn to_javascript(pattern: &str) -> Result<String, String> {
    let hir = regex_syntax::Parser::new().parse(pattern).map_err(|e| {
        format!(
            "it does not parse: {}",
            e.to_string().lines().last().unwrap_or("")
        )
    })?;
    let out = print(&hir)?;
    if out.len() > MAX_PRINTED {
        return Err(format!(
            "with its classes spelled out it is {} characters long (limit {MAX_PRINTED})",
            out.len()
        ));
    }
    Ok(out)
}

fn print(hir: &Hir) -> Result<String, String> {
    Ok(match hir.kind() {
        HirKind::Empty => "(?:)".into(),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0)
                .map_err(|_| "it matches bytes that are not UTF-8 text".to_string())?;
            text.chars().map(literal).collect()
        }
        HirKind::Class(class) => print_class(class),
        HirKind::Look(look) => print_look(*look)?,
        HirKind::Repetition(rep) => {
            let atom = atom(&rep.sub)?;
            let quantifier = match (rep.min, rep.max) {
                (0, None) => "*".to_string(),
                (1, None) => "+".to_string(),
                (0, Some(1)) => "?".to_string(),
                (min, None) => format!("{{{min},}}"),
                (min, Some(max)) if min == max => format!("{{{min}}}"),
                (min, Some(max)) => format!("{{{min},{max}}}"),
            };
            let lazy = if rep.greedy { "" } else { "?" };
            format!("{atom}{quantifier}{lazy}")
        }
        // Captures mean nothing to a yes/no search; their names need not be valid in JS.
        HirKind::Capture(cap) => format!("(?:{})", print(&cap.sub)?),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for part in parts {
                match part.kind() {
                    HirKind::Alternation(_) => s.push_str(&format!("(?:{})", print(part)?)),
                    _ => s.push_str(&print(part)?),
                }
            }
            s
        }
        HirKind::Alternation(branches) => branches
            .iter()
            .map(print)
            .collect::<Result<Vec<_>, _>>()?
            .join("|"),
    })
}

/// `sub` as something a quantifier applies to as a whole.
fn atom(sub: &Hir) -> Result<String, String> {
    let printed = print(sub)?;
    let single = match sub.kind() {
        // A capture prints as a group already.
        HirKind::Class(_) | HirKind::Capture(_) => true,
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0).is_ok_and(|s| s.chars().count() == 1),
        _ => false,
    };
    Ok(if single {
        printed
    } else {
        format!("(?:{printed})")
    })
}

/// A character as itself where that cannot mean anything else, else as a code-point escape
/// (valid for every character in a `u` pattern).
fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == ' ' || c == '_' {
        c.to_string()
    } else {
        format!("\\u{{{:x}}}", u32::from(c))
    }
}

/// A class member: letters and digits as themselves, everything else as a code-point escape.
fn class_char(c: u32) -> String {
    match char::from_u32(c) {
        Some(c) if c.is_ascii_alphanumeric() => c.to_string(),
        _ => format!("\\u{{{c:x}}}"),
    }
}

fn print_class(class: &Class) -> String {
    let mut s = String::from("[");
    let mut range = |start: u32, end: u32| {
        s.push_str(&class_char(start));
        if end > start {
            s.push('-');
            s.push_str(&class_char(end));
        }
    };
    match class {
        Class::Unicode(c) => {
            for r in c.ranges() {
                range(u32::from(r.start()), u32::from(r.end()));
            }
        }
        Class::Bytes(c) => {
            for r in c.ranges() {
                range(u32::from(r.start()), u32::from(r.end()));
            }
        }
    }
    s.push(']');
    s
}

/// A word character as the device counts it: `regex`'s Unicode `\w`.
fn unicode_word() -> String {
    let hir = regex_syntax::Parser::new()
        .parse(r"\w")
        .expect(r"\w parses");
    match hir.kind() {
        HirKind::Class(class) => print_class(class),
        other => unreachable!(r"\w is a class, not {other:?}"),
    }
}

const ASCII_WORD: &str = "[0-9A-Z\\u{5f}a-z]";

fn print_look(look: Look) -> Result<String, String> {
    let word = |unicode: bool| {
        if unicode {
            unicode_word()
        } else {
            ASCII_WORD.to_string()
        }
    };
    // Word boundaries in lookaround, so the class is the device's, not JavaScript's `\b`.
    let boundary = |w: String| format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))");
    let inside = |w: String| format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))");
    Ok(match look {
        Look::Start => "^".into(),
        Look::End => "$".into(),
        Look::StartLF => r"(?<![^\n])".into(),
        Look::EndLF => r"(?![^\n])".into(),
        Look::StartCRLF | Look::EndCRLF => {
            return Err("multi-line anchors with CRLF (`(?mR)`) have no JavaScript form".into())
        }
        Look::WordAscii => boundary(word(false)),
        Look::WordAsciiNegate => inside(word(false)),
        Look::WordUnicode => boundary(word(true)),
        Look::WordUnicodeNegate => inside(word(true)),
        Look::WordStartAscii => format!("(?<!{w})(?={w})", w = word(false)),
        Look::WordEndAscii => format!("(?<={w})(?!{w})", w = word(false)),
        Look::WordStartUnicode => format!("(?<!{w})(?={w})", w = word(true)),
        Look::WordEndUnicode => format!("(?<={w})(?!{w})", w = word(true)),
        Look::WordStartHalfAscii => format!("(?<!{})", word(false)),
        Look::WordEndHalfAscii => format!("(?!{})", word(false)),
        Look::WordStartHalfUnicode => format!("(?<!{})", word(true)),
        Look::WordEndHalfUnicode => format!("(?!{})", word(true)),
    })
}

#[cfg(test)]
mod tests {
    use super::to_javascript;

    #[test]
    fn prints_what_the_device_means() {
        assert_eq!(to_javascript("^[0-9]{4,8}$").unwrap(), r"^[0-9]{4,8}$");
        // Rust's `.` stops only at a newline.
        assert_eq!(
            to_javascript("a.").unwrap(),
            r"a[\u{0}-\u{9}\u{b}-\u{10ffff}]"
        );
        assert_eq!(to_javascript("(ab|c)+?").unwrap(), r"(?:ab|c)+?");
        assert_eq!(to_javascript("a|").unwrap(), "a|(?:)");
        assert!(to_javascript(r"\d").unwrap().len() > 20, "Unicode digits");
        assert_eq!(to_javascript(r"(?-u:\d)").unwrap(), r"[0-9]");
        assert_eq!(to_javascript("x/y").unwrap(), r"x\u{2f}y");
        assert!(to_javascript("(?mR)^a").is_err());
        assert!(to_javascript("(").is_err());
    }
}
