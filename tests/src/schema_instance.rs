//! Instances of JSON Schemas for manifest-derived sessions: a deterministic valid value (the
//! smallest typical one: required properties only, lower bounds, the first enum value, a
//! string built from the pattern), a value breaking one rule, and the shape of a value, which
//! is what two devices with different handlers can be compared on.
//!
//! Every generated value is checked with the `jsonschema` crate before it is used: a schema
//! this module cannot instantiate is reported, never guessed at.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};

/// How deep `$ref`s and nesting may go before a schema counts as too hard (recursive).
const MAX_DEPTH: usize = 24;

/// A draft 7 validator for `schema` (self-contained: its `definitions` travel inside it).
/// Formats are not asserted, as in luagen's own checks (draft 7 makes them optional).
pub fn validator(schema: &Value) -> Result<jsonschema::Validator> {
    jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| anyhow!("not a valid draft 7 schema: {e}"))
}

/// The jsonschema errors of `value` against `schema`, empty when it is valid.
pub fn errors(schema: &Value, value: &Value) -> Result<Vec<String>> {
    let v = validator(schema)?;
    Ok(v.iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// A valid instance of the self-contained `schema`, checked by jsonschema.
pub fn valid_instance(schema: &Value) -> Result<Value> {
    let value = Generator { root: schema }.generate(schema, 0)?;
    let errors = errors(schema, &value)?;
    if !errors.is_empty() {
        bail!(
            "the generated instance {value} does not satisfy the schema ({}); \
             the schema is too hard to instantiate",
            errors.join("; ")
        );
    }
    Ok(value)
}

/// The top-level required field of `valid` that can be given a value of the wrong type, and
/// the payload with that one field broken (checked to be rejected by jsonschema). `None` when
/// no required field declares a type.
pub fn wrong_type_for_required_field(
    schema: &Value,
    valid: &Value,
) -> Result<Option<(String, Value)>> {
    let g = Generator { root: schema };
    let object = g.resolve(schema, 0)?;
    let Some(required) = object.get("required").and_then(Value::as_array) else {
        return Ok(None);
    };
    let properties = object.get("properties").and_then(Value::as_object);
    for field in required.iter().filter_map(Value::as_str) {
        let Some(property) = properties.and_then(|p| p.get(field)) else {
            continue;
        };
        let property = g.resolve(property, 0)?;
        let types = types_of(property);
        if types.is_empty() {
            continue;
        }
        let wrong = [
            json!(7),
            json!("wrong"),
            json!(true),
            json!({}),
            json!([]),
            Value::Null,
        ]
        .into_iter()
        .find(|candidate| !types.iter().any(|t| json_type_allows(t, candidate)));
        let (Some(wrong), Some(object)) = (wrong, valid.as_object()) else {
            continue;
        };
        let mut broken = object.clone();
        broken.insert(field.to_string(), wrong);
        let broken = Value::Object(broken);
        if errors(schema, &broken)?.is_empty() {
            bail!("a wrong type for required field `{field}` still validates: {broken}");
        }
        return Ok(Some((field.to_string(), broken)));
    }
    Ok(None)
}

/// The shape of `value` under `schema`: scalars become their JSON type, objects keep only the
/// properties the schema requires, arrays are only arrays, and where the schema allows several
/// types the shape names them all. Devices answering with their own readings compare equal
/// when their answers have one shape; whether an answer is valid is checked separately.
pub fn shape(schema: Option<&Value>, value: &Value) -> Value {
    let root = schema.cloned().unwrap_or(json!({}));
    let g = Generator { root: &root };
    g.shape(&root, value, 0)
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn json_type_allows(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "<boolean>",
        Value::Number(_) => "<number>",
        Value::String(_) => "<string>",
        Value::Array(_) => "<array>",
        Value::Object(_) => "<object>",
    }
}

struct Generator<'a> {
    root: &'a Value,
}

impl Generator<'_> {
    /// Follow `$ref`s (`#`, `#/definitions/X`, `#/$defs/X`) to the schema they name.
    fn resolve<'b>(&'b self, mut schema: &'b Value, depth: usize) -> Result<&'b Value> {
        for _ in depth..MAX_DEPTH {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                return Ok(schema);
            };
            schema = self.lookup(reference)?;
        }
        bail!("$ref chain deeper than {MAX_DEPTH}")
    }

    fn lookup(&self, reference: &str) -> Result<&Value> {
        let Some(pointer) = reference.strip_prefix('#') else {
            bail!("only local $refs can be instantiated, not {reference}");
        };
        self.root
            .pointer(pointer)
            .with_context(|| format!("$ref {reference} resolves to nothing"))
    }

    fn generate(&self, schema: &Value, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            bail!("schema nested deeper than {MAX_DEPTH} (recursive?)");
        }
        let schema = self.resolve(schema, depth)?;
        let Some(object) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(json!({})),
                _ => bail!("schema {schema} admits no value"),
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
            let merged = self.merge_all_of(object, all, depth)?;
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
            .unwrap_or_else(|| infer_type(object));
        match ty {
            "object" => self.object(object, depth),
            "array" => self.array(object, depth),
            "string" => string(object),
            "integer" => integer(object),
            "number" => number(object),
            "boolean" => Ok(Value::Bool(true)),
            "null" => Ok(Value::Null),
            other => bail!("unknown type {other:?}"),
        }
    }

    fn merge_all_of(
        &self,
        base: &Map<String, Value>,
        all: &[Value],
        depth: usize,
    ) -> Result<Value> {
        let mut merged = base.clone();
        merged.remove("allOf");
        for part in all {
            let part = self.resolve(part, depth)?;
            let Some(part) = part.as_object() else {
                bail!("allOf member {part} is not an object schema");
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
            let resolved = self.resolve(branch, depth)?;
            if let Some(b) = resolved.as_object() {
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
        bail!(
            "no {key} branch could be instantiated: {}",
            tried.join("; ")
        )
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
        errors(&Value::Object(whole), value).is_ok_and(|e| e.is_empty())
    }

    fn object(&self, object: &Map<String, Value>, depth: usize) -> Result<Value> {
        let properties = object.get("properties").and_then(Value::as_object);
        let mut out = Map::new();
        let extra = object.get("additionalProperties").filter(|a| a.is_object());
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for name in &required {
            let value = match properties.and_then(|p| p.get(*name)).or(extra) {
                Some(s) => self
                    .generate(s, depth + 1)
                    .with_context(|| format!("property `{name}`"))?,
                None => json!({}),
            };
            out.insert((*name).to_string(), value);
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
                    .with_context(|| format!("property `{name}`"))?;
                out.insert(name.clone(), value);
            }
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
            out.push(
                self.generate(item, depth + 1)
                    .with_context(|| format!("item {i}"))?,
            );
        }
        Ok(Value::Array(out))
    }

    fn shape(&self, schema: &Value, value: &Value, depth: usize) -> Value {
        let Some(schema) = self
            .resolve_loose(schema, depth)
            .filter(|_| depth <= MAX_DEPTH)
        else {
            return json!(type_name(value));
        };
        let several = ["anyOf", "oneOf"].iter().any(|k| schema.get(k).is_some())
            || types_of(schema).len() > 1;
        if several {
            let mut types = types_of(schema);
            types.sort_unstable();
            return json!(format!("<one of {}>", types.join("|")));
        }
        match value {
            Value::Object(map) => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let properties = schema.get("properties");
                // Without a schema for it, an object's shape is every key's.
                let keep = |k: &str| schema.get("properties").is_none() || required.contains(&k);
                let out: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, v)| {
                        let sub = properties
                            .and_then(|p| p.get(k))
                            .unwrap_or(&Value::Bool(true));
                        (k.clone(), self.shape(sub, v, depth + 1))
                    })
                    .collect();
                if schema.get("properties").is_none() && map.is_empty() {
                    return json!("<object>");
                }
                Value::Object(out)
            }
            other => json!(type_name(other)),
        }
    }

    fn resolve_loose<'b>(&'b self, schema: &'b Value, depth: usize) -> Option<&'b Value> {
        self.resolve(schema, depth).ok()
    }
}

fn infer_type(object: &Map<String, Value>) -> &'static str {
    let has = |keys: &[&str]| keys.iter().any(|k| object.contains_key(*k));
    if has(&[
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
    ]) {
        "object"
    } else if has(&["items", "minItems", "maxItems"]) {
        "array"
    } else if has(&["pattern", "minLength", "maxLength", "format"]) {
        "string"
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        "number"
    } else {
        "object"
    }
}

fn string(object: &Map<String, Value>) -> Result<Value> {
    let min = object.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = object
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
        let s = crate::regex_instance::matching(pattern)
            .with_context(|| format!("pattern {pattern:?}"))?;
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
        bail!("integer bounds out of range");
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
        .ok_or_else(|| anyhow!("no finite number within the bounds"))
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
            valid_instance(&schema).unwrap(),
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
            valid_instance(&schema).unwrap(),
            json!({"a": 42, "b": 5, "c": true})
        );
    }

    #[test]
    fn a_schema_nothing_satisfies_is_reported_not_guessed() {
        let impossible = json!({"type": "integer", "minimum": 5, "maximum": 2});
        let err = valid_instance(&impossible).unwrap_err().to_string();
        assert!(err.contains("too hard to instantiate"), "{err}");
        let remote = json!({"$ref": "https://example.com/s.json"});
        assert!(valid_instance(&remote).is_err());
    }

    #[test]
    fn one_required_field_gets_a_value_of_another_type() {
        let schema = json!({"type": "object",
            "properties": {"label": {"type": "string"}, "on": {"type": "boolean"}},
            "required": ["label", "on"]});
        let valid = valid_instance(&schema).unwrap();
        let (field, broken) = wrong_type_for_required_field(&schema, &valid)
            .unwrap()
            .unwrap();
        assert_eq!(field, "label");
        assert_eq!(broken, json!({"label": 7, "on": true}));
        let untyped = json!({"type": "object", "required": ["x"], "properties": {"x": {}}});
        assert_eq!(
            wrong_type_for_required_field(&untyped, &json!({"x": {}})).unwrap(),
            None
        );
    }

    #[test]
    fn shapes_keep_required_keys_and_types_not_values() {
        let schema = json!({"type": "object",
            "properties": {"t": {"type": "number"}, "opt": {"type": "string"},
                           "e": {"type": ["string", "null"]}},
            "required": ["t", "e"]});
        let a = shape(Some(&schema), &json!({"t": 28.3, "opt": "x", "e": null}));
        let b = shape(Some(&schema), &json!({"t": 0, "e": "boom"}));
        assert_eq!(a, b);
        assert_eq!(a, json!({"t": "<number>", "e": "<one of null|string>"}));
        assert_ne!(shape(Some(&schema), &json!({"t": "hot", "e": null})), a);
        assert_eq!(shape(None, &json!({"x": 1})), json!({"x": "<number>"}));
    }
}
