//! The validation walk: every keyword of draft 7's validation vocabulary except `format`,
//! which luagen's generated checks treat as an annotation too (a `default` is held to what the
//! device will accept, nothing more).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

use regex_automata::meta::Regex;
use serde_json::{Map, Number, Value};

use super::error::{Error, Kind};

/// Schemas nest and `$ref`s chain; a schema that only refers to itself would loop forever.
/// Past this depth the walk stops and accepts (the type IR reports such a schema itself).
const MAX_DEPTH: usize = 256;

/// How `$ref` combines with the keywords beside it, the one difference between the dialects
/// luagen validates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Draft 7: a schema with `$ref` is the referenced schema; siblings are ignored.
    Draft7,
    /// Draft 2020-12 (the manifest's own schema, from schemars): `$ref` applies alongside.
    Draft2020,
}

/// A compiled-on-demand validator for one root schema. `$ref`s resolve as JSON pointers into
/// that root (`#`, `#/definitions/X`, `#/$defs/X`); other references are ignored, as the type
/// IR rejects them with its own diagnostic.
pub struct Validator<'s> {
    root: &'s Value,
    dialect: Dialect,
    /// Each pattern compiled once; `None` for one the regex engine rejects (reported by the IR).
    /// A lock rather than a cell so one validator of a fixed schema can serve every load.
    patterns: Mutex<HashMap<&'s str, Option<Regex>>>,
}

impl<'s> Validator<'s> {
    pub fn new(root: &'s Value, dialect: Dialect) -> Self {
        Self {
            root,
            dialect,
            patterns: Mutex::new(HashMap::new()),
        }
    }

    /// Every keyword `instance` fails, outermost first.
    pub fn errors(&self, instance: &Value) -> Vec<Error> {
        let mut out = Sink::collecting();
        self.walk(self.root, instance, &mut Vec::new(), &mut out, 0);
        out.errors
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.errors(instance).is_empty()
    }

    fn walk(
        &self,
        schema: &'s Value,
        instance: &Value,
        path: &mut Vec<String>,
        out: &mut Sink,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let map = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return out.fail(path, instance, Kind::FalseSchema),
            Value::Object(map) => map,
            // Not a schema: the meta-schema check reports it.
            _ => return,
        };
        if let Some(target) = map.get("$ref").and_then(Value::as_str) {
            if let Some(referenced) = self.resolve(target) {
                self.walk(referenced, instance, path, out, depth + 1);
            }
            if self.dialect == Dialect::Draft7 {
                return;
            }
        }
        let mut push = |kind| out.fail(path, instance, kind);
        if let Some(t) = map.get("type") {
            let expected: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !expected.is_empty() && !expected.iter().any(|t| is_type(instance, t)) {
                push(Kind::Type {
                    expected: expected.into_iter().map(str::to_string).collect(),
                });
            }
        }
        if let Some(Value::Array(options)) = map.get("enum") {
            if !options.iter().any(|o| equal(o, instance)) {
                push(Kind::Enum {
                    options: options.clone(),
                });
            }
        }
        if let Some(expected) = map.get("const") {
            if !equal(expected, instance) {
                push(Kind::Const {
                    expected: expected.clone(),
                });
            }
        }
        match instance {
            Value::Number(n) => self.number(map, n, &mut push),
            Value::String(s) => self.string(map, s, &mut push),
            _ => {}
        }
        match instance {
            Value::Array(items) => self.array(map, items, instance, path, out, depth),
            Value::Object(object) => self.object(map, object, instance, path, out, depth),
            _ => {}
        }
        self.combinators(map, instance, path, out, depth);
    }

    fn number(&self, map: &Map<String, Value>, n: &Number, push: &mut impl FnMut(Kind)) {
        let limit = |key: &str| map.get(key).and_then(Value::as_number);
        if let Some(l) = limit("minimum").filter(|l| compare(n, l) == Some(Ordering::Less)) {
            push(Kind::Minimum {
                limit: Value::Number(l.clone()),
            });
        }
        if let Some(l) = limit("maximum").filter(|l| compare(n, l) == Some(Ordering::Greater)) {
            push(Kind::Maximum {
                limit: Value::Number(l.clone()),
            });
        }
        if let Some(l) =
            limit("exclusiveMinimum").filter(|l| compare(n, l) != Some(Ordering::Greater))
        {
            push(Kind::ExclusiveMinimum {
                limit: Value::Number(l.clone()),
            });
        }
        if let Some(l) = limit("exclusiveMaximum").filter(|l| compare(n, l) != Some(Ordering::Less))
        {
            push(Kind::ExclusiveMaximum {
                limit: Value::Number(l.clone()),
            });
        }
        if let Some(m) = limit("multipleOf").filter(|m| !is_multiple(n, m)) {
            push(Kind::MultipleOf {
                multiple_of: Value::Number(m.clone()),
            });
        }
    }

    fn string(&self, map: &'s Map<String, Value>, s: &str, push: &mut impl FnMut(Kind)) {
        let min = map.get("minLength").and_then(as_count);
        let max = map.get("maxLength").and_then(as_count);
        if min.is_some() || max.is_some() {
            // JSON Schema counts code points, not bytes.
            let len = s.chars().count() as u64;
            if let Some(limit) = min.filter(|m| len < *m) {
                push(Kind::MinLength { limit });
            }
            if let Some(limit) = max.filter(|m| len > *m) {
                push(Kind::MaxLength { limit });
            }
        }
        if let Some(Value::String(pattern)) = map.get("pattern") {
            if self.matches(pattern, s) == Some(false) {
                push(Kind::Pattern {
                    pattern: pattern.clone(),
                });
            }
        }
    }

    fn array(
        &self,
        map: &'s Map<String, Value>,
        items: &[Value],
        instance: &Value,
        path: &mut Vec<String>,
        out: &mut Sink,
        depth: usize,
    ) {
        let count = items.len() as u64;
        if let Some(limit) = map
            .get("minItems")
            .and_then(as_count)
            .filter(|m| count < *m)
        {
            out.fail(path, instance, Kind::MinItems { limit });
        }
        if let Some(limit) = map
            .get("maxItems")
            .and_then(as_count)
            .filter(|m| count > *m)
        {
            out.fail(path, instance, Kind::MaxItems { limit });
        }
        if map.get("uniqueItems") == Some(&Value::Bool(true))
            && items
                .iter()
                .enumerate()
                .any(|(i, a)| items[i + 1..].iter().any(|b| equal(a, b)))
        {
            out.fail(path, instance, Kind::UniqueItems);
        }
        match map.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, (item, schema)) in items.iter().zip(tuple).enumerate() {
                    self.at(path, i.to_string(), |p| {
                        self.walk(schema, item, p, out, depth + 1)
                    });
                }
                match map.get("additionalItems") {
                    Some(Value::Bool(false)) if items.len() > tuple.len() => {
                        out.fail(path, instance, Kind::AdditionalItems { limit: tuple.len() })
                    }
                    Some(extra @ Value::Object(_)) => {
                        for (i, item) in items.iter().enumerate().skip(tuple.len()) {
                            self.at(path, i.to_string(), |p| {
                                self.walk(extra, item, p, out, depth + 1)
                            });
                        }
                    }
                    _ => {}
                }
            }
            Some(schema) => {
                for (i, item) in items.iter().enumerate() {
                    self.at(path, i.to_string(), |p| {
                        self.walk(schema, item, p, out, depth + 1)
                    });
                }
            }
            None => {}
        }
        if let Some(schema) = map.get("contains") {
            if !items.iter().any(|item| self.passes(schema, item, depth)) {
                out.fail(path, instance, Kind::Contains);
            }
        }
    }

    fn object(
        &self,
        map: &'s Map<String, Value>,
        object: &Map<String, Value>,
        instance: &Value,
        path: &mut Vec<String>,
        out: &mut Sink,
        depth: usize,
    ) {
        let count = object.len() as u64;
        if let Some(limit) = map
            .get("minProperties")
            .and_then(as_count)
            .filter(|m| count < *m)
        {
            out.fail(path, instance, Kind::MinProperties { limit });
        }
        if let Some(limit) = map
            .get("maxProperties")
            .and_then(as_count)
            .filter(|m| count > *m)
        {
            out.fail(path, instance, Kind::MaxProperties { limit });
        }
        if let Some(Value::Array(required)) = map.get("required") {
            for property in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(property) {
                    out.fail(
                        path,
                        instance,
                        Kind::Required {
                            property: property.to_string(),
                        },
                    );
                }
            }
        }
        let properties = map.get("properties").and_then(Value::as_object);
        let pattern_properties = map.get("patternProperties").and_then(Value::as_object);
        let mut unexpected = Vec::new();
        for (key, value) in object {
            let mut declared = false;
            if let Some(schema) = properties.and_then(|p| p.get(key)) {
                declared = true;
                self.at(path, key.clone(), |p| {
                    self.walk(schema, value, p, out, depth + 1)
                });
            }
            for (pattern, schema) in pattern_properties.into_iter().flatten() {
                if self.matches(pattern, key) == Some(true) {
                    declared = true;
                    self.at(path, key.clone(), |p| {
                        self.walk(schema, value, p, out, depth + 1)
                    });
                }
            }
            if declared {
                continue;
            }
            match map.get("additionalProperties") {
                Some(Value::Bool(false)) => unexpected.push(key.clone()),
                Some(schema @ Value::Object(_)) => {
                    self.at(path, key.clone(), |p| {
                        self.walk(schema, value, p, out, depth + 1)
                    });
                }
                _ => {}
            }
        }
        if !unexpected.is_empty() {
            out.fail(path, instance, Kind::AdditionalProperties { unexpected });
        }
        if let Some(schema) = map.get("propertyNames") {
            for key in object.keys() {
                self.walk(schema, &Value::String(key.clone()), path, out, depth + 1);
            }
        }
        if let Some(Value::Object(dependencies)) = map.get("dependencies") {
            for (key, dependency) in dependencies {
                if !object.contains_key(key) {
                    continue;
                }
                match dependency {
                    Value::Array(names) => {
                        for name in names.iter().filter_map(Value::as_str) {
                            if !object.contains_key(name) {
                                out.fail(
                                    path,
                                    instance,
                                    Kind::Required {
                                        property: name.to_string(),
                                    },
                                );
                            }
                        }
                    }
                    schema => self.walk(schema, instance, path, out, depth + 1),
                }
            }
        }
    }

    fn combinators(
        &self,
        map: &'s Map<String, Value>,
        instance: &Value,
        path: &mut Vec<String>,
        out: &mut Sink,
        depth: usize,
    ) {
        if let Some(Value::Array(all)) = map.get("allOf") {
            for schema in all {
                self.walk(schema, instance, path, out, depth + 1);
            }
        }
        if let Some(Value::Array(any)) = map.get("anyOf") {
            if !any
                .iter()
                .any(|schema| self.passes(schema, instance, depth))
            {
                let context = if out.wants_errors() {
                    self.branches(any, instance, path, depth)
                } else {
                    Vec::new()
                };
                out.fail(path, instance, Kind::AnyOf { context });
            }
        }
        if let Some(Value::Array(one)) = map.get("oneOf") {
            let passing = one
                .iter()
                .filter(|schema| self.passes(schema, instance, depth))
                .count();
            match passing {
                0 => {
                    let context = if out.wants_errors() {
                        self.branches(one, instance, path, depth)
                    } else {
                        Vec::new()
                    };
                    out.fail(path, instance, Kind::OneOfNotValid { context });
                }
                1 => {}
                _ => out.fail(path, instance, Kind::OneOfMultipleValid),
            }
        }
        if let Some(schema) = map.get("not") {
            if self.passes(schema, instance, depth) {
                out.fail(
                    path,
                    instance,
                    Kind::Not {
                        schema: schema.clone(),
                    },
                );
            }
        }
        if let Some(condition) = map.get("if") {
            let branch = if self.passes(condition, instance, depth) {
                map.get("then")
            } else {
                map.get("else")
            };
            if let Some(schema) = branch {
                self.walk(schema, instance, path, out, depth + 1);
            }
        }
    }

    /// Each schema's errors for `instance`, one list per schema: only wanted once every
    /// branch has failed, so trial runs go through [`Self::passes`].
    fn branches(
        &self,
        schemas: &'s [Value],
        instance: &Value,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Vec<Vec<Error>> {
        schemas
            .iter()
            .map(|schema| {
                let mut errors = Sink::collecting();
                self.walk(schema, instance, path, &mut errors, depth + 1);
                errors.errors
            })
            .collect()
    }

    fn passes(&self, schema: &'s Value, instance: &Value, depth: usize) -> bool {
        let mut failures = Sink::counting();
        self.walk(schema, instance, &mut Vec::new(), &mut failures, depth + 1);
        failures.failures == 0
    }

    /// Run `f` with `segment` pushed onto the instance path.
    fn at(&self, path: &mut Vec<String>, segment: String, f: impl FnOnce(&mut Vec<String>)) {
        path.push(segment);
        f(path);
        path.pop();
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self.root, |node, segment| {
                let segment = segment.replace("~1", "/").replace("~0", "~");
                match node {
                    Value::Object(m) => m.get(&segment),
                    Value::Array(a) => segment.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                }
            })
    }

    /// Whether `pattern` (unanchored, as JSON Schema reads it) matches `text`; `None` when the
    /// pattern does not compile.
    fn matches(&self, pattern: &'s str, text: &str) -> Option<bool> {
        let mut patterns = self
            .patterns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let regex = patterns
            .entry(pattern)
            .or_insert_with(|| Regex::new(pattern).ok());
        regex.as_ref().map(|r| r.is_match(text))
    }
}

/// Where a walk's failures go: kept as errors, or only counted, for a trial run (an `anyOf`
/// branch, `not`, `if`) whose errors nobody reads: counting spares cloning the failing value
/// into each error, which for a rejected branch can be a whole subschema.
struct Sink {
    errors: Vec<Error>,
    failures: usize,
    collect: bool,
}

impl Sink {
    fn collecting() -> Self {
        Self {
            errors: Vec::new(),
            failures: 0,
            collect: true,
        }
    }

    fn counting() -> Self {
        Self {
            collect: false,
            ..Self::collecting()
        }
    }

    fn wants_errors(&self) -> bool {
        self.collect
    }

    fn fail(&mut self, path: &[String], instance: &Value, kind: Kind) {
        self.failures += 1;
        if self.collect {
            self.errors.push(error(path, instance, kind));
        }
    }
}

fn error(path: &[String], instance: &Value, kind: Kind) -> Error {
    let mut pointer = String::new();
    for segment in path {
        pointer.push('/');
        pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    Error {
        instance_path: pointer,
        instance: instance.clone(),
        kind,
    }
}

fn is_type(v: &Value, name: &str) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // Draft 7: any number with a zero fractional part, so `2.0` is an integer.
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

/// A non-negative whole-number keyword value (`minLength: 2`, also `2.0`).
fn as_count(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// Integers compare exactly (an i64 and a u64 beyond 2^53 would not as floats).
fn exact(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// `multipleOf` as the devices check it (integers exactly, floats within the runtime core's
/// tolerance), so a `default` passes here exactly when the device accepts it.
fn is_multiple(n: &Number, m: &Number) -> bool {
    if let (Some(n), Some(m)) = (exact(n), exact(m)) {
        return m != 0 && n % m == 0;
    }
    let (Some(n), Some(m)) = (n.as_f64(), m.as_f64()) else {
        return false;
    };
    lua_device_core::rule::is_multiple_of(n, m)
}

/// JSON equality as JSON Schema defines it, as the devices decide it.
pub use lua_device_core::rule::json_equal as equal;
