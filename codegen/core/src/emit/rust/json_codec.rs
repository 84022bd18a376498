//! Readers and writers for [`super::Codec::CoreJson`]: `typed::FromJson`/`ToJson` for every
//! payload type, written from the IR over the runtime core's own `json` (firmware carries no
//! serde).
//!
//! The checks are the host's, word for word (they run over the core's `json::Value`, shaped
//! like serde_json's), so a payload is refused with the same message on both. A value is only
//! built after its check passed, so the readers only move fields out of the object: they add
//! no messages of their own.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::checks::value_pattern;
use super::types::{extra_field, type_ident};
use crate::ir::{
    Discriminant, EnumDef, StructDef, TypeDef, TypeDefKind, TypeId, TypeSpace, UnionDef,
};
use crate::names::Names;

/// The reader and writer of every type in `space`.
pub(super) fn all(space: &TypeSpace, names: &Names) -> TokenStream {
    let codecs = space.iter().map(|(id, def)| codec(names, id, def));
    quote!(#(#codecs)*)
}

fn codec(names: &Names, id: TypeId, def: &TypeDef) -> TokenStream {
    let name = type_ident(names, id);
    let member = |i: usize| format_ident!("{}", names.member(id, i));
    let (read, write) = match &def.kind {
        TypeDefKind::Struct(s) => struct_codec(s, &member, extra_field(names, id, s)),
        TypeDefKind::Enum(e) => enum_codec(e, &member),
        TypeDefKind::Union(u) => union_codec(u, &member),
        TypeDefKind::Alias { .. } => (
            quote!(FromJson::from_json(value).map(Self)),
            quote!(ToJson::to_json(&self.0)),
        ),
    };
    quote! {
        impl ::lua_device::typed::FromJson for #name {
            #[allow(unused_mut, unused_imports)]
            #[inline(never)]
            fn from_json(value: ::lua_device::typed::__private::json::Value) -> ::core::option::Option<Self> {
                use ::lua_device::typed::__private::json::Value;
                use ::lua_device::typed::FromJson;
                #read
            }
        }
        impl ::lua_device::typed::ToJson for #name {
            #[allow(unused_mut, unused_imports)]
            #[inline(never)]
            fn to_json(&self) -> ::lua_device::typed::__private::json::Value {
                use ::lua_device::typed::__private::json::{Map, Value};
                use ::lua_device::typed::ToJson;
                #write
            }
        }
    }
}

/// Members by their wire names; optional ones missing (or `null`) are `None`, defaults are
/// read from the schema's JSON text, and with typed `additionalProperties` the members left
/// over fill the extra map (declared in the struct after every field, so it is read last).
fn struct_codec(
    s: &StructDef,
    member: &dyn Fn(usize) -> Ident,
    extra: Option<Ident>,
) -> (TokenStream, TokenStream) {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for (i, field) in s.fields.iter().enumerate() {
        let ident = member(i);
        let wire = &field.wire_name;
        let read = match (&field.default, field.required) {
            (_, true) => quote!(FromJson::from_json(map.remove(#wire)?)?),
            (Some(default), false) => {
                let json = default.to_string();
                quote!(match map.remove(#wire) {
                    ::core::option::Option::Some(v) => FromJson::from_json(v)?,
                    ::core::option::Option::None => FromJson::from_json(
                        ::lua_device::typed::__private::json::from_str(#json).ok()?,
                    )?,
                })
            }
            (None, false) => quote!(match map.remove(#wire) {
                ::core::option::Option::None | ::core::option::Option::Some(Value::Null) => {
                    ::core::option::Option::None
                }
                ::core::option::Option::Some(v) => ::core::option::Option::Some(FromJson::from_json(v)?),
            }),
        };
        reads.push(quote!(#ident: #read,));
        // Like the host's serde attributes: optional fields without a default are left out
        // when `None`, the others always written.
        writes.push(if !field.required && field.default.is_none() {
            quote!(if let ::core::option::Option::Some(v) = &self.#ident {
                map.insert(#wire.into(), ToJson::to_json(v));
            })
        } else {
            quote!(map.insert(#wire.into(), ToJson::to_json(&self.#ident));)
        });
    }
    if let Some(extra) = extra {
        reads.push(quote!(#extra: FromJson::from_json(Value::Object(map))?,));
        writes.push(quote!(for (k, v) in &self.#extra {
            map.insert(k.clone(), ToJson::to_json(v));
        }));
    }
    (
        quote! {
            let Value::Object(mut map) = value else {
                return ::core::option::Option::None;
            };
            ::core::option::Option::Some(Self { #(#reads)* })
        },
        quote! {
            let mut map = Map::new();
            #(#writes)*
            Value::Object(map)
        },
    )
}

fn enum_codec(e: &EnumDef, member: &dyn Fn(usize) -> Ident) -> (TokenStream, TokenStream) {
    let arms = e.variants.iter().enumerate().map(|(i, v)| {
        let ident = member(i);
        let wire = &v.wire;
        quote!(#wire => ::core::option::Option::Some(Self::#ident),)
    });
    (
        quote! {
            match value.as_str()? {
                #(#arms)*
                _ => ::core::option::Option::None,
            }
        },
        quote!(Value::String(self.as_str().into())),
    )
}

/// The variant the check chose: by the tag's value, or by JSON type (the first variant of
/// that type, as the check's match arms).
fn union_codec(u: &UnionDef, member: &dyn Fn(usize) -> Ident) -> (TokenStream, TokenStream) {
    let read = match &u.discriminant {
        Discriminant::Tag { property } => {
            let arms = u.variants.iter().enumerate().map(|(i, v)| {
                let ident = member(i);
                let tag = v.tag.as_deref().unwrap_or_default();
                quote!(#tag => FromJson::from_json(value).map(Self::#ident),)
            });
            quote! {
                let tag = ::lua_device::typed::__private::String::from(value.get(#property)?.as_str()?);
                match tag.as_str() {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
        Discriminant::JsonType => {
            let arms = u.variants.iter().enumerate().map(|(i, v)| {
                let ident = member(i);
                let pattern = value_pattern(v.json_type);
                quote!(#pattern => FromJson::from_json(value).map(Self::#ident),)
            });
            quote! {
                #[allow(unreachable_patterns)]
                match &value {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    };
    let arms = u.variants.iter().enumerate().map(|(i, _)| {
        let ident = member(i);
        quote!(Self::#ident(v) => ToJson::to_json(v),)
    });
    (read, quote!(match self { #(#arms)* }))
}
