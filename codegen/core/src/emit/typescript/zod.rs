//! The type IR as zod schemas that accept exactly what the device's checks accept.
//!
//! zod's own checks are used where their meaning is JSON Schema's (number bounds, array
//! lengths, `.strict()`, `.catchall()`), so the JSON Schema lua-cli derives from a module
//! keeps them; the rest are refinements with the device's definition: string lengths in code
//! points (zod counts UTF-16 units), `multipleOf` within the devices' tolerance (zod has its
//! own), JSON equality for `const`, `enum` and `uniqueItems`, member counts. Every check fails
//! with the rule's words from the runtime core, as the device's does.

use std::collections::BTreeSet;

use serde_json::Value;

use super::escape::ts_str;
use super::{layout, pattern};
use crate::emit::refusal::PatternRefusal;
use crate::ir::{Additional, Constraint, Field, Shape, TypeDefKind, TypeId, TypeSpace};
use crate::names::Names;
use lua_device_core::rule::{Num, Rule};

/// A function of the module's prelude that generated schemas call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Helper {
    /// `json`: any JSON value, present.
    Json,
    /// `chars(s)`: code points.
    Chars,
    /// `sameJson(a, b)`.
    SameJson,
    /// `multipleOf(n, step)`.
    MultipleOf,
    /// `uniqueItems(items)`.
    Unique,
}

/// Writes zod expressions for one device's types, recording the helpers they call and the
/// patterns JavaScript cannot run as the device does.
pub struct ZodWriter<'a> {
    types: &'a TypeSpace,
    names: &'a Names,
    /// Per type: whether it refers to itself, directly or through others.
    recursive: Vec<bool>,
    pub helpers: BTreeSet<Helper>,
    pub refused: Vec<PatternRefusal>,
}

impl<'a> ZodWriter<'a> {
    pub fn new(types: &'a TypeSpace, names: &'a Names) -> Self {
        let recursive = types
            .iter()
            .map(|(id, _)| reaches(types, id, id, &mut vec![false; types.types.len()]))
            .collect();
        Self {
            types,
            names,
            recursive,
            helpers: BTreeSet::new(),
            refused: Vec::new(),
        }
    }

    /// Whether `id` refers to itself: its schema is `z.lazy`, its types are written out.
    pub fn is_recursive(&self, id: TypeId) -> bool {
        self.recursive[id.0]
    }

    /// The name of a recursive type's input type, where it differs from its output (a
    /// member with a default is optional going in): `Node$Input`, a name no naming pass
    /// gives, so it clashes with nothing.
    pub fn input_name(&self, id: TypeId) -> Option<String> {
        let mut seen = vec![false; self.types.types.len()];
        (self.recursive[id.0] && has_default(self.types, id, &mut seen))
            .then(|| format!("{}$Input", self.names.ty(id)))
    }

    /// The TypeScript type of a value of `shape` as zod gives it (`input`: as it is
    /// accepted, before defaults are filled in), for the types of recursive schemas.
    pub fn ts_type(&mut self, shape: &Shape, input: bool) -> String {
        match shape {
            Shape::Any => self.use_helper(Helper::Json, "Json"),
            Shape::Boolean => "boolean".into(),
            Shape::Integer(_) | Shape::Number(_) => "number".into(),
            Shape::String(_) => "string".into(),
            Shape::Array(a) => format!("Array<{}>", self.ts_type(&a.items, input)),
            Shape::Map { values, .. } => {
                format!("{{ [key: string]: {} }}", self.ts_type(values, input))
            }
            Shape::Nullable { inner } => format!("({} | null)", self.ts_type(inner, input)),
            Shape::Const { value: v } => self.literal_types(std::slice::from_ref(v)),
            Shape::Literals { values, .. } => self.literal_types(values),
            Shape::Named { id } => {
                let name = self.names.ty(*id).to_string();
                match (input, self.recursive[id.0]) {
                    (false, _) => name,
                    (true, true) => self.input_name(*id).unwrap_or(name),
                    (true, false) => format!("z.input<typeof {name}>"),
                }
            }
        }
    }

    /// A named type written out (a recursive one's `type` declaration).
    pub fn ts_definition(&mut self, id: TypeId, input: bool) -> String {
        let def = self.types.get(id);
        match &def.kind {
            TypeDefKind::Struct(st) => {
                let mut out = String::from("{");
                for f in &st.fields {
                    let optional = !f.required && (input || f.default.is_none());
                    out.push_str(&format!(
                        "\n  {}{}: {};",
                        type_key(&f.wire_name),
                        if optional { "?" } else { "" },
                        self.ts_type(&f.shape, input)
                    ));
                }
                if !st.fields.is_empty() {
                    out.push('\n');
                }
                out.push('}');
                if let Additional::Typed(shape) = &st.additional {
                    out.push_str(&format!(
                        " & {{ [key: string]: {} }}",
                        self.ts_type(shape, input)
                    ));
                }
                out
            }
            TypeDefKind::Enum(e) => e
                .variants
                .iter()
                .map(|v| ts_str(&v.wire))
                .collect::<Vec<_>>()
                .join(" | "),
            TypeDefKind::Union(u) => u
                .variants
                .iter()
                .map(|v| self.ts_type(&v.shape, input))
                .collect::<Vec<_>>()
                .join(" | "),
            TypeDefKind::Alias { shape } => self.ts_type(shape, input),
        }
    }

    fn literal_types(&mut self, values: &[Value]) -> String {
        if values.iter().any(|v| v.is_object() || v.is_array()) {
            return self.use_helper(Helper::Json, "Json");
        }
        values.iter().map(value).collect::<Vec<_>>().join(" | ")
    }

    /// The named types in an order where each comes after every type it refers to (the IR
    /// has no cycles: a schema nests a bounded depth, counted through `$ref`s).
    pub fn declaration_order(&self) -> Vec<TypeId> {
        let mut order = Vec::new();
        let mut seen = vec![false; self.types.types.len()];
        for (id, _) in self.types.iter() {
            self.visit(id, &mut seen, &mut order);
        }
        order
    }

    fn visit(&self, id: TypeId, seen: &mut Vec<bool>, order: &mut Vec<TypeId>) {
        if std::mem::replace(&mut seen[id.0], true) {
            return;
        }
        let refs = refs(self.types, id);
        for r in refs {
            self.visit(r, seen, order);
        }
        order.push(id);
    }

    /// The schema of a named type, as its `const` is initialised.
    pub fn definition(&mut self, id: TypeId) -> String {
        let def = self.types.get(id);
        let expr = match &def.kind {
            TypeDefKind::Struct(s) => {
                let mut out = String::from("z.object({");
                for f in &s.fields {
                    let key = key(&f.wire_name);
                    let field = layout::chain(&self.field(f), 2, key.len() + 2);
                    out.push_str(&format!("\n  {key}: {field},"));
                }
                if !s.fields.is_empty() {
                    out.push('\n');
                }
                out.push_str("})");
                match &s.additional {
                    Additional::Forbidden => out.push_str(".strict()"),
                    // zod drops undeclared keys, which is what a device's typed value does.
                    Additional::Ignored => {}
                    Additional::Typed(shape) => {
                        out.push_str(&format!(".catchall({})", self.shape(shape)))
                    }
                }
                self.members(out, &s.constraints)
            }
            TypeDefKind::Enum(e) => {
                let values: Vec<String> = e.variants.iter().map(|v| ts_str(&v.wire)).collect();
                format!("z.enum([{}])", values.join(", "))
            }
            TypeDefKind::Union(u) => {
                let variants: Vec<String> =
                    u.variants.iter().map(|v| self.shape(&v.shape)).collect();
                union(variants)
            }
            TypeDefKind::Alias { shape } => self.shape(shape),
        };
        let expr = match &def.doc {
            Some(doc) => format!("{expr}.describe({})", ts_str(doc)),
            None => expr,
        };
        if self.recursive[id.0] {
            // Its members are read when a payload is checked, once every const exists.
            format!("z.lazy(() =>\n  {})", expr.replace('\n', "\n  "))
        } else {
            expr
        }
    }

    fn field(&mut self, f: &Field) -> String {
        let mut s = self.shape(&f.shape);
        if let Some(doc) = &f.doc {
            s.push_str(&format!(".describe({})", ts_str(doc)));
        }
        match (&f.default, f.required) {
            // A fresh object or array for each payload that lacks one, never a shared one.
            (Some(default @ (Value::Object(_) | Value::Array(_))), false) => {
                s.push_str(&format!(".default(() => {})", value(default)))
            }
            (Some(default), false) => s.push_str(&format!(".default({})", value(default))),
            (None, false) => s.push_str(".optional()"),
            (_, true) => {}
        }
        s
    }

    /// The schema of a value of `shape`.
    pub fn shape(&mut self, shape: &Shape) -> String {
        match shape {
            Shape::Any => self.use_helper(Helper::Json, "json"),
            Shape::Boolean => "z.boolean()".into(),
            Shape::Integer(i) => self.number("z.number().int()", true, &i.constraints),
            Shape::Number(n) => self.number("z.number()", false, &n.constraints),
            Shape::String(st) => {
                let mut natives = String::from("z.string()");
                let mut refines = String::new();
                for c in &st.constraints {
                    let rule = ts_str(&c.rule().text());
                    match c {
                        Constraint::MinLength(n) => refines.push_str(&format!(
                            ".refine((s) => {} >= {n}, {rule})",
                            self.use_helper(Helper::Chars, "chars(s)")
                        )),
                        Constraint::MaxLength(n) => refines.push_str(&format!(
                            ".refine((s) => {} <= {n}, {rule})",
                            self.use_helper(Helper::Chars, "chars(s)")
                        )),
                        Constraint::Pattern(p) => match pattern::to_javascript(p) {
                            Ok(js) => natives.push_str(&format!(
                                ".regex(new RegExp({}, \"u\"), {rule})",
                                ts_str(&js)
                            )),
                            Err(why) => {
                                let refusal = PatternRefusal {
                                    pattern: p.clone(),
                                    why,
                                };
                                if !self.refused.contains(&refusal) {
                                    self.refused.push(refusal);
                                }
                            }
                        },
                        _ => {}
                    }
                }
                natives + &refines
            }
            Shape::Array(a) => {
                let mut natives = format!("z.array({})", self.shape(&a.items));
                let mut refines = String::new();
                for c in &a.constraints {
                    let rule = ts_str(&c.rule().text());
                    match c {
                        Constraint::MinItems(n) => natives.push_str(&format!(".min({n}, {rule})")),
                        Constraint::MaxItems(n) => natives.push_str(&format!(".max({n}, {rule})")),
                        Constraint::UniqueItems => refines.push_str(&format!(
                            ".refine((items) => {}, {rule})",
                            self.use_helper(Helper::Unique, "uniqueItems(items)")
                        )),
                        _ => {}
                    }
                }
                natives + &refines
            }
            Shape::Map {
                values,
                constraints,
            } => {
                let map = format!("z.record(z.string(), {})", self.shape(values));
                self.members(map, constraints)
            }
            Shape::Nullable { inner } => format!("{}.nullable()", self.shape(inner)),
            Shape::Const { value: v } => self.literals(std::slice::from_ref(v)),
            Shape::Literals { values, .. } => self.literals(values),
            Shape::Named { id } => self.names.ty(*id).to_string(),
        }
    }

    /// A number with its check plan: bounds as zod's (exact on doubles), `multipleOf` as the
    /// devices compute it.
    fn number(&mut self, base: &str, integer: bool, plan: &[Constraint]) -> String {
        let mut natives = base.to_string();
        let mut refines = String::new();
        for c in plan {
            let rule = ts_str(&c.rule().text());
            match c {
                Constraint::Minimum(n) => natives.push_str(&format!(".gte({}, {rule})", num(*n))),
                Constraint::ExclusiveMinimum(n) => {
                    natives.push_str(&format!(".gt({}, {rule})", num(*n)))
                }
                Constraint::Maximum(n) => natives.push_str(&format!(".lte({}, {rule})", num(*n))),
                Constraint::ExclusiveMaximum(n) => {
                    natives.push_str(&format!(".lt({}, {rule})", num(*n)))
                }
                // The schema's integers, as Python targets keep them: the 64-bit range is a
                // typed Rust device's own limit (PROTOCOL.md), which it answers itself, and
                // past 2^53 a JavaScript number cannot tell its ends apart anyway.
                Constraint::Range(_) => {}
                // Whole multiples of a whole step: the remainder, exact on doubles.
                Constraint::MultipleOf(m) if integer && m.as_i128().is_some() => {
                    refines.push_str(&format!(".refine((n) => n % {} === 0, {rule})", num(*m)))
                }
                Constraint::MultipleOf(m) => refines.push_str(&format!(
                    ".refine((n) => {}, {rule})",
                    self.use_helper(Helper::MultipleOf, &format!("multipleOf(n, {})", num(*m)))
                )),
                _ => {}
            }
        }
        natives + &refines
    }

    /// An object's member counts, counted on what zod kept (the IR allows counts only where
    /// the typed value keeps every member as it came).
    fn members(&mut self, base: String, plan: &[Constraint]) -> String {
        let mut out = base;
        for c in plan {
            let rule = ts_str(&c.rule().text());
            match c {
                Constraint::MinProperties(n) => out.push_str(&format!(
                    ".refine((o) => Object.keys(o).length >= {n}, {rule})"
                )),
                Constraint::MaxProperties(n) => out.push_str(&format!(
                    ".refine((o) => Object.keys(o).length <= {n}, {rule})"
                )),
                _ => {}
            }
        }
        out
    }

    /// One of `values` (a `const` is one): zod literals for scalars, JSON equality for the
    /// rest.
    fn literals(&mut self, values: &[Value]) -> String {
        if values.iter().all(|v| !v.is_object() && !v.is_array()) {
            return union(
                values
                    .iter()
                    .map(|v| match v {
                        Value::Null => "z.null()".to_string(),
                        v => format!("z.literal({})", value(v)),
                    })
                    .collect(),
            );
        }
        let rule = Rule::OneOf(values).text();
        let json = self.use_helper(Helper::Json, "json");
        let same = self.use_helper(Helper::SameJson, "sameJson(v, c)");
        let list: Vec<String> = values.iter().map(value).collect();
        format!(
            "{json}.refine((v) => [{}].some((c) => {same}), {})",
            list.join(", "),
            ts_str(&rule)
        )
    }

    fn use_helper(&mut self, helper: Helper, call: &str) -> String {
        self.helpers.insert(helper);
        if helper == Helper::Unique {
            self.helpers.insert(Helper::SameJson);
        }
        call.to_string()
    }
}

/// The named types `id`'s schema refers to directly.
fn refs(types: &TypeSpace, id: TypeId) -> Vec<TypeId> {
    let mut out = Vec::new();
    match &types.get(id).kind {
        TypeDefKind::Struct(s) => {
            for f in &s.fields {
                named_in(&f.shape, &mut out);
            }
            if let Additional::Typed(shape) = &s.additional {
                named_in(shape, &mut out);
            }
        }
        TypeDefKind::Union(u) => {
            for v in &u.variants {
                named_in(&v.shape, &mut out);
            }
        }
        TypeDefKind::Alias { shape } => named_in(shape, &mut out),
        TypeDefKind::Enum(_) => {}
    }
    out
}

/// Whether `target` is reachable from `from` in one step or more.
fn reaches(types: &TypeSpace, from: TypeId, target: TypeId, seen: &mut Vec<bool>) -> bool {
    refs(types, from).into_iter().any(|r| {
        r == target || (!std::mem::replace(&mut seen[r.0], true) && reaches(types, r, target, seen))
    })
}

/// Whether a member with a default is reachable from `id` (its input type differs).
fn has_default(types: &TypeSpace, id: TypeId, seen: &mut Vec<bool>) -> bool {
    if std::mem::replace(&mut seen[id.0], true) {
        return false;
    }
    let own = match &types.get(id).kind {
        TypeDefKind::Struct(s) => s.fields.iter().any(|f| !f.required && f.default.is_some()),
        _ => false,
    };
    own || refs(types, id)
        .into_iter()
        .any(|r| has_default(types, r, seen))
}

fn named_in(shape: &Shape, out: &mut Vec<TypeId>) {
    match shape {
        Shape::Named { id } => out.push(*id),
        Shape::Array(a) => named_in(&a.items, out),
        Shape::Map { values, .. } => named_in(values, out),
        Shape::Nullable { inner } => named_in(inner, out),
        _ => {}
    }
}

/// `z.union` of the schemas, or the schema itself when there is one.
fn union(mut variants: Vec<String>) -> String {
    if variants.len() == 1 {
        variants.remove(0)
    } else {
        format!("z.union([{}])", variants.join(", "))
    }
}

/// An object key: bare when it is an identifier, else quoted, and computed for `__proto__`,
/// which as a plain key in a literal would set the object's prototype instead of naming a
/// member.
pub fn key(wire: &str) -> String {
    let identifier = wire.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && wire
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if wire == "__proto__" {
        format!("[{}]", ts_str(wire))
    } else if identifier {
        wire.to_string()
    } else {
        ts_str(wire)
    }
}

/// A property name in a type literal (where `__proto__` is a name like any other).
fn type_key(wire: &str) -> String {
    match key(wire) {
        k if k.starts_with('[') => ts_str(wire),
        k => k,
    }
}

/// A JSON value as a TypeScript expression. Objects go through `JSON.parse`, since a
/// `__proto__` key in an object literal is not a member.
pub fn value(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => format!("JSON.parse({})", ts_str(&v.to_string())),
        Value::String(s) => ts_str(s),
        other => other.to_string(),
    }
}

/// A bound as a JavaScript number literal.
fn num(n: Num) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::UInt(u) => u.to_string(),
        Num::Float(f) => format!("{f:?}"),
    }
}
