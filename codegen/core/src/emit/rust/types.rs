//! Payload types: structs, string enums, unions and aliases with serde derives (or, for
//! [`Codec::CoreJson`], none: their readers and writers come from `json_codec`), as tokens:
//! what the proc-macro hands to rustc and what `format` prints.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::Codec;
use crate::ir::{
    Additional, Discriminant, EnumDef, JsonType, Shape, StructDef, TypeDef, TypeDefKind, TypeId,
    TypeSpace, UnionDef,
};
use crate::names::Names;

pub(super) struct TypeEmitter<'a> {
    pub(super) space: &'a TypeSpace,
    pub(super) names: &'a Names,
    rt: &'a TokenStream,
    codec: Codec,
}

/// `#[doc = "..."]` lines: the text is a string literal, so nothing in it can end a comment
/// or inject code.
pub(super) fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else {
        return TokenStream::new();
    };
    let lines = doc.lines().map(|line| {
        let line = format!(" {}", line.replace('\0', "\\0"));
        quote!(#[doc = #line])
    });
    quote!(#(#lines)*)
}

pub(super) fn type_ident(names: &Names, id: TypeId) -> Ident {
    format_ident!("{}", names.ty(id))
}

/// The field holding a struct's typed `additionalProperties`, named clear of its fields.
pub(super) fn extra_field(names: &Names, id: TypeId, s: &StructDef) -> Option<Ident> {
    let Additional::Typed(_) = &s.additional else {
        return None;
    };
    let mut extra = String::from("additional_properties");
    while (0..s.fields.len()).any(|i| names.member(id, i) == extra) {
        extra.push('_');
    }
    Some(format_ident!("{extra}"))
}

impl<'a> TypeEmitter<'a> {
    pub fn new(space: &'a TypeSpace, names: &'a Names, rt: &'a TokenStream, codec: Codec) -> Self {
        Self {
            space,
            names,
            rt,
            codec,
        }
    }

    /// Every type as tokens.
    pub fn all(&self) -> TokenStream {
        let defs = self.space.iter().map(|(id, def)| self.type_def(id, def));
        quote!(#(#defs)*)
    }

    fn private(&self) -> TokenStream {
        let rt = self.rt;
        quote!(#rt::typed::__private)
    }

    fn serde_crate(&self) -> String {
        format!("{}::typed::__private::serde", self.rt).replace(' ', "")
    }

    fn derives(&self, extra: TokenStream) -> TokenStream {
        let p = self.private();
        if !self.codec.serde() {
            let extra: Vec<TokenStream> = extra
                .into_iter()
                .filter(|t| !matches!(t, proc_macro2::TokenTree::Punct(_)))
                .map(quote::ToTokens::into_token_stream)
                .collect();
            return quote!(#[derive(Clone, Debug, PartialEq #(, #extra)*)]);
        }
        let serde_crate = self.serde_crate();
        quote! {
            #[derive(Clone, Debug, PartialEq, #extra #p::serde::Serialize, #p::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
        }
    }

    /// A `#[serde(..)]` attribute, or nothing without serde.
    fn serde_attr(&self, attr: TokenStream) -> TokenStream {
        if self.codec.serde() {
            attr
        } else {
            TokenStream::new()
        }
    }

    /// `Value`'s module under `typed::__private`.
    fn json(&self) -> TokenStream {
        let p = self.private();
        let json = self.codec.json_module();
        quote!(#p::#json)
    }

    /// The Rust type of a shape; `owner` is the type being defined, for boxing recursion.
    pub fn rust_type(&self, shape: &Shape, owner: Option<TypeId>) -> TokenStream {
        let p = self.private();
        let json = self.json();
        match shape {
            Shape::Any | Shape::Const { .. } => quote!(#json::Value),
            Shape::Boolean => quote!(bool),
            Shape::Integer(i) => {
                let t = format_ident!("{}", i.repr.name());
                quote!(#t)
            }
            Shape::Number(_) => quote!(f64),
            Shape::String(_) => quote!(#p::String),
            Shape::Array(a) => {
                let item = self.rust_type(&a.items, None);
                quote!(#p::Vec<#item>)
            }
            Shape::Map { values, .. } => {
                let v = self.rust_type(values, None);
                quote!(#p::BTreeMap<#p::String, #v>)
            }
            Shape::Nullable { inner } => {
                let inner = self.rust_type(inner, owner);
                quote!(::core::option::Option<#inner>)
            }
            Shape::Literals { json_type, .. } => match json_type {
                JsonType::Boolean => quote!(bool),
                JsonType::Integer => quote!(i64),
                JsonType::Number => quote!(f64),
                _ => quote!(#json::Value),
            },
            Shape::Named { id } => {
                let name = type_ident(self.names, *id);
                match owner {
                    Some(owner) if self.reaches(*id, owner) => quote!(#p::Box<#name>),
                    _ => quote!(#name),
                }
            }
        }
    }

    /// Whether type `from` contains `to` without a heap indirection (so `to` needs a Box).
    pub(super) fn reaches(&self, from: TypeId, to: TypeId) -> bool {
        let mut stack = vec![from];
        let mut seen = Vec::new();
        while let Some(id) = stack.pop() {
            if id == to {
                return true;
            }
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let def = self.space.get(id);
            let shapes: Vec<&Shape> = match &def.kind {
                TypeDefKind::Struct(s) => s.fields.iter().map(|f| &f.shape).collect(),
                TypeDefKind::Union(u) => u.variants.iter().map(|v| &v.shape).collect(),
                TypeDefKind::Alias { shape } => vec![shape],
                TypeDefKind::Enum(_) => Vec::new(),
            };
            for shape in shapes {
                stack.extend(direct_refs(shape));
            }
        }
        false
    }

    pub(super) fn type_def(&self, id: TypeId, def: &TypeDef) -> TokenStream {
        let docs = doc_attrs(def.doc.as_deref());
        let name = type_ident(self.names, id);
        match &def.kind {
            TypeDefKind::Struct(s) => self.struct_def(id, &name, docs, s),
            TypeDefKind::Enum(e) => self.enum_def(id, &name, docs, e),
            TypeDefKind::Union(u) => self.union_def(id, &name, docs, u),
            // A newtype, not a `type` alias: it carries its own schema check (an alias of a
            // foreign type could not implement `Check`).
            TypeDefKind::Alias { shape } => {
                let ty = self.rust_type(shape, Some(id));
                let derives = self.derives(quote!());
                let transparent = self.serde_attr(quote!(#[serde(transparent)]));
                quote! {
                    #docs
                    #derives
                    #transparent
                    pub struct #name(pub #ty);
                }
            }
        }
    }

    fn struct_def(
        &self,
        id: TypeId,
        name: &Ident,
        docs: TokenStream,
        s: &StructDef,
    ) -> TokenStream {
        let p = self.private();
        let mut fields = Vec::new();
        let mut default_fns = Vec::new();
        for (i, field) in s.fields.iter().enumerate() {
            let field_name = self.names.member(id, i);
            let ident = format_ident!("{field_name}");
            let wire = &field.wire_name;
            let doc = doc_attrs(field.doc.as_deref());
            let optional_shape = match &field.shape {
                Shape::Nullable { inner } if !field.required => inner.as_ref(),
                shape => shape,
            };
            let (ty, attrs) = if let (false, Some(default)) = (field.required, &field.default) {
                let ty = self.rust_type(&field.shape, Some(id));
                let f = format_ident!("__luagen_default_{}", field_name.trim_start_matches('_'));
                let path = format!("{name}::{f}");
                let json = Literal::string(&default.to_string());
                // Without serde the reader applies the default itself (`json_codec`).
                default_fns.extend(self.codec.serde().then(|| {
                    quote! {
                        #[doc(hidden)]
                        pub fn #f() -> #ty {
                            #p::serde_json::from_str(#json)
                                .expect("luagen checked the default against the field's schema")
                        }
                    }
                }));
                (ty, quote!(#[serde(rename = #wire, default = #path)]))
            } else if field.required {
                (
                    self.rust_type(&field.shape, Some(id)),
                    quote!(#[serde(rename = #wire)]),
                )
            } else {
                let inner = self.rust_type(optional_shape, Some(id));
                (
                    quote!(::core::option::Option<#inner>),
                    quote!(#[serde(rename = #wire, default, skip_serializing_if = "::core::option::Option::is_none")]),
                )
            };
            let attrs = self.serde_attr(attrs);
            fields.push(quote!(#doc #attrs pub #ident: #ty,));
        }
        if let (Additional::Typed(values), Some(extra)) =
            (&s.additional, extra_field(self.names, id, s))
        {
            let v = self.rust_type(values, Some(id));
            let flatten = self.serde_attr(quote!(#[serde(flatten)]));
            fields.push(quote! {
                /// Properties beyond the declared ones (`additionalProperties`).
                #flatten
                pub #extra: #p::BTreeMap<#p::String, #v>,
            });
        }
        let derives = self.derives(quote!());
        let defaults = (!default_fns.is_empty()).then(|| quote!(impl #name { #(#default_fns)* }));
        quote! {
            #docs
            #derives
            pub struct #name { #(#fields)* }
            #defaults
        }
    }

    fn enum_def(&self, id: TypeId, name: &Ident, docs: TokenStream, e: &EnumDef) -> TokenStream {
        let derives = self.derives(quote!(Copy, Eq, Hash,));
        let variants = e.variants.iter().enumerate().map(|(i, v)| {
            let ident = format_ident!("{}", self.names.member(id, i));
            let wire = &v.wire;
            let doc = format!(" `{}`", wire.replace('`', "'"));
            let rename = self.serde_attr(quote!(#[serde(rename = #wire)]));
            quote!(#[doc = #doc] #rename #ident,)
        });
        let arms = e.variants.iter().enumerate().map(|(i, v)| {
            let ident = format_ident!("{}", self.names.member(id, i));
            let wire = &v.wire;
            quote!(Self::#ident => #wire,)
        });
        quote! {
            #docs
            #derives
            pub enum #name { #(#variants)* }
            impl #name {
                /// The value on the wire.
                pub fn as_str(&self) -> &'static str {
                    match self { #(#arms)* }
                }
            }
        }
    }

    fn union_def(&self, id: TypeId, name: &Ident, docs: TokenStream, u: &UnionDef) -> TokenStream {
        let p = self.private();
        let serde_crate = self.serde_crate();
        let variants: Vec<TokenStream> = u
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ident = format_ident!("{}", self.names.member(id, i));
                let ty = self.rust_type(&v.shape, Some(id));
                quote!(#ident(#ty),)
            })
            .collect();
        match &u.discriminant {
            Discriminant::JsonType => {
                let derives = self.derives(quote!());
                let untagged = self.serde_attr(quote!(#[serde(untagged)]));
                quote! {
                    #docs
                    #derives
                    #untagged
                    pub enum #name { #(#variants)* }
                }
            }
            // Read by the tag's value too (`json_codec`), with no serde to derive.
            Discriminant::Tag { .. } if !self.codec.serde() => {
                let derives = self.derives(quote!());
                quote! {
                    #docs
                    #derives
                    pub enum #name { #(#variants)* }
                }
            }
            // Deserialized by the tag's value, so a variant never matches another's payload.
            Discriminant::Tag { property } => {
                let arms = u.variants.iter().enumerate().map(|(i, v)| {
                    let ident = format_ident!("{}", self.names.member(id, i));
                    let tag = v.tag.as_deref().unwrap_or_default();
                    quote!(::core::option::Option::Some(#tag) => #p::serde_json::from_value(value).map(Self::#ident).map_err(D::Error::custom),)
                });
                let unknown = format!("`{property}` is not one of the variants' tags");
                quote! {
                    #docs
                    #[derive(Clone, Debug, PartialEq, #p::serde::Serialize)]
                    #[serde(crate = #serde_crate, untagged)]
                    pub enum #name { #(#variants)* }
                    impl<'de> #p::serde::Deserialize<'de> for #name {
                        fn deserialize<D: #p::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                            use #p::serde::de::Error as _;
                            let value = <#p::serde_json::Value as #p::serde::Deserialize>::deserialize(deserializer)?;
                            match value.get(#property).and_then(#p::serde_json::Value::as_str) {
                                #(#arms)*
                                _ => ::core::result::Result::Err(D::Error::custom(#unknown)),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Named types a shape contains without a heap indirection.
fn direct_refs(shape: &Shape) -> Vec<TypeId> {
    match shape {
        Shape::Named { id } => vec![*id],
        Shape::Nullable { inner } => direct_refs(inner),
        _ => Vec::new(),
    }
}
