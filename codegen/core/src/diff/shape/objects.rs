//! Objects: their fields (required, added, removed) and what else they accept.

use serde_json::{json, Value};

use crate::ir::{Field, Shape};

use super::{type_label, At, Comparer, Object, Open};
use crate::diff::{Effect, Flow, Kind};

impl Comparer<'_> {
    pub(super) fn objects(&mut self, at: &At, old: Object<'_>, new: Object<'_>) {
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

    pub(super) fn additional(&mut self, at: &At, old: Open<'_>, new: Open<'_>) {
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
}
