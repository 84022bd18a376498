//! What generated typed devices call: payload checks, decoding and encoding.
//!
//! The checks are generated per schema (see `luagen::emit::rust`), and written as calls into
//! these small helpers so that every rule has one implementation and one wording, shared by the
//! host runtime and the no_std firmware. Each check stops at the first violation and names it as
//! `field.path: rule`, the text the device sends back in its error response.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
#[cfg(feature = "serde")]
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

#[cfg(feature = "serde")]
use serde::de::DeserializeOwned;
#[cfg(feature = "serde")]
use serde::Serialize;

use crate::dispatch::CommandError;
use crate::rule::{self, Rule, Search, Subject};
pub use crate::rule::{json_equal, Int, JsonType, Num};
use crate::value::{Map, Value};

/// Re-exports the generated code names through `::lua_device::typed::__private`, so a device
/// crate depends on `lua-device` alone.
#[doc(hidden)]
pub mod __private {
    /// The `Value` of this build (serde_json's or the core's own): firmware's generated code
    /// names JSON through this path.
    pub use crate::value as json;
    pub use alloc::boxed::Box;
    pub use alloc::collections::BTreeMap;
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
    #[cfg(feature = "serde")]
    pub use serde;
    #[cfg(feature = "serde")]
    pub use serde_json;
}

/// A payload type whose schema checks were generated from the manifest.
pub trait Check {
    /// Check `value` (found at `path`) against the schema, before it is deserialized.
    fn check(value: &Value, path: &mut FieldPath) -> Result<(), CommandError>;
}

/// Where in the payload a check is: `labelData.tracking`, `items[2].name`.
#[derive(Clone, Debug, Default)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
enum Segment {
    Key(Cow<'static, str>),
    Index(usize),
}

impl FieldPath {
    /// The payload itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// Run `f` one level down, at object key `key`.
    pub fn key<T>(&mut self, key: &'static str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.enter(Segment::Key(Cow::Borrowed(key)));
        let out = f(self);
        self.leave();
        out
    }

    /// Run `f` one level down, at a key only known at run time (map entries).
    pub fn dynamic_key<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.enter(Segment::Key(Cow::Owned(key.into())));
        let out = f(self);
        self.leave();
        out
    }

    /// Run `f` one level down, at array index `index`.
    pub fn index<T>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        self.enter(Segment::Index(index));
        let out = f(self);
        self.leave();
        out
    }

    // Out of line: the generated checks call `key` and `index` once per field, and the
    // vector's growth and the segment's drop, inlined at each, are most of a field's flash.
    #[inline(never)]
    fn enter(&mut self, segment: Segment) {
        self.segments.push(segment);
    }

    #[inline(never)]
    fn leave(&mut self) {
        self.segments.pop();
    }

    /// The path a reader followed into a value ([`crate::json::Fault`]).
    pub fn from_steps(steps: &[crate::json::Step]) -> Self {
        let segments = steps
            .iter()
            .map(|step| match step {
                crate::json::Step::Key(k) => Segment::Key(Cow::Owned(k.clone())),
                crate::json::Step::Index(i) => Segment::Index(*i),
            })
            .collect();
        Self { segments }
    }

    /// The violation of `rule` here.
    pub fn fail(&self, rule: Rule<'_>) -> CommandError {
        CommandError::invalid_payload(self.text(), rule.text())
    }

    /// The path as rules name it (see [`FieldPath::write`]).
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Append the path as rules name it: `items[2].name`, `payload[0]` for an index at the
    /// root (an index needs something to index).
    pub fn write(&self, out: &mut String) {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(k) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(n) => {
                    if i == 0 {
                        out.push_str("payload");
                    }
                    out.push('[');
                    crate::json::write_u64(out, *n as u64);
                    out.push(']');
                }
            }
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// The value is not of the one type the schema allows.
fn must_be(path: &FieldPath, expected: JsonType, value: &Value) -> CommandError {
    path.fail(Rule::Type {
        expected: &[expected],
        found: Some(JsonType::found(value)),
    })
}

/// The object at `path` meeting its `constraints`; `required` keys must be present and, when
/// `closed`, no others.
pub fn object<'v>(
    value: &'v Value,
    path: &mut FieldPath,
    constraints: &[Constraint],
    required: &[&'static str],
    closed: Option<&[&'static str]>,
) -> Result<&'v Map<String, Value>, CommandError> {
    let Value::Object(map) = value else {
        return Err(must_be(path, JsonType::Object, value));
    };
    enforce(path, Subject::Members(map), constraints)?;
    for key in required {
        if !map.contains_key(*key) {
            return Err(path.key(key, |p| p.fail(Rule::Required)));
        }
    }
    if let Some(known) = closed {
        // The first unknown key by name, whatever the map's order (serde_json's `preserve_order`
        // keeps insertion order; the chip's map, like the default one, is sorted).
        if let Some(extra) = map.keys().filter(|k| !known.contains(&k.as_str())).min() {
            return Err(path.dynamic_key(extra, |p| p.fail(Rule::NotAllowed)));
        }
    }
    Ok(map)
}

/// The array at `path`, with its `constraints` (item counts, uniqueness).
pub fn array<'v>(
    value: &'v Value,
    path: &mut FieldPath,
    constraints: &[Constraint],
) -> Result<&'v [Value], CommandError> {
    let Value::Array(items) = value else {
        return Err(must_be(path, JsonType::Array, value));
    };
    enforce(path, Subject::Items(items), constraints)?;
    Ok(items)
}

/// A constraint of the check plan as a device holds it (see [`rule::Constraint`]).
#[cfg(feature = "pattern")]
pub type Constraint = rule::Constraint<&'static Pattern>;
/// A constraint of generated checks built without the `pattern` feature: none can hold a
/// pattern, so generated code that names one does not compile.
#[cfg(not(feature = "pattern"))]
pub type Constraint = rule::Constraint<NoPattern>;

/// No pattern: the `pattern` feature is off.
#[cfg(not(feature = "pattern"))]
#[derive(Clone, Copy, Debug)]
pub enum NoPattern {}

#[cfg(not(feature = "pattern"))]
impl AsRef<str> for NoPattern {
    fn as_ref(&self) -> &str {
        match *self {}
    }
}

#[cfg(not(feature = "pattern"))]
impl Search for NoPattern {
    fn is_match(&self, _: &str) -> bool {
        match *self {}
    }
}

/// The first of `constraints` that `subject` fails, as the error naming its rule.
fn enforce(
    path: &mut FieldPath,
    subject: Subject<'_>,
    constraints: &[Constraint],
) -> Result<(), CommandError> {
    match constraints.iter().find(|c| !c.holds(subject)) {
        Some(broken) => Err(path.fail(broken.rule())),
        None => Ok(()),
    }
}

/// A boolean at `path`.
pub fn boolean(value: &Value, path: &mut FieldPath) -> Result<(), CommandError> {
    match value {
        Value::Bool(_) => Ok(()),
        _ => Err(must_be(path, JsonType::Boolean, value)),
    }
}

/// `null` at `path`.
pub fn null(value: &Value, path: &mut FieldPath) -> Result<(), CommandError> {
    match value {
        Value::Null => Ok(()),
        _ => Err(must_be(path, JsonType::Null, value)),
    }
}

/// An integer at `path` meeting its `constraints` (exclusive bounds are folded into inclusive
/// ones by the generator, and the range of the field's type (see [`Int`]) is one of them
/// where the schema leaves a side open). JSON Schema counts `2.0` and `5.4e37` as integers,
/// and so does this check.
pub fn integer(
    value: &Value,
    path: &mut FieldPath,
    constraints: &[Constraint],
) -> Result<(), CommandError> {
    let n: i128 = match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i128::from(i),
            (_, Some(u), _) => i128::from(u),
            (_, _, Some(f)) if is_whole(f) => f as i128,
            // Whole, and past every bound and type here: the ends of `i128` compare alike.
            (_, _, Some(f)) if f.abs() >= WHOLE_BEYOND => {
                if f > 0.0 {
                    i128::MAX
                } else {
                    i128::MIN
                }
            }
            _ => return Err(must_be(path, JsonType::Integer, value)),
        },
        _ => return Err(must_be(path, JsonType::Integer, value)),
    };
    enforce(path, Subject::Int(n), constraints)
}

/// A number at `path` meeting its `constraints`.
pub fn number(
    value: &Value,
    path: &mut FieldPath,
    constraints: &[Constraint],
) -> Result<(), CommandError> {
    let Some(n) = value.as_f64().filter(|_| value.is_number()) else {
        return Err(must_be(path, JsonType::Number, value));
    };
    enforce(path, Subject::Number(n), constraints)
}

/// Every `f64` from here on is whole and past every integer type here; below it, `as i128`
/// never saturates.
const WHOLE_BEYOND: f64 = 1e38;

/// Whether a float is a whole number below [`WHOLE_BEYOND`] (core has no `fract` without
/// std). From 2^52 on every `f64` is whole; below, `i64` holds it exactly (and converts on a
/// Cortex-M0+ far more cheaply than `i128`).
fn is_whole(f: f64) -> bool {
    let a = f.abs();
    a < WHOLE_BEYOND && (a >= 4_503_599_627_370_496.0 || (f as i64) as f64 == f)
}

/// A string at `path` meeting its `constraints` (lengths count Unicode code points, as JSON
/// Schema does).
pub fn string<'v>(
    value: &'v Value,
    path: &mut FieldPath,
    constraints: &[Constraint],
) -> Result<&'v str, CommandError> {
    let Value::String(s) = value else {
        return Err(must_be(path, JsonType::String, value));
    };
    enforce(path, Subject::Str(s), constraints)?;
    Ok(s)
}

/// One of a string enum's values.
#[cfg(feature = "one-of-strings")]
pub fn one_of_strings(
    value: &Value,
    path: &mut FieldPath,
    allowed: &[&str],
) -> Result<(), CommandError> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(()),
        _ => Err(path.fail(Rule::OneOfStrings(allowed))),
    }
}

/// One of an enum's values (given as JSON text) or the `const` value.
#[cfg(feature = "one-of-values")]
pub fn one_of_values(
    value: &Value,
    path: &mut FieldPath,
    allowed_json: &str,
) -> Result<(), CommandError> {
    let allowed = match crate::value::from_str(allowed_json) {
        Ok(Value::Array(allowed)) => allowed,
        _ => Vec::new(),
    };
    if allowed.iter().any(|a| json_equal(a, value)) {
        return Ok(());
    }
    Err(path.fail(Rule::OneOf(&allowed)))
}

/// The value of a tagged union's tag property, for choosing the variant to check.
#[cfg(feature = "one-of-strings")]
pub fn tag<'v>(
    value: &'v Value,
    path: &mut FieldPath,
    property: &'static str,
    allowed: &[&str],
) -> Result<&'v str, CommandError> {
    let map = object(value, path, &[], &[property], None)?;
    match map.get(property) {
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s),
        _ => Err(path.key(property, |p| p.fail(Rule::OneOfStrings(allowed)))),
    }
}

/// The error for a value matching none of a union's variants (told apart by JSON type).
pub fn no_variant(value: &Value, path: &mut FieldPath, expected: &[JsonType]) -> CommandError {
    path.fail(Rule::Type {
        expected,
        found: Some(JsonType::found(value)),
    })
}

/// A schema `pattern`: an unanchored search, as JSON Schema specifies. On the host the
/// `regex` crate compiles it on first use; on a chip without atomic compare-and-swap (which
/// the regex crates need) it is a [`PatternTable`] luagen compiled at generation time.
#[cfg(feature = "pattern")]
pub struct Pattern {
    source: &'static str,
    engine: Engine,
}

#[cfg(feature = "pattern")]
enum Engine {
    #[cfg(feature = "regex")]
    Regex(once_cell::race::OnceBox<Option<regex::Regex>>),
    Table(&'static PatternTable),
}

#[cfg(feature = "pattern")]
impl Pattern {
    /// A pattern for `source`, compiled by the `regex` crate when first used (luagen checked
    /// that it compiles when the manifest loaded).
    #[cfg(feature = "regex")]
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            engine: Engine::Regex(once_cell::race::OnceBox::new()),
        }
    }

    /// A pattern for `source` searched by the `table` luagen compiled from it.
    pub const fn table(source: &'static str, table: &'static PatternTable) -> Self {
        Self {
            source,
            engine: Engine::Table(table),
        }
    }

    /// The pattern as the schema wrote it, which rules quote.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `s` contains a match.
    pub fn is_match(&self, s: &str) -> bool {
        match &self.engine {
            #[cfg(feature = "regex")]
            Engine::Regex(compiled) => compiled
                .get_or_init(|| Box::new(regex::Regex::new(self.source).ok()))
                .as_ref()
                .is_some_and(|re| re.is_match(s)),
            Engine::Table(table) => table.is_match(s),
        }
    }
}

#[cfg(feature = "pattern")]
impl AsRef<str> for Pattern {
    fn as_ref(&self) -> &str {
        self.source
    }
}

#[cfg(feature = "pattern")]
impl Search for Pattern {
    fn is_match(&self, s: &str) -> bool {
        Pattern::is_match(self, s)
    }
}

/// A `pattern` as a DFA over byte classes, compiled by luagen with regex-automata (the `regex`
/// crate's syntax and semantics) and written out as plain tables: no regex engine, no heap,
/// tables in flash. State 0 starts an unanchored search; column `classes_len` of each row is
/// the end-of-input transition. As in regex-automata, a match is reported one transition
/// late, so "the text contains a match" is "some state reached after a byte, or after the end
/// of input, is a match state".
#[cfg(feature = "pattern")]
#[derive(Debug)]
pub struct PatternTable {
    /// The byte class of each byte.
    pub classes: &'static [u8; 256],
    /// How many byte classes there are.
    pub classes_len: usize,
    /// One row per state: the next state for each class, then for the end of input.
    pub next: &'static [u16],
    /// Whether each state is a match state.
    pub matching: &'static [bool],
}

#[cfg(feature = "pattern")]
impl PatternTable {
    /// Whether `s` contains a match.
    pub fn is_match(&self, s: &str) -> bool {
        let width = self.classes_len + 1;
        let mut state = 0usize;
        for &b in s.as_bytes() {
            let class = usize::from(self.classes[usize::from(b)]);
            state = usize::from(self.next[state * width + class]);
            if self.matching[state] {
                return true;
            }
        }
        state = usize::from(self.next[state * width + self.classes_len]);
        self.matching[state]
    }
}

/// Check `payload` against `T`'s schema, then deserialize it.
#[cfg(feature = "serde")]
pub fn decode<T: Check + DeserializeOwned>(payload: Value) -> Result<T, CommandError> {
    T::check(&payload, &mut FieldPath::root())?;
    decode_unchecked(payload)
}

/// Deserialize a payload that already passed its check (the second half of [`decode`]).
#[cfg(feature = "serde")]
pub fn decode_unchecked<T: DeserializeOwned>(mut payload: Value) -> Result<T, CommandError> {
    integral_floats_to_integers(&mut payload);
    T::deserialize(&payload).map_err(|e| {
        // serde_json names no field, but it tells where in a text it stopped: read the value
        // from its text again (only on this rare path) and name the field at that offset.
        let text = payload.to_string();
        let at = serde_json::from_str::<T>(&text)
            .err()
            .map_or(0, |e| e.column().saturating_sub(1));
        let path = crate::json::path_at(text.as_bytes(), at);
        CommandError::invalid_payload(FieldPath::from_steps(&path).to_string(), format!("{e}"))
    })
}

/// JSON Schema counts `2.0` as an integer, serde does not deserialize it into `u8`: after the
/// check has passed, whole floats become integers (numbers stay equal as JSON values, and
/// `f64` fields take integers too).
#[cfg(feature = "serde")]
fn integral_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| is_whole(*f)) {
                if f >= i64::MIN as f64 && f < i64::MAX as f64 {
                    *value = Value::from(f as i64);
                } else if f >= 0.0 && f < u64::MAX as f64 {
                    *value = Value::from(f as u64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// A handler's result as the response's `data`.
#[cfg(feature = "serde")]
pub fn encode<T: Serialize>(value: &T) -> Result<Option<Value>, CommandError> {
    serde_json::to_value(value)
        .map(Some)
        .map_err(|e| CommandError::handler(format!("result does not serialize: {e}")))
}

/// A handler's own error type as the response's `error` (its `Display` text, which for a
/// [`CommandError`] is already the wire text).
pub fn handler_error<E: fmt::Display>(error: E) -> CommandError {
    CommandError::handler(format!("{error}"))
}

/// A payload type built from a JSON value that passed its check, without serde: luagen
/// generates the impls for firmware, whose core has no serde. (They compile over either
/// `Value`, so the host tests them against the serde derives.)
pub trait FromJson: Sized {
    /// The value as `Self`; `None` only if it does not fit after all (the check ran first).
    fn from_json(value: Value) -> Option<Self>;
}

/// A payload type as a JSON value, without serde (see [`FromJson`]).
pub trait ToJson {
    /// The value, with the wire's field names.
    fn to_json(&self) -> Value;
}

/// Check `payload` against `T`'s schema, then build it (`decode` without serde).
pub fn decode_json<T: Check + FromJson>(payload: Value) -> Result<T, CommandError> {
    T::check(&payload, &mut FieldPath::root())?;
    T::from_json(payload)
        .ok_or_else(|| CommandError::invalid_payload("", "does not fit the payload type"))
}

/// A handler's result as the response's `data` (`encode` without serde).
pub fn encode_json<T: ToJson>(value: &T) -> Result<Option<Value>, CommandError> {
    Ok(Some(value.to_json()))
}

/// An integer value (JSON Schema's: `2.0` counts) as an `i128`, which holds every width.
fn whole(value: &Value) -> Option<i128> {
    let Value::Number(n) = value else {
        return None;
    };
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| n.as_f64().filter(|f| is_whole(*f)).map(|f| f as i128))
}

macro_rules! json_integers {
    ($($t:ty => $wide:ty),*) => {$(
        impl FromJson for $t {
            fn from_json(value: Value) -> Option<Self> {
                whole(&value).and_then(|n| <$t>::try_from(n).ok())
            }
        }
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                Value::from(<$wide>::from(*self))
            }
        }
    )*};
}

json_integers!(u8 => u64, u16 => u64, u32 => u64, u64 => u64, i8 => i64, i16 => i64, i32 => i64, i64 => i64);

impl FromJson for f64 {
    fn from_json(value: Value) -> Option<Self> {
        value.as_f64()
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl FromJson for bool {
    fn from_json(value: Value) -> Option<Self> {
        value.as_bool()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl FromJson for String {
    fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FromJson for Value {
    fn from_json(value: Value) -> Option<Self> {
        Some(value)
    }
}

impl ToJson for Value {
    fn to_json(&self) -> Value {
        self.clone()
    }
}

/// `null` is `None`, as serde reads an `Option`.
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            value => T::from_json(value).map(Some),
        }
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn from_json(value: Value) -> Option<Self> {
        T::from_json(value).map(Box::new)
    }
}

impl<T: ToJson> ToJson for Box<T> {
    fn to_json(&self) -> Value {
        T::to_json(self)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Array(items) => items.into_iter().map(T::from_json).collect(),
            _ => None,
        }
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
}

impl<T: FromJson> FromJson for alloc::collections::BTreeMap<String, T> {
    fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| T::from_json(v).map(|v| (k, v)))
                .collect(),
            _ => None,
        }
    }
}

impl<T: ToJson> ToJson for alloc::collections::BTreeMap<String, T> {
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

/// Free-form JSON (`{}` schemas and maps of anything) needs no check.
impl Check for Value {
    fn check(_: &Value, _: &mut FieldPath) -> Result<(), CommandError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn j(text: &str) -> Value {
        crate::value::from_str(text).unwrap()
    }

    #[test]
    fn the_narrowest_type_holds_the_range() {
        let cases = [
            ((Some(0), Some(255)), Some(Int::U8)),
            ((Some(0), Some(256)), Some(Int::U16)),
            ((Some(0), None), Some(Int::U64)),
            ((Some(1), Some(u64::MAX.into())), Some(Int::U64)),
            ((Some(0), Some(i128::from(u64::MAX) + 1)), None),
            ((Some(-1), Some(1)), Some(Int::I8)),
            ((Some(-129), Some(0)), Some(Int::I16)),
            ((None, Some(5)), Some(Int::I64)),
            ((None, None), Some(Int::I64)),
            ((Some(-1), Some(i128::from(i64::MAX) + 1)), None),
        ];
        for ((min, max), want) in cases {
            assert_eq!(Int::narrowest(min, max), want, "{min:?}..={max:?}");
        }
        assert_eq!(Int::default(), Int::I64);
        assert!(Int::ALL.iter().all(|t| t.name().len() >= 2));
    }

    #[test]
    fn paths_read_like_code() {
        let mut p = FieldPath::root();
        let e = p.key("labelData", |p| {
            p.key("tracking", |p| {
                p.fail(Rule::Constraint(rule::Constraint::Pattern("^[A-Z]$")))
            })
        });
        assert_eq!(e.to_string(), "labelData.tracking: does not match ^[A-Z]$");
        let e = p.key("items", |p| {
            p.index(2, |p| p.key("name", |p| p.fail(Rule::Required)))
        });
        assert_eq!(e.to_string(), "items[2].name: is required");
        assert_eq!(
            p.fail(Rule::Type {
                expected: &[JsonType::Object],
                found: None
            })
            .to_string(),
            "payload: must be an object"
        );
    }

    /// What serde refuses after the checks passed (a generator bug, or a hand-written type)
    /// still names the field.
    #[cfg(feature = "serde")]
    #[test]
    fn decode_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            n: u8,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            items: Vec<Inner>,
            name: String,
        }
        let e = decode_unchecked::<Outer>(j(r#"{"name":"x","items":[{"n":1},{"n":300}]}"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            "items[1].n: invalid value: integer `300`, expected u8"
        );
        let e = decode_unchecked::<Outer>(j(r#"{"items":[{"n":2.0},{}],"name":"x"}"#));
        assert_eq!(e.unwrap_err().to_string(), "items[1]: missing field `n`");
        let e = decode_unchecked::<Outer>(j(r#"{"items":[],"name":7}"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            "name: invalid type: integer `7`, expected a string"
        );
    }

    #[test]
    fn rules_and_wording() {
        use Constraint as C;
        const I64: C = C::Range(Int::I64);
        const U64: C = C::Range(Int::U64);
        let mut p = FieldPath::root();
        let ten = [C::Minimum(Num::Int(0)), C::Maximum(Num::Int(10))];
        assert!(integer(&j(r#"5"#), &mut p, &ten).is_ok());
        assert!(integer(&j(r#"5.0"#), &mut p, &ten).is_ok());
        assert_eq!(
            integer(&j(r#"5.5"#), &mut p, &[I64])
                .unwrap_err()
                .to_string(),
            "payload: must be an integer, found number"
        );
        assert_eq!(
            integer(&j(r#"11"#), &mut p, &ten).unwrap_err().to_string(),
            "payload: must be at most 10"
        );
        assert_eq!(
            integer(&j(r#"7"#), &mut p, &[I64, C::MultipleOf(Num::Int(5))])
                .unwrap_err()
                .to_string(),
            "payload: must be a multiple of 5"
        );
        // Past the field's type: JSON Schema integers, named with the range the device takes.
        assert_eq!(
            integer(&j("9223372036854775808"), &mut p, &[I64])
                .unwrap_err()
                .to_string(),
            "payload: must be from -9223372036854775808 to 9223372036854775807, \
             the range this device supports"
        );
        assert!(integer(&j("9223372036854775808"), &mut p, &[U64]).is_ok());
        for big in ["5.4e37", "1e300", "18446744073709551616"] {
            assert_eq!(
                integer(&j(big), &mut p, &[C::Minimum(Num::Int(1)), U64])
                    .unwrap_err()
                    .to_string(),
                "payload: must be from 0 to 18446744073709551615, the range this device supports",
                "{big}"
            );
        }
        let below = [C::Maximum(Num::Int(5)), I64, C::MultipleOf(Num::Int(3))];
        assert_eq!(
            integer(&j("-1e300"), &mut p, &below)
                .unwrap_err()
                .to_string(),
            "payload: must be from -9223372036854775808 to 9223372036854775807, \
             the range this device supports"
        );
        // The schema's own bound comes first, with its own wording.
        assert_eq!(
            integer(&j("1e300"), &mut p, &below)
                .unwrap_err()
                .to_string(),
            "payload: must be at most 5"
        );
        assert_eq!(
            number(&j(r#"0"#), &mut p, &[C::ExclusiveMinimum(Num::Float(0.0))])
                .unwrap_err()
                .to_string(),
            "payload: must be greater than 0"
        );
        assert!(number(&j(r#"0.3"#), &mut p, &[C::MultipleOf(Num::Float(0.1))]).is_ok());
        assert_eq!(
            string(&j(r#""héllo""#), &mut p, &[C::MaxLength(4)])
                .unwrap_err()
                .to_string(),
            "payload: must have at most 4 characters"
        );
        assert!(string(&j(r#""héllo""#), &mut p, &[C::MaxLength(5)]).is_ok());
        #[cfg(feature = "regex")]
        {
            static RE: Pattern = Pattern::new("^[A-Z0-9]{8,20}$");
            assert_eq!(
                string(&j(r#""abc""#), &mut p, &[C::Pattern(&RE)])
                    .unwrap_err()
                    .to_string(),
                "payload: does not match ^[A-Z0-9]{8,20}$"
            );
        }
        // The chip's kind: a DFA for `x` (contains an x), its match reported one step late.
        const CLASSES: [u8; 256] = {
            let mut c = [0; 256];
            c[b'x' as usize] = 1;
            c
        };
        static X: PatternTable = PatternTable {
            classes: &CLASSES,
            classes_len: 2,
            next: &[0, 1, 0, 2, 2, 2, 2, 2, 2],
            matching: &[false, false, true],
        };
        static HAS_X: Pattern = Pattern::table("x", &X);
        for (text, found) in [
            ("abx", true),
            ("xa", true),
            ("x", true),
            ("ab", false),
            ("", false),
        ] {
            assert_eq!(HAS_X.is_match(text), found, "{text}");
        }
        assert_eq!(
            string(&j(r#""abc""#), &mut p, &[C::Pattern(&HAS_X)])
                .unwrap_err()
                .to_string(),
            "payload: does not match x"
        );
        assert_eq!(
            one_of_strings(&j(r#""x""#), &mut p, &["low", "high"])
                .unwrap_err()
                .to_string(),
            r#"payload: must be one of "low", "high""#
        );
        assert_eq!(
            object(&j(r#"{}"#), &mut p, &[], &["enabled"], None)
                .unwrap_err()
                .to_string(),
            "enabled: is required"
        );
        assert_eq!(
            object(&j(r#"{"a":1,"b":2}"#), &mut p, &[], &[], Some(&["a"]))
                .unwrap_err()
                .to_string(),
            "b: is not allowed"
        );
        // The first unknown key by name, in any map order.
        assert_eq!(
            object(&j(r#"{"z":1,"a":2,"c":3}"#), &mut p, &[], &[], Some(&["a"]))
                .unwrap_err()
                .to_string(),
            "c: is not allowed"
        );
        assert_eq!(
            array(&j(r#"[1, 1.0]"#), &mut p, &[C::UniqueItems])
                .unwrap_err()
                .to_string(),
            "payload: must not contain duplicate items"
        );
        assert_eq!(
            one_of_values(&j(r#"3"#), &mut p, "[1,2]")
                .unwrap_err()
                .to_string(),
            "payload: must be one of 1, 2"
        );
        assert!(one_of_values(&j(r#"2.0"#), &mut p, "[1,2]").is_ok());
        assert_eq!(
            one_of_values(&j(r#"3"#), &mut p, "[2]")
                .unwrap_err()
                .to_string(),
            "payload: must be 2"
        );
    }
}
