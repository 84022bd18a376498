//! Two payload schemas compared on the type IR: every difference, as what it does to the set
//! of values the schema accepts ([`Effect`]), classified by the direction the values flow.
//!
//! `$ref`s are already resolved to named types, so where a schema is written does not matter.
//! Named types may refer to themselves: a pair of named types is compared once per root.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::ir::build::escape;
use crate::ir::{
    type_of, Additional, ArrayShape, Constraint, Discriminant, Field, JsonType, Shape, StrShape,
    TypeDefKind, TypeId, TypeSpace, UnionDef,
};
use lua_device_core::rule::{self, json_equal, Num, Search, Subject};

use super::{Effect, Flow, Kind, Raw};

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

    /// Lower and upper bounds, whatever the keyword: numbers, lengths, item and member counts.
    fn bounds(&mut self, at: &At, old: &[Constraint], new: &[Constraint]) {
        let (a, b) = (Bounds::of(old), Bounds::of(new));
        for (lower, o, n) in [(true, a.lo, b.lo), (false, a.hi, b.hi)] {
            let tighter = match (o, n) {
                (None, None) => continue,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(o), Some(n)) => match tighter(&o, &n, lower) {
                    Some(t) => t,
                    None => continue,
                },
            };
            // The keyword the new schema writes, else the old one; a side only the integer
            // type bounds is shown where its keyword would be.
            let keyword = match (n, o) {
                (Some(n), _) if n.keyword != "range" => n.keyword,
                (_, Some(o)) if o.keyword != "range" => o.keyword,
                _ if lower => "minimum",
                _ => "maximum",
            };
            let what = format!(
                "{keyword} {} from {} to {}",
                if tighter { "tightened" } else { "loosened" },
                describe(o, lower),
                describe(n, lower)
            );
            let (kind, effect) = if tighter {
                (Kind::BoundTightened, Effect::Narrowed)
            } else {
                (Kind::BoundLoosened, Effect::Widened)
            };
            // A number, or `{"exclusive": n}` for an exclusive bound.
            let value = |b: Option<Bound>| match b {
                None => Value::Null,
                Some(b) if b.exclusive => json!({ "exclusive": b.value }),
                Some(b) => json!(b.value),
            };
            self.push(&at.key(keyword), kind, effect, value(o), value(n), what);
        }
    }

    fn multiple_of(&mut self, at: &At, old: &[Constraint], new: &[Constraint]) {
        let step = |c: &[Constraint]| {
            c.iter().find_map(|c| match c {
                Constraint::MultipleOf(n) => Some(*n),
                _ => None,
            })
        };
        let (effect, what) = match (step(old), step(new)) {
            (None, None) => return,
            (Some(o), None) => (Effect::Widened, format!("multipleOf {} removed", text(o))),
            (None, Some(n)) => (Effect::Narrowed, format!("multipleOf {} added", text(n))),
            (Some(o), Some(n)) if num_cmp(o, n) == std::cmp::Ordering::Equal => return,
            (Some(o), Some(n)) => {
                let effect = if divides(o, n) {
                    Effect::Narrowed
                } else if divides(n, o) {
                    Effect::Widened
                } else {
                    Effect::Changed
                };
                (
                    effect,
                    format!("multipleOf changed from {} to {}", text(o), text(n)),
                )
            }
        };
        let value = |n: Option<Num>| n.map_or(Value::Null, |n| json!(n));
        self.push(
            &at.key("multipleOf"),
            Kind::MultipleOfChanged,
            effect,
            value(step(old)),
            value(step(new)),
            what,
        );
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

    fn objects(&mut self, at: &At, old: Object<'_>, new: Object<'_>) {
        self.bounds(at, old.constraints, new.constraints);
        self.additional(at, old.additional, new.additional);
        for f in old.fields {
            let here = at.property(&f.wire_name);
            match new.fields.iter().find(|n| n.wire_name == f.wire_name) {
                Some(n) => self.field(&here, f, n),
                None => self.field_removed(&here, f, new.additional),
            }
        }
        for n in new.fields {
            if !old.fields.iter().any(|f| f.wire_name == n.wire_name) {
                self.field_added(&at.property(&n.wire_name), n, old.additional);
            }
        }
    }

    fn additional(&mut self, at: &At, old: Open<'_>, new: Open<'_>) {
        let here = at.key("additionalProperties");
        let name = |o: Open<'_>| match o {
            Open::Forbidden => json!(false),
            Open::Any => json!(true),
            Open::Typed(_) => json!("schema"),
        };
        let (effect, what) = match (old, new) {
            (Open::Forbidden, Open::Forbidden) | (Open::Any, Open::Any) => return,
            (Open::Forbidden, _) => (Effect::Widened, "undeclared members are accepted now"),
            (_, Open::Forbidden) => (Effect::Narrowed, "undeclared members are refused now"),
            (Open::Any, Open::Typed(s)) => return self.shapes(&here, &Shape::Any, s),
            (Open::Typed(s), Open::Any) => return self.shapes(&here, s, &Shape::Any),
            (Open::Typed(a), Open::Typed(b)) => return self.shapes(&here, a, b),
        };
        self.push(
            &here,
            Kind::AdditionalPropertiesChanged,
            effect,
            name(old),
            name(new),
            what.to_string(),
        );
    }

    fn field(&mut self, at: &At, old: &Field, new: &Field) {
        let name = &new.wire_name;
        match (old.required, new.required) {
            (false, true) => self.push(
                at,
                Kind::FieldNowRequired,
                Effect::Narrowed,
                json!(false),
                json!(true),
                format!("`{name}` is required now"),
            ),
            (true, false) => self.push(
                at,
                Kind::FieldNowOptional,
                Effect::Widened,
                json!(true),
                json!(false),
                format!("`{name}` is no longer required{}", self.readers()),
            ),
            _ => {}
        }
        self.shapes(at, &old.shape, &new.shape);
        if old.default != new.default {
            let show = |d: &Option<Value>| d.as_ref().map_or("none".to_string(), Value::to_string);
            let what = match self.flow {
                Flow::ToDevice => format!(
                    "default of `{name}` changed from {} to {}: an agent that leaves it out gets {} now",
                    show(&old.default),
                    show(&new.default),
                    show(&new.default)
                ),
                Flow::ToAgent => format!("default of `{name}` changed from {} to {}", show(&old.default), show(&new.default)),
            };
            self.push(
                &at.key("default"),
                Kind::DefaultChanged,
                Effect::Benign,
                json!(old.default),
                json!(new.default),
                what,
            );
        }
        if old.doc != new.doc {
            let what = format!("description of `{name}` changed");
            self.push(
                &at.key("description"),
                Kind::DescriptionChanged,
                Effect::Annotation,
                json!(old.doc),
                json!(new.doc),
                what,
            );
        }
    }

    fn field_added(&mut self, at: &At, field: &Field, was: Open<'_>) {
        let name = &field.wire_name;
        let (kind, effect, what) = match (field.required, was) {
            (true, Open::Forbidden) => (Kind::RequiredFieldAdded, Effect::Changed, format!("required `{name}` added where undeclared members were refused")),
            (true, _) => (Kind::RequiredFieldAdded, Effect::Narrowed, format!("required `{name}` added")),
            (false, Open::Forbidden) => (Kind::FieldAdded, Effect::Widened, format!("optional `{name}` added where undeclared members were refused")),
            (false, _) => (Kind::FieldAdded, Effect::Benign, format!("optional `{name}` added (undeclared members were ignored, so nobody sends or reads it yet)")),
        };
        self.push(
            at,
            kind,
            effect,
            Value::Null,
            json!(type_label(self.new, &field.shape)),
            what,
        );
        if let Open::Typed(s) = was {
            self.shapes(at, s, &field.shape);
        }
    }

    fn field_removed(&mut self, at: &At, field: &Field, now: Open<'_>) {
        let name = &field.wire_name;
        let (effect, what) = match (field.required, now) {
            (true, Open::Forbidden) => (
                Effect::Changed,
                format!("required `{name}` removed; undeclared members are refused"),
            ),
            (true, _) => (
                Effect::Widened,
                format!("required `{name}` removed{}", self.readers()),
            ),
            (false, Open::Forbidden) => (
                Effect::Narrowed,
                format!("optional `{name}` removed; undeclared members are refused"),
            ),
            (false, _) => (
                Effect::Benign,
                format!("optional `{name}` removed (it is an ignored undeclared member now)"),
            ),
        };
        self.push(
            at,
            Kind::FieldRemoved,
            effect,
            json!(type_label(self.old, &field.shape)),
            Value::Null,
            what,
        );
        if let Open::Typed(s) = now {
            self.shapes(at, &field.shape, s);
        }
    }

    fn unions(&mut self, at: &At, old: &UnionDef, new: &UnionDef) {
        let keyword = if new.one_of { "oneOf" } else { "anyOf" };
        if !same_discriminant(&old.discriminant, &new.discriminant) {
            let show = |d: &Discriminant| match d {
                Discriminant::Tag { property } => format!("the tag `{property}`"),
                Discriminant::JsonType => "their JSON types".to_string(),
            };
            let what = format!(
                "variants told apart by {} now, by {} before",
                show(&new.discriminant),
                show(&old.discriminant)
            );
            let name = |d: &Discriminant| match d {
                Discriminant::Tag { property } => json!(property),
                Discriminant::JsonType => json!("type"),
            };
            self.push(
                &at.key(keyword),
                Kind::DiscriminantChanged,
                Effect::Changed,
                name(&old.discriminant),
                name(&new.discriminant),
                what,
            );
            return;
        }
        for (i, o) in old.variants.iter().enumerate() {
            let key = variant_key(o.tag.as_deref(), o.json_type);
            let here = At {
                location: format!("{}/{keyword}/{}", at.location, escape(&key)),
                old: format!("{}/{i}", variants_ptr(&at.old, old.one_of)),
                new: at.new.clone(),
            };
            let found = new
                .variants
                .iter()
                .enumerate()
                .find(|(_, n)| variant_key(n.tag.as_deref(), n.json_type) == key);
            match found {
                Some((j, n)) => {
                    let here = At {
                        new: format!("{}/{j}", variants_ptr(&at.new, new.one_of)),
                        ..here
                    };
                    self.shapes(&here, &o.shape, &n.shape);
                }
                None => self.push(
                    &here,
                    Kind::VariantRemoved,
                    Effect::Narrowed,
                    json!(key),
                    Value::Null,
                    format!("variant `{key}` removed"),
                ),
            }
        }
        for (j, n) in new.variants.iter().enumerate() {
            let key = variant_key(n.tag.as_deref(), n.json_type);
            if !old
                .variants
                .iter()
                .any(|o| variant_key(o.tag.as_deref(), o.json_type) == key)
            {
                let here = At {
                    location: format!("{}/{keyword}/{}", at.location, escape(&key)),
                    old: at.old.clone(),
                    new: format!("{}/{j}", variants_ptr(&at.new, new.one_of)),
                };
                self.push(
                    &here,
                    Kind::VariantAdded,
                    Effect::Widened,
                    Value::Null,
                    json!(key),
                    format!("variant `{key}` added"),
                );
            }
        }
    }

    /// A union on one side, a single shape on the other (`union_old`: the union is the old one).
    fn union_to_single(
        &mut self,
        at: &At,
        union: &UnionDef,
        single: View<'_>,
        single_shape: &Shape,
        union_old: bool,
    ) {
        let keyword = if union.one_of { "oneOf" } else { "anyOf" };
        let key = json_type(&single).map(|t| variant_key(None, t));
        let matching = match (&union.discriminant, &key) {
            (Discriminant::JsonType, Some(key)) => union
                .variants
                .iter()
                .position(|v| &variant_key(None, v.json_type) == key),
            _ => None,
        };
        let Some(m) = matching else {
            let (o, n) = if union_old {
                (
                    format!("{keyword} of {} variants", union.variants.len()),
                    type_name(&single),
                )
            } else {
                (
                    type_name(&single),
                    format!("{keyword} of {} variants", union.variants.len()),
                )
            };
            let what = format!("type changed from {o} to {n}");
            return self.push(
                &at.key("type"),
                Kind::TypeChanged,
                Effect::Changed,
                json!(o),
                json!(n),
                what,
            );
        };
        for (i, v) in union.variants.iter().enumerate() {
            let vkey = variant_key(None, v.json_type);
            let here = At {
                location: format!("{}/{keyword}/{}", at.location, escape(&vkey)),
                old: if union_old {
                    format!("{}/{i}", variants_ptr(&at.old, union.one_of))
                } else {
                    at.old.clone()
                },
                new: if union_old {
                    at.new.clone()
                } else {
                    format!("{}/{i}", variants_ptr(&at.new, union.one_of))
                },
            };
            if i == m {
                if union_old {
                    self.shapes(&here, &v.shape, single_shape);
                } else {
                    self.shapes(&here, single_shape, &v.shape);
                }
            } else if union_old {
                self.push(
                    &here,
                    Kind::VariantRemoved,
                    Effect::Narrowed,
                    json!(vkey),
                    Value::Null,
                    format!("variant `{vkey}` removed"),
                );
            } else {
                self.push(
                    &here,
                    Kind::VariantAdded,
                    Effect::Widened,
                    Value::Null,
                    json!(vkey),
                    format!("variant `{vkey}` added"),
                );
            }
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

/// The pointer of a union's variant list: a union written as a command's whole schema is named
/// after the schema, others after their `oneOf`/`anyOf`.
fn variants_ptr(ptr: &str, one_of: bool) -> String {
    if ptr.ends_with("/oneOf") || ptr.ends_with("/anyOf") {
        ptr.to_string()
    } else {
        format!("{ptr}/{}", if one_of { "oneOf" } else { "anyOf" })
    }
}

fn same_discriminant(a: &Discriminant, b: &Discriminant) -> bool {
    match (a, b) {
        (Discriminant::Tag { property: p }, Discriminant::Tag { property: q }) => p == q,
        (Discriminant::JsonType, Discriminant::JsonType) => true,
        _ => false,
    }
}

/// How a union variant is matched across versions: its tag, else its JSON type (integer and
/// number are one, as the loader tells variants apart).
fn variant_key(tag: Option<&str>, json_type: JsonType) -> String {
    match (tag, json_type) {
        (Some(t), _) => t.to_string(),
        (None, JsonType::Integer) => "number".to_string(),
        (None, t) => t.name().to_string(),
    }
}

/// A short name of a field's type, for a finding's old or new value.
fn type_label(space: &TypeSpace, shape: &Shape) -> String {
    type_name(&view(space, shape).0)
}

/// One side's bound: its value, whether it is exclusive, and the keyword that set it.
#[derive(Clone, Copy, Debug)]
struct Bound {
    value: Num,
    exclusive: bool,
    keyword: &'static str,
}

#[derive(Default)]
struct Bounds {
    lo: Option<Bound>,
    hi: Option<Bound>,
}

impl Bounds {
    fn of(constraints: &[Constraint]) -> Self {
        let mut b = Bounds::default();
        let mut range = None;
        let int = |n: u64| Num::UInt(n);
        for c in constraints {
            let (lower, value, exclusive, keyword) = match c {
                Constraint::Minimum(n) => (true, *n, false, "minimum"),
                Constraint::ExclusiveMinimum(n) => (true, *n, true, "exclusiveMinimum"),
                Constraint::Maximum(n) => (false, *n, false, "maximum"),
                Constraint::ExclusiveMaximum(n) => (false, *n, true, "exclusiveMaximum"),
                Constraint::MinLength(n) => (true, int(*n), false, "minLength"),
                Constraint::MaxLength(n) => (false, int(*n), false, "maxLength"),
                Constraint::MinItems(n) => (true, int(*n), false, "minItems"),
                Constraint::MaxItems(n) => (false, int(*n), false, "maxItems"),
                Constraint::MinProperties(n) => (true, int(*n), false, "minProperties"),
                Constraint::MaxProperties(n) => (false, int(*n), false, "maxProperties"),
                Constraint::Range(t) => {
                    range = Some(t.range());
                    continue;
                }
                Constraint::MultipleOf(_) | Constraint::Pattern(_) | Constraint::UniqueItems => {
                    continue
                }
            };
            let bound = Bound {
                value,
                exclusive,
                keyword,
            };
            let slot = if lower { &mut b.lo } else { &mut b.hi };
            *slot = match *slot {
                Some(prev) if tighter(&prev, &bound, lower) != Some(true) => Some(prev),
                _ => Some(bound),
            };
        }
        // A typed device's integer type bounds what the schema leaves open.
        if let Some((lo, hi)) = range {
            for (slot, value) in [(&mut b.lo, lo), (&mut b.hi, hi)] {
                if slot.is_none() {
                    *slot = Some(Bound {
                        value: Num::int(value),
                        exclusive: false,
                        keyword: "range",
                    });
                }
            }
        }
        b
    }
}

/// Whether `new` is tighter than `old` (`Some(false)`: looser; `None`: the same).
fn tighter(old: &Bound, new: &Bound, lower: bool) -> Option<bool> {
    use std::cmp::Ordering::*;
    let by_value = match num_cmp(old.value, new.value) {
        Less => Some(lower),
        Greater => Some(!lower),
        Equal => None,
    };
    by_value.or(match (old.exclusive, new.exclusive) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        _ => None,
    })
}

fn num_cmp(a: Num, b: Num) -> std::cmp::Ordering {
    match (a.as_i128(), b.as_i128()) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Whether every multiple of `b` is a multiple of `a` (`b` is a multiple of `a`).
fn divides(a: Num, b: Num) -> bool {
    match (a.as_i128(), b.as_i128()) {
        (Some(a), Some(b)) if a != 0 => b % a == 0,
        _ => rule::is_multiple_of(b.as_f64(), a.as_f64()),
    }
}

fn text(n: Num) -> String {
    let mut s = String::new();
    n.write(&mut s);
    s
}

/// A bound as people read it: `>= 0`, `< 10`, `none`, with the integer type a typed device
/// holds for a side the schema leaves open.
fn describe(b: Option<Bound>, lower: bool) -> String {
    let Some(b) = b else {
        return "none".to_string();
    };
    let op = match (lower, b.exclusive) {
        (true, false) => ">=",
        (true, true) => ">",
        (false, false) => "<=",
        (false, true) => "<",
    };
    let range = if b.keyword == "range" {
        " (the 64-bit range a typed device holds)"
    } else {
        ""
    };
    format!("{op} {}{range}", text(b.value))
}

/// A `pattern` searched as the devices search it (regex syntax; one that does not compile
/// here counts as matching, since this only decides whether a value is still accepted).
struct Re<'p>(&'p str);

impl AsRef<str> for Re<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Search for Re<'_> {
    fn is_match(&self, s: &str) -> bool {
        regex_automata::meta::Regex::new(self.0).map_or(true, |re| re.is_match(s))
    }
}

fn holds(c: &Constraint, subject: Subject<'_>) -> bool {
    use lua_device_core::rule::Constraint as C;
    let c: C<Re<'_>> = match c {
        C::Pattern(p) => C::Pattern(Re(p)),
        C::Minimum(n) => C::Minimum(*n),
        C::ExclusiveMinimum(n) => C::ExclusiveMinimum(*n),
        C::Maximum(n) => C::Maximum(*n),
        C::ExclusiveMaximum(n) => C::ExclusiveMaximum(*n),
        C::MultipleOf(n) => C::MultipleOf(*n),
        C::Range(t) => C::Range(*t),
        C::MinLength(n) => C::MinLength(*n),
        C::MaxLength(n) => C::MaxLength(*n),
        C::MinItems(n) => C::MinItems(*n),
        C::MaxItems(n) => C::MaxItems(*n),
        C::UniqueItems => C::UniqueItems,
        C::MinProperties(n) => C::MinProperties(*n),
        C::MaxProperties(n) => C::MaxProperties(*n),
    };
    c.holds(subject)
}

/// Whether `shape` accepts `value` (for the values of an `enum` or `const` compared with a
/// schema of another kind). Bounded: values are finite and named types are looked through
/// a fixed number of times.
fn admits(space: &TypeSpace, shape: &Shape, value: &Value) -> bool {
    admits_within(space, shape, value, MAX_HOPS)
}

fn admits_within(space: &TypeSpace, shape: &Shape, value: &Value, depth: usize) -> bool {
    if depth == 0 {
        return true;
    }
    let all = |cs: &[Constraint], s: Subject<'_>| cs.iter().all(|c| holds(c, s));
    match (view(space, shape).0, value) {
        (View::Any, _) => true,
        (View::Nullable(_), Value::Null) => true,
        (View::Nullable(inner), v) => admits_within(space, inner, v, depth - 1),
        (View::Boolean, v) => v.is_boolean(),
        (View::Integer(cs), v) => match v.as_i64().map(i128::from).or(v.as_u64().map(i128::from)) {
            Some(i) => all(cs, Subject::Int(i)),
            None => v
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && all(cs, Subject::Number(f))),
        },
        (View::Number(cs), v) => v.as_f64().is_some_and(|f| all(cs, Subject::Number(f))),
        (View::String(s), Value::String(v)) => all(&s.constraints, Subject::Str(v)),
        (View::Array(a), Value::Array(items)) => {
            all(&a.constraints, Subject::Items(items))
                && items
                    .iter()
                    .all(|i| admits_within(space, &a.items, i, depth - 1))
        }
        (View::Object(o), Value::Object(members)) => {
            all(o.constraints, Subject::Members(members))
                && o.fields
                    .iter()
                    .all(|f| !f.required || members.contains_key(&f.wire_name))
                && members
                    .iter()
                    .all(|(k, v)| match o.fields.iter().find(|f| &f.wire_name == k) {
                        Some(f) => admits_within(space, &f.shape, v, depth - 1),
                        None => match o.additional {
                            Open::Forbidden => false,
                            Open::Any => true,
                            Open::Typed(s) => admits_within(space, s, v, depth - 1),
                        },
                    })
        }
        (View::Values { values, .. }, v) => values.iter().any(|w| json_equal(v, w)),
        (View::Union(u), v) => u
            .variants
            .iter()
            .any(|variant| admits_within(space, &variant.shape, v, depth - 1)),
        _ => false,
    }
}
