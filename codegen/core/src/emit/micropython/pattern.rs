//! JSON Schema `pattern` -> a regular expression MicroPython's `re` runs the same way.
//!
//! MicroPython's `re` (re1.5) knows literals, `.`, classes, `^`/`$`, `*`/`+`/`?` (and their
//! lazy forms), `|`, `(...)`/`(?:...)` and `\d\w\s`, but not counted repetition: `a{2,3}`
//! compiles there and silently matches the text `{2,3}`. So the pattern is parsed (ECMA-262
//! semantics: `\d`, `\w` and `\s` are ASCII) and printed back with counted repetitions
//! expanded. What `re` cannot express (word boundaries, multi-line anchors, non-ASCII
//! classes) is refused with a reason, never skipped.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Above this, an expanded pattern costs more RAM on the device than it is worth.
const MAX_EXPANDED: usize = 2048;

/// Which Python's `re` runs the pattern: they read one source the same way but for `$`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Engine {
    /// MicroPython's re1.5, whose `$` is the end of the text only.
    #[default]
    MicroPython,
    /// CPython's `re`, whose `$` also matches before a final newline: the end is `\Z`.
    CPython,
}

impl Engine {
    fn end(self) -> &'static str {
        match self {
            Engine::MicroPython => "$",
            Engine::CPython => "\\Z",
        }
    }
}

/// `pattern` as MicroPython `re` source, or why it cannot be.
pub fn to_micropython(pattern: &str) -> Result<String, String> {
    to_python(pattern, Engine::MicroPython)
}

/// `pattern` as source for `engine`'s `re`, or why it cannot be.
pub fn to_python(pattern: &str, engine: Engine) -> Result<String, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| {
            format!(
                "it does not parse: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })?;
    let out = print(&hir, engine)?;
    if out.len() > MAX_EXPANDED {
        return Err(format!(
            "with its counted repetitions expanded it is {} characters long (limit {MAX_EXPANDED}); use smaller counts or `+`/`*`",
            out.len()
        ));
    }
    Ok(out)
}

fn print(hir: &Hir, engine: Engine) -> Result<String, String> {
    Ok(match hir.kind() {
        HirKind::Empty => String::new(),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0)
                .map_err(|_| "it matches bytes that are not UTF-8 text".to_string())?;
            text.chars().map(literal).collect()
        }
        HirKind::Class(class) => print_class(class)?,
        HirKind::Look(look) => match look {
            Look::Start => "^".into(),
            Look::End => engine.end().into(),
            other => {
                return Err(format!(
                    "MicroPython's re has no {}",
                    match other {
                        Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF =>
                            "multi-line anchors",
                        _ => "word boundaries (`\\b`, `\\B`)",
                    }
                ))
            }
        },
        HirKind::Repetition(rep) => {
            let atom = atom(&rep.sub, engine)?;
            let lazy = if rep.greedy { "" } else { "?" };
            match (rep.min, rep.max) {
                (0, None) => format!("{atom}*{lazy}"),
                (1, None) => format!("{atom}+{lazy}"),
                (0, Some(1)) => format!("{atom}?{lazy}"),
                (min, max) => {
                    if (min as usize).saturating_mul(atom.len()) > MAX_EXPANDED
                        || (max.unwrap_or(0) as usize).saturating_mul(atom.len() + 2) > MAX_EXPANDED
                    {
                        return Err(format!(
                            "its repetition {{{min},{}}} expands beyond {MAX_EXPANDED} characters",
                            max.map_or(String::new(), |m| m.to_string())
                        ));
                    }
                    let mut s = atom.repeat(min as usize);
                    match max {
                        None => s.push_str(&format!("{atom}*{lazy}")),
                        Some(max) => {
                            for _ in min..max {
                                s.push_str(&format!("{atom}?{lazy}"));
                            }
                        }
                    }
                    s
                }
            }
        }
        HirKind::Capture(cap) => format!("({})", print(&cap.sub, engine)?),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                match p.kind() {
                    HirKind::Alternation(_) => s.push_str(&format!("(?:{})", print(p, engine)?)),
                    _ => s.push_str(&print(p, engine)?),
                }
            }
            s
        }
        HirKind::Alternation(parts) => parts
            .iter()
            .map(|p| print(p, engine))
            .collect::<Result<Vec<_>, _>>()?
            .join("|"),
    })
}

/// `hir` as something a repetition operator can follow.
fn atom(hir: &Hir, engine: Engine) -> Result<String, String> {
    let s = print(hir, engine)?;
    let single = match hir.kind() {
        HirKind::Class(_) | HirKind::Capture(_) => true,
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0).is_ok_and(|t| t.chars().count() == 1),
        _ => false,
    };
    Ok(if single { s } else { format!("(?:{s})") })
}

fn literal(c: char) -> String {
    if r"\.^$*+?()[]{}|/-".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

/// Classes print as `[...]` over ASCII; a class holding every non-ASCII character is printed
/// as the negation of its ASCII complement (`[^\n]` for ECMA's `.`).
fn print_class(class: &Class) -> Result<String, String> {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
    };
    let top = match class {
        Class::Bytes(_) => 0xFF,
        Class::Unicode(_) => 0x10FFFF,
    };
    let ascii: Vec<(u32, u32)> = ranges
        .iter()
        .filter(|(lo, _)| *lo < 0x80)
        .map(|&(lo, hi)| (lo, hi.min(0x7F)))
        .collect();
    let non_ascii: u32 = ranges
        .iter()
        .filter(|(_, hi)| *hi >= 0x80)
        .map(|&(lo, hi)| hi - lo.max(0x80) + 1)
        .sum();
    if non_ascii == 0 {
        return Ok(format!("[{}]", class_body(&ascii)));
    }
    if non_ascii == top - 0x80 + 1 {
        let mut complement = Vec::new();
        let mut next = 0u32;
        for &(lo, hi) in &ascii {
            if lo > next {
                complement.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= 0x7F {
            complement.push((next, 0x7F));
        }
        if complement.is_empty() {
            return Err(
                "it has a class matching every character, which MicroPython's re cannot write"
                    .into(),
            );
        }
        return Ok(format!("[^{}]", class_body(&complement)));
    }
    Err(
        "it has a character class with non-ASCII members, which MicroPython's re cannot match"
            .into(),
    )
}

fn class_body(ranges: &[(u32, u32)]) -> String {
    let ch = |c: u32| {
        let c = char::from_u32(c).expect("ASCII");
        if r"\]^-[".contains(c) {
            format!("\\{c}")
        } else {
            c.to_string()
        }
    };
    ranges
        .iter()
        .map(|&(lo, hi)| match hi - lo {
            0 => ch(lo),
            1 => format!("{}{}", ch(lo), ch(hi)),
            _ => format!("{}-{}", ch(lo), ch(hi)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::to_micropython as mp;

    #[test]
    fn counted_repetition_is_expanded() {
        assert_eq!(mp("^[A-Z]{2}$").unwrap(), "^[A-Z][A-Z]$");
        assert_eq!(mp("^[0-9]{2,4}$").unwrap(), "^[0-9][0-9][0-9]?[0-9]?$");
        assert_eq!(mp("(ab){2,}").unwrap(), "(ab)(ab)(ab)*");
        assert_eq!(mp("x{0,2}?").unwrap(), "x??x??");
    }

    #[test]
    fn ecma_classes_stay_ascii() {
        assert_eq!(mp(r"^\d+$").unwrap(), "^[0-9]+$");
        assert_eq!(mp(r"a.b").unwrap(), "a[^\n]b");
        assert_eq!(mp(r"[^a-c]").unwrap(), "[^a-c]");
        assert_eq!(mp(r"a\.b|c\-d").unwrap(), r"a\.b|c\-d");
        assert_eq!(mp(r"^(?:ab|cd)e$").unwrap(), "^(?:ab|cd)e$");
    }

    #[test]
    fn what_re_cannot_do_is_refused() {
        assert!(mp(r"\bword\b").unwrap_err().contains("word boundaries"));
        assert!(mp(r"(?m)^a$").unwrap_err().contains("multi-line"));
        let e = mp(r"[é]").unwrap_err();
        assert!(
            e.contains("non-ASCII") || e.contains("does not parse"),
            "{e}"
        );
        assert!(mp(r"a{5000}").unwrap_err().contains("expands"));
    }
}
