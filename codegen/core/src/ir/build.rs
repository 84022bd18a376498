//! JSON Schema -> type IR, rejecting what the generators cannot represent faithfully.
//!
//! A schema reaching this pass has already passed the draft 7 meta-schema. Here every keyword
//! is either mapped into the IR, accepted as an annotation, or reported as a [`Problem`] at
//! its JSON pointer: generating something that checks less than the schema says would be
//! worse than refusing.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::*;
use crate::ident::{self, Namer};
use crate::suggest::did_you_mean;
use crate::validator::{Dialect, Validator};
use lua_device_core::rule::Num;

/// A schema problem at a JSON pointer into the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
}

const SUPPORTED: &[&str] = &[
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "oneOf",
    "anyOf",
    "$ref",
];

/// Keywords that only describe; they never change what is valid.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
];

const UNSUPPORTED: &[(&str, &str)] = &[
    ("allOf", "merge the schemas into one object schema"),
    (
        "not",
        "express the allowed values positively (enum, pattern, bounds)",
    ),
    ("if", "use oneOf with a const tag property"),
    ("then", "use oneOf with a const tag property"),
    ("else", "use oneOf with a const tag property"),
    (
        "patternProperties",
        "declare the properties, or use additionalProperties with a schema",
    ),
    ("propertyNames", "use additionalProperties with a schema"),
    ("dependencies", "use oneOf with a const tag property"),
    ("contains", "constrain every item with items"),
    ("additionalItems", "use a single items schema"),
    (
        "definitions",
        "move shared schemas to the manifest's top-level `definitions`",
    ),
    (
        "$defs",
        "move shared schemas to the manifest's top-level `definitions`",
    ),
    (
        "$id",
        "schemas are identified by their place in the manifest",
    ),
    ("contentEncoding", "use a string with a pattern"),
    ("contentMediaType", "use a string with a pattern"),
];

/// Formats the generated validators know; an unknown one is almost always a typo.
pub const FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uuid",
    "regex",
];

/// Builds the [`TypeSpace`] of one device.
pub struct IrBuilder<'a> {
    definitions: &'a IndexMap<String, Value>,
    def_ids: HashMap<String, TypeId>,
    space: TypeSpace,
    /// The types' neutral names (each target's naming pass spells its own from them).
    type_names: Namer,
    problems: Vec<Problem>,
    /// Each distinct `pattern` parsed once, with its error (a catalogue repeats its patterns).
    patterns: HashMap<String, Option<String>>,
}

impl<'a> IrBuilder<'a> {
    pub fn new(definitions: &'a IndexMap<String, Value>) -> Self {
        Self {
            definitions,
            def_ids: HashMap::new(),
            space: TypeSpace::default(),
            type_names: Namer::new(),
            problems: Vec::new(),
            patterns: HashMap::new(),
        }
    }

    /// Build every shared definition.
    pub fn define_all(&mut self) {
        let defs: Vec<(String, TypeId)> = self
            .definitions
            .keys()
            .map(|name| {
                let pointer = format!("/definitions/{}", escape(name));
                (name.clone(), self.reserve(name, &pointer))
            })
            .collect();
        self.def_ids.extend(defs.iter().cloned());
        for (name, id) in defs {
            let schema = &self.definitions[&name];
            let pointer = format!("/definitions/{}", escape(&name));
            self.fill(id, schema, &pointer);
        }
    }

    /// A named root type (a command's input or output, a trigger's payload).
    pub fn root(&mut self, schema: &Value, pointer: &str, name: &str) -> TypeId {
        let id = self.reserve(name, pointer);
        self.fill(id, schema, pointer);
        id
    }

    pub fn finish(mut self) -> (TypeSpace, Vec<Problem>) {
        self.check_alias_cycles();
        (self.space, self.problems)
    }

    fn reserve(&mut self, name: &str, pointer: &str) -> TypeId {
        let id = TypeId(self.space.types.len());
        self.space.types.push(TypeDef {
            name: self.type_names.claim(ident::pascal(name)),
            doc: None,
            origin: pointer.to_string(),
            kind: TypeDefKind::Alias { shape: Shape::Any },
        });
        id
    }

    fn fill(&mut self, id: TypeId, schema: &Value, pointer: &str) {
        let hint = self.space.get(id).name.clone();
        let shape = self.shape(schema, pointer, &hint, Some(id));
        let def = &mut self.space.types[id.0];
        def.doc = doc_of(schema);
        match shape {
            Shape::Named { id: built } if built == id => {}
            shape => def.kind = TypeDefKind::Alias { shape },
        }
    }

    fn problem(&mut self, pointer: &str, message: impl Into<String>, help: Option<String>) {
        self.problems.push(Problem {
            pointer: pointer.to_string(),
            message: message.into(),
            help,
        });
    }

    /// `reserved`: the named type this schema should become if it is a struct, enum or union.
    fn shape(&mut self, schema: &Value, ptr: &str, hint: &str, reserved: Option<TypeId>) -> Shape {
        let map = match schema {
            Value::Bool(true) => return Shape::Any,
            Value::Object(map) => map,
            _ => {
                self.problem(
                    ptr,
                    "`false` and non-object schemas are not supported",
                    None,
                );
                return Shape::Any;
            }
        };
        self.check_keywords(map, ptr);
        if let Some(default) = map.get("default") {
            self.check_default(schema, default, ptr);
        }
        if let Some(r) = map.get("$ref") {
            return self.reference(r, ptr);
        }
        if let Some(value) = map.get("const") {
            return Shape::Const {
                value: value.clone(),
            };
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            return self.enumeration(values, map, ptr, hint, reserved);
        }
        for (key, one_of) in [("oneOf", true), ("anyOf", false)] {
            if let Some(Value::Array(variants)) = map.get(key) {
                return self.union(
                    variants,
                    one_of,
                    map,
                    &format!("{ptr}/{key}"),
                    hint,
                    reserved,
                );
            }
        }
        let (types, nullable) = match self.types(map, ptr) {
            Some(t) => t,
            None => return Shape::Any,
        };
        let reserved = if nullable { None } else { reserved };
        let shape = match types {
            None if nullable => return Shape::Const { value: Value::Null },
            None => Shape::Any,
            Some(JsonType::Boolean) => Shape::Boolean,
            Some(JsonType::Integer) => self.integer(map, ptr),
            Some(JsonType::Number) => self.number(map, ptr),
            Some(JsonType::String) => self.string(map, ptr),
            Some(JsonType::Array) => self.array(map, ptr, hint),
            Some(JsonType::Object) => self.object(map, ptr, hint, reserved),
            Some(JsonType::Null) => unreachable!("null is split off into `nullable`"),
        };
        if nullable {
            Shape::Nullable {
                inner: Box::new(shape),
            }
        } else {
            shape
        }
    }

    fn check_keywords(&mut self, map: &Map<String, Value>, ptr: &str) {
        for key in map.keys() {
            if SUPPORTED.contains(&key.as_str())
                || ANNOTATIONS.contains(&key.as_str())
                || key.starts_with("x-")
            {
                continue;
            }
            let at = format!("{ptr}/{}", escape(key));
            if let Some((_, instead)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
                self.problem(
                    &at,
                    format!("JSON Schema keyword `{key}` is not supported by luagen's generators"),
                    Some(format!("instead, {instead}")),
                );
            } else {
                let known = SUPPORTED.iter().chain(ANNOTATIONS).copied();
                let help = did_you_mean(key, known).map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    &at,
                    format!(
                        "unknown JSON Schema keyword `{key}` (vendor extensions start with `x-`)"
                    ),
                    help,
                );
            }
        }
    }

    fn check_default(&mut self, schema: &Value, default: &Value, ptr: &str) {
        let mut with_defs = schema.clone();
        if let Value::Object(m) = &mut with_defs {
            m.remove("default");
            let defs: Map<String, Value> = self.definitions.clone().into_iter().collect();
            m.insert("definitions".into(), Value::Object(defs));
        }
        let errors = Validator::new(&with_defs, Dialect::Draft7).errors(default);
        if let Some(e) = errors.first() {
            self.problem(
                &format!("{ptr}/default"),
                format!("default `{default}` does not match its own schema: {e}"),
                None,
            );
        }
    }

    /// `type` as (the one non-null type, nullable); `None` when the keyword is unusable.
    fn types(&mut self, map: &Map<String, Value>, ptr: &str) -> Option<(Option<JsonType>, bool)> {
        let listed: Vec<JsonType> = match map.get("type") {
            None => return Some((infer_type(map), false)),
            Some(Value::String(t)) => JsonType::from_name(t).into_iter().collect(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(|t| t.as_str().and_then(JsonType::from_name))
                .collect(),
            Some(_) => Vec::new(),
        };
        let nullable = listed.contains(&JsonType::Null);
        let rest: Vec<JsonType> = listed
            .into_iter()
            .filter(|t| *t != JsonType::Null)
            .collect();
        match rest.as_slice() {
            [] => Some((None, nullable)),
            [t] => Some((Some(*t), nullable)),
            _ => {
                self.problem(
                    &format!("{ptr}/type"),
                    "a `type` list with more than one non-null type cannot be represented",
                    Some("use oneOf with one schema per type".into()),
                );
                None
            }
        }
    }

    fn reference(&mut self, r: &Value, ptr: &str) -> Shape {
        let at = format!("{ptr}/$ref");
        let Some(r) = r.as_str() else {
            self.problem(&at, "`$ref` must be a string", None);
            return Shape::Any;
        };
        let Some(name) = r.strip_prefix("#/definitions/") else {
            self.problem(
                &at,
                format!("`$ref` `{r}` is not supported: only the manifest's own definitions can be referenced"),
                Some("write it as `#/definitions/Name` and add Name under the top-level `definitions`".into()),
            );
            return Shape::Any;
        };
        let name = unescape(name);
        if let Some(&id) = self.def_ids.get(&name) {
            return Shape::Named { id };
        }
        if self.definitions.contains_key(&name) {
            // The definition itself is invalid and already reported.
            return Shape::Any;
        }
        let help = did_you_mean(&name, self.definitions.keys().map(String::as_str))
            .map(|s| format!("did you mean `#/definitions/{s}`?"));
        self.problem(
            &at,
            format!("`$ref` `{r}` does not resolve: there is no definition named `{name}`"),
            help,
        );
        Shape::Any
    }

    fn enumeration(
        &mut self,
        values: &[Value],
        map: &Map<String, Value>,
        ptr: &str,
        hint: &str,
        reserved: Option<TypeId>,
    ) -> Shape {
        let at = format!("{ptr}/enum");
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                self.problem(
                    &format!("{at}/{i}"),
                    format!("enum value {v} is listed twice"),
                    None,
                );
            }
        }
        let nullable = values.contains(&Value::Null);
        let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        let reserved = if nullable { None } else { reserved };
        let shape = if !non_null.is_empty() && non_null.iter().all(|v| v.is_string()) {
            let variants = non_null
                .iter()
                .filter_map(|v| v.as_str())
                .map(|wire| EnumVariant {
                    wire: wire.to_string(),
                })
                .collect();
            let doc = doc_of_map(map);
            Shape::Named {
                id: self.define(
                    hint,
                    ptr,
                    doc,
                    reserved,
                    TypeDefKind::Enum(EnumDef { variants }),
                ),
            }
        } else {
            let mut kinds: Vec<JsonType> = non_null.iter().map(|v| super::type_of(v)).collect();
            kinds.sort();
            kinds.dedup();
            if kinds == [JsonType::Integer, JsonType::Number] {
                kinds = vec![JsonType::Number];
            }
            match kinds.as_slice() {
                [t] if *t != JsonType::Array && *t != JsonType::Object => Shape::Literals {
                    json_type: *t,
                    values: non_null.iter().map(|v| (*v).clone()).collect(),
                },
                [] => Shape::Const { value: Value::Null },
                _ => {
                    self.problem(
                        &at,
                        "an enum must list values of one JSON type (strings, integers, numbers or booleans), optionally with null",
                        Some("use oneOf with one const per variant".into()),
                    );
                    Shape::Any
                }
            }
        };
        if nullable && !non_null.is_empty() {
            Shape::Nullable {
                inner: Box::new(shape),
            }
        } else {
            shape
        }
    }

    fn union(
        &mut self,
        variants: &[Value],
        one_of: bool,
        map: &Map<String, Value>,
        ptr: &str,
        hint: &str,
        reserved: Option<TypeId>,
    ) -> Shape {
        const BESIDE: &[&str] = &[
            "oneOf",
            "anyOf",
            "type",
            "title",
            "description",
            "$comment",
            "default",
            "examples",
        ];
        let parent = ptr.rsplit_once('/').map_or("", |p| p.0);
        for key in map.keys() {
            if !BESIDE.contains(&key.as_str()) && !key.starts_with("x-") {
                self.problem(
                    &format!("{parent}/{}", escape(key)),
                    format!("`{key}` beside oneOf/anyOf is not supported"),
                    Some("move it into each variant".into()),
                );
            }
        }
        if map.contains_key("oneOf") && map.contains_key("anyOf") {
            self.problem(parent, "a schema may use oneOf or anyOf, not both", None);
        }
        let resolved: Vec<&Value> = variants.iter().map(|v| self.resolve(v)).collect();
        let tag = tag_property(&resolved);
        let mut names = Namer::new();
        let mut built = Vec::new();
        for (i, (variant, resolved)) in variants.iter().zip(&resolved).enumerate() {
            let tag_value = tag.as_ref().map(|(_, values)| values[i].clone());
            let json_type = json_type_of(resolved);
            let label = match (&tag_value, resolved.get("title").and_then(Value::as_str)) {
                (Some(t), _) => ident::pascal(t),
                (None, Some(title)) => ident::pascal(title),
                (None, None) => match json_type {
                    Some(t) => ident::pascal(t.name()),
                    None => format!("Variant{}", i + 1),
                },
            };
            let label = names.claim(label);
            let shape = self.shape(
                variant,
                &format!("{ptr}/{i}"),
                &format!("{hint}{label}"),
                None,
            );
            built.push((label, tag_value, json_type, shape));
        }
        let discriminant = if let Some((property, _)) = &tag {
            Discriminant::Tag {
                property: property.clone(),
            }
        } else {
            let mut types: Vec<JsonType> = built
                .iter()
                .filter_map(|(_, _, t, _)| {
                    t.map(|t| {
                        if t == JsonType::Integer {
                            JsonType::Number
                        } else {
                            t
                        }
                    })
                })
                .collect();
            let all_known = types.len() == built.len();
            types.sort();
            types.dedup();
            if !all_known || types.len() != built.len() {
                self.problem(
                    ptr,
                    format!(
                        "the variants of {} cannot be told apart",
                        if one_of { "oneOf" } else { "anyOf" }
                    ),
                    Some("give every object variant a required property with a distinct `const` string, or make the variants' types differ".into()),
                );
                return Shape::Any;
            }
            Discriminant::JsonType
        };
        let variants = built
            .into_iter()
            .map(|(label, tag, json_type, shape)| UnionVariant {
                label,
                tag,
                json_type: json_type.unwrap_or(JsonType::Object),
                shape,
            })
            .collect();
        let doc = doc_of_map(map);
        let def = UnionDef {
            discriminant,
            variants,
            one_of,
        };
        Shape::Named {
            id: self.define(hint, ptr, doc, reserved, TypeDefKind::Union(def)),
        }
    }

    /// Follow a `$ref` to its definition (one level is enough to read a variant's shape).
    fn resolve<'v>(&self, schema: &'v Value) -> &'v Value
    where
        'a: 'v,
    {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"))
        {
            Some(name) => self.definitions.get(&unescape(name)).unwrap_or(schema),
            None => schema,
        }
    }

    fn integer(&mut self, map: &Map<String, Value>, ptr: &str) -> Shape {
        let f = |k: &str| map.get(k).and_then(Value::as_f64);
        let clamp = |x: f64| x.clamp(i128::MIN as f64 / 2.0, i128::MAX as f64 / 2.0) as i128;
        let mut min = f("minimum").map(|x| clamp(x.ceil()));
        if let Some(x) = f("exclusiveMinimum") {
            let m = clamp(x.floor()) + 1;
            min = Some(min.map_or(m, |v| v.max(m)));
        }
        let mut max = f("maximum").map(|x| clamp(x.floor()));
        if let Some(x) = f("exclusiveMaximum") {
            let m = clamp(x.ceil()) - 1;
            max = Some(max.map_or(m, |v| v.min(m)));
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                self.problem(
                    ptr,
                    format!(
                        "no integer is in the range {lo}..={hi}: the bounds exclude every value"
                    ),
                    None,
                );
            }
        }
        let multiple_of = match map.get("multipleOf") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(m) if m > 0 => Some(m),
                _ if v.as_f64().is_some_and(|m| m > 0.0 && m.fract() == 0.0) => {
                    v.as_f64().map(|m| m as u64)
                }
                _ => {
                    self.problem(
                        &format!("{ptr}/multipleOf"),
                        "multipleOf of an integer must be a positive whole number",
                        None,
                    );
                    None
                }
            },
        };
        let repr = match IntRepr::narrowest(min, max) {
            Some(r) => r,
            None => {
                self.problem(
                    ptr,
                    "the integer range does not fit in 64 bits (signed or unsigned)",
                    None,
                );
                IntRepr::I64
            }
        };
        let mut constraints: Vec<Constraint> = min
            .map(|m| Constraint::Minimum(Num::int(m)))
            .into_iter()
            .chain(max.map(|m| Constraint::Maximum(Num::int(m))))
            .collect();
        if min.is_none() || max.is_none() {
            constraints.push(Constraint::Range(repr));
        }
        constraints.extend(multiple_of.map(|m| Constraint::MultipleOf(Num::UInt(m))));
        Shape::Integer(IntShape { repr, constraints })
    }

    fn number(&mut self, map: &Map<String, Value>, ptr: &str) -> Shape {
        let f = |k: &str| map.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        let (minimum, exclusive_minimum) = (f("minimum"), f("exclusiveMinimum"));
        let (maximum, exclusive_maximum) = (f("maximum"), f("exclusiveMaximum"));
        let lo = minimum
            .into_iter()
            .chain(exclusive_minimum)
            .reduce(f64::max);
        let hi = maximum
            .into_iter()
            .chain(exclusive_maximum)
            .reduce(f64::min);
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let empty = lo > hi
                || (lo == hi && (exclusive_minimum == Some(lo) || exclusive_maximum == Some(hi)));
            if empty {
                self.problem(
                    ptr,
                    format!("no number satisfies the bounds ({lo} to {hi})"),
                    None,
                );
            }
        }
        let constraints = [
            minimum.map(|n| Constraint::Minimum(Num::Float(n))),
            exclusive_minimum.map(|n| Constraint::ExclusiveMinimum(Num::Float(n))),
            maximum.map(|n| Constraint::Maximum(Num::Float(n))),
            exclusive_maximum.map(|n| Constraint::ExclusiveMaximum(Num::Float(n))),
            f("multipleOf").map(|n| Constraint::MultipleOf(Num::Float(n))),
        ];
        Shape::Number(NumShape {
            constraints: constraints.into_iter().flatten().collect(),
        })
    }

    fn string(&mut self, map: &Map<String, Value>, ptr: &str) -> Shape {
        let min_length = map.get("minLength").and_then(Value::as_u64);
        let max_length = map.get("maxLength").and_then(Value::as_u64);
        if let (Some(lo), Some(hi)) = (min_length, max_length) {
            if lo > hi {
                self.problem(
                    ptr,
                    format!("minLength {lo} is greater than maxLength {hi}: no string is valid"),
                    None,
                );
            }
        }
        let pattern = map
            .get("pattern")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(p) = &pattern {
            let error = self
                .patterns
                .entry(p.clone())
                .or_insert_with(|| {
                    regex_syntax::Parser::new()
                        .parse(p)
                        .err()
                        .map(|e| e.to_string())
                })
                .clone();
            if let Some(e) = error {
                self.problem(
                    &format!("{ptr}/pattern"),
                    format!("pattern `{p}` cannot be checked on every target: {}", first_line(&e)),
                    Some("use plain classes, groups, alternation and repetition; lookaround and backreferences are not available".into()),
                );
            }
        }
        let format = map
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(fmt) = &format {
            if !FORMATS.contains(&fmt.as_str()) {
                let help = match did_you_mean(fmt, FORMATS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known formats: {}", FORMATS.join(", ")),
                };
                self.problem(
                    &format!("{ptr}/format"),
                    format!("unknown string format `{fmt}`"),
                    Some(help),
                );
            }
        }
        let constraints = [
            min_length.map(Constraint::MinLength),
            max_length.map(Constraint::MaxLength),
            pattern.map(Constraint::Pattern),
        ];
        Shape::String(StrShape {
            constraints: constraints.into_iter().flatten().collect(),
            format,
        })
    }

    fn array(&mut self, map: &Map<String, Value>, ptr: &str, hint: &str) -> Shape {
        let items = match map.get("items") {
            None => Shape::Any,
            Some(Value::Array(_)) => {
                self.problem(
                    &format!("{ptr}/items"),
                    "tuple arrays (`items` as a list) are not supported",
                    Some("use an object with named properties, or one items schema".into()),
                );
                Shape::Any
            }
            Some(items) => self.shape(items, &format!("{ptr}/items"), &format!("{hint}Item"), None),
        };
        let min_items = map.get("minItems").and_then(Value::as_u64);
        let max_items = map.get("maxItems").and_then(Value::as_u64);
        if let (Some(lo), Some(hi)) = (min_items, max_items) {
            if lo > hi {
                self.problem(
                    ptr,
                    format!("minItems {lo} is greater than maxItems {hi}: no array is valid"),
                    None,
                );
            }
        }
        let unique_items = map
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let constraints = [
            min_items.map(Constraint::MinItems),
            max_items.map(Constraint::MaxItems),
            unique_items.then_some(Constraint::UniqueItems),
        ];
        Shape::Array(Box::new(ArrayShape {
            items,
            constraints: constraints.into_iter().flatten().collect(),
        }))
    }

    /// An object's check plan: the constraints on its members as a whole.
    fn members(&mut self, map: &Map<String, Value>, ptr: &str) -> Vec<Constraint> {
        let min = map.get("minProperties").and_then(Value::as_u64);
        let max = map.get("maxProperties").and_then(Value::as_u64);
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                self.problem(
                    ptr,
                    format!(
                        "minProperties {lo} is greater than maxProperties {hi}: no object is valid"
                    ),
                    None,
                );
            }
        }
        let constraints = [
            min.map(Constraint::MinProperties),
            max.map(Constraint::MaxProperties),
        ];
        constraints.into_iter().flatten().collect()
    }

    /// Member counts hold for a struct only if its typed value keeps every member as it came:
    /// one that drops undeclared members, fills in defaults or reads `null` as absent would
    /// turn a valid payload into an invalid one on its way through a device.
    fn counted_members(
        &mut self,
        map: &Map<String, Value>,
        ptr: &str,
        fields: &[Field],
        additional: &Additional,
    ) {
        let keyword = if map.contains_key("minProperties") {
            "minProperties"
        } else {
            "maxProperties"
        };
        let why = if matches!(additional, Additional::Ignored) {
            Some("undeclared members, which a typed struct does not keep".to_string())
        } else {
            fields.iter().filter(|f| !f.required).find_map(|f| {
                if f.default.is_some() {
                    Some(format!(
                        "`{}`, whose default a typed struct fills in",
                        f.wire_name
                    ))
                } else if matches!(f.shape, Shape::Nullable { .. }) {
                    Some(format!(
                        "`{}`, whose null a typed struct reads as absent",
                        f.wire_name
                    ))
                } else {
                    None
                }
            })
        };
        if let Some(why) = why {
            self.problem(
                &format!("{ptr}/{keyword}"),
                format!("{keyword} would count {why}"),
                Some("give additionalProperties: false or a schema, and optional properties neither a default nor null".into()),
            );
        }
    }

    fn object(
        &mut self,
        map: &Map<String, Value>,
        ptr: &str,
        hint: &str,
        reserved: Option<TypeId>,
    ) -> Shape {
        let empty = Map::new();
        let properties = map
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (i, name) in required.iter().enumerate() {
            if !properties.contains_key(*name) {
                let help = did_you_mean(name, properties.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    &format!("{ptr}/required/{i}"),
                    format!("`required` names `{name}`, which `properties` does not declare"),
                    help,
                );
            }
        }
        let additional = match map.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Additional::Ignored,
            Some(Value::Bool(false)) => Additional::Forbidden,
            Some(schema) => Additional::Typed(Box::new(self.shape(
                schema,
                &format!("{ptr}/additionalProperties"),
                &format!("{hint}Value"),
                None,
            ))),
        };
        let constraints = self.members(map, ptr);
        if properties.is_empty() {
            match additional {
                Additional::Ignored => {
                    return Shape::Map {
                        values: Box::new(Shape::Any),
                        constraints,
                    }
                }
                Additional::Typed(values) => {
                    return Shape::Map {
                        values,
                        constraints,
                    }
                }
                Additional::Forbidden => {}
            }
        }
        let mut fields = Vec::new();
        for (wire, schema) in properties {
            let field_ptr = format!("{ptr}/properties/{}", escape(wire));
            let shape = self.shape(
                schema,
                &field_ptr,
                &format!("{hint}{}", ident::pascal(wire)),
                None,
            );
            fields.push(Field {
                wire_name: wire.clone(),
                doc: doc_of(schema),
                required: required.contains(&wire.as_str()),
                default: schema.get("default").cloned(),
                shape,
            });
        }
        if !constraints.is_empty() {
            self.counted_members(map, ptr, &fields, &additional);
        }
        let doc = doc_of_map(map);
        let def = StructDef {
            fields,
            constraints,
            additional,
        };
        Shape::Named {
            id: self.define(hint, ptr, doc, reserved, TypeDefKind::Struct(def)),
        }
    }

    fn define(
        &mut self,
        hint: &str,
        ptr: &str,
        doc: Option<String>,
        reserved: Option<TypeId>,
        kind: TypeDefKind,
    ) -> TypeId {
        let id = reserved.unwrap_or_else(|| self.reserve(hint, ptr));
        let def = &mut self.space.types[id.0];
        def.kind = kind;
        if def.doc.is_none() {
            def.doc = doc;
        }
        id
    }

    /// `type A = B; type B = A;` has no representation in any target language.
    fn check_alias_cycles(&mut self) {
        for (start, def) in self.space.iter() {
            let mut seen = vec![start];
            let mut current = def;
            while let TypeDefKind::Alias {
                shape: Shape::Named { id },
            } = &current.kind
            {
                if *id == start {
                    self.problems.push(Problem {
                        pointer: def.origin.clone(),
                        message:
                            "this schema only refers to itself through `$ref`s: it has no content"
                                .into(),
                        help: None,
                    });
                    break;
                }
                if seen.contains(id) {
                    // A chain into another cycle: that cycle's own types report it.
                    break;
                }
                seen.push(*id);
                current = self.space.get(*id);
            }
        }
    }
}

/// The property every variant pins to a distinct string constant, with each variant's value.
fn tag_property(variants: &[&Value]) -> Option<(String, Vec<String>)> {
    let first = variants.first()?.get("properties")?.as_object()?;
    'candidates: for name in first.keys() {
        let mut values = Vec::new();
        for v in variants {
            let required = v
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(name)));
            let value = v
                .get("properties")
                .and_then(|p| p.get(name))
                .and_then(constant_string);
            match (required, value) {
                (true, Some(s)) if !values.contains(&s) => values.push(s),
                _ => continue 'candidates,
            }
        }
        return Some((name.clone(), values));
    }
    None
}

fn constant_string(schema: &Value) -> Option<String> {
    if let Some(s) = schema.get("const").and_then(Value::as_str) {
        return Some(s.to_string());
    }
    match schema
        .get("enum")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([Value::String(s)]) => Some(s.clone()),
        _ => None,
    }
}

/// The single JSON type a variant schema admits, when it can be read off the schema.
fn json_type_of(schema: &Value) -> Option<JsonType> {
    let map = schema.as_object()?;
    if let Some(c) = map.get("const") {
        return Some(super::type_of(c));
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        let mut types: Vec<JsonType> = values.iter().map(super::type_of).collect();
        types.dedup();
        return match types.as_slice() {
            [t] => Some(*t),
            _ => None,
        };
    }
    match map.get("type") {
        Some(Value::String(t)) => JsonType::from_name(t),
        None => infer_type(map),
        _ => None,
    }
}

/// A schema without `type` whose keywords only make sense for one type is read as that type.
pub(crate) fn infer_type(map: &Map<String, Value>) -> Option<JsonType> {
    let has = |keys: &[&str]| keys.iter().any(|k| map.contains_key(*k));
    if has(&["properties", "required", "additionalProperties"]) {
        Some(JsonType::Object)
    } else if has(&["items", "minItems", "maxItems", "uniqueItems"]) {
        Some(JsonType::Array)
    } else if has(&["minLength", "maxLength", "pattern", "format"]) {
        Some(JsonType::String)
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        Some(JsonType::Number)
    } else {
        None
    }
}

fn doc_of(schema: &Value) -> Option<String> {
    schema.as_object().and_then(doc_of_map)
}

fn doc_of_map(map: &Map<String, Value>) -> Option<String> {
    map.get("description")
        .or_else(|| map.get("title"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn first_line(s: &str) -> &str {
    let line = s
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(s));
    line.trim_start_matches("error:").trim()
}

/// Escape a key for use as a JSON pointer segment.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}
