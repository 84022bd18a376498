//! The payload rules and their words. A value that breaks a schema is answered
//! `<path>: <rule>` (`labelData.tracking: does not match ^[A-Z0-9]{8,20}$`), and every target
//! says the same words because they are written here only: the Rust runtime and the chip write
//! them at run time, the generator writes MicroPython's (and any other target's) at generation
//! time from these same functions. The numbers in them, and the tolerance of `multipleOf`, are
//! defined here too.
//!
//! Nothing here uses `core::fmt`: on the chip, rule texts are the only formatting a device
//! does, and without them the firmware links none of that machinery.

use alloc::string::String;

use crate::json;
use crate::value::{Map, Value};

/// A JSON type, as JSON Schema names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `integer`: a number with no fractional part.
    Integer,
    /// `number`.
    Number,
    /// `string`.
    String,
    /// `array`.
    Array,
    /// `object`.
    Object,
}

impl JsonType {
    /// The name JSON Schema gives it: `integer`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// The type as a rule says what a value must be: `an integer`.
    pub const fn article(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "a boolean",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }

    /// The type named `name`, as in a schema's `type`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "string" => Self::String,
            "array" => Self::Array,
            "object" => Self::Object,
            _ => return None,
        })
    }

    /// The type a rule says was found: any number is `number`, whole or not.
    pub fn found(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Boolean,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

/// The Rust integer type a generated field has, and so the integers the device can take.
///
/// luagen picks the narrowest type holding the schema's bounds; a side the schema leaves
/// open takes 64 bits: `u64` when `minimum >= 0`, else `i64`. JSON Schema counts any whole
/// number as an integer (`9223372036854775808`, `5.4e37`), so an unbounded field can be sent
/// one its type cannot hold: the typed checks refuse it naming the field and this range. No wider
/// type would help: serde_json's `Value` holds integers only up to `u64` (beyond, it keeps an
/// `f64`, which has already rounded the integer away), and so does the chip's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Int {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    #[default]
    I64,
}

impl Int {
    /// Every type, unsigned first, each kind narrowest first: the order
    /// [`Int::narrowest`] tries them in.
    pub const ALL: [Int; 8] = [
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
    ];

    /// The narrowest type holding `min..=max`, a side left open taking 64 bits (`u64` when
    /// `min >= 0`, else `i64`); `None` when no type here holds the range.
    pub fn narrowest(min: Option<i128>, max: Option<i128>) -> Option<Int> {
        let unsigned = min.is_some_and(|m| m >= 0);
        let lo = min.unwrap_or(i64::MIN.into());
        let hi = max.unwrap_or(if unsigned {
            u64::MAX.into()
        } else {
            i64::MAX.into()
        });
        Self::ALL
            .into_iter()
            .filter(|t| (t.range().0 == 0) == unsigned)
            .find(|t| lo >= t.range().0 && hi <= t.range().1)
    }

    /// The Rust type's name: `u8`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
        }
    }

    /// The smallest and largest value of the type.
    pub fn range(self) -> (i128, i128) {
        match self {
            Self::U8 => (0, u8::MAX.into()),
            Self::U16 => (0, u16::MAX.into()),
            Self::U32 => (0, u32::MAX.into()),
            Self::U64 => (0, u64::MAX.into()),
            Self::I8 => (i8::MIN.into(), i8::MAX.into()),
            Self::I16 => (i16::MIN.into(), i16::MAX.into()),
            Self::I32 => (i32::MIN.into(), i32::MAX.into()),
            Self::I64 => (i64::MIN.into(), i64::MAX.into()),
        }
    }
}

/// A number a rule names: a schema's bound or step.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
pub enum Num {
    /// An integer bound that fits `i64`.
    Int(i64),
    /// A larger one that fits `u64` (every integer field's bounds fit one of the two).
    UInt(u64),
    /// Any other number.
    Float(f64),
}

impl Num {
    /// An integer bound: `Int` or `UInt` where it fits, else the nearest float.
    pub fn int(i: i128) -> Self {
        match (i64::try_from(i), u64::try_from(i)) {
            (Ok(i), _) => Self::Int(i),
            (_, Ok(u)) => Self::UInt(u),
            _ => Self::Float(i as f64),
        }
    }

    /// The integer, if it is one.
    pub fn as_i128(self) -> Option<i128> {
        match self {
            Self::Int(i) => Some(i.into()),
            Self::UInt(u) => Some(u.into()),
            Self::Float(_) => None,
        }
    }

    /// The number as a float (an integer bound past 2^53 rounds, as JSON numbers do).
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::UInt(u) => u as f64,
            Self::Float(f) => f,
        }
    }

    /// Append the number's text: whole numbers without a fraction (`20`, also for `20.0`),
    /// others with the fewest digits that read back to the same `f64`, as JSON writes them.
    pub fn write(self, out: &mut String) {
        match self {
            Self::Int(i) => write_i128(out, i.into()),
            Self::UInt(u) => json::write_u64(out, u),
            // Whole numbers below 1e16 convert to i64 exactly; from there on JSON's exponent
            // form is the shorter text.
            Self::Float(f) if f.abs() < 1e16 && f == (f as i64) as f64 => {
                write_i128(out, (f as i64).into())
            }
            Self::Float(f) => json::write_f64(out, f),
        }
    }
}

/// Append the decimal digits of `n`, with its sign.
pub fn write_i128(out: &mut String, n: i128) {
    if n < 0 {
        out.push('-');
    }
    // Every bound a schema gives an integer field, and every field type's range, fits 64 bits;
    // 128-bit division would cost a Cortex-M0+ a kilobyte of flash for nothing.
    let m = n.unsigned_abs();
    match u64::try_from(m) {
        Ok(m) => json::write_u64(out, m),
        // Past 64 bits, as a float made from its two halves (a u128 conversion is costly on
        // the chip).
        Err(_) => {
            let (high, low) = ((m >> 64) as u64, m as u64);
            json::write_f64(out, high as f64 * 18_446_744_073_709_551_616.0 + low as f64)
        }
    }
}

/// How far a quotient may lie from a whole number and still count as one for `multipleOf`:
/// float division rounds (`0.3 / 0.1` is `2.9999999999999996`), as every validator allows.
pub const MULTIPLE_OF_TOLERANCE: f64 = 1e-9;

/// Whether `n` is a multiple of `step` (> 0) for `multipleOf`: the quotient is finite and
/// within [`MULTIPLE_OF_TOLERANCE`] of a whole number.
pub fn is_multiple_of(n: f64, step: f64) -> bool {
    let q = n / step;
    if !q.is_finite() {
        return false;
    }
    // Past 2^52 every f64 is whole; below it, i64 holds the integer part (core has no round).
    if q.abs() >= 4_503_599_627_370_496.0 {
        return true;
    }
    let t = q as i64 as f64;
    let nearest = if (q - t).abs() >= 0.5 {
        t + q.signum()
    } else {
        t
    };
    (nearest - q).abs() <= MULTIPLE_OF_TOLERANCE
}

/// JSON equality as JSON Schema defines it, for `enum`, `const` and `uniqueItems`: `1`
/// equals `1.0`, objects are equal whatever their key order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// One step of a check plan: a schema keyword's constraint on a value whose JSON type is
/// already known. The generator lowers every schema to these, in the order they are checked;
/// the Rust checks (host and chip) run them through [`Constraint::holds`], and other targets
/// render each as code, all with the words of [`Constraint::rule`]. A new keyword is a variant
/// here, its reading in the generator's IR, and its rendering in each target.
///
/// `P` holds a `pattern`: its text in the generator, a compiled [`crate::typed::Pattern`] on
/// a device.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case", tag = "keyword", content = "value")
)]
pub enum Constraint<P> {
    /// `minimum`.
    Minimum(Num),
    /// `exclusiveMinimum`.
    ExclusiveMinimum(Num),
    /// `maximum`.
    Maximum(Num),
    /// `exclusiveMaximum`.
    ExclusiveMaximum(Num),
    /// `multipleOf` (greater than zero).
    #[cfg(feature = "multiple-of")]
    MultipleOf(Num),
    /// The range of the integer type a typed device holds the value in, where the schema's
    /// bounds leave a side open (see [`Int`]). A target whose integers are unbounded (Python)
    /// may leave it out, as PROTOCOL.md says.
    #[cfg(feature = "int-range")]
    Range(Int),
    /// `minLength`, in characters (Unicode code points, as JSON Schema counts).
    #[cfg(feature = "lengths")]
    MinLength(u64),
    /// `maxLength`, in characters.
    #[cfg(feature = "lengths")]
    MaxLength(u64),
    /// `pattern`: an unanchored search. Always a variant (it alone uses `P`); without the
    /// `pattern` feature [`crate::typed`] has no pattern type to put in it.
    Pattern(P),
    /// `minItems`.
    #[cfg(feature = "item-counts")]
    MinItems(u64),
    /// `maxItems`.
    #[cfg(feature = "item-counts")]
    MaxItems(u64),
    /// `uniqueItems: true`.
    #[cfg(feature = "unique-items")]
    UniqueItems,
    /// `minProperties`: members of any name, declared or not.
    #[cfg(feature = "property-counts")]
    MinProperties(u64),
    /// `maxProperties`.
    #[cfg(feature = "property-counts")]
    MaxProperties(u64),
}

/// What a [`Constraint`] is checked on: the value, once its JSON type is known.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'v> {
    /// An integer (a whole number, whatever its JSON spelling).
    Int(i128),
    /// Any other number.
    Number(f64),
    /// A string.
    Str(&'v str),
    /// An array's items.
    Items(&'v [Value]),
    /// An object's members.
    Members(&'v Map<String, Value>),
}

/// How a device searches a `pattern` (implemented by [`crate::typed::Pattern`]).
pub trait Search: AsRef<str> {
    /// Whether `s` contains a match.
    fn is_match(&self, s: &str) -> bool;
}

impl<T: Search + ?Sized> Search for &T {
    fn is_match(&self, s: &str) -> bool {
        (**self).is_match(s)
    }
}

impl<P: AsRef<str>> Constraint<P> {
    /// The rule a value breaks when it fails this constraint.
    pub fn rule(&self) -> Rule<'_> {
        Rule::Constraint(match self {
            Self::Pattern(p) => Constraint::Pattern(p.as_ref()),
            Self::Minimum(n) => Constraint::Minimum(*n),
            Self::ExclusiveMinimum(n) => Constraint::ExclusiveMinimum(*n),
            Self::Maximum(n) => Constraint::Maximum(*n),
            Self::ExclusiveMaximum(n) => Constraint::ExclusiveMaximum(*n),
            #[cfg(feature = "multiple-of")]
            Self::MultipleOf(n) => Constraint::MultipleOf(*n),
            #[cfg(feature = "int-range")]
            Self::Range(t) => Constraint::Range(*t),
            #[cfg(feature = "lengths")]
            Self::MinLength(n) => Constraint::MinLength(*n),
            #[cfg(feature = "lengths")]
            Self::MaxLength(n) => Constraint::MaxLength(*n),
            #[cfg(feature = "item-counts")]
            Self::MinItems(n) => Constraint::MinItems(*n),
            #[cfg(feature = "item-counts")]
            Self::MaxItems(n) => Constraint::MaxItems(*n),
            #[cfg(feature = "unique-items")]
            Self::UniqueItems => Constraint::UniqueItems,
            #[cfg(feature = "property-counts")]
            Self::MinProperties(n) => Constraint::MinProperties(*n),
            #[cfg(feature = "property-counts")]
            Self::MaxProperties(n) => Constraint::MaxProperties(*n),
        })
    }
}

impl Constraint<&str> {
    /// Append the words of the rule a value breaks when it fails this constraint.
    fn write(&self, out: &mut String) {
        let (words, n) = match *self {
            Self::Minimum(n) => ("must be at least ", n),
            Self::Maximum(n) => ("must be at most ", n),
            Self::ExclusiveMinimum(n) => ("must be greater than ", n),
            Self::ExclusiveMaximum(n) => ("must be less than ", n),
            #[cfg(feature = "multiple-of")]
            Self::MultipleOf(n) => ("must be a multiple of ", n),
            #[cfg(feature = "int-range")]
            Self::Range(t) => {
                let (min, max) = t.range();
                out.push_str("must be from ");
                write_i128(out, min);
                out.push_str(" to ");
                write_i128(out, max);
                return out.push_str(", the range this device supports");
            }
            #[cfg(feature = "lengths")]
            Self::MinLength(n) => return counted(out, "must have at least ", n, " characters"),
            #[cfg(feature = "lengths")]
            Self::MaxLength(n) => return counted(out, "must have at most ", n, " characters"),
            Self::Pattern(p) => {
                out.push_str("does not match ");
                return out.push_str(p);
            }
            #[cfg(feature = "item-counts")]
            Self::MinItems(n) => return counted(out, "must have at least ", n, " items"),
            #[cfg(feature = "item-counts")]
            Self::MaxItems(n) => return counted(out, "must have at most ", n, " items"),
            #[cfg(feature = "unique-items")]
            Self::UniqueItems => return out.push_str("must not contain duplicate items"),
            #[cfg(feature = "property-counts")]
            Self::MinProperties(n) => return counted(out, "must have at least ", n, " properties"),
            #[cfg(feature = "property-counts")]
            Self::MaxProperties(n) => return counted(out, "must have at most ", n, " properties"),
        };
        out.push_str(words);
        n.write(out);
    }
}

impl<P: Search> Constraint<P> {
    /// Whether `subject` satisfies the constraint. A constraint on another JSON type holds
    /// (as in JSON Schema, `maxLength` says nothing about a number).
    pub fn holds(&self, subject: Subject<'_>) -> bool {
        use core::cmp::Ordering::{Greater, Less};
        match (self, subject) {
            (Self::Minimum(b), s) => compare(s, *b).is_none_or(|o| o != Less),
            (Self::ExclusiveMinimum(b), s) => compare(s, *b).is_none_or(|o| o == Greater),
            (Self::Maximum(b), s) => compare(s, *b).is_none_or(|o| o != Greater),
            (Self::ExclusiveMaximum(b), s) => compare(s, *b).is_none_or(|o| o == Less),
            #[cfg(feature = "multiple-of")]
            (Self::MultipleOf(m), Subject::Int(n)) if m.as_i128().is_some() => {
                m.as_i128().is_some_and(|m| m != 0 && n % m == 0)
            }
            #[cfg(feature = "multiple-of")]
            (Self::MultipleOf(m), Subject::Int(n)) => is_multiple_of(n as f64, m.as_f64()),
            #[cfg(feature = "multiple-of")]
            (Self::MultipleOf(m), Subject::Number(n)) => is_multiple_of(n, m.as_f64()),
            #[cfg(feature = "int-range")]
            (Self::Range(t), Subject::Int(n)) => {
                let (min, max) = t.range();
                (min..=max).contains(&n)
            }
            #[cfg(feature = "lengths")]
            (Self::MinLength(m), Subject::Str(s)) => s.chars().count() as u64 >= *m,
            #[cfg(feature = "lengths")]
            (Self::MaxLength(m), Subject::Str(s)) => s.chars().count() as u64 <= *m,
            (Self::Pattern(p), Subject::Str(s)) => p.is_match(s),
            #[cfg(feature = "item-counts")]
            (Self::MinItems(m), Subject::Items(items)) => items.len() as u64 >= *m,
            #[cfg(feature = "item-counts")]
            (Self::MaxItems(m), Subject::Items(items)) => items.len() as u64 <= *m,
            #[cfg(feature = "unique-items")]
            (Self::UniqueItems, Subject::Items(items)) => items
                .iter()
                .enumerate()
                .all(|(i, item)| !items[..i].iter().any(|earlier| json_equal(earlier, item))),
            #[cfg(feature = "property-counts")]
            (Self::MinProperties(m), Subject::Members(map)) => map.len() as u64 >= *m,
            #[cfg(feature = "property-counts")]
            (Self::MaxProperties(m), Subject::Members(map)) => map.len() as u64 <= *m,
            _ => true,
        }
    }
}

/// How a number subject compares with a bound; `None` for a subject that is not a number.
fn compare(subject: Subject<'_>, bound: Num) -> Option<core::cmp::Ordering> {
    match (subject, bound) {
        (Subject::Int(n), b) => match b.as_i128() {
            Some(b) => Some(n.cmp(&b)),
            None => (n as f64).partial_cmp(&b.as_f64()),
        },
        (Subject::Number(n), b) => n.partial_cmp(&b.as_f64()),
        _ => None,
    }
}

/// One rule a value broke.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule<'a> {
    /// The value has the wrong JSON type; `found` names what came when it is told.
    Type {
        /// The types the schema allows.
        expected: &'a [JsonType],
        /// What the value is.
        found: Option<JsonType>,
    },
    /// A property `required` names is missing.
    Required,
    /// A property `additionalProperties: false` forbids.
    NotAllowed,
    /// A string `enum`, or the tag of a tagged union.
    #[cfg(feature = "one-of-strings")]
    OneOfStrings(&'a [&'a str]),
    /// Any other `enum`, or a `const` (one value).
    #[cfg(feature = "one-of-values")]
    OneOf(&'a [Value]),
    /// A constraint of the check plan (a keyword's bound, length, pattern or count), its
    /// pattern as written.
    Constraint(Constraint<&'a str>),
}

impl Rule<'_> {
    /// The rule as the text after `<path>: `.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Append the rule's text.
    pub fn write(&self, out: &mut String) {
        match *self {
            Self::Type { expected, found } => {
                out.push_str("must be ");
                write_types(out, expected);
                if let Some(found) = found {
                    out.push_str(", found ");
                    out.push_str(found.name());
                }
            }
            Self::Required => out.push_str("is required"),
            Self::NotAllowed => out.push_str("is not allowed"),
            Self::Constraint(c) => c.write(out),
            #[cfg(feature = "one-of-strings")]
            Self::OneOfStrings(items) => {
                one_of(out, items.len());
                for (i, s) in items.iter().enumerate() {
                    separate(out, i);
                    json::write_str(out, s);
                }
            }
            #[cfg(feature = "one-of-values")]
            Self::OneOf(values) => {
                one_of(out, values.len());
                for (i, v) in values.iter().enumerate() {
                    separate(out, i);
                    crate::value::write(out, v);
                }
            }
        }
    }
}

#[cfg(any(
    feature = "lengths",
    feature = "item-counts",
    feature = "property-counts"
))]
fn counted(out: &mut String, before: &str, n: u64, after: &str) {
    out.push_str(before);
    json::write_u64(out, n);
    out.push_str(after);
}

/// One allowed value reads `must be X`; more read `must be one of X, Y`.
#[cfg(any(feature = "one-of-strings", feature = "one-of-values"))]
fn one_of(out: &mut String, count: usize) {
    out.push_str(if count == 1 {
        "must be "
    } else {
        "must be one of "
    });
}

fn separate(out: &mut String, i: usize) {
    if i > 0 {
        out.push_str(", ");
    }
}

/// What a value of one of `types` is said to be: `a string or null`.
pub fn type_list(types: &[JsonType]) -> String {
    let mut out = String::new();
    write_types(&mut out, types);
    out
}

/// `a string`, `a string or null`, `a string, an integer or an array`.
fn write_types(out: &mut String, types: &[JsonType]) {
    match types {
        [] => out.push_str("nothing"),
        [rest @ .., last] => {
            for (i, t) in rest.iter().enumerate() {
                separate(out, i);
                out.push_str(t.article());
            }
            if !rest.is_empty() {
                out.push_str(" or ");
            }
            out.push_str(last.article());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;
    use alloc::vec;
    use alloc::vec::Vec;

    #[derive(Debug)]
    struct Prefix(&'static str);

    impl AsRef<str> for Prefix {
        fn as_ref(&self) -> &str {
            self.0
        }
    }

    impl Search for Prefix {
        fn is_match(&self, s: &str) -> bool {
            s.starts_with(self.0)
        }
    }

    /// Each constraint with a subject it holds for, one it fails, and the rule it names.
    #[test]
    fn constraints_hold_and_name_their_rule() {
        use Constraint as C;
        let items = [
            value::from_str("1").unwrap(),
            value::from_str("1.0").unwrap(),
        ];
        let (Value::Object(one), Value::Object(two)) = (
            value::from_str("{\"a\":1}").unwrap(),
            value::from_str("{\"a\":1,\"b\":2}").unwrap(),
        ) else {
            unreachable!("objects parse as objects")
        };
        let cases: [(C<Prefix>, Subject, Subject, &str); 14] = [
            (
                C::MinProperties(2),
                Subject::Members(&two),
                Subject::Members(&one),
                "must have at least 2 properties",
            ),
            (
                C::MaxProperties(1),
                Subject::Members(&one),
                Subject::Members(&two),
                "must have at most 1 properties",
            ),
            (
                C::Minimum(Num::Int(0)),
                Subject::Int(0),
                Subject::Int(-1),
                "must be at least 0",
            ),
            (
                C::ExclusiveMinimum(Num::Float(0.5)),
                Subject::Number(0.6),
                Subject::Number(0.5),
                "must be greater than 0.5",
            ),
            (
                C::Maximum(Num::Float(2.5)),
                Subject::Int(2),
                Subject::Int(3),
                "must be at most 2.5",
            ),
            (
                C::ExclusiveMaximum(Num::Int(3)),
                Subject::Number(2.9),
                Subject::Number(3.0),
                "must be less than 3",
            ),
            (
                C::MultipleOf(Num::Int(3)),
                Subject::Int(-9),
                Subject::Int(10),
                "must be a multiple of 3",
            ),
            (
                C::MultipleOf(Num::Float(0.1)),
                Subject::Number(0.3),
                Subject::Number(0.35),
                "must be a multiple of 0.1",
            ),
            (
                C::Range(Int::U8),
                Subject::Int(255),
                Subject::Int(256),
                "must be from 0 to 255, the range this device supports",
            ),
            // Characters, not bytes.
            (
                C::MinLength(2),
                Subject::Str("é!"),
                Subject::Str("é"),
                "must have at least 2 characters",
            ),
            (
                C::MaxLength(1),
                Subject::Str("é"),
                Subject::Str("ab"),
                "must have at most 1 characters",
            ),
            (
                C::Pattern(Prefix("A")),
                Subject::Str("Ab"),
                Subject::Str("bA"),
                "does not match A",
            ),
            (
                C::MaxItems(1),
                Subject::Items(&items[..1]),
                Subject::Items(&items),
                "must have at most 1 items",
            ),
            // `1` and `1.0` are the same JSON value.
            (
                C::UniqueItems,
                Subject::Items(&items[..1]),
                Subject::Items(&items),
                "must not contain duplicate items",
            ),
        ];
        for (c, good, bad, words) in cases {
            assert!(c.holds(good), "{c:?} {good:?}");
            assert!(!c.holds(bad), "{c:?} {bad:?}");
            assert_eq!(c.rule().text(), words);
            // A constraint on another type says nothing about the value.
            assert!(c.holds(Subject::Items(&[])) || matches!(c, C::MaxItems(_) | C::UniqueItems));
        }
        assert!(C::<Prefix>::MinItems(1).holds(Subject::Str("")));
    }

    /// Every rule with a sample: the vocabulary every target speaks.
    #[test]
    fn wording() {
        let values = [
            value::from_str("\"a\"").unwrap(),
            value::from_str("2").unwrap(),
        ];
        let one = [value::from_str("{\"k\":[1,null]}").unwrap()];
        let rules = [
            Rule::Type {
                expected: &[JsonType::Integer],
                found: Some(JsonType::String),
            },
            Rule::Type {
                expected: &[JsonType::String, JsonType::Null],
                found: None,
            },
            Rule::Type {
                expected: &[JsonType::String, JsonType::Integer, JsonType::Array],
                found: Some(JsonType::Null),
            },
            Rule::Required,
            Rule::NotAllowed,
            Rule::Constraint(Constraint::Minimum(Num::Int(-5))),
            Rule::Constraint(Constraint::Maximum(Num::Float(20.0))),
            Rule::Constraint(Constraint::ExclusiveMinimum(Num::Float(0.1))),
            Rule::Constraint(Constraint::ExclusiveMaximum(Num::Float(1e-7))),
            Rule::Constraint(Constraint::MultipleOf(Num::Float(0.25))),
            Rule::Constraint(Constraint::Range(Int::U64)),
            Rule::Constraint(Constraint::MinLength(8)),
            Rule::Constraint(Constraint::MaxLength(20)),
            Rule::Constraint(Constraint::Pattern("^[A-Z0-9]{8,20}$")),
            Rule::OneOfStrings(&["on", "o\"ff"]),
            Rule::OneOfStrings(&["only"]),
            Rule::OneOf(&values),
            Rule::OneOf(&one),
            Rule::Constraint(Constraint::MinItems(1)),
            Rule::Constraint(Constraint::MaxItems(8)),
            Rule::Constraint(Constraint::UniqueItems),
            Rule::Constraint(Constraint::MinProperties(1)),
            Rule::Constraint(Constraint::MaxProperties(2)),
        ];
        let texts: Vec<String> = rules.iter().map(Rule::text).collect();
        assert_eq!(
            texts,
            vec![
                "must be an integer, found string",
                "must be a string or null",
                "must be a string, an integer or an array, found null",
                "is required",
                "is not allowed",
                "must be at least -5",
                "must be at most 20",
                "must be greater than 0.1",
                "must be less than 1e-7",
                "must be a multiple of 0.25",
                "must be from 0 to 18446744073709551615, the range this device supports",
                "must have at least 8 characters",
                "must have at most 20 characters",
                "does not match ^[A-Z0-9]{8,20}$",
                "must be one of \"on\", \"o\\\"ff\"",
                "must be \"only\"",
                "must be one of \"a\", 2",
                "must be {\"k\":[1,null]}",
                "must have at least 1 items",
                "must have at most 8 items",
                "must not contain duplicate items",
                "must have at least 1 properties",
                "must have at most 2 properties",
            ]
        );
    }

    #[test]
    fn numbers_read_as_written() {
        let text = |n: Num| {
            let mut s = String::new();
            n.write(&mut s);
            s
        };
        assert_eq!(text(Num::int(i64::MIN.into())), "-9223372036854775808");
        assert_eq!(text(Num::int(u64::MAX.into())), "18446744073709551615");
        assert_eq!(Num::int(u64::MAX.into()), Num::UInt(u64::MAX));
        // Past 64 bits: a float of the whole value.
        let past = (1i128 << 64) + (1i128 << 63);
        let mut want = String::new();
        json::write_f64(&mut want, past as f64);
        assert_eq!(text(Num::int(past)), want);
        assert_eq!(text(Num::int(-past)), alloc::format!("-{want}"));
        assert_eq!(text(Num::Int(0)), "0");
        assert_eq!(text(Num::Float(-0.0)), "0");
        assert_eq!(text(Num::Float(-3.5)), "-3.5");
        assert_eq!(
            text(Num::Float(9_007_199_254_740_993.0)),
            "9007199254740992"
        );
        assert_eq!(text(Num::Float(1e20)), "1e20");
        assert_eq!(text(Num::Float(2.5e-8)), "2.5e-8");
    }

    #[test]
    fn multiples_allow_rounding_and_nothing_more() {
        assert!(is_multiple_of(0.3, 0.1));
        assert!(is_multiple_of(10.0, 2.5));
        assert!(!is_multiple_of(10.1, 2.5));
        assert!(!is_multiple_of(1.0, 0.0));
        assert!(is_multiple_of(1e300, 3.0));
        // Exactly at the tolerance counts, just past it does not: one definition for every
        // target (the MicroPython check is generated from this constant and comparison).
        assert!(is_multiple_of(MULTIPLE_OF_TOLERANCE, 1.0));
        assert!(!is_multiple_of(2.0 * MULTIPLE_OF_TOLERANCE, 1.0));
    }

    #[test]
    fn equality_is_json_schemas() {
        let v = |s: &str| value::from_str(s).unwrap();
        assert!(json_equal(&v("1"), &v("1.0")));
        assert!(json_equal(
            &v("{\"a\":1,\"b\":[2]}"),
            &v("{\"b\":[2.0],\"a\":1}")
        ));
        assert!(!json_equal(&v("[1,2]"), &v("[2,1]")));
        assert!(!json_equal(&v("1"), &v("true")));
        assert!(json_equal(
            &v("18446744073709551615"),
            &v("18446744073709551615")
        ));
        assert!(!json_equal(
            &v("18446744073709551615"),
            &v("18446744073709551614")
        ));
    }
}
