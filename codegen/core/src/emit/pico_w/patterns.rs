//! Schema `pattern`s for a chip without atomic compare-and-swap (the RP2040's Cortex-M0+).
//!
//! The host runtime compiles patterns with the `regex` crate on first use; `regex` (and
//! `regex-automata`, even search-only) needs atomic compare-and-swap, which thumbv6m does not
//! have. So luagen compiles each pattern here, at generation time, into a DFA (regex-automata:
//! the `regex` crate's syntax and semantics) and writes it out as a plain transition table,
//! a `lua_device::typed::PatternTable` in the project's `src/patterns.rs`; the runtime core
//! walks it. No regex compiler on the chip, no heap, tables in flash.

use std::collections::{BTreeMap, VecDeque};

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::start;
use regex_automata::Anchored;

use crate::emit::refusal::PatternRefusal;
use crate::ir::{Additional, Shape, TypeDefKind, TypeSpace};

/// Every distinct `pattern` in the device's payload types, in type order.
pub fn collect(types: &TypeSpace) -> Vec<String> {
    let mut out = Vec::new();
    for (_, def) in types.iter() {
        match &def.kind {
            TypeDefKind::Struct(s) => {
                for f in &s.fields {
                    walk(&f.shape, &mut out);
                }
                if let Additional::Typed(shape) = &s.additional {
                    walk(shape, &mut out);
                }
            }
            TypeDefKind::Union(u) => u.variants.iter().for_each(|v| walk(&v.shape, &mut out)),
            TypeDefKind::Alias { shape } => walk(shape, &mut out),
            TypeDefKind::Enum(_) => {}
        }
    }
    out
}

fn walk(shape: &Shape, out: &mut Vec<String>) {
    match shape {
        Shape::String(s) => {
            if let Some(p) = s.pattern() {
                if !out.iter().any(|known| known == p) {
                    out.push(p.to_string());
                }
            }
        }
        Shape::Array(a) => walk(&a.items, out),
        Shape::Map { values, .. } => walk(values, out),
        Shape::Nullable { inner } => walk(inner, out),
        _ => {}
    }
}

/// A pattern as a DFA over byte classes. State 0 starts an unanchored search; column
/// `classes_len` of each row is the end-of-input transition. As in regex-automata, a match is
/// reported one transition late, so "the text contains a match" is "some state reached after a
/// byte, or after end of input, is a match state".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub classes: [u8; 256],
    pub classes_len: usize,
    pub next: Vec<u16>,
    pub matching: Vec<bool>,
}

impl Table {
    /// Compile `pattern` (the `regex` crate's syntax); the error says why it cannot be.
    pub fn compile(pattern: &str) -> Result<Table, String> {
        let fail = |e: &dyn std::fmt::Display| e.to_string();
        let dfa = dense::Builder::new()
            .configure(dense::Config::new().start_kind(StartKind::Unanchored))
            .build(pattern)
            .map_err(|e| fail(&e))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::No))
            .map_err(|e| fail(&e))?;
        let byte_classes = dfa.byte_classes();
        let classes_len = byte_classes.alphabet_len() - 1; // the last class is end-of-input
        let mut classes = [0u8; 256];
        let mut representative = vec![None; classes_len];
        for b in 0..=255u8 {
            let c = byte_classes.get(b);
            classes[usize::from(b)] = c;
            representative[usize::from(c)].get_or_insert(b);
        }
        let mut ids = BTreeMap::new();
        let mut order = Vec::new();
        let mut queue = VecDeque::from([start]);
        ids.insert(start, 0u16);
        order.push(start);
        let mut next = Vec::new();
        let mut matching = Vec::new();
        while let Some(state) = queue.pop_front() {
            if dfa.is_quit_state(state) {
                return Err(fail(
                    &"it needs look-around a DFA cannot do (e.g. Unicode \\b)",
                ));
            }
            matching.push(dfa.is_match_state(state));
            let targets = representative
                .iter()
                .map(|b| dfa.next_state(state, b.expect("every class has a byte")))
                .chain([dfa.next_eoi_state(state)]);
            for target in targets {
                let n = ids.len();
                let id = *ids.entry(target).or_insert_with(|| {
                    queue.push_back(target);
                    order.push(target);
                    n as u16
                });
                if ids.len() > usize::from(u16::MAX) {
                    return Err(fail(&"more than 65535 DFA states"));
                }
                next.push(id);
            }
        }
        Ok(Table {
            classes,
            classes_len,
            next,
            matching,
        })
    }
}

/// `mod patterns`, appended to the payloads: pattern `i` of `patterns` as `pub static P{i}`,
/// the table the generated checks hand to `typed::Pattern::table` (see
/// `RustOptions::pattern_tables`).
/// Every pattern the chip cannot check is refused, each with its reason.
pub fn module(patterns: &[String]) -> Result<String, Vec<PatternRefusal>> {
    let mut out = String::from(
        "/// The manifest's schema `pattern`s, compiled at generation time into DFA tables\n\
         /// (regex-automata, the `regex` crate's syntax) that the runtime core searches: the\n\
         /// chip needs no regex engine.\n\
         #[rustfmt::skip]\n\
         mod patterns {\n",
    );
    if !patterns.is_empty() {
        out.push_str("    use lua_device::typed::PatternTable;\n");
    }
    let mut refused = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let t = match Table::compile(p) {
            Ok(t) => t,
            Err(why) => {
                refused.push(PatternRefusal {
                    pattern: p.clone(),
                    why,
                });
                continue;
            }
        };
        // `{:?}` of a Rust string is a Rust string literal: a line break of the pattern
        // would end the comment, and the literal has none.
        out.push_str(&format!(
            "\n    // {p:?}\n    pub static P{i}: PatternTable = PatternTable {{\n        classes: &{:?},\n        classes_len: {},\n        next: &{:?},\n        matching: &{:?},\n    }};\n",
            t.classes, t.classes_len, t.next, t.matching
        ));
    }
    out.push_str("}\n");
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lua_device_core::typed::PatternTable;

    #[test]
    fn tables_search_like_regex() {
        let texts = [
            "",
            "ABCD1234",
            "abcd1234",
            "abc 42 def",
            "1234",
            "12345",
            "ééé",
            "x\ny",
            "ABCDEFGH12345678901234",
        ];
        for p in [
            "^[A-Z0-9]{8,20}$",
            "[0-9]+",
            "^\\d{4}$",
            "^é+$",
            "",
            "y$",
            "^x",
            "(?i)abc|d",
        ] {
            // Searched by the runtime core's walk, as on the chip.
            let t = Table::compile(p).unwrap();
            let table: &'static PatternTable = Box::leak(Box::new(PatternTable {
                classes: Box::leak(Box::new(t.classes)),
                classes_len: t.classes_len,
                next: t.next.leak(),
                matching: t.matching.leak(),
            }));
            let re = regex_automata::meta::Regex::new(p).unwrap();
            for s in texts {
                assert_eq!(table.is_match(s), re.is_match(s), "{p:?} on {s:?}");
            }
        }
    }
}
