//! Payload types: structs, string enums, unions and aliases with serde derives.
//!
//! Tokens for the proc-macro; for formatting, structs, string enums and aliases (nearly every
//! type) are also built directly as syn trees (see [`super::ast`]), the rarer shapes parsed
//! from their tokens. `format::tests` holds the two to the same output for every manifest.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Item, Meta, PathArguments, PathSegment, Type};

use super::ast::{ident, path, str_lit};

use crate::ir::{
    Additional, Discriminant, EnumDef, Field, JsonType, Shape, StructDef, TypeDef, TypeDefKind,
    TypeId, TypeSpace, UnionDef,
};

pub(super) struct TypeEmitter<'a> {
    space: &'a TypeSpace,
    rt: &'a TokenStream,
}

/// The payload types as syn trees (see [`TypeTrees::type_items`]), with what every type's
/// tree shares built once.
pub(super) struct TypeTrees<'a> {
    types: TypeEmitter<'a>,
    /// `<rt>::typed::__private`, the path every runtime type is named through.
    private: syn::Path,
    /// The two derive attributes, for data types and for string enums (`Copy, Eq, Hash`).
    derives: Vec<Attribute>,
    enum_derives: Vec<Attribute>,
    /// `impl T { /// .. pub fn as_str(&self) -> &'static str { match self {} } }`, filled in
    /// for each string enum.
    as_str: syn::ItemImpl,
}

/// `#[name(tokens)]`
fn list_attr(name: &str, tokens: TokenStream) -> Attribute {
    attr(Meta::List(syn::MetaList {
        path: path(false, &[name]),
        delimiter: syn::MacroDelimiter::Paren(Default::default()),
        tokens,
    }))
}

fn attr(meta: Meta) -> Attribute {
    Attribute {
        pound_token: Default::default(),
        style: syn::AttrStyle::Outer,
        bracket_token: Default::default(),
        meta,
    }
}

/// `#[doc = "text"]`
fn doc_attr(text: String) -> Attribute {
    attr(Meta::NameValue(syn::MetaNameValue {
        path: path(false, &["doc"]),
        eq_token: Default::default(),
        value: str_lit(&text),
    }))
}

/// [`doc_attrs`] as attributes.
pub(super) fn doc_attr_list(doc: Option<&str>) -> Vec<Attribute> {
    doc.map(|doc| {
        doc.lines()
            .map(|line| doc_attr(format!(" {}", line.replace('\0', "\\0"))))
            .collect()
    })
    .unwrap_or_default()
}

/// `path<args>` as a type.
fn type_path(mut path: syn::Path, last: &str, args: Vec<Type>) -> Type {
    let arguments = if args.is_empty() {
        PathArguments::None
    } else {
        PathArguments::AngleBracketed(syn::AngleBracketedGenericArguments {
            colon2_token: None,
            lt_token: Default::default(),
            args: args.into_iter().map(syn::GenericArgument::Type).collect(),
            gt_token: Default::default(),
        })
    };
    path.segments.push(PathSegment {
        ident: ident(last),
        arguments,
    });
    Type::Path(syn::TypePath { qself: None, path })
}

fn named_type(name: Ident) -> Type {
    Type::Path(syn::TypePath {
        qself: None,
        path: PathSegment::from(name).into(),
    })
}

fn empty_path() -> syn::Path {
    syn::Path {
        leading_colon: None,
        segments: Punctuated::new(),
    }
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

pub(super) fn type_ident(space: &TypeSpace, id: TypeId) -> Ident {
    format_ident!("{}", space.get(id).name.rust)
}

impl<'a> TypeTrees<'a> {
    pub fn new(space: &'a TypeSpace, rt: &'a TokenStream) -> Self {
        let private = syn::parse2(quote!(#rt::typed::__private))
            .expect("the runtime crate is named by a path");
        let serde_crate = format!("{rt}::typed::__private::serde").replace(' ', "");
        let derive = |extra: TokenStream| {
            let p = quote!(#rt::typed::__private);
            vec![
                list_attr(
                    "derive",
                    quote!(Clone, Debug, PartialEq, #extra #p::serde::Serialize, #p::serde::Deserialize),
                ),
                list_attr("serde", quote!(crate = #serde_crate)),
            ]
        };
        let as_str = syn::parse2(quote! {
            impl T {
                /// The value on the wire.
                pub fn as_str(&self) -> &'static str {
                    match self {}
                }
            }
        })
        .expect("the as_str skeleton is an impl item");
        Self {
            types: TypeEmitter::new(space, rt),
            private,
            derives: derive(quote!()),
            enum_derives: derive(quote!(Copy, Eq, Hash,)),
            as_str,
        }
    }

    /// One type's items (the type, and an impl for enums and defaults) as syn trees, for
    /// formatting: the same items as [`Self::all`] writes, without syn parsing them back.
    pub fn type_items(&self, id: TypeId, def: &TypeDef) -> Vec<Item> {
        let name = type_ident(self.types.space, id);
        let docs = doc_attr_list(def.doc.as_deref());
        match &def.kind {
            TypeDefKind::Struct(s) if !has_extras(s) => {
                let mut named = Punctuated::new();
                for field in &s.fields {
                    named.push(self.field(id, field));
                    named.push_punct(Default::default());
                }
                let fields = syn::Fields::Named(syn::FieldsNamed {
                    brace_token: Default::default(),
                    named,
                });
                vec![self.struct_item(docs, &self.derives, name, fields, None)]
            }
            TypeDefKind::Enum(e) => self.enum_items(docs, name, e),
            // A newtype, not a `type` alias: it carries its own schema check (an alias of a
            // foreign type could not implement `Check`).
            TypeDefKind::Alias { shape } => {
                let field = syn::Field {
                    attrs: Vec::new(),
                    vis: syn::Visibility::Public(Default::default()),
                    mutability: syn::FieldMutability::None,
                    ident: None,
                    colon_token: None,
                    ty: self.type_of(shape, Some(id)),
                };
                let fields = syn::Fields::Unnamed(syn::FieldsUnnamed {
                    paren_token: Default::default(),
                    unnamed: [field].into_iter().collect(),
                });
                let transparent = list_attr("serde", quote!(transparent));
                vec![self.struct_item(docs, &self.derives, name, fields, Some(transparent))]
            }
            _ => {
                syn::parse2::<syn::File>(self.types.type_def(id, def))
                    .expect("the Rust emitter produces valid Rust items")
                    .items
            }
        }
    }

    fn struct_item(
        &self,
        docs: Vec<Attribute>,
        derives: &[Attribute],
        name: Ident,
        fields: syn::Fields,
        extra: Option<Attribute>,
    ) -> Item {
        let tuple = matches!(fields, syn::Fields::Unnamed(_));
        let mut attrs = docs;
        attrs.extend(derives.iter().cloned());
        attrs.extend(extra);
        Item::Struct(syn::ItemStruct {
            attrs,
            vis: syn::Visibility::Public(Default::default()),
            struct_token: Default::default(),
            ident: name,
            generics: Default::default(),
            fields,
            semi_token: tuple.then(Default::default),
        })
    }

    /// A field of a struct without defaults (see [`has_extras`]).
    fn field(&self, owner: TypeId, field: &Field) -> syn::Field {
        let wire = &field.wire_name;
        let mut attrs = doc_attr_list(field.doc.as_deref());
        let ty = if field.required {
            attrs.push(list_attr("serde", quote!(rename = #wire)));
            self.type_of(&field.shape, Some(owner))
        } else {
            let inner = match &field.shape {
                Shape::Nullable { inner } => inner.as_ref(),
                shape => shape,
            };
            attrs.push(list_attr(
                "serde",
                quote!(rename = #wire, default, skip_serializing_if = "::core::option::Option::is_none"),
            ));
            type_path(
                path(true, &["core", "option"]),
                "Option",
                vec![self.type_of(inner, Some(owner))],
            )
        };
        syn::Field {
            attrs,
            vis: syn::Visibility::Public(Default::default()),
            mutability: syn::FieldMutability::None,
            ident: Some(format_ident!("{}", field.rust_name)),
            colon_token: Some(Default::default()),
            ty,
        }
    }

    fn enum_items(&self, docs: Vec<Attribute>, name: Ident, e: &EnumDef) -> Vec<Item> {
        let mut variants = Punctuated::new();
        let mut arms = Vec::new();
        for v in &e.variants {
            let ident = format_ident!("{}", v.rust_name);
            let wire = &v.wire;
            variants.push(syn::Variant {
                attrs: vec![
                    doc_attr(format!(" `{}`", wire.replace('`', "'"))),
                    list_attr("serde", quote!(rename = #wire)),
                ],
                ident: ident.clone(),
                fields: syn::Fields::Unit,
                discriminant: None,
            });
            variants.push_punct(Default::default());
            let mut this = path(false, &["Self"]);
            this.segments.push(PathSegment::from(ident));
            arms.push(syn::Arm {
                attrs: Vec::new(),
                pat: syn::Pat::Path(syn::ExprPath {
                    attrs: Vec::new(),
                    qself: None,
                    path: this,
                }),
                guard: None,
                fat_arrow_token: Default::default(),
                body: Box::new(str_lit(wire)),
                comma: Some(Default::default()),
            });
        }
        let mut attrs = docs;
        attrs.extend(self.enum_derives.iter().cloned());
        let item = Item::Enum(syn::ItemEnum {
            attrs,
            vis: syn::Visibility::Public(Default::default()),
            enum_token: Default::default(),
            ident: name.clone(),
            generics: Default::default(),
            brace_token: Default::default(),
            variants,
        });
        let mut as_str = self.as_str.clone();
        *as_str.self_ty = named_type(name);
        if let Some(syn::ImplItem::Fn(f)) = as_str.items.first_mut() {
            if let Some(syn::Stmt::Expr(syn::Expr::Match(m), _)) = f.block.stmts.first_mut() {
                m.arms = arms;
            }
        }
        vec![item, Item::Impl(as_str)]
    }

    /// [`Self::rust_type`] as a syn type.
    fn type_of(&self, shape: &Shape, owner: Option<TypeId>) -> Type {
        let p = |last: &str, args: Vec<Type>| type_path(self.private.clone(), last, args);
        let value = || {
            let mut json = self.private.clone();
            json.segments.push(PathSegment::from(ident("serde_json")));
            type_path(json, "Value", Vec::new())
        };
        let prim = |name: &str| type_path(empty_path(), name, Vec::new());
        match shape {
            Shape::Any | Shape::Const { .. } => value(),
            Shape::Boolean => prim("bool"),
            Shape::Integer(i) => prim(i.repr.rust()),
            Shape::Number(_) => prim("f64"),
            Shape::String(_) => p("String", Vec::new()),
            Shape::Array(a) => p("Vec", vec![self.type_of(&a.items, None)]),
            Shape::Map { values } => p(
                "BTreeMap",
                vec![p("String", Vec::new()), self.type_of(values, None)],
            ),
            Shape::Nullable { inner } => type_path(
                path(true, &["core", "option"]),
                "Option",
                vec![self.type_of(inner, owner)],
            ),
            Shape::Literals { json_type, .. } => match json_type {
                JsonType::Boolean => prim("bool"),
                JsonType::Integer => prim("i64"),
                JsonType::Number => prim("f64"),
                _ => value(),
            },
            Shape::Named { id } => {
                let name = named_type(type_ident(self.types.space, *id));
                match owner {
                    Some(owner) if self.types.reaches(*id, owner) => p("Box", vec![name]),
                    _ => name,
                }
            }
        }
    }
}

impl<'a> TypeEmitter<'a> {
    pub fn new(space: &'a TypeSpace, rt: &'a TokenStream) -> Self {
        Self { space, rt }
    }

    /// Every type as tokens, for the proc-macro (quote makes tokens faster than syn prints
    /// trees).
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
        let serde_crate = self.serde_crate();
        quote! {
            #[derive(Clone, Debug, PartialEq, #extra #p::serde::Serialize, #p::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
        }
    }

    /// The Rust type of a shape; `owner` is the type being defined, for boxing recursion.
    pub fn rust_type(&self, shape: &Shape, owner: Option<TypeId>) -> TokenStream {
        let p = self.private();
        match shape {
            Shape::Any | Shape::Const { .. } => quote!(#p::serde_json::Value),
            Shape::Boolean => quote!(bool),
            Shape::Integer(i) => {
                let t = format_ident!("{}", i.repr.rust());
                quote!(#t)
            }
            Shape::Number(_) => quote!(f64),
            Shape::String(_) => quote!(#p::String),
            Shape::Array(a) => {
                let item = self.rust_type(&a.items, None);
                quote!(#p::Vec<#item>)
            }
            Shape::Map { values } => {
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
                _ => quote!(#p::serde_json::Value),
            },
            Shape::Named { id } => {
                let name = type_ident(self.space, *id);
                match owner {
                    Some(owner) if self.reaches(*id, owner) => quote!(#p::Box<#name>),
                    _ => quote!(#name),
                }
            }
        }
    }

    /// Whether type `from` contains `to` without a heap indirection (so `to` needs a Box).
    fn reaches(&self, from: TypeId, to: TypeId) -> bool {
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

    fn type_def(&self, id: TypeId, def: &TypeDef) -> TokenStream {
        let docs = doc_attrs(def.doc.as_deref());
        let name = type_ident(self.space, id);
        match &def.kind {
            TypeDefKind::Struct(s) => self.struct_def(id, &name, docs, s),
            TypeDefKind::Enum(e) => self.enum_def(&name, docs, e),
            TypeDefKind::Union(u) => self.union_def(id, &name, docs, u),
            // A newtype, not a `type` alias: it carries its own schema check (an alias of a
            // foreign type could not implement `Check`).
            TypeDefKind::Alias { shape } => {
                let ty = self.rust_type(shape, Some(id));
                let derives = self.derives(quote!());
                quote! {
                    #docs
                    #derives
                    #[serde(transparent)]
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
        for field in &s.fields {
            let ident = format_ident!("{}", field.rust_name);
            let wire = &field.wire_name;
            let doc = doc_attrs(field.doc.as_deref());
            let optional_shape = match &field.shape {
                Shape::Nullable { inner } if !field.required => inner.as_ref(),
                shape => shape,
            };
            let (ty, attrs) = if let (false, Some(default)) = (field.required, &field.default) {
                let ty = self.rust_type(&field.shape, Some(id));
                let f = format_ident!(
                    "__luagen_default_{}",
                    field.rust_name.trim_start_matches('_')
                );
                let path = format!("{name}::{f}");
                let json = Literal::string(&default.to_string());
                default_fns.push(quote! {
                    #[doc(hidden)]
                    pub fn #f() -> #ty {
                        #p::serde_json::from_str(#json)
                            .expect("luagen checked the default against the field's schema")
                    }
                });
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
            fields.push(quote!(#doc #attrs pub #ident: #ty,));
        }
        if let Additional::Typed(values) = &s.additional {
            let v = self.rust_type(values, Some(id));
            let taken: Vec<&str> = s.fields.iter().map(|f| f.rust_name.as_str()).collect();
            let mut extra = String::from("additional_properties");
            while taken.contains(&extra.as_str()) {
                extra.push('_');
            }
            let extra = format_ident!("{extra}");
            fields.push(quote! {
                /// Properties beyond the declared ones (`additionalProperties`).
                #[serde(flatten)]
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

    fn enum_def(&self, name: &Ident, docs: TokenStream, e: &EnumDef) -> TokenStream {
        let derives = self.derives(quote!(Copy, Eq, Hash,));
        let variants = e.variants.iter().map(|v| {
            let ident = format_ident!("{}", v.rust_name);
            let wire = &v.wire;
            let doc = format!(" `{}`", wire.replace('`', "'"));
            quote!(#[doc = #doc] #[serde(rename = #wire)] #ident,)
        });
        let arms = e.variants.iter().map(|v| {
            let ident = format_ident!("{}", v.rust_name);
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
            .map(|v| {
                let ident = format_ident!("{}", v.rust_name);
                let ty = self.rust_type(&v.shape, Some(id));
                quote!(#ident(#ty),)
            })
            .collect();
        match &u.discriminant {
            Discriminant::JsonType => {
                let derives = self.derives(quote!());
                quote! {
                    #docs
                    #derives
                    #[serde(untagged)]
                    pub enum #name { #(#variants)* }
                }
            }
            // Deserialized by the tag's value, so a variant never matches another's payload.
            Discriminant::Tag { property } => {
                let arms = u.variants.iter().map(|v| {
                    let ident = format_ident!("{}", v.rust_name);
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

/// Whether a struct needs more than fields: default functions, or a map of extra properties.
fn has_extras(s: &StructDef) -> bool {
    matches!(s.additional, Additional::Typed(_))
        || s.fields.iter().any(|f| !f.required && f.default.is_some())
}

/// Named types a shape contains without a heap indirection.
fn direct_refs(shape: &Shape) -> Vec<TypeId> {
    match shape {
        Shape::Named { id } => vec![*id],
        Shape::Nullable { inner } => direct_refs(inner),
        _ => Vec::new(),
    }
}
