//! Schema checks as generated code: `impl Check for T` for every named type, calling the
//! runtime's `typed` helpers so each rule has one implementation and one wording (no_std).

use lua_device_core::rule::Num;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};

use super::types::type_ident;
use super::Codec;
use crate::ir::{
    Additional, Constraint, Discriminant, JsonType, Shape, StructDef, TypeDefKind, TypeId,
    TypeSpace, UnionDef,
};
use crate::names::Names;

pub(super) struct CheckEmitter<'a> {
    space: &'a TypeSpace,
    names: &'a Names,
    rt: &'a TokenStream,
    /// See [`super::RustOptions::pattern_tables`].
    tables: Option<&'a [String]>,
    codec: Codec,
}

fn f64_lit(v: f64) -> Literal {
    Literal::f64_suffixed(v)
}

impl<'a> CheckEmitter<'a> {
    pub fn new(
        space: &'a TypeSpace,
        names: &'a Names,
        rt: &'a TokenStream,
        tables: Option<&'a [String]>,
        codec: Codec,
    ) -> Self {
        Self {
            space,
            names,
            rt,
            tables,
            codec,
        }
    }

    /// The `typed::Pattern` of `p`: compiled on first use, or its generated table.
    fn pattern(&self, p: &str) -> TokenStream {
        let Some(tables) = self.tables else {
            return quote!(typed::Pattern::new(#p));
        };
        let i = tables
            .iter()
            .position(|t| t == p)
            .expect("every pattern of the types has a table");
        let table = format_ident!("P{i}");
        quote!(typed::Pattern::table(#p, &super::patterns::#table))
    }

    /// A private module holding every `Check` impl, so its imports never meet the user's.
    pub fn module(&self, name: &Ident) -> TokenStream {
        let impls = self.space.iter().map(|(id, _)| self.impl_for(id));
        checks_module(self.rt, name, quote!(#(#impls)*), self.codec)
    }

    /// The `Check` impl of type `id`.
    pub fn impl_for(&self, id: TypeId) -> TokenStream {
        let ty = type_ident(self.names, id);
        let body = match &self.space.get(id).kind {
            TypeDefKind::Struct(s) => self.struct_body(s),
            TypeDefKind::Enum(e) => {
                let wires = e.variants.iter().map(|v| &v.wire);
                quote!(typed::one_of_strings(value, path, &[#(#wires),*]))
            }
            TypeDefKind::Union(u) => self.union_body(u),
            TypeDefKind::Alias { shape } => self.check(shape, &quote!(value)),
        };
        check_impl(&quote!(#ty), body, self.codec)
    }

    /// An expression of type `Result<(), CommandError>` checking `v` (a `&Value`) at `path`.
    fn check(&self, shape: &Shape, v: &TokenStream) -> TokenStream {
        match shape {
            Shape::Any => quote!(::core::result::Result::<(), CommandError>::Ok(())),
            Shape::Boolean => quote!(typed::boolean(#v, path)),
            Shape::Integer(i) => self.with_plan(
                &i.constraints,
                |plan| quote!(typed::integer(#v, path, #plan)),
            ),
            Shape::Number(n) => self.with_plan(
                &n.constraints,
                |plan| quote!(typed::number(#v, path, #plan)),
            ),
            Shape::String(s) => self.with_plan(
                &s.constraints,
                |plan| quote!(typed::string(#v, path, #plan).map(|_| ())),
            ),
            Shape::Array(a) if matches!(a.items, Shape::Any) => self.with_plan(
                &a.constraints,
                |plan| quote!(typed::array(#v, path, #plan).map(|_| ())),
            ),
            Shape::Array(a) => {
                let item = self.check(&a.items, &quote!(item));
                self.with_plan(&a.constraints, |plan| {
                    quote! {
                        typed::array(#v, path, #plan).and_then(|items| {
                            items.iter().enumerate().try_for_each(|(i, item)| path.index(i, |path| #item))
                        })
                    }
                })
            }
            Shape::Map {
                values,
                constraints,
            } if matches!(values.as_ref(), Shape::Any) => self.with_plan(constraints, |plan| {
                quote!(typed::object(#v, path, #plan, &[], ::core::option::Option::None).map(|_| ()))
            }),
            Shape::Map {
                values,
                constraints,
            } => {
                let item = self.check(values, &quote!(item));
                self.with_plan(constraints, |plan| {
                    quote! {
                        typed::object(#v, path, #plan, &[], ::core::option::Option::None).and_then(|map| {
                            map.iter().try_for_each(|(key, item)| path.dynamic_key(key, |path| #item))
                        })
                    }
                })
            }
            Shape::Nullable { inner } => {
                let inner = self.check(inner, v);
                quote!(if #v.is_null() { ::core::result::Result::Ok(()) } else { #inner })
            }
            Shape::Const { value } => {
                let json = Literal::string(&format!("[{value}]"));
                quote!(typed::one_of_values(#v, path, #json))
            }
            Shape::Literals { values, .. } => {
                let json = Literal::string(&serde_json::Value::Array(values.clone()).to_string());
                quote!(typed::one_of_values(#v, path, #json))
            }
            Shape::Named { id } => {
                let ty = type_ident(self.names, *id);
                quote!(<super::#ty as Check>::check(#v, path))
            }
        }
    }

    /// `call(plan)`, `plan` being an expression of type `&[typed::Constraint]` holding
    /// `constraints`: a constant slice, or, when a pattern is among them, a static beside the
    /// pattern's own.
    fn with_plan(
        &self,
        constraints: &[Constraint],
        call: impl FnOnce(TokenStream) -> TokenStream,
    ) -> TokenStream {
        let items = constraints.iter().map(|c| self.constraint(c));
        let Some(pattern) = constraints.iter().find_map(|c| match c {
            Constraint::Pattern(p) => Some(self.pattern(p)),
            _ => None,
        }) else {
            return call(quote!(&[#(#items),*]));
        };
        let n = constraints.len();
        let call = call(quote!(&PLAN));
        quote! {{
            static PATTERN: typed::Pattern = #pattern;
            static PLAN: [typed::Constraint; #n] = [#(#items),*];
            #call
        }}
    }

    /// One step of a check plan as a `typed::Constraint` value.
    fn constraint(&self, c: &Constraint) -> TokenStream {
        let num = |n: &Num| match n {
            Num::Int(i) => {
                let i = Literal::i64_suffixed(*i);
                quote!(typed::Num::Int(#i))
            }
            Num::UInt(u) => {
                let u = Literal::u64_suffixed(*u);
                quote!(typed::Num::UInt(#u))
            }
            Num::Float(f) => {
                let f = f64_lit(*f);
                quote!(typed::Num::Float(#f))
            }
        };
        let count = |n: &u64| Literal::u64_suffixed(*n).into_token_stream();
        // The variant's name, and its argument as `typed::Constraint` takes it.
        let (variant, argument) = match c {
            Constraint::Minimum(n) => ("Minimum", Some(num(n))),
            Constraint::ExclusiveMinimum(n) => ("ExclusiveMinimum", Some(num(n))),
            Constraint::Maximum(n) => ("Maximum", Some(num(n))),
            Constraint::ExclusiveMaximum(n) => ("ExclusiveMaximum", Some(num(n))),
            Constraint::MultipleOf(n) => ("MultipleOf", Some(num(n))),
            Constraint::Range(t) => {
                let t = format_ident!("{}", t.name().to_uppercase());
                ("Range", Some(quote!(typed::Int::#t)))
            }
            Constraint::MinLength(n) => ("MinLength", Some(count(n))),
            Constraint::MaxLength(n) => ("MaxLength", Some(count(n))),
            // The one pattern of a plan is the static `with_plan` puts beside it.
            Constraint::Pattern(_) => ("Pattern", Some(quote!(&PATTERN))),
            Constraint::MinItems(n) => ("MinItems", Some(count(n))),
            Constraint::MaxItems(n) => ("MaxItems", Some(count(n))),
            Constraint::UniqueItems => ("UniqueItems", None),
            Constraint::MinProperties(n) => ("MinProperties", Some(count(n))),
            Constraint::MaxProperties(n) => ("MaxProperties", Some(count(n))),
        };
        let variant = format_ident!("{variant}");
        match argument {
            Some(argument) => quote!(typed::Constraint::#variant(#argument)),
            None => quote!(typed::Constraint::#variant),
        }
    }

    fn struct_body(&self, s: &StructDef) -> TokenStream {
        let required = s.fields.iter().filter(|f| f.required).map(|f| &f.wire_name);
        let known: Vec<&String> = s.fields.iter().map(|f| &f.wire_name).collect();
        let closed = match &s.additional {
            Additional::Forbidden => quote!(::core::option::Option::Some(&[#(#known),*])),
            _ => quote!(::core::option::Option::None),
        };
        let fields = s
            .fields
            .iter()
            .filter(|f| !matches!(f.shape, Shape::Any))
            .map(|f| {
                let wire = &f.wire_name;
                let check = self.check(&f.shape, &quote!(field));
                quote! {
                    if let ::core::option::Option::Some(field) = map.get(#wire) {
                        path.key(#wire, |path| #check)?;
                    }
                }
            });
        let extra = match &s.additional {
            Additional::Typed(values) => {
                let check = self.check(values, &quote!(field));
                quote! {
                    for (key, field) in map {
                        if ![#(#known),*].contains(&key.as_str()) {
                            path.dynamic_key(key, |path| #check)?;
                        }
                    }
                }
            }
            _ => quote!(),
        };
        let map = self.with_plan(
            &s.constraints,
            |plan| quote!(typed::object(value, path, #plan, &[#(#required),*], #closed)),
        );
        quote! {
            let map = #map?;
            #(#fields)*
            #extra
            ::core::result::Result::Ok(())
        }
    }

    fn union_body(&self, u: &UnionDef) -> TokenStream {
        match &u.discriminant {
            Discriminant::Tag { property } => {
                let tags: Vec<&str> = u.variants.iter().filter_map(|v| v.tag.as_deref()).collect();
                let arms = u.variants.iter().map(|v| {
                    let tag = v.tag.as_deref().unwrap_or_default();
                    let check = self.check(&v.shape, &quote!(value));
                    quote!(#tag => #check,)
                });
                quote! {
                    match typed::tag(value, path, #property, &[#(#tags),*])? {
                        #(#arms)*
                        // `tag` only returns one of the listed tags.
                        _ => ::core::result::Result::Ok(()),
                    }
                }
            }
            Discriminant::JsonType => {
                let arms = u.variants.iter().map(|v| {
                    let pattern = value_pattern(v.json_type);
                    let check = self.check(&v.shape, &quote!(value));
                    quote!(#pattern => #check,)
                });
                let expected = u.variants.iter().map(|v| json_type_name(v.json_type));
                quote! {
                    match value {
                        #(#arms)*
                        _ => ::core::result::Result::Err(typed::no_variant(
                            value,
                            path,
                            &[#(typed::JsonType::#expected),*],
                        )),
                    }
                }
            }
        }
    }
}

/// The `Value` pattern of one JSON type (integers and numbers are both `Value::Number`).
pub(crate) fn value_pattern(t: JsonType) -> TokenStream {
    match t {
        JsonType::Null => quote!(Value::Null),
        JsonType::Boolean => quote!(Value::Bool(_)),
        JsonType::Integer | JsonType::Number => quote!(Value::Number(_)),
        JsonType::String => quote!(Value::String(_)),
        JsonType::Array => quote!(Value::Array(_)),
        JsonType::Object => quote!(Value::Object(_)),
    }
}

/// The variant of `typed::JsonType` for `t`.
pub(super) fn json_type_name(t: JsonType) -> Ident {
    format_ident!("{t:?}")
}

/// `impl Check for super::#ty` with `body` as the check; both emitters write impls this way.
pub(super) fn check_impl(ty: &TokenStream, body: TokenStream, codec: Codec) -> TokenStream {
    let inline = (!codec.serde()).then(|| quote!(#[inline(never)]));
    quote! {
        impl Check for super::#ty {
            #inline
            fn check(value: &Value, path: &mut FieldPath) -> ::core::result::Result<(), CommandError> {
                #body
            }
        }
    }
}

/// The private module around the `Check` impls, so its imports never meet the user's.
pub(super) fn checks_module(
    rt: &TokenStream,
    name: &Ident,
    impls: TokenStream,
    codec: Codec,
) -> TokenStream {
    let json = codec.json_module();
    quote! {
        #[doc(hidden)]
        #[allow(unused_imports, unused_variables, clippy::all)]
        mod #name {
            use #rt::typed::{self, Check, FieldPath};
            use #rt::typed::__private::#json::Value;
            use #rt::CommandError;
            #impls
        }
    }
}
