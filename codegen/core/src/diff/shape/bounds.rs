//! Bounds, whatever the keyword (numbers, lengths, item and member counts), and `multipleOf`:
//! which side is tighter, and how a finding says so.

use serde_json::{json, Value};

use crate::ir::Constraint;
use lua_device_core::rule::{self, Num};

use super::{At, Comparer};
use crate::diff::{Effect, Kind};

impl Comparer<'_> {
    /// Lower and upper bounds, whatever the keyword: numbers, lengths, item and member counts.
    pub(super) fn bounds(&mut self, at: &At, old: &[Constraint], new: &[Constraint]) {
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

    pub(super) fn multiple_of(&mut self, at: &At, old: &[Constraint], new: &[Constraint]) {
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
