//! Unions (`oneOf`/`anyOf`): variants matched by tag or JSON type, and a union that became a
//! single shape or the reverse.

use serde_json::{json, Value};

use crate::ir::build::escape;
use crate::ir::{Discriminant, JsonType, Shape, UnionDef};

use super::{json_type, type_name, At, Comparer, View};
use crate::diff::{Effect, Kind};

impl Comparer<'_> {
    pub(super) fn unions(&mut self, at: &At, old: &UnionDef, new: &UnionDef) {
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
    pub(super) fn union_to_single(
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
