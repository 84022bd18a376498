//! Payload types as syn trees, for formatting: structs, string enums and aliases (nearly every
//! type) are built directly (see [`super::ast`]), the rarer shapes parsed from the token
//! emitter's output. `format::tests` holds the two to the same output for every manifest.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Item, Meta, PathArguments, PathSegment, Type};

use super::ast::{ident, path, str_lit};
use super::types::{type_ident, TypeEmitter};
use super::Codec;
use crate::ir::{
    Additional, EnumDef, Field, JsonType, Shape, StructDef, TypeDef, TypeDefKind, TypeId, TypeSpace,
};

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
            types: TypeEmitter::new(space, rt, Codec::Serde),
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
            Shape::Integer(i) => prim(i.repr.name()),
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

/// Whether a struct needs more than fields: default functions, or a map of extra properties.
fn has_extras(s: &StructDef) -> bool {
    matches!(s.additional, Additional::Typed(_))
        || s.fields.iter().any(|f| !f.required && f.default.is_some())
}
