//! The type IR: a language-neutral model of every payload type a device uses.
//!
//! The Rust, MicroPython and no_std emitters and the generated on-device validators all read
//! this, never the JSON Schema: a schema construct either maps to a type here or is rejected
//! with a diagnostic when the manifest loads (see [`build`]).

pub mod build;

use serde::Serialize;
use serde_json::Value;

/// Index of a named type in a [`TypeSpace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TypeId(pub usize);

/// Every named type of one device, in a deterministic order (definitions first, then each
/// command's input and output, then each trigger, depth-first).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TypeSpace {
    pub types: Vec<TypeDef>,
}

impl TypeSpace {
    pub fn get(&self, id: TypeId) -> &TypeDef {
        &self.types[id.0]
    }

    pub fn iter(&self) -> impl Iterator<Item = (TypeId, &TypeDef)> {
        self.types.iter().enumerate().map(|(i, t)| (TypeId(i), t))
    }
}

/// A named type: a struct, a string enum, a union, or a name for another shape.
#[derive(Clone, Debug, Serialize)]
pub struct TypeDef {
    /// PascalCase words, unique within the device: what each target's naming pass
    /// ([`crate::names`]) spells its identifier from.
    pub name: String,
    /// From the schema's `description` (or `title`).
    pub doc: Option<String>,
    /// JSON pointer of the schema in the manifest, for messages.
    pub origin: String,
    pub kind: TypeDefKind,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeDefKind {
    Struct(StructDef),
    Enum(EnumDef),
    Union(UnionDef),
    /// A named alias, e.g. a command input that is a plain string or a free-form object.
    Alias {
        shape: Shape,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct StructDef {
    pub fields: Vec<Field>,
    /// The object's check plan (member counts), checked before its members.
    pub constraints: Vec<Constraint>,
    /// What to do with keys that are not declared fields.
    pub additional: Additional,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", content = "shape", rename_all = "snake_case")]
pub enum Additional {
    /// `additionalProperties: false`: undeclared keys are an error.
    Forbidden,
    /// The JSON Schema default: undeclared keys are accepted and not kept.
    Ignored,
    /// `additionalProperties: {schema}`: undeclared keys are kept, each value checked.
    Typed(Box<Shape>),
}

#[derive(Clone, Debug, Serialize)]
pub struct Field {
    /// The property name on the wire, never changed (targets name the field from it).
    pub wire_name: String,
    pub doc: Option<String>,
    pub required: bool,
    /// The schema's `default`, already checked against the field's schema.
    pub default: Option<Value>,
    pub shape: Shape,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnumDef {
    pub variants: Vec<EnumVariant>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnumVariant {
    /// The value on the wire (targets name the variant from it).
    pub wire: String,
}

/// `oneOf`/`anyOf` whose variants a validator can tell apart without trying each one.
#[derive(Clone, Debug, Serialize)]
pub struct UnionDef {
    pub discriminant: Discriminant,
    pub variants: Vec<UnionVariant>,
    /// `oneOf` (exactly one must match) rather than `anyOf`; with a discriminant both mean
    /// the same, the flag is kept for messages.
    pub one_of: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discriminant {
    /// Every variant is an object with this required property set to a distinct constant.
    Tag { property: String },
    /// Every variant has a different JSON type.
    JsonType,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnionVariant {
    /// PascalCase words unique within the union (its tag, title or JSON type): what targets
    /// name the variant from.
    pub label: String,
    /// With [`Discriminant::Tag`], this variant's tag value.
    pub tag: Option<String>,
    pub json_type: JsonType,
    pub shape: Shape,
}

/// The JSON types, as JSON Schema names them: the runtime core's, whose rules word them.
pub use lua_device_core::rule::JsonType;

/// The JSON Schema type of a value: `integer` for numbers without a fractional part.
pub fn type_of(value: &Value) -> JsonType {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => JsonType::Integer,
        other => JsonType::found(other),
    }
}

/// The shape of a value: a primitive with its constraints, a container, or a named type.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    /// Any JSON value (`{}` or `true`).
    Any,
    Boolean,
    Integer(IntShape),
    Number(NumShape),
    String(StrShape),
    Array(Box<ArrayShape>),
    /// A JSON object used as a dictionary: `additionalProperties: {schema}` and no properties.
    Map {
        values: Box<Shape>,
        /// The object's check plan (member counts), checked before its members.
        constraints: Vec<Constraint>,
    },
    /// `type: [T, "null"]`, or a `null` in an `enum`.
    Nullable {
        inner: Box<Shape>,
    },
    /// `const`: exactly this value.
    Const {
        value: Value,
    },
    /// `enum` of non-string values: one of these, all of one JSON type.
    Literals {
        json_type: JsonType,
        values: Vec<Value>,
    },
    Named {
        id: TypeId,
    },
}

/// A step of a value's check plan: a keyword's constraint, with its `pattern` as the schema
/// wrote it. Each shape lists its constraints in the order every target checks them; the
/// rule each one enforces, and its words, come from the runtime core.
pub type Constraint = lua_device_core::rule::Constraint<String>;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IntShape {
    /// The Rust type a typed device holds it in.
    pub repr: IntRepr,
    /// Inclusive bounds (exclusive ones already folded in), the type's range where a side is
    /// open, then `multipleOf`.
    pub constraints: Vec<Constraint>,
}

/// The narrowest Rust integer type holding `min..=max`: the runtime core's, whose payload
/// checks refuse what it cannot hold.
pub use lua_device_core::typed::Int as IntRepr;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NumShape {
    /// Bounds as written (inclusive, then exclusive), then `multipleOf`.
    pub constraints: Vec<Constraint>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StrShape {
    /// Lengths (in Unicode code points, as JSON Schema counts), then `pattern`.
    pub constraints: Vec<Constraint>,
    /// An annotation: no target checks it.
    pub format: Option<String>,
}

impl StrShape {
    /// The `pattern`, if the schema gives one.
    pub fn pattern(&self) -> Option<&str> {
        self.constraints.iter().find_map(|c| match c {
            Constraint::Pattern(p) => Some(p.as_str()),
            _ => None,
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ArrayShape {
    pub items: Shape,
    /// Item counts, then `uniqueItems`.
    pub constraints: Vec<Constraint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowest_integer() {
        assert_eq!(IntRepr::narrowest(Some(0), Some(100)), Some(IntRepr::U8));
        assert_eq!(IntRepr::narrowest(Some(0), Some(256)), Some(IntRepr::U16));
        assert_eq!(IntRepr::narrowest(Some(-1), Some(100)), Some(IntRepr::I8));
        assert_eq!(IntRepr::narrowest(Some(-40), Some(125)), Some(IntRepr::I8));
        assert_eq!(
            IntRepr::narrowest(Some(-40), Some(1000)),
            Some(IntRepr::I16)
        );
        assert_eq!(IntRepr::narrowest(Some(1), None), Some(IntRepr::U64));
        assert_eq!(IntRepr::narrowest(None, Some(5)), Some(IntRepr::I64));
        assert_eq!(IntRepr::narrowest(None, None), Some(IntRepr::I64));
        assert_eq!(
            IntRepr::narrowest(Some(0), Some(u64::MAX as i128)),
            Some(IntRepr::U64)
        );
        assert_eq!(IntRepr::narrowest(Some(-1), Some(u64::MAX as i128)), None);
    }
}
