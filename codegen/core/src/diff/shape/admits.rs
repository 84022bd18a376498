//! Whether a shape accepts a value, as the devices decide it (for `enum` and `const` values
//! compared with a schema of another kind).

use serde_json::Value;

use crate::ir::{Constraint, Shape, TypeSpace};
use lua_device_core::rule::{json_equal, Search, Subject};

use super::{view, Open, View, MAX_HOPS};

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

pub(super) fn holds(c: &Constraint, subject: Subject<'_>) -> bool {
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
pub(super) fn admits(space: &TypeSpace, shape: &Shape, value: &Value) -> bool {
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
