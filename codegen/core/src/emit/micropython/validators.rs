//! Plain Python checks generated from the type IR: MicroPython has no jsonschema, so each
//! command input and trigger payload gets a public function that raises
//! `Invalid("<path>: <rule>")`, with the checks of its root type inline (paths known at the
//! root are written out, not built), and each named type used further down becomes one
//! function `_tN(v, p)`. Every function object costs heap on the board: none is emitted
//! that the checks do not call.

use std::collections::BTreeSet;

use lua_device_core::rule::{Num, Rule};
use serde_json::Value;

use super::escape::{py_str, py_value};
use super::pattern;
use crate::emit::refusal::PatternRefusal;
use crate::ir::{
    Additional, Constraint, Discriminant, JsonType, Shape, StructDef, TypeDefKind, TypeId,
    TypeSpace,
};

/// Generated validator code: the private per-type functions and the public entry points.
#[derive(Debug, Default)]
pub struct Validators {
    /// Python source of every function, in a stable order.
    pub code: String,
    /// Patterns MicroPython's `re` cannot run, with the reason (the generator refuses these).
    pub unsupported: Vec<PatternRefusal>,
    /// Whether a check reports the JSON type that arrived (`_fail(p, rule, v)`).
    pub found: bool,
    /// The helpers the code calls, recorded as each call was written.
    pub helpers: BTreeSet<Helper>,
}

/// A helper function of `validators.py` that generated checks call (the template defines
/// each, and emits only those a device's checks use: every function costs heap on the board).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Helper {
    /// `_at(p, key)`: the path of a member.
    At,
    /// `_idx(p, i)`: the path of an item.
    Idx,
    /// `_is_int(v)`: a JSON integer (whole floats included, bools not).
    IsInt,
    /// `_is_num(v)`: a JSON number (bools not).
    IsNum,
    /// `_chars(v)`: a string's length as JSON Schema counts it.
    Chars,
    /// `_multiple(v, m)`: `multipleOf` within the core's tolerance.
    Multiple,
    /// `_same(a, b)`: JSON equality (`const`).
    Same,
    /// `_one_of(v, options)`: `enum`.
    OneOf,
    /// `_unique(v)`: `uniqueItems`.
    Unique,
    /// `re.search`: `pattern` (the module imports `re` only then).
    Search,
}

/// Builds [`Validators`] for one device.
pub struct ValidatorWriter<'a> {
    space: &'a TypeSpace,
    out: String,
    done: BTreeSet<TypeId>,
    queue: Vec<TypeId>,
    unsupported: Vec<PatternRefusal>,
    counter: usize,
    found: bool,
    helpers: BTreeSet<Helper>,
    engine: pattern::Engine,
}

impl<'a> ValidatorWriter<'a> {
    /// Checks for MicroPython (whose `re` CPython's reads alike, but for `$`).
    pub fn new(space: &'a TypeSpace) -> Self {
        Self::for_engine(space, pattern::Engine::MicroPython)
    }

    /// Checks whose patterns `engine`'s `re` runs.
    pub fn for_engine(space: &'a TypeSpace, engine: pattern::Engine) -> Self {
        Self {
            engine,
            space,
            out: String::new(),
            done: BTreeSet::new(),
            queue: Vec::new(),
            unsupported: Vec::new(),
            counter: 0,
            found: false,
            helpers: BTreeSet::new(),
        }
    }

    /// `text`, a piece of code that calls `helper`.
    fn using(&mut self, helper: Helper, text: String) -> String {
        self.helpers.insert(helper);
        text
    }

    /// A public `def name(v)` checking `shape` at the payload's root.
    pub fn entry(&mut self, name: &str, shape: &Shape) {
        let mut body = Vec::new();
        match shape {
            Shape::Named { id } => self.named_body(*id, ROOT, &mut body),
            _ => self.shape(shape, "v", ROOT, 1, &mut body, false),
        }
        self.out
            .push_str(&format!("\ndef {name}(v: \"Any\") -> None:\n"));
        push_body(&mut self.out, body);
        self.drain();
    }

    pub fn finish(mut self) -> Validators {
        self.drain();
        Validators {
            code: self.out,
            unsupported: self.unsupported,
            found: self.found,
            helpers: self.helpers,
        }
    }

    fn drain(&mut self) {
        while let Some(id) = self.queue.pop() {
            self.named(id);
        }
    }

    fn want(&mut self, id: TypeId) -> String {
        if self.done.insert(id) {
            self.queue.push(id);
        }
        format!("_t{}", id.0)
    }

    /// A wrong-type failure: the rule, then the JSON type that arrived (`, found string`).
    /// The value is none of `expected`; `_fail` adds the type that came.
    fn wrong(&mut self, depth: usize, p: &str, v: &str, expected: &[JsonType]) -> String {
        self.found = true;
        let rule = Rule::Type {
            expected,
            found: None,
        };
        line(depth, &format!("_fail({p}, {}, {v})", py_str(&rule.text())))
    }

    fn type_test(&mut self, t: JsonType, v: &str) -> String {
        match t {
            JsonType::Null => format!("{v} is None"),
            JsonType::Boolean => format!("isinstance({v}, bool)"),
            JsonType::Integer => self.using(Helper::IsInt, format!("_is_int({v})")),
            JsonType::Number => self.using(Helper::IsNum, format!("_is_num({v})")),
            JsonType::String => format!("isinstance({v}, str)"),
            JsonType::Array => format!("isinstance({v}, list)"),
            JsonType::Object => format!("isinstance({v}, dict)"),
        }
    }

    /// The path of `key` (an expression) under path `p`: the key itself at the root.
    fn at(&mut self, p: &str, key: &str) -> String {
        if p == ROOT {
            key.to_string()
        } else {
            self.using(Helper::At, format!("_at({p}, {key})"))
        }
    }

    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}{}", self.counter)
    }

    fn named(&mut self, id: TypeId) {
        let mut body = Vec::new();
        self.named_body(id, "p", &mut body);
        self.out
            .push_str(&format!("\ndef _t{}(v: \"Any\", p: str) -> None:\n", id.0));
        push_body(&mut self.out, body);
    }

    /// The checks of named type `id` on `v` at path `p` (an expression), at depth 1.
    fn named_body(&mut self, id: TypeId, p: &str, body: &mut Vec<String>) {
        let def = self.space.get(id);
        match &def.kind {
            TypeDefKind::Struct(s) => self.structure(s, p, body),
            TypeDefKind::Enum(e) => {
                let values: Vec<Value> = e
                    .variants
                    .iter()
                    .map(|v| Value::from(v.wire.clone()))
                    .collect();
                body.push(line(
                    1,
                    &format!(
                        "if not (isinstance(v, str) and v in {}):",
                        tuple(values.iter().map(py_value))
                    ),
                ));
                body.push(fail(2, p, &Rule::OneOf(&values)));
            }
            TypeDefKind::Union(u) => match &u.discriminant {
                Discriminant::Tag { property } => {
                    body.push(line(1, "if not isinstance(v, dict):"));
                    body.push(self.wrong(2, p, "v", &[JsonType::Object]));
                    body.push(line(1, &format!("t = v.get({})", py_str(property))));
                    let mut tags = Vec::new();
                    for (i, variant) in u.variants.iter().enumerate() {
                        let tag = variant.tag.clone().unwrap_or_default();
                        let kw = if i == 0 { "if" } else { "elif" };
                        body.push(line(1, &format!("{kw} t == {}:", py_str(&tag))));
                        let mut inner = Vec::new();
                        self.shape(&variant.shape, "v", p, 2, &mut inner, false);
                        if inner.is_empty() {
                            inner.push(line(2, "pass"));
                        }
                        body.extend(inner);
                        tags.push(Value::from(tag));
                    }
                    body.push(line(1, &format!("elif {} not in v:", py_str(property))));
                    body.push(fail(2, &self.at(p, &py_str(property)), &Rule::Required));
                    body.push(line(1, "else:"));
                    body.push(fail(2, &self.at(p, &py_str(property)), &Rule::OneOf(&tags)));
                }
                Discriminant::JsonType => {
                    let mut order: Vec<&crate::ir::UnionVariant> = u.variants.iter().collect();
                    order.sort_by_key(|v| v.json_type);
                    let mut types = Vec::new();
                    for (i, variant) in order.iter().enumerate() {
                        let kw = if i == 0 { "if" } else { "elif" };
                        body.push(line(
                            1,
                            &format!("{kw} {}:", self.type_test(variant.json_type, "v")),
                        ));
                        let mut inner = Vec::new();
                        self.shape(&variant.shape, "v", p, 2, &mut inner, false);
                        if inner.is_empty() {
                            inner.push(line(2, "pass"));
                        }
                        body.extend(inner);
                        types.push(variant.json_type);
                    }
                    body.push(line(1, "else:"));
                    body.push(self.wrong(2, p, "v", &types));
                }
            },
            TypeDefKind::Alias { shape } => {
                let shape = shape.clone();
                self.shape(&shape, "v", p, 1, body, false);
            }
        }
    }

    fn structure(&mut self, s: &StructDef, p: &str, body: &mut Vec<String>) {
        body.push(line(1, "if not isinstance(v, dict):"));
        body.push(self.wrong(2, p, "v", &[JsonType::Object]));
        self.constraints(&s.constraints, "v", p, 1, body);
        for field in &s.fields {
            let key = py_str(&field.wire_name);
            let x = self.fresh("x");
            let q = self.at(p, &key);
            body.push(line(1, &format!("if {key} in v:")));
            body.push(line(2, &format!("{x} = v[{key}]")));
            let mut inner = Vec::new();
            self.shape(&field.shape, &x, &q, 2, &mut inner, false);
            body.extend(inner);
            if field.required {
                body.push(line(1, "else:"));
                body.push(fail(2, &q, &Rule::Required));
            } else if let Some(default) = &field.default {
                body.push(line(1, "else:"));
                body.push(line(2, &format!("v[{key}] = {}", py_value(default))));
            }
        }
        let known = tuple(s.fields.iter().map(|f| py_str(&f.wire_name)));
        match &s.additional {
            Additional::Ignored => {}
            Additional::Forbidden => {
                body.push(line(1, "for k in v:"));
                body.push(line(2, &format!("if k not in {known}:")));
                body.push(fail(3, &self.at(p, "k"), &Rule::NotAllowed));
            }
            Additional::Typed(values) => {
                body.push(line(1, "for k in v:"));
                body.push(line(2, &format!("if k not in {known}:")));
                let mut inner = Vec::new();
                let path = self.at(p, "k");
                self.shape(values, "v[k]", &path, 3, &mut inner, false);
                if inner.is_empty() {
                    inner.push(line(3, "pass"));
                }
                body.extend(inner);
            }
        }
    }

    /// Lines checking `v`, already of the right type, against each step of its check plan.
    fn constraints(
        &mut self,
        plan: &[Constraint],
        v: &str,
        p: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) {
        for c in plan.iter().filter(|c| checked(c)) {
            let Some(fails) = self.fails(c, v) else {
                continue;
            };
            out.push(line(depth, &format!("if {fails}:")));
            out.push(fail(depth + 1, p, &c.rule()));
        }
    }

    /// A Python condition true when `v` breaks `c`; `None` for a constraint this target does
    /// not check (recorded as a refusal where the generator must refuse it).
    fn fails(&mut self, c: &Constraint, v: &str) -> Option<String> {
        let num = |n: &Num| match n {
            Num::Int(i) => i.to_string(),
            Num::UInt(u) => u.to_string(),
            Num::Float(f) => py_float(*f),
        };
        Some(match c {
            Constraint::Minimum(n) => format!("{v} < {}", num(n)),
            Constraint::ExclusiveMinimum(n) => format!("{v} <= {}", num(n)),
            Constraint::Maximum(n) => format!("{v} > {}", num(n)),
            Constraint::ExclusiveMaximum(n) => format!("{v} >= {}", num(n)),
            Constraint::MultipleOf(m @ (Num::Int(_) | Num::UInt(_))) => {
                format!("{v} % {} != 0", num(m))
            }
            Constraint::MultipleOf(m) => {
                self.using(Helper::Multiple, format!("not _multiple({v}, {})", num(m)))
            }
            // Not `checked`.
            Constraint::Range(_) => return None,
            // `_chars`: JSON Schema's length, a surrogate pair counting once.
            Constraint::MinLength(n) => self.using(Helper::Chars, format!("_chars({v}) < {n}")),
            Constraint::MaxLength(n) => self.using(Helper::Chars, format!("_chars({v}) > {n}")),
            Constraint::Pattern(pat) => match pattern::to_python(pat, self.engine) {
                Ok(re) => self.using(
                    Helper::Search,
                    format!("re.search({}, {v}) is None", py_str(&re)),
                ),
                Err(why) => {
                    let refusal = PatternRefusal {
                        pattern: pat.clone(),
                        why,
                    };
                    if !self.unsupported.contains(&refusal) {
                        self.unsupported.push(refusal);
                    }
                    return None;
                }
            },
            Constraint::MinItems(n) => format!("len({v}) < {n}"),
            Constraint::MaxItems(n) => format!("len({v}) > {n}"),
            Constraint::UniqueItems => self.using(Helper::Unique, format!("not _unique({v})")),
            Constraint::MinProperties(n) => format!("len({v}) < {n}"),
            Constraint::MaxProperties(n) => format!("len({v}) > {n}"),
        })
    }

    /// Lines checking the value `v` (an expression) at path `p` (an expression).
    #[allow(clippy::too_many_arguments)]
    fn shape(
        &mut self,
        shape: &Shape,
        v: &str,
        p: &str,
        depth: usize,
        out: &mut Vec<String>,
        null_ok: bool,
    ) {
        let with_null = |t: JsonType| -> Vec<JsonType> {
            if null_ok {
                vec![t, JsonType::Null]
            } else {
                vec![t]
            }
        };
        match shape {
            Shape::Any => {}
            Shape::Boolean => {
                out.push(line(depth, &format!("if not isinstance({v}, bool):")));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::Boolean)));
            }
            Shape::Integer(i) => {
                let test = self.using(Helper::IsInt, format!("if not _is_int({v}):"));
                out.push(line(depth, &test));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::Integer)));
                self.constraints(&i.constraints, v, p, depth, out);
            }
            Shape::Number(n) => {
                let test = self.using(Helper::IsNum, format!("if not _is_num({v}):"));
                out.push(line(depth, &test));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::Number)));
                self.constraints(&n.constraints, v, p, depth, out);
            }
            Shape::String(s) => {
                out.push(line(depth, &format!("if not isinstance({v}, str):")));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::String)));
                self.constraints(&s.constraints, v, p, depth, out);
            }
            Shape::Array(a) => {
                out.push(line(depth, &format!("if not isinstance({v}, list):")));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::Array)));
                self.constraints(&a.constraints, v, p, depth, out);
                let i = self.fresh("i");
                let mut inner = Vec::new();
                let path = self.using(Helper::Idx, format!("_idx({p}, {i})"));
                self.shape(
                    &a.items,
                    &format!("{v}[{i}]"),
                    &path,
                    depth + 1,
                    &mut inner,
                    false,
                );
                if !inner.is_empty() {
                    out.push(line(depth, &format!("for {i} in range(len({v})):")));
                    out.extend(inner);
                }
            }
            Shape::Map {
                values,
                constraints,
            } => {
                out.push(line(depth, &format!("if not isinstance({v}, dict):")));
                out.push(self.wrong(depth + 1, p, v, &with_null(JsonType::Object)));
                self.constraints(constraints, v, p, depth, out);
                let k = self.fresh("k");
                let mut inner = Vec::new();
                let path = self.at(p, &k);
                self.shape(
                    values,
                    &format!("{v}[{k}]"),
                    &path,
                    depth + 1,
                    &mut inner,
                    false,
                );
                if !inner.is_empty() {
                    out.push(line(depth, &format!("for {k} in {v}:")));
                    out.extend(inner);
                }
            }
            Shape::Nullable { inner } => {
                let mut lines = Vec::new();
                self.shape(inner, v, p, depth + 1, &mut lines, true);
                if !lines.is_empty() {
                    out.push(line(depth, &format!("if {v} is not None:")));
                    out.extend(lines);
                }
            }
            Shape::Const { value } => {
                let test = self.using(
                    Helper::Same,
                    format!("if not _same({v}, {}):", py_value(value)),
                );
                out.push(line(depth, &test));
                out.push(fail(
                    depth + 1,
                    p,
                    &Rule::OneOf(std::slice::from_ref(value)),
                ));
            }
            Shape::Literals { values, .. } => {
                let test = self.using(
                    Helper::OneOf,
                    format!(
                        "if not _one_of({v}, {}):",
                        tuple(values.iter().map(py_value))
                    ),
                );
                out.push(line(depth, &test));
                out.push(fail(depth + 1, p, &Rule::OneOf(values)));
            }
            Shape::Named { id } => {
                let f = self.want(*id);
                out.push(line(depth, &format!("{f}({v}, {p})")));
            }
        }
    }
}

/// Whether MicroPython holds a value to `c`: its integers hold any value, so the range of a
/// typed device's field (PROTOCOL.md) is not its rule.
pub(super) fn checked(c: &Constraint) -> bool {
    !matches!(c, Constraint::Range(_))
}

fn line(depth: usize, text: &str) -> String {
    format!("{}{text}", "    ".repeat(depth))
}

fn fail(depth: usize, p: &str, rule: &Rule) -> String {
    line(depth, &format!("_fail({p}, {})", py_str(&rule.text())))
}

/// The path expression of a payload's root (`_fail` says `payload` for it).
const ROOT: &str = "\"\"";

fn push_body(out: &mut String, body: Vec<String>) {
    if body.is_empty() {
        out.push_str("    pass\n");
    }
    for l in body {
        out.push_str(&l);
        out.push('\n');
    }
}

fn tuple(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// A bound as a Python float literal.
fn py_float(f: f64) -> String {
    let s = format!("{f:?}");
    s
}
