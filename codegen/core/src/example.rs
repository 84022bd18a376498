//! Example values of JSON Schemas: the smallest typical valid instance (required properties
//! only, the schema's own valid `examples` or `default` first, lower bounds, the first enum
//! value, a string built from the pattern). What a mock device answers, what the demo sends,
//! what the tests start their payloads from.
//!
//! Every value is checked against its schema with luagen's validator before it is returned:
//! a schema this module cannot instantiate is reported, never guessed at.

use std::fmt;

use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{json, Map, Value};

use crate::ir::build::infer_type;
use crate::validator::{Dialect, Validator};

/// How deep `$ref`s and nesting may go before a schema counts as too hard (recursive).
const MAX_DEPTH: usize = 24;

/// Why a schema has no example: the path to the part that failed, and what failed there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleError {
    message: String,
}

impl ExampleError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The same error, inside `part` (a property, an item, a pattern).
    fn within(self, part: impl fmt::Display) -> Self {
        Self::new(format!("{part}: {}", self.message))
    }
}

impl fmt::Display for ExampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExampleError {}

type Result<T> = std::result::Result<T, ExampleError>;

/// A valid instance of the self-contained draft 7 `schema` (its `definitions` inside it, as
/// [`crate::Device::standalone_schema`] makes them).
pub fn example(schema: &Value) -> Result<Value> {
    let value = Generator { root: schema }.generate(schema, 0)?;
    let validator = Validator::new(schema, Dialect::Draft7);
    let errors = validator.errors(&value);
    if let Some(first) = errors.first() {
        return Err(ExampleError::new(format!(
            "the example {value} does not satisfy the schema ({first}); the schema is too \
             hard to instantiate"
        )));
    }
    Ok(value)
}

/// A string the `pattern` matches (searched for, as JSON Schema does): each atom's first
/// choice, each repetition's minimum, the first alternative.
pub fn matching(pattern: &str) -> Result<String> {
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .map_err(|e| ExampleError::new(format!("not a pattern luagen reads: {e}")))?;
    let mut out = String::new();
    sample(&hir, &mut out)?;
    Ok(out)
}

/// Characters a person would type first; a class takes the first of these it holds.
const PLEASANT: &str = "aA0 -_.";

fn sample(hir: &Hir, out: &mut String) -> Result<()> {
    match hir.kind() {
        // Anchors and boundaries add no text: the check afterwards says whether it holds.
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(
            std::str::from_utf8(&literal.0)
                .map_err(|_| ExampleError::new("a literal that is not UTF-8"))?,
        ),
        HirKind::Class(Class::Unicode(class)) => {
            let contains = |c: char| {
                class
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= c && c <= r.end())
            };
            let c = PLEASANT
                .chars()
                .find(|&c| contains(c))
                .or_else(|| class.ranges().first().map(|r| r.start()))
                .ok_or_else(|| ExampleError::new("a class no character is in"))?;
            out.push(c);
        }
        HirKind::Class(Class::Bytes(class)) => {
            let b = class
                .ranges()
                .first()
                .map(|r| r.start())
                .filter(u8::is_ascii)
                .ok_or_else(|| ExampleError::new("a class of non-ASCII bytes"))?;
            out.push(char::from(b));
        }
        HirKind::Repetition(repetition) => {
            for _ in 0..repetition.min {
                sample(&repetition.sub, out)?;
            }
        }
        HirKind::Capture(capture) => sample(&capture.sub, out)?,
        HirKind::Concat(parts) => {
            for part in parts {
                sample(part, out)?;
            }
        }
        HirKind::Alternation(branches) => {
            if let Some(first) = branches.first() {
                sample(first, out)?;
            }
        }
    }
    Ok(())
}

/// The JSON types a schema names with `type` (none when it names none).
pub fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Follow local `$ref`s (`#`, `#/definitions/X`, `#/$defs/X`) from `schema` to the schema
/// they name, inside `root`.
pub fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> Result<&'a Value> {
    for _ in 0..MAX_DEPTH {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return Ok(schema);
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(ExampleError::new(format!(
                "only local $refs can be instantiated, not {reference}"
            )));
        };
        schema = root
            .pointer(pointer)
            .ok_or_else(|| ExampleError::new(format!("$ref {reference} resolves to nothing")))?;
    }
    Err(ExampleError::new(format!(
        "$ref chain deeper than {MAX_DEPTH}"
    )))
}

struct Generator<'a> {
    root: &'a Value,
}

impl Generator<'_> {
    fn generate(&self, schema: &Value, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(ExampleError::new(format!(
                "schema nested deeper than {MAX_DEPTH} (recursive?)"
            )));
        }
        let schema = resolve(self.root, schema)?;
        let Some(object) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(json!({})),
                _ => Err(ExampleError::new(format!(
                    "schema {schema} admits no value"
                ))),
            };
        };
        if let Some(v) = object.get("const") {
            return Ok(v.clone());
        }
        if let Some(first) = object
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return Ok(first.clone());
        }
        // A schema's own examples and default are the most typical values, when they are
        // valid (neither has to be).
        let examples = object.get("examples").and_then(Value::as_array);
        let suggested = examples.into_iter().flatten().chain(object.get("default"));
        for candidate in suggested {
            if self.fits(schema, candidate) {
                return Ok(candidate.clone());
            }
        }
        if let Some(all) = object.get("allOf").and_then(Value::as_array) {
            let merged = self.merge_all_of(object, all)?;
            return self.generate(&merged, depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = object.get(key).and_then(Value::as_array) {
                return self.first_valid_branch(object, key, branches, depth);
            }
        }
        let types = types_of(schema);
        let ty = types
            .iter()
            .copied()
            .find(|t| *t != "null")
            .or(types.first().copied())
            // Untyped: read as the device reads it (the IR's inference), else as an object.
            .unwrap_or_else(|| infer_type(object).map_or("object", |t| t.name()));
        match ty {
            "object" => self.object(object, depth),
            "array" => self.array(object, depth),
            "string" => string(object),
            "integer" => integer(object),
            "number" => number(object),
            "boolean" => Ok(Value::Bool(true)),
            "null" => Ok(Value::Null),
            other => Err(ExampleError::new(format!("unknown type {other:?}"))),
        }
    }

    fn merge_all_of(&self, base: &Map<String, Value>, all: &[Value]) -> Result<Value> {
        let mut merged = base.clone();
        merged.remove("allOf");
        for part in all {
            let part = resolve(self.root, part)?;
            let Some(part) = part.as_object() else {
                return Err(ExampleError::new(format!(
                    "allOf member {part} is not an object schema"
                )));
            };
            for (k, v) in part {
                match (k.as_str(), merged.get_mut(k)) {
                    ("properties", Some(Value::Object(props))) => {
                        if let Value::Object(more) = v {
                            for (name, s) in more {
                                props.entry(name.clone()).or_insert_with(|| s.clone());
                            }
                        }
                    }
                    ("required", Some(Value::Array(req))) => {
                        for r in v.as_array().into_iter().flatten() {
                            if !req.contains(r) {
                                req.push(r.clone());
                            }
                        }
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Ok(Value::Object(merged))
    }

    fn first_valid_branch(
        &self,
        base: &Map<String, Value>,
        key: &str,
        branches: &[Value],
        depth: usize,
    ) -> Result<Value> {
        let whole = Value::Object(base.clone());
        let mut tried = Vec::new();
        for branch in branches {
            let mut merged = base.clone();
            merged.remove(key);
            if let Some(b) = resolve(self.root, branch)?.as_object() {
                for (k, v) in b {
                    merged.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            match self.generate(&Value::Object(merged), depth + 1) {
                Ok(v) if self.fits(&whole, &v) => return Ok(v),
                Ok(v) => tried.push(format!("{v} is not valid")),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(ExampleError::new(format!(
            "no {key} branch could be instantiated: {}",
            tried.join("; ")
        )))
    }

    /// Whether `value` is valid against `schema`, a part of the root (whose definitions it
    /// may refer to).
    fn fits(&self, schema: &Value, value: &Value) -> bool {
        let mut whole = schema.as_object().cloned().unwrap_or_default();
        for key in ["definitions", "$defs"] {
            if let Some(defs) = self.root.get(key) {
                whole.entry(key).or_insert_with(|| defs.clone());
            }
        }
        let whole = Value::Object(whole);
        Validator::new(&whole, Dialect::Draft7).is_valid(value)
    }

    fn object(&self, object: &Map<String, Value>, depth: usize) -> Result<Value> {
        let properties = object.get("properties").and_then(Value::as_object);
        let mut out = Map::new();
        let extra = object.get("additionalProperties").filter(|a| a.is_object());
        let required = object
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for name in required {
            let value = match properties.and_then(|p| p.get(name)).or(extra) {
                Some(s) => self
                    .generate(s, depth + 1)
                    .map_err(|e| e.within(format_args!("property `{name}`")))?,
                None => json!({}),
            };
            out.insert(name.to_string(), value);
        }
        let min = object
            .get("minProperties")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for (name, s) in properties.into_iter().flatten() {
            if out.len() as u64 >= min {
                break;
            }
            if !out.contains_key(name) {
                let value = self
                    .generate(s, depth + 1)
                    .map_err(|e| e.within(format_args!("property `{name}`")))?;
                out.insert(name.clone(), value);
            }
        }
        // Still short of `minProperties`: undeclared members, where the schema allows them.
        let open = object.get("additionalProperties") != Some(&Value::Bool(false));
        let mut n = 0;
        while open && (out.len() as u64) < min {
            n += 1;
            let name = format!("key{n}");
            if out.contains_key(&name) {
                continue;
            }
            let value = match extra {
                Some(s) => self
                    .generate(s, depth + 1)
                    .map_err(|e| e.within(format_args!("property `{name}`")))?,
                None => json!({}),
            };
            out.insert(name, value);
        }
        let count = out.len() as u64;
        if count < min {
            return Err(ExampleError::new(format!(
                "only {count} properties can be given, fewer than minProperties {min}"
            )));
        }
        if let Some(max) = object
            .get("maxProperties")
            .and_then(Value::as_u64)
            .filter(|max| count > *max)
        {
            return Err(ExampleError::new(format!(
                "{count} properties are required, more than maxProperties {max}"
            )));
        }
        Ok(Value::Object(out))
    }

    fn array(&self, object: &Map<String, Value>, depth: usize) -> Result<Value> {
        let min = object.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        for i in 0..min {
            let item = match object.get("items") {
                Some(Value::Array(tuple)) => tuple
                    .get(i as usize)
                    .or_else(|| object.get("additionalItems"))
                    .unwrap_or(&Value::Bool(true)),
                Some(item) => item,
                None => &Value::Bool(true),
            };
            let value = self
                .generate(item, depth + 1)
                .map_err(|e| e.within(format_args!("item {i}")))?;
            // Unique items: the minimal value of every item would be the same.
            if object.get("uniqueItems") == Some(&Value::Bool(true)) && out.contains(&value) {
                return Err(ExampleError::new(
                    "uniqueItems with items that have one typical value",
                ));
            }
            out.push(value);
        }
        Ok(Value::Array(out))
    }
}

fn string(object: &Map<String, Value>) -> Result<Value> {
    let min = object.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = object
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
        let s = matching(pattern).map_err(|e| e.within(format_args!("pattern {pattern:?}")))?;
        return Ok(Value::String(s));
    }
    let by_format = match object.get("format").and_then(Value::as_str) {
        Some("date-time") => Some("2025-01-01T00:00:00Z"),
        Some("date") => Some("2025-01-01"),
        Some("time") => Some("00:00:00Z"),
        Some("email") => Some("user@example.com"),
        Some("hostname") => Some("example.com"),
        Some("ipv4") => Some("192.0.2.1"),
        Some("ipv6") => Some("2001:db8::1"),
        Some("uri") | Some("iri") | Some("uri-reference") => Some("https://example.com/"),
        Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
        _ => None,
    };
    if let Some(s) = by_format {
        return Ok(json!(s));
    }
    // Typical rather than minimal: an empty string is rarely what a handler expects.
    let len = min.max(1).min(max.unwrap_or(usize::MAX));
    Ok(Value::String("a".repeat(len)))
}

/// The bounds of a numeric schema: (lower, lower is exclusive, upper, upper is exclusive).
fn bounds(object: &Map<String, Value>) -> (Option<f64>, bool, Option<f64>, bool) {
    let f = |k: &str| object.get(k).and_then(Value::as_f64);
    let (lo, lo_ex) = match (f("minimum"), f("exclusiveMinimum")) {
        (Some(m), Some(e)) if e >= m => (Some(e), true),
        (Some(m), _) => (Some(m), false),
        (None, Some(e)) => (Some(e), true),
        (None, None) => (None, false),
    };
    let (hi, hi_ex) = match (f("maximum"), f("exclusiveMaximum")) {
        (Some(m), Some(e)) if e <= m => (Some(e), true),
        (Some(m), _) => (Some(m), false),
        (None, Some(e)) => (Some(e), true),
        (None, None) => (None, false),
    };
    (lo, lo_ex, hi, hi_ex)
}

fn integer(object: &Map<String, Value>) -> Result<Value> {
    let (lo, lo_ex, hi, hi_ex) = bounds(object);
    let lo = lo.map(|l| if lo_ex { l.floor() + 1.0 } else { l.ceil() });
    let hi = hi.map(|h| if hi_ex { h.ceil() - 1.0 } else { h.floor() });
    let v = match (lo, hi) {
        (Some(l), _) if l > 0.0 => l,
        (_, Some(h)) if h < 0.0 => h,
        _ => 0.0,
    };
    let v = up_to_multiple(object, v);
    if v.abs() > 9.0e15 {
        return Err(ExampleError::new("integer bounds out of range"));
    }
    Ok(json!(v as i64))
}

/// `v`, raised to the next multiple of `multipleOf` when there is one.
fn up_to_multiple(object: &Map<String, Value>, v: f64) -> f64 {
    match object
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0)
    {
        Some(m) => (v / m).ceil() * m,
        None => v,
    }
}

fn number(object: &Map<String, Value>) -> Result<Value> {
    let (lo, lo_ex, hi, hi_ex) = bounds(object);
    let v = match (lo, hi) {
        (Some(l), Some(h)) if lo_ex || hi_ex => (l + h) / 2.0,
        (Some(l), None) if lo_ex => l + 1.0,
        (None, Some(h)) if hi_ex => h - 1.0,
        (Some(l), _) if l > 0.0 => l,
        (_, Some(h)) if h < 0.0 => h,
        _ => 0.0,
    };
    let v = up_to_multiple(object, v);
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        return Ok(json!(v as i64));
    }
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| ExampleError::new("no finite number within the bounds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_bounds_enums_and_refs_are_honoured() {
        let schema = json!({
            "type": "object",
            "definitions": {"Addr": {"type": "object",
                "properties": {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}},
                "required": ["country"]}},
            "properties": {
                "n": {"type": "integer", "minimum": 3, "maximum": 9},
                "neg": {"type": "number", "exclusiveMaximum": -1},
                "kind": {"type": "string", "enum": ["b", "a"]},
                "to": {"$ref": "#/definitions/Addr"},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 1},
                "optional": {"type": "string"}
            },
            "required": ["n", "neg", "kind", "to", "tags"]
        });
        assert_eq!(
            example(&schema).unwrap(),
            json!({"n": 3, "neg": -2, "kind": "b", "to": {"country": "AA"}, "tags": ["aa"]})
        );
    }

    #[test]
    fn valid_examples_and_defaults_are_preferred_invalid_ones_skipped() {
        let schema = json!({"type": "object", "required": ["a", "b", "c"], "properties": {
            "a": {"type": "integer", "examples": [42], "default": 1},
            "b": {"type": "integer", "minimum": 5, "default": 1},
            "c": {"anyOf": [{"type": "string", "minLength": 3, "maxLength": 2}, {"type": "boolean"}]}}});
        assert_eq!(
            example(&schema).unwrap(),
            json!({"a": 42, "b": 5, "c": true})
        );
    }

    #[test]
    fn a_schema_nothing_satisfies_is_reported_not_guessed() {
        let impossible = json!({"type": "integer", "minimum": 5, "maximum": 2});
        let err = example(&impossible).unwrap_err().to_string();
        assert!(err.contains("too hard to instantiate"), "{err}");
        let remote = json!({"$ref": "https://example.com/s.json"});
        assert!(example(&remote).is_err());
        let unique = json!({"type": "array", "minItems": 2, "uniqueItems": true});
        assert!(example(&unique).is_err());
    }

    #[test]
    fn member_counts_are_met_with_declared_then_undeclared_members() {
        let two = json!({"type": "object", "properties": {"a": {"type": "integer"}},
            "additionalProperties": {"type": "string"}, "minProperties": 2});
        assert_eq!(example(&two).unwrap(), json!({"a": 0, "key1": "a"}));
        let closed = json!({"type": "object", "properties": {"a": {}},
            "additionalProperties": false, "minProperties": 2});
        assert!(example(&closed)
            .unwrap_err()
            .to_string()
            .contains("minProperties 2"));
        let crowded = json!({"type": "object", "properties": {"a": {}, "b": {}},
            "required": ["a", "b"], "maxProperties": 1});
        assert!(example(&crowded)
            .unwrap_err()
            .to_string()
            .contains("maxProperties 1"));
    }

    #[test]
    fn patterns_give_strings_they_match() {
        for (pattern, expected) in [
            ("^[A-Z]{2}-\\d{3,}$", "AA-000"),
            ("^(ab|cd)+x?$", "ab"),
            ("[^0-9]", "a"),
            ("^\\w+@\\w+\\.com$", "a@a.com"),
            ("^\\p{Lu}", "A"),
            ("^$", ""),
        ] {
            assert_eq!(matching(pattern).unwrap(), expected, "{pattern}");
            let schema = json!({"type": "string", "pattern": pattern});
            assert_eq!(example(&schema).unwrap(), json!(expected), "{pattern}");
        }
        assert!(matching("(unclosed").is_err());
    }
}
