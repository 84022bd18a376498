//! Two payload schemas compared on the type IR: every difference, as what it does to the set
//! of values the schema accepts ([`Effect`]), classified by the direction the values flow.
//!
//! `$ref`s are already resolved to named types, so where a schema is written does not matter.
//! Named types may refer to themselves: a pair of named types is compared once per root.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::ir::build::escape;
use crate::ir::{
    type_of, Additional, ArrayShape, Constraint, Field, JsonType, Shape, StrShape, TypeDefKind,
    TypeId, TypeSpace, UnionDef,
};
use lua_device_core::rule::json_equal;

use super::{Effect, Flow, Kind, Raw};

mod admits;
mod bounds;
mod objects;
mod unions;

use admits::admits;

/// Where a comparison is: the location shown to people and the pointer into each manifest.
#[derive(Clone, Debug)]
pub(super) struct At {
    pub location: String,
    pub old: String,
    pub new: String,
}

impl At {
    /// The same segment appended to all three (a keyword, `items`, a property name).
    fn key(&self, segment: &str) -> At {
        let s = escape(segment);
        At {
            location: format!("{}/{s}", self.location),
            old: format!("{}/{s}", self.old),
            new: format!("{}/{s}", self.new),
        }
    }

    fn property(&self, name: &str) -> At {
        self.key("properties").key(name)
    }
}

/// Compare the schemas of one payload (`None`: the manifest gives none) flowing `flow`.
pub(super) fn compare(
    flow: Flow,
    at: At,
    old: (&TypeSpace, Option<TypeId>),
    new: (&TypeSpace, Option<TypeId>),
) -> Vec<Raw> {
    // No schema: a command without input is sent `{}`, a trigger without payload sends `{}`;
    // an object that ignores what it does not declare is the same contract.
    let empty = Shape::Map {
        values: Box::new(Shape::Any),
        constraints: Vec::new(),
    };
    let shape = |id: Option<TypeId>| id.map_or(empty.clone(), |id| Shape::Named { id });
    let mut cmp = Comparer {
        flow,
        old: old.0,
        new: new.0,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    cmp.shapes(&at, &shape(old.1), &shape(new.1));
    cmp.out
}

/// Whether two payload schemas accept the same values (a likely rename keeps its schemas).
pub(super) fn same(old: (&TypeSpace, Option<TypeId>), new: (&TypeSpace, Option<TypeId>)) -> bool {
    let at = At {
        location: String::new(),
        old: String::new(),
        new: String::new(),
    };
    compare(Flow::ToDevice, at, old, new)
        .iter()
        .all(|r| r.severity == super::Severity::Info)
}

struct Comparer<'a> {
    flow: Flow,
    old: &'a TypeSpace,
    new: &'a TypeSpace,
    /// Pairs of named types already compared (or being compared) under this root.
    seen: HashSet<(TypeId, TypeId)>,
    out: Vec<Raw>,
}

/// A shape with its named types looked through.
enum View<'a> {
    Any,
    Boolean,
    Integer(&'a [Constraint]),
    Number(&'a [Constraint]),
    String(&'a StrShape),
    Array(&'a ArrayShape),
    Object(Object<'a>),
    /// A finite set of values: `const` (`konst`), an `enum` of any type.
    Values {
        values: Vec<Value>,
        konst: bool,
    },
    Union(&'a UnionDef),
    Nullable(&'a Shape),
}

struct Object<'a> {
    fields: &'a [Field],
    additional: Open<'a>,
    constraints: &'a [Constraint],
}

/// What an object does with members it does not declare.
#[derive(Clone, Copy)]
enum Open<'a> {
    Forbidden,
    /// Accepted, whatever their value.
    Any,
    /// Accepted when their value has this shape.
    Typed(&'a Shape),
}

/// Most alias hops followed (the loader refuses alias cycles; this only bounds the walk).
const MAX_HOPS: usize = 64;

/// `shape` as a [`View`], with the named type it is (for the recursion guard) and its pointer
/// in the manifest when it is one.
fn view<'a>(
    space: &'a TypeSpace,
    mut shape: &'a Shape,
) -> (View<'a>, Option<TypeId>, Option<&'a str>) {
    let mut named = None;
    for _ in 0..MAX_HOPS {
        let Shape::Named { id } = shape else { break };
        let Some(def) = space.types.get(id.0) else {
            return (View::Any, named.map(|(id, _)| id), None);
        };
        let origin = Some(def.origin.as_str());
        let id = *id;
        match &def.kind {
            TypeDefKind::Alias { shape: inner } => {
                named = Some((id, def.origin.as_str()));
                shape = inner;
                continue;
            }
            TypeDefKind::Struct(s) => {
                let additional = match &s.additional {
                    Additional::Forbidden => Open::Forbidden,
                    Additional::Ignored => Open::Any,
                    Additional::Typed(v) if matches!(**v, Shape::Any) => Open::Any,
                    Additional::Typed(v) => Open::Typed(v),
                };
                let object = Object {
                    fields: &s.fields,
                    additional,
                    constraints: &s.constraints,
                };
                return (View::Object(object), Some(id), origin);
            }
            TypeDefKind::Enum(e) => {
                let values = e.variants.iter().map(|v| json!(v.wire)).collect();
                let v = View::Values {
                    values,
                    konst: false,
                };
                return (v, Some(id), origin);
            }
            TypeDefKind::Union(u) => return (View::Union(u), Some(id), origin),
        }
    }
    let (id, origin) = named.map_or((None, None), |(id, o)| (Some(id), Some(o)));
    let v = match shape {
        Shape::Any | Shape::Named { .. } => View::Any,
        Shape::Boolean => View::Boolean,
        Shape::Integer(i) => View::Integer(&i.constraints),
        Shape::Number(n) => View::Number(&n.constraints),
        Shape::String(s) => View::String(s),
        Shape::Array(a) => View::Array(a),
        Shape::Map {
            values,
            constraints,
        } => View::Object(Object {
            fields: &[],
            additional: if matches!(**values, Shape::Any) {
                Open::Any
            } else {
                Open::Typed(values)
            },
            constraints,
        }),
        Shape::Nullable { inner } => View::Nullable(inner),
        Shape::Const { value } => View::Values {
            values: vec![value.clone()],
            konst: true,
        },
        Shape::Literals { values, .. } => View::Values {
            values: values.clone(),
            konst: false,
        },
    };
    (v, id, origin)
}

/// The JSON type a view's values have, when they have one.
fn json_type(v: &View<'_>) -> Option<JsonType> {
    match v {
        View::Any | View::Union(_) => None,
        View::Boolean => Some(JsonType::Boolean),
        View::Integer(_) => Some(JsonType::Integer),
        View::Number(_) => Some(JsonType::Number),
        View::String(_) => Some(JsonType::String),
        View::Array(_) => Some(JsonType::Array),
        View::Object(_) => Some(JsonType::Object),
        View::Values { values, .. } => {
            let mut types = values.iter().map(type_of);
            let first = types.next()?;
            types.all(|t| t == first).then_some(first)
        }
        View::Nullable(_) => None,
    }
}

/// How a view is named in messages: `integer`, `any value`, `one of "a", "b"`.
fn type_name(v: &View<'_>) -> String {
    match v {
        View::Any => "any value".into(),
        View::Union(u) => format!(
            "{} of {} variants",
            if u.one_of { "oneOf" } else { "anyOf" },
            u.variants.len()
        ),
        View::Values { values, .. } => format!(
            "one of {}",
            values
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        View::Nullable(_) => "nullable".into(),
        other => json_type(other).map_or("value", JsonType::name).into(),
    }
}

impl Comparer<'_> {
    fn push(&mut self, at: &At, kind: Kind, effect: Effect, old: Value, new: Value, what: String) {
        self.push_hint(at, kind, effect, old, new, what, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_hint(
        &mut self,
        at: &At,
        kind: Kind,
        effect: Effect,
        old: Value,
        new: Value,
        what: String,
        hint: Option<String>,
    ) {
        let (severity, breaks) = effect.classify(self.flow);
        let message = match effect {
            Effect::Benign | Effect::Annotation => what,
            _ => format!("{what}: {}", effect.consequence(self.flow)),
        };
        self.out.push(Raw {
            severity,
            breaks,
            kind,
            location: at.location.clone(),
            old,
            new,
            message,
            hint,
            old_ptr: Some(at.old.clone()),
            new_ptr: Some(at.new.clone()),
        });
    }

    /// For a member agents read: that they may no longer find it.
    fn readers(&self) -> &'static str {
        match self.flow {
            Flow::ToAgent => " (agents that read it may not get it)",
            Flow::ToDevice => "",
        }
    }

    fn shapes(&mut self, at: &At, old: &Shape, new: &Shape) {
        let (ov, oid, optr) = view(self.old, old);
        let (nv, nid, nptr) = view(self.new, new);
        if let (Some(a), Some(b)) = (oid, nid) {
            if !self.seen.insert((a, b)) {
                return;
            }
        }
        let at = At {
            location: at.location.clone(),
            old: optr.map_or_else(|| at.old.clone(), str::to_string),
            new: nptr.map_or_else(|| at.new.clone(), str::to_string),
        };
        self.views(&at, ov, nv, old, new);
    }

    fn views(&mut self, at: &At, ov: View<'_>, nv: View<'_>, old: &Shape, new: &Shape) {
        match (ov, nv) {
            (View::Nullable(a), View::Nullable(b)) => self.shapes(at, a, b),
            (View::Nullable(a), n) => {
                if !matches!(n, View::Any) && !admits(self.new, new, &Value::Null) {
                    let what = "null is no longer accepted".to_string();
                    self.push(
                        at,
                        Kind::NullableChanged,
                        Effect::Narrowed,
                        json!(true),
                        json!(false),
                        what,
                    );
                }
                self.shapes(at, a, new);
            }
            (o, View::Nullable(b)) => {
                if !matches!(o, View::Any) && !admits(self.old, old, &Value::Null) {
                    let what = "null is accepted now".to_string();
                    self.push(
                        at,
                        Kind::NullableChanged,
                        Effect::Widened,
                        json!(false),
                        json!(true),
                        what,
                    );
                }
                self.shapes(at, old, b);
            }
            (View::Any, View::Any) | (View::Boolean, View::Boolean) => {}
            (View::Any, n) => {
                let what = format!("type narrowed from any value to {}", type_name(&n));
                let new_name = json!(type_name(&n));
                self.push(
                    &at.key("type"),
                    Kind::TypeChanged,
                    Effect::Narrowed,
                    json!("any"),
                    new_name,
                    what,
                );
            }
            (o, View::Any) => {
                let what = format!("type widened from {} to any value", type_name(&o));
                let old_name = json!(type_name(&o));
                self.push(
                    &at.key("type"),
                    Kind::TypeChanged,
                    Effect::Widened,
                    old_name,
                    json!("any"),
                    what,
                );
            }
            (
                View::Values {
                    values: a,
                    konst: ka,
                },
                View::Values {
                    values: b,
                    konst: kb,
                },
            ) => self.values(at, &a, ka, &b, kb),
            (View::Values { values, konst }, n) => {
                let keyword = if konst { "const" } else { "enum" };
                for v in values.iter().filter(|v| !admits(self.new, new, v)) {
                    let what = format!("value {v} is no longer accepted");
                    self.push(
                        &at.key(keyword),
                        Kind::ValueRemoved,
                        Effect::Narrowed,
                        v.clone(),
                        Value::Null,
                        what,
                    );
                }
                let what = format!(
                    "{keyword} replaced by {}: other values are accepted now",
                    type_name(&n)
                );
                self.push(
                    &at.key(keyword),
                    Kind::ValuesOpened,
                    Effect::Widened,
                    Value::Array(values),
                    json!(type_name(&n)),
                    what,
                );
            }
            (o, View::Values { values, konst }) => {
                let keyword = if konst { "const" } else { "enum" };
                for v in values.iter().filter(|v| !admits(self.old, old, v)) {
                    let what = format!("value {v} is accepted now");
                    self.push(
                        &at.key(keyword),
                        Kind::ValueAdded,
                        Effect::Widened,
                        Value::Null,
                        v.clone(),
                        what,
                    );
                }
                let what = format!("{} restricted to the values of `{keyword}`", type_name(&o));
                self.push(
                    &at.key(keyword),
                    Kind::ValuesRestricted,
                    Effect::Narrowed,
                    json!(type_name(&o)),
                    Value::Array(values),
                    what,
                );
            }
            (View::Integer(a), View::Integer(b)) | (View::Number(a), View::Number(b)) => {
                self.bounds(at, a, b);
                self.multiple_of(at, a, b);
            }
            (View::Integer(a), View::Number(b)) => {
                let what = "type widened from integer to number".to_string();
                self.push(
                    &at.key("type"),
                    Kind::TypeChanged,
                    Effect::Widened,
                    json!("integer"),
                    json!("number"),
                    what,
                );
                self.bounds(at, &written(a), b);
                self.multiple_of(at, a, b);
            }
            (View::Number(a), View::Integer(b)) => {
                let what = "type narrowed from number to integer".to_string();
                self.push(
                    &at.key("type"),
                    Kind::TypeChanged,
                    Effect::Narrowed,
                    json!("number"),
                    json!("integer"),
                    what,
                );
                self.bounds(at, a, &written(b));
                self.multiple_of(at, a, b);
            }
            (View::String(a), View::String(b)) => self.strings(at, a, b),
            (View::Array(a), View::Array(b)) => {
                self.bounds(at, &a.constraints, &b.constraints);
                let unique = |c: &[Constraint]| c.contains(&Constraint::UniqueItems);
                match (unique(&a.constraints), unique(&b.constraints)) {
                    (false, true) => self.push(
                        &at.key("uniqueItems"),
                        Kind::UniqueItemsChanged,
                        Effect::Narrowed,
                        json!(false),
                        json!(true),
                        "items must be unique now".into(),
                    ),
                    (true, false) => self.push(
                        &at.key("uniqueItems"),
                        Kind::UniqueItemsChanged,
                        Effect::Widened,
                        json!(true),
                        json!(false),
                        "items no longer need to be unique".into(),
                    ),
                    _ => {}
                }
                self.shapes(&at.key("items"), &a.items, &b.items);
            }
            (View::Object(a), View::Object(b)) => self.objects(at, a, b),
            (View::Union(a), View::Union(b)) => self.unions(at, a, b),
            (View::Union(u), n) => self.union_to_single(at, u, n, new, true),
            (o, View::Union(u)) => self.union_to_single(at, u, o, old, false),
            (o, n) => {
                let what = format!("type changed from {} to {}", type_name(&o), type_name(&n));
                self.push(
                    &at.key("type"),
                    Kind::TypeChanged,
                    Effect::Changed,
                    json!(type_name(&o)),
                    json!(type_name(&n)),
                    what,
                );
            }
        }
    }

    fn values(&mut self, at: &At, old: &[Value], old_const: bool, new: &[Value], new_const: bool) {
        let has = |set: &[Value], v: &Value| set.iter().any(|w| json_equal(v, w));
        if old_const && new_const {
            if !json_equal(&old[0], &new[0]) {
                let what = format!("const changed from {} to {}", old[0], new[0]);
                self.push(
                    &at.key("const"),
                    Kind::ConstChanged,
                    Effect::Changed,
                    old[0].clone(),
                    new[0].clone(),
                    what,
                );
            }
            return;
        }
        let keyword = if new_const { "const" } else { "enum" };
        for v in old.iter().filter(|v| !has(new, v)) {
            let what = format!("value {v} removed");
            self.push(
                &at.key(keyword),
                Kind::ValueRemoved,
                Effect::Narrowed,
                v.clone(),
                Value::Null,
                what,
            );
        }
        for v in new.iter().filter(|v| !has(old, v)) {
            let what = format!("value {v} added");
            self.push(
                &at.key(keyword),
                Kind::ValueAdded,
                Effect::Widened,
                Value::Null,
                v.clone(),
                what,
            );
        }
    }

    fn strings(&mut self, at: &At, old: &StrShape, new: &StrShape) {
        self.bounds(at, &old.constraints, &new.constraints);
        let here = at.key("pattern");
        match (old.pattern(), new.pattern()) {
            (None, None) => {}
            (Some(o), Some(n)) if o == n => {}
            (None, Some(n)) => self.push(&here, Kind::PatternChanged, Effect::Narrowed, Value::Null, json!(n), format!("pattern {n} added")),
            (Some(o), None) => self.push(&here, Kind::PatternChanged, Effect::Widened, json!(o), Value::Null, format!("pattern {o} removed")),
            (Some(o), Some(n)) => self.push_hint(
                &here,
                Kind::PatternChanged,
                Effect::Changed,
                json!(o),
                json!(n),
                format!("pattern changed from {o} to {n}"),
                Some("luagen does not compare regular expressions: a changed pattern counts as both narrower and wider".into()),
            ),
        }
        if old.format != new.format {
            let name = |f: &Option<String>| f.as_deref().map_or("none".to_string(), str::to_string);
            let what = format!(
                "format changed from {} to {} (an annotation: no target checks it)",
                name(&old.format),
                name(&new.format)
            );
            self.push(
                &at.key("format"),
                Kind::FormatChanged,
                Effect::Annotation,
                json!(old.format),
                json!(new.format),
                what,
            );
        }
    }
}

/// The constraints a schema writes, without the range of the integer type a typed device holds
/// (which means nothing once the value is a number of another type).
fn written(constraints: &[Constraint]) -> Vec<Constraint> {
    constraints
        .iter()
        .filter(|c| !matches!(c, Constraint::Range(_)))
        .cloned()
        .collect()
}

/// A short name of a field's type, for a finding's old or new value.
fn type_label(space: &TypeSpace, shape: &Shape) -> String {
    type_name(&view(space, shape).0)
}
