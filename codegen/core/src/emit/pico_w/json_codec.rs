//! The payload types for the chip, which carries no serde: the Rust emitter's types and checks
//! with their serde attributes taken off, plus `FromJson`/`ToJson` impls written from the IR.
//!
//! The checks are the host's, word for word (they run over the core's own `json::Value`,
//! shaped like serde_json's), so a payload is refused with the same message on both. A value
//! is only built after its check passed, so the readers here only move fields out of the
//! object: they add no messages of their own.

use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Item, Token};

use crate::emit::rust::value_pattern;

use crate::ir::{
    Additional, Discriminant, EnumDef, StructDef, TypeDef, TypeDefKind, TypeSpace, UnionDef,
};

/// The chip's payload module: `tokens` (the Rust emitter's types and checks) without serde,
/// and a reader and writer for every type in `space`.
pub fn payloads(tokens: TokenStream, space: &TypeSpace) -> syn::File {
    let mut file: syn::File = syn::parse2(rename(tokens, "serde_json", "json"))
        .expect("the Rust emitter produces valid Rust items");
    file.items = file.items.into_iter().filter_map(strip_serde).collect();
    for item in &mut file.items {
        if let Item::Mod(m) = item {
            for item in m.content.iter_mut().flat_map(|(_, items)| items) {
                out_of_line(item);
            }
        }
    }
    for (_, def) in space.iter() {
        let codec: syn::File =
            syn::parse2(codec(def)).expect("the JSON codec emitter produces valid Rust items");
        file.items.extend(codec.items);
    }
    file
}

/// Every identifier `from` in `tokens` as `to`: the checks name `__private::serde_json::Value`,
/// which on the chip is `__private::json::Value`.
fn rename(tokens: TokenStream, from: &str, to: &str) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(i) if i == from => TokenTree::Ident(Ident::new(to, i.span())),
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rename(g.stream(), from, to));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            tree => tree,
        })
        .collect()
}

fn is_serde(attr: &Attribute) -> bool {
    attr.path().is_ident("serde")
}

/// `#[derive(..)]` without `Serialize`/`Deserialize`; other attributes as they are.
fn strip_attrs(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| !is_serde(a));
    for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        let kept: Vec<syn::Path> = paths
            .into_iter()
            .filter(|p| {
                p.segments
                    .last()
                    .is_none_or(|s| s.ident != "Serialize" && s.ident != "Deserialize")
            })
            .collect();
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
    }
}

/// An item without serde: derives and attributes taken off, hand-written `Deserialize` impls
/// and the serde default functions dropped (the readers below apply defaults themselves).
fn strip_serde(mut item: Item) -> Option<Item> {
    match &mut item {
        Item::Struct(s) => {
            strip_attrs(&mut s.attrs);
            for field in s.fields.iter_mut() {
                field.attrs.retain(|a| !is_serde(a));
            }
        }
        Item::Enum(e) => {
            strip_attrs(&mut e.attrs);
            for variant in e.variants.iter_mut() {
                variant.attrs.retain(|a| !is_serde(a));
            }
        }
        Item::Impl(i) => {
            if let Some((_, path, _)) = &i.trait_ {
                if path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Deserialize")
                {
                    return None;
                }
            }
            i.items.retain(|item| {
                !matches!(item, syn::ImplItem::Fn(f)
                    if f.sig.ident.to_string().starts_with("__luagen_default_"))
            });
            if i.items.is_empty() {
                return None;
            }
        }
        _ => {}
    }
    Some(item)
}

/// `#[inline(never)]` on a check impl's function. Inlined, every type's check (and reader and
/// writer, below) was copied into the dispatch future's state machine: the synthetic 21-command
/// firmware was 176 KiB with them inlined and 159 KiB without.
fn out_of_line(item: &mut Item) {
    if let Item::Impl(i) = item {
        for item in &mut i.items {
            if let syn::ImplItem::Fn(f) = item {
                f.attrs.push(syn::parse_quote!(#[inline(never)]));
            }
        }
    }
}

fn codec(def: &TypeDef) -> TokenStream {
    let name = format_ident!("{}", def.name.rust);
    let (read, write) = match &def.kind {
        TypeDefKind::Struct(s) => struct_codec(s),
        TypeDefKind::Enum(e) => enum_codec(e),
        TypeDefKind::Union(u) => union_codec(u),
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
fn struct_codec(s: &StructDef) -> (TokenStream, TokenStream) {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for field in &s.fields {
        let ident = format_ident!("{}", field.rust_name);
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
    if let Additional::Typed(_) = &s.additional {
        let taken: Vec<&str> = s.fields.iter().map(|f| f.rust_name.as_str()).collect();
        let mut extra = String::from("additional_properties");
        while taken.contains(&extra.as_str()) {
            extra.push('_');
        }
        let extra = format_ident!("{extra}");
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

fn enum_codec(e: &EnumDef) -> (TokenStream, TokenStream) {
    let arms = e.variants.iter().map(|v| {
        let ident = format_ident!("{}", v.rust_name);
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
fn union_codec(u: &UnionDef) -> (TokenStream, TokenStream) {
    let read = match &u.discriminant {
        Discriminant::Tag { property } => {
            let arms = u.variants.iter().map(|v| {
                let ident = format_ident!("{}", v.rust_name);
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
            let arms = u.variants.iter().map(|v| {
                let ident = format_ident!("{}", v.rust_name);
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
    let arms = u.variants.iter().map(|v| {
        let ident = format_ident!("{}", v.rust_name);
        quote!(Self::#ident(v) => ToJson::to_json(v),)
    });
    (read, quote!(match self { #(#arms)* }))
}
