//! Identifier rules: how wire names become Rust and Python identifiers.
//!
//! Rules, in order: split the wire name into words (at `_`, `-`, spaces, other punctuation and
//! lowercase-to-uppercase steps, so `soilMoisture` and `soil-moisture` both give `soil` +
//! `moisture`); keep ASCII letters and digits only (other letters are dropped without a break, other characters break words, an empty
//! result becomes `field`/`Field`); prefix a leading digit with `_` (Python, snake) or `N`
//! (types); append `_` to keywords and names that would shadow builtins; finally a [`Namer`]
//! makes names distinct within one scope by appending `_2`, `_3`, ... in declaration order.
//! The wire name is always kept beside the identifier, so renaming never changes the payload.

use std::collections::HashSet;

/// Rust keywords (all editions, reserved included), plus names that cannot be raw identifiers.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// Type names that would shadow what generated Rust code uses unqualified.
const RUST_RESERVED_TYPES: &[&str] = &[
    "Self",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "Vec",
    "Box",
    "Value",
    "Map",
    "Default",
    "Serialize",
    "Deserialize",
    "Debug",
    "Clone",
    "PartialEq",
];

/// Python keywords and soft keywords, and builtins a generated module must not shadow.
const PYTHON_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "match",
    "case",
    "type",
    "print",
    "len",
    "str",
    "int",
    "float",
    "bool",
    "dict",
    "list",
    "object",
    "id",
    "self",
    "min",
    "max",
    "isinstance",
];

/// Split a wire name into lowercase ASCII words.
pub fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = match prev {
                Some(p) => (p.is_ascii_lowercase() || p.is_ascii_digit()) && c.is_ascii_uppercase(),
                None => false,
            };
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.push(c.to_ascii_lowercase());
            prev = Some(c);
        } else if !c.is_ascii() && c.is_alphanumeric() {
            // Dropped without a word break: `température` reads better as `temprature`
            // than as two words.
            continue;
        } else {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev = None;
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `soilMoisture` -> `soil_moisture`: a Rust field or function name.
pub fn rust_snake(name: &str) -> String {
    let mut s = words(name).join("_");
    if s.is_empty() {
        s = "field".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if RUST_KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// `label_data` -> `LabelData`: a Rust or Python type name, or an enum variant.
pub fn pascal(name: &str) -> String {
    let mut s: String = words(name)
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if s.is_empty() {
        s = "Value".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'N');
    }
    s
}

/// A Rust type name: [`pascal`] avoiding keywords and the prelude names generated code uses.
pub fn rust_type(name: &str) -> String {
    let mut s = pascal(name);
    if RUST_KEYWORDS.contains(&s.as_str()) || RUST_RESERVED_TYPES.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// The Rust items generated beside a device's payload types, named from the device name: the
/// handler trait, the dispatch adapter, the trigger senders, the connected handle, the agent
/// client and the macro's state wrapper, in that order. The Rust naming pass reserves them
/// ([`crate::names`]), so no payload type takes one; the Rust emitter names its items with them.
pub fn rust_device_items(device_name: &str) -> [String; 6] {
    let base = pascal(device_name);
    ["Handler", "Device", "Triggers", "Handle", "Agent", "State"]
        .map(|item| format!("{base}{item}"))
}

/// A Python attribute, parameter or function name.
pub fn python_snake(name: &str) -> String {
    let mut s = words(name).join("_");
    if s.is_empty() {
        s = "field".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if PYTHON_RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// JavaScript's reserved words (strict mode and modules), and names a module cannot rebind.
const JAVASCRIPT_RESERVED: &[&str] = &[
    "arguments",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "undefined",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// `humidity_alert` -> `humidityAlert`: a TypeScript function or constant name.
pub fn typescript_camel(name: &str) -> String {
    let mut s = String::new();
    for (i, w) in words(name).iter().enumerate() {
        let mut cs = w.chars();
        match (i, cs.next()) {
            (0, Some(f)) => s.push(f),
            (_, Some(f)) => s.push(f.to_ascii_uppercase()),
            (_, None) => {}
        }
        s.push_str(cs.as_str());
    }
    if s.is_empty() {
        s = "value".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if JAVASCRIPT_RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A Python class name.
pub fn python_type(name: &str) -> String {
    let mut s = pascal(name);
    if PYTHON_RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// Hands out distinct names within one scope (a struct's fields, a module's types).
#[derive(Debug, Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    pub fn new() -> Self {
        Self::default()
    }

    /// `candidate` if it is free, else `candidate_2`, `candidate_3`, ... (`Candidate2` for
    /// PascalCase names, where an underscore would read badly).
    pub fn claim(&mut self, candidate: String) -> String {
        if self.taken.insert(candidate.clone()) {
            return candidate;
        }
        let pascal = candidate.starts_with(|c: char| c.is_ascii_uppercase());
        // `Self_` (a keyword escape) numbers as `Self2`; `type_` as `type_2`.
        let base = if pascal {
            candidate.trim_end_matches('_')
        } else {
            candidate.as_str()
        };
        let sep = if pascal || base.ends_with('_') {
            ""
        } else {
            "_"
        };
        (2..)
            .map(|n| format!("{base}{sep}{n}"))
            .find(|c| self.taken.insert(c.clone()))
            .expect("an unbounded range always yields a free name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversion() {
        assert_eq!(rust_snake("soilMoisture"), "soil_moisture");
        assert_eq!(rust_snake("soil-moisture"), "soil_moisture");
        assert_eq!(rust_snake("HTTPServer"), "httpserver");
        assert_eq!(pascal("toggle_irrigation"), "ToggleIrrigation");
        assert_eq!(pascal("label-data"), "LabelData");
        assert_eq!(python_snake("irrigationOn"), "irrigation_on");
    }

    #[test]
    fn keywords_digits_empty_and_non_ascii() {
        assert_eq!(rust_snake("type"), "type_");
        assert_eq!(rust_snake("self"), "self_");
        assert_eq!(rust_snake("async"), "async_");
        assert_eq!(python_snake("class"), "class_");
        assert_eq!(python_snake("from"), "from_");
        assert_eq!(python_snake("None"), "none");
        assert_eq!(python_type("None"), "None_");
        assert_eq!(rust_type("Self"), "Self_");
        assert_eq!(rust_type("option"), "Option_");
        assert_eq!(rust_snake("2fa"), "_2fa");
        assert_eq!(pascal("2fa"), "N2fa");
        assert_eq!(rust_snake(""), "field");
        assert_eq!(rust_snake("温度"), "field");
        assert_eq!(rust_snake("température"), "temprature");
        assert_eq!(pascal("$%"), "Value");
    }

    #[test]
    fn namer_keeps_colliding_wire_names_distinct() {
        let mut n = Namer::new();
        assert_eq!(n.claim(rust_snake("soil-moisture")), "soil_moisture");
        assert_eq!(n.claim(rust_snake("soilMoisture")), "soil_moisture_2");
        assert_eq!(n.claim(rust_snake("soil_moisture")), "soil_moisture_3");
        let mut t = Namer::new();
        assert_eq!(t.claim("PrintInput".into()), "PrintInput");
        assert_eq!(t.claim("PrintInput".into()), "PrintInput2");
    }
}
