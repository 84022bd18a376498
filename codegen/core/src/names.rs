//! Naming: a pass each target runs over the neutral type IR. The IR names a type once, in
//! PascalCase words unique within the device, and knows its members by their wire names; a
//! target turns those into its own identifiers (keywords escaped, clashes numbered) with a
//! [`Style`], and reads them back from the [`Names`] the pass returns. A new target is a new
//! `Style`, not a new field on every IR struct.

use crate::ident::{self, Namer};
use crate::ir::{TypeDefKind, TypeId, TypeSpace};
use crate::model::Device;

/// How one target language spells the names of payload types and their members.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// A type, from its neutral (PascalCase) name.
    pub ty: fn(&str) -> String,
    /// A struct field, from its wire name.
    pub field: fn(&str) -> String,
    /// A string enum's variant, from its wire value.
    pub enum_variant: fn(&str) -> String,
    /// A union's variant, from its neutral label.
    pub union_variant: fn(&str) -> String,
}

/// Rust: `SetLevelInput`, `soil_moisture`, `Celsius`.
pub const RUST: Style = Style {
    ty: ident::rust_type,
    field: ident::rust_snake,
    enum_variant: ident::rust_type,
    union_variant: ident::rust_type,
};

/// Python: `SetLevelInput`, `soil_moisture`, `CELSIUS`.
pub const PYTHON: Style = Style {
    ty: ident::python_type,
    field: ident::python_snake,
    enum_variant: python_constant,
    union_variant: ident::python_type,
};

/// TypeScript: `SetLevelInput` for a zod schema and its inferred type (members keep their
/// wire names, as object keys and string literals).
pub const TYPESCRIPT: Style = Style {
    ty: typescript_type,
    field: ident::pascal,
    enum_variant: ident::pascal,
    union_variant: ident::pascal,
};

/// The global names a generated TypeScript module uses (or a reader expects to mean the
/// global), which a payload type must not shadow.
const TYPESCRIPT_GLOBALS: &[&str] = &[
    "Array",
    "Boolean",
    "Error",
    "Function",
    "Infinity",
    "JSON",
    "Map",
    "Math",
    "NaN",
    "NonNullable",
    "Number",
    "Object",
    "Parameters",
    "Promise",
    "Record",
    "RegExp",
    "Set",
    "String",
    "Symbol",
];

fn typescript_type(name: &str) -> String {
    let mut s = ident::pascal(name);
    if TYPESCRIPT_GLOBALS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// The TypeScript names of a device's payload types, clear of the `reserved` names the agent
/// module declares beside them.
pub fn typescript(space: &TypeSpace, reserved: impl IntoIterator<Item = String>) -> Names {
    Names::new(space, TYPESCRIPT, reserved)
}

fn python_constant(wire: &str) -> String {
    ident::python_snake(wire).to_ascii_uppercase()
}

/// The Rust names of a device's payload types, clear of the items the Rust emitter generates
/// beside them ([`ident::rust_device_items`]): the host's, the macro's and the chip's.
pub fn rust(device: &Device) -> Names {
    Names::new(&device.types, RUST, ident::rust_device_items(&device.name))
}

/// The Python names of a device's payload types (Python generates no items beside them).
pub fn python(space: &TypeSpace) -> Names {
    Names::new(space, PYTHON, [])
}

/// Every identifier one target gives one device's payload types.
#[derive(Clone, Debug)]
pub struct Names {
    types: Vec<String>,
    /// Per type: its fields (a struct) or its variants (an enum or a union), in IR order.
    members: Vec<Vec<String>>,
}

impl Names {
    /// Name every type of `space` in `style`, after the target's own `reserved` names (the
    /// items it generates beside the types), so no type takes one. Types are named in
    /// `TypeId` order and members in their order: the same IR always gets the same names.
    pub fn new(
        space: &TypeSpace,
        style: Style,
        reserved: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut types = Namer::new();
        for name in reserved {
            types.claim(name);
        }
        let mut names = Self {
            types: Vec::with_capacity(space.types.len()),
            members: Vec::with_capacity(space.types.len()),
        };
        for (_, def) in space.iter() {
            names.types.push(types.claim((style.ty)(&def.name)));
            let mut scope = Namer::new();
            let members = match &def.kind {
                TypeDefKind::Struct(s) => s
                    .fields
                    .iter()
                    .map(|f| scope.claim((style.field)(&f.wire_name)))
                    .collect(),
                TypeDefKind::Enum(e) => e
                    .variants
                    .iter()
                    .map(|v| scope.claim((style.enum_variant)(&v.wire)))
                    .collect(),
                TypeDefKind::Union(u) => u
                    .variants
                    .iter()
                    .map(|v| scope.claim((style.union_variant)(&v.label)))
                    .collect(),
                TypeDefKind::Alias { .. } => Vec::new(),
            };
            names.members.push(members);
        }
        names
    }

    /// The type's identifier.
    pub fn ty(&self, id: TypeId) -> &str {
        &self.types[id.0]
    }

    /// The identifier of member `i` of type `id`: a struct's field, or an enum's or a
    /// union's variant.
    pub fn member(&self, id: TypeId, i: usize) -> &str {
        &self.members[id.0][i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One neutral IR, two spellings: keywords escaped and clashes numbered per language, and
    /// the Rust items beside the types kept free.
    #[test]
    fn each_target_spells_the_same_ir_its_own_way() {
        let device = crate::load_str(
            "device.yaml",
            r#"
name: lamp
definitions:
  LampHandler: { type: object, properties: { x: { type: string } } }
commands:
  - name: self
    description: d
    inputSchema:
      type: object
      properties:
        class: { type: string, enum: [on, "off", "o-n"] }
        soilMoisture: { type: integer }
        soil_moisture: { type: integer }
  - name: handler
    description: d
    inputSchema:
      type: object
      properties:
        value: { oneOf: [{ type: string }, { type: integer }] }
"#,
        )
        .unwrap();
        let space = &device.types;
        let (rust, python) = (rust(&device), python(space));
        let named = |names: &Names| -> Vec<(String, Vec<String>)> {
            space
                .iter()
                .map(|(id, def)| {
                    let members = match &def.kind {
                        TypeDefKind::Struct(s) => s.fields.len(),
                        TypeDefKind::Enum(e) => e.variants.len(),
                        TypeDefKind::Union(u) => u.variants.len(),
                        TypeDefKind::Alias { .. } => 0,
                    };
                    let members = (0..members).map(|i| names.member(id, i).to_string());
                    (names.ty(id).to_string(), members.collect())
                })
                .collect()
        };
        let (rust, python) = (named(&rust), named(&python));
        let find = |all: &[(String, Vec<String>)], ty: &str| {
            all.iter()
                .find(|(t, _)| t == ty)
                .unwrap_or_else(|| panic!("no type {ty} in {all:?}"))
                .1
                .clone()
        };
        assert_eq!(find(&rust, "SelfInputClass"), ["On", "Off", "ON"]);
        assert_eq!(find(&python, "SelfInputClass"), ["ON", "OFF", "O_N"]);
        assert_eq!(
            find(&rust, "SelfInput"),
            ["class", "soil_moisture", "soil_moisture_2"]
        );
        assert_eq!(
            find(&python, "SelfInput"),
            ["class_", "soil_moisture", "soil_moisture_2"]
        );
        // `LampHandler` is the Rust handler trait: the payload type gives way there only.
        assert!(rust.iter().any(|(t, _)| t == "LampHandler2"), "{rust:?}");
        assert!(python.iter().any(|(t, _)| t == "LampHandler"), "{python:?}");
        // `String` is a prelude name generated code uses.
        assert_eq!(find(&rust, "HandlerInputValue"), ["String_", "Integer"]);
        assert_eq!(find(&python, "HandlerInputValue"), ["String", "Integer"]);
    }
}
