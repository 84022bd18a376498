//! The schema checks of [`super::checks`] as syn trees, for formatting: they are most of the
//! generated code, and building the trees directly (see [`super::ast`]) spares syn parsing
//! them back from tokens. The proc-macro keeps the token emitter, which is faster at making
//! tokens; `format::tests` holds the two to the same output for every manifest.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Arm, Expr, ExprPath, Item, ItemImpl, ItemMod, Pat, PathSegment, QSelf, Stmt};

use super::ast::*;
use super::checks::{check_impl, checks_module, json_type_name};
use super::types::type_ident;
use super::Codec;
use crate::ir::{
    Additional, Discriminant, JsonType, NumShape, Shape, StructDef, TypeDefKind, TypeId, TypeSpace,
    UnionDef,
};

pub(super) struct CheckTrees<'a> {
    space: &'a TypeSpace,
    rt: &'a TokenStream,
    /// See [`super::RustOptions::pattern_tables`].
    tables: Option<&'a [String]>,
    /// `impl Check for super::T { fn check(..) -> .. {} }`, parsed once: each impl is a copy
    /// with its type and body filled in.
    skeleton: ItemImpl,
}

const NONE: &[&str] = &["core", "option", "Option", "None"];
const SOME: &[&str] = &["core", "option", "Option", "Some"];
const OK: &[&str] = &["core", "result", "Result", "Ok"];

fn opt(v: Option<Expr>) -> Expr {
    match v {
        Some(v) => call(path_expr(true, SOME), [v]),
        None => path_expr(true, NONE),
    }
}

fn opt_lit(v: Option<Literal>) -> Expr {
    opt(v.map(literal))
}

/// `typed::name(args)`
fn typed(name: &str, args: impl IntoIterator<Item = Expr>) -> Expr {
    call(path_expr(false, &["typed", name]), args)
}

/// `::core::result::Result::Ok(())`
fn ok_unit() -> Expr {
    call(path_expr(true, OK), [unit()])
}

/// `expr.map(|_| ())`
fn discard(expr: Expr) -> Expr {
    method(expr, "map", [closure([pat_wild()], unit())])
}

/// `[a, b]` of string literals
fn strings<'s>(items: impl IntoIterator<Item = &'s str>) -> Expr {
    array(items.into_iter().map(str_lit))
}

impl<'a> CheckTrees<'a> {
    pub fn new(space: &'a TypeSpace, rt: &'a TokenStream, tables: Option<&'a [String]>) -> Self {
        let skeleton = syn::parse2(check_impl(&quote!(T), TokenStream::new(), Codec::Serde))
            .expect("the check impl skeleton is an impl item");
        Self {
            space,
            rt,
            tables,
            skeleton,
        }
    }

    /// The checks module around `impls` (formatting takes the impls in slices, see
    /// `super::format`).
    pub fn module_with(&self, name: &Ident, impls: impl Iterator<Item = Item>) -> ItemMod {
        let mut module: ItemMod = syn::parse2(checks_module(
            self.rt,
            name,
            TokenStream::new(),
            Codec::Serde,
        ))
        .expect("the checks module header is a module");
        if let Some((_, items)) = &mut module.content {
            items.extend(impls);
        }
        module
    }

    /// `impl Check` for one named type.
    pub fn impl_for(&self, id: TypeId) -> Item {
        let stmts = match &self.space.get(id).kind {
            TypeDefKind::Struct(s) => self.struct_body(s),
            TypeDefKind::Enum(e) => {
                let wires = strings(e.variants.iter().map(|v| v.wire.as_str()));
                vec![tail(typed(
                    "one_of_strings",
                    [var("value"), var("path"), reference(wires)],
                ))]
            }
            TypeDefKind::Union(u) => vec![tail(self.union_body(u))],
            TypeDefKind::Alias { shape } => vec![tail(self.check(shape, "value"))],
        };
        let mut item = self.skeleton.clone();
        if let syn::Type::Path(ty) = item.self_ty.as_mut() {
            if let Some(last) = ty.path.segments.last_mut() {
                *last = PathSegment::from(type_ident(self.space, id));
            }
        }
        if let Some(syn::ImplItem::Fn(f)) = item.items.first_mut() {
            f.block.stmts = stmts;
        }
        Item::Impl(item)
    }

    /// `<super::T as Check>::check(v, path)`
    fn named(&self, id: TypeId, v: &str) -> Expr {
        let ty = syn::Type::Path(syn::TypePath {
            qself: None,
            path: syn::Path {
                leading_colon: None,
                segments: [ident("super"), type_ident(self.space, id)]
                    .into_iter()
                    .map(PathSegment::from)
                    .collect(),
            },
        });
        let func = Expr::Path(ExprPath {
            attrs: Vec::new(),
            qself: Some(QSelf {
                lt_token: Default::default(),
                ty: Box::new(ty),
                position: 1,
                as_token: Some(Default::default()),
                gt_token: Default::default(),
            }),
            path: path(false, &["Check", "check"]),
        });
        call(func, [var(v), var("path")])
    }

    /// An expression of type `Result<(), CommandError>` checking `v` (a `&Value`) at `path`.
    fn check(&self, shape: &Shape, v: &str) -> Expr {
        match shape {
            Shape::Any => syn::parse2(quote!(::core::result::Result::<(), CommandError>::Ok(())))
                .expect("an `Ok` path is an expression"),
            Shape::Boolean => typed("boolean", [var(v), var("path")]),
            Shape::Integer(i) => typed(
                "integer",
                [
                    var(v),
                    var("path"),
                    opt_lit(i.min.map(Literal::i128_suffixed)),
                    opt_lit(i.max.map(Literal::i128_suffixed)),
                    opt_lit(i.multiple_of.map(Literal::u64_suffixed)),
                    path_expr(false, &["typed", "Int", &i.repr.name().to_uppercase()]),
                ],
            ),
            Shape::Number(n) => typed("number", [var(v), var("path"), self.bounds(n)]),
            Shape::String(s) => {
                let min = opt_lit(s.min_length.map(Literal::u64_suffixed));
                let max = opt_lit(s.max_length.map(Literal::u64_suffixed));
                match &s.pattern {
                    Some(p) => {
                        let pattern = syn::Type::Path(syn::TypePath {
                            qself: None,
                            path: path(false, &["typed", "Pattern"]),
                        });
                        let new = match self.tables {
                            None => {
                                call(path_expr(false, &["typed", "Pattern", "new"]), [str_lit(p)])
                            }
                            Some(tables) => {
                                let i = tables
                                    .iter()
                                    .position(|t| t == p)
                                    .expect("every pattern of the types has a table");
                                let table = format!("P{i}");
                                call(
                                    path_expr(false, &["typed", "Pattern", "table"]),
                                    [
                                        str_lit(p),
                                        reference(path_expr(false, &["super", "patterns", &table])),
                                    ],
                                )
                            }
                        };
                        let item = Item::Static(syn::ItemStatic {
                            attrs: Vec::new(),
                            vis: syn::Visibility::Inherited,
                            static_token: Default::default(),
                            mutability: syn::StaticMutability::None,
                            ident: ident("PATTERN"),
                            colon_token: Default::default(),
                            ty: Box::new(pattern),
                            eq_token: Default::default(),
                            expr: Box::new(new),
                            semi_token: Default::default(),
                        });
                        let pattern = opt(Some(reference(var("PATTERN"))));
                        let check = typed("string", [var(v), var("path"), min, max, pattern]);
                        block_expr(vec![Stmt::Item(item), tail(discard(check))])
                    }
                    None => discard(typed(
                        "string",
                        [var(v), var("path"), min, max, path_expr(true, NONE)],
                    )),
                }
            }
            Shape::Array(a) => {
                let args = [
                    var(v),
                    var("path"),
                    opt_lit(a.min_items.map(Literal::u64_suffixed)),
                    opt_lit(a.max_items.map(Literal::u64_suffixed)),
                    bool_lit(a.unique_items),
                ];
                let array = typed("array", args);
                if matches!(a.items, Shape::Any) {
                    return discard(array);
                }
                // items.iter().enumerate().try_for_each(|(i, item)| path.index(i, |path| ..))
                let each = method(
                    var("path"),
                    "index",
                    [
                        var("i"),
                        closure([pat("path")], self.check(&a.items, "item")),
                    ],
                );
                let all = method(
                    method(method(var("items"), "iter", []), "enumerate", []),
                    "try_for_each",
                    [closure([pat_tuple(&["i", "item"])], each)],
                );
                method(
                    array,
                    "and_then",
                    [closure([pat("items")], block_expr(vec![tail(all)]))],
                )
            }
            Shape::Map { values } => {
                let object = typed(
                    "object",
                    [
                        var(v),
                        var("path"),
                        reference(array([])),
                        path_expr(true, NONE),
                    ],
                );
                if matches!(values.as_ref(), Shape::Any) {
                    return discard(object);
                }
                // map.iter().try_for_each(|(key, item)| path.dynamic_key(key, |path| ..))
                let each = method(
                    var("path"),
                    "dynamic_key",
                    [
                        var("key"),
                        closure([pat("path")], self.check(values, "item")),
                    ],
                );
                let all = method(
                    method(var("map"), "iter", []),
                    "try_for_each",
                    [closure([pat_tuple(&["key", "item"])], each)],
                );
                method(
                    object,
                    "and_then",
                    [closure([pat("map")], block_expr(vec![tail(all)]))],
                )
            }
            Shape::Nullable { inner } => Expr::If(syn::ExprIf {
                attrs: Vec::new(),
                if_token: Default::default(),
                cond: Box::new(method(var(v), "is_null", [])),
                then_branch: block(vec![tail(ok_unit())]),
                else_branch: Some((
                    Default::default(),
                    Box::new(block_expr(vec![tail(self.check(inner, v))])),
                )),
            }),
            Shape::Const { value } => {
                let json = Literal::string(&format!("[{value}]"));
                typed("one_of_values", [var(v), var("path"), literal(json)])
            }
            Shape::Literals { values, .. } => {
                let json = Literal::string(&serde_json::Value::Array(values.clone()).to_string());
                typed("one_of_values", [var(v), var("path"), literal(json)])
            }
            Shape::Named { id } => self.named(*id, v),
        }
    }

    /// `typed::NumberBounds { .. }`
    fn bounds(&self, n: &NumShape) -> Expr {
        let f = |v: Option<f64>| opt_lit(v.filter(|x| x.is_finite()).map(Literal::f64_suffixed));
        let fields = [
            ("minimum", n.minimum),
            ("exclusive_minimum", n.exclusive_minimum),
            ("maximum", n.maximum),
            ("exclusive_maximum", n.exclusive_maximum),
            ("multiple_of", n.multiple_of),
        ];
        let mut values = Punctuated::new();
        for (name, value) in fields {
            values.push(syn::FieldValue {
                attrs: Vec::new(),
                member: syn::Member::Named(ident(name)),
                colon_token: Some(Default::default()),
                expr: f(value),
            });
            values.push_punct(Default::default());
        }
        Expr::Struct(syn::ExprStruct {
            attrs: Vec::new(),
            qself: None,
            path: path(false, &["typed", "NumberBounds"]),
            brace_token: Default::default(),
            fields: values,
            dot2_token: None,
            rest: None,
        })
    }

    fn struct_body(&self, s: &StructDef) -> Vec<Stmt> {
        let required = strings(
            s.fields
                .iter()
                .filter(|f| f.required)
                .map(|f| f.wire_name.as_str()),
        );
        let known = || strings(s.fields.iter().map(|f| f.wire_name.as_str()));
        let closed = match &s.additional {
            Additional::Forbidden => opt(Some(reference(known()))),
            _ => path_expr(true, NONE),
        };
        let object = typed(
            "object",
            [var("value"), var("path"), reference(required), closed],
        );
        let mut stmts = vec![Stmt::Local(syn::Local {
            attrs: Vec::new(),
            let_token: Default::default(),
            pat: pat("map"),
            init: Some(syn::LocalInit {
                eq_token: Default::default(),
                expr: Box::new(try_(object)),
                diverge: None,
            }),
            semi_token: Default::default(),
        })];
        for f in s.fields.iter().filter(|f| !matches!(f.shape, Shape::Any)) {
            let wire = f.wire_name.as_str();
            // if let Some(field) = map.get(wire) { path.key(wire, |path| ..)?; }
            let some_field = Pat::TupleStruct(syn::PatTupleStruct {
                attrs: Vec::new(),
                qself: None,
                path: path(true, SOME),
                paren_token: Default::default(),
                elems: [pat("field")].into_iter().collect(),
            });
            let key = method(
                var("path"),
                "key",
                [
                    str_lit(wire),
                    closure([pat("path")], self.check(&f.shape, "field")),
                ],
            );
            stmts.push(tail(if_(
                let_(some_field, method(var("map"), "get", [str_lit(wire)])),
                vec![semi(try_(key))],
            )));
        }
        if let Additional::Typed(values) = &s.additional {
            // for (key, field) in map { if ![known].contains(&key.as_str()) { .. } }
            let unknown = Expr::Unary(syn::ExprUnary {
                attrs: Vec::new(),
                op: syn::UnOp::Not(Default::default()),
                expr: Box::new(method(
                    known(),
                    "contains",
                    [reference(method(var("key"), "as_str", []))],
                )),
            });
            let check = method(
                var("path"),
                "dynamic_key",
                [
                    var("key"),
                    closure([pat("path")], self.check(values, "field")),
                ],
            );
            stmts.push(tail(Expr::ForLoop(syn::ExprForLoop {
                attrs: Vec::new(),
                label: None,
                for_token: Default::default(),
                pat: Box::new(pat_tuple(&["key", "field"])),
                in_token: Default::default(),
                expr: Box::new(var("map")),
                body: block(vec![tail(if_(unknown, vec![semi(try_(check))]))]),
            })));
        }
        stmts.push(tail(ok_unit()));
        stmts
    }

    fn union_body(&self, u: &UnionDef) -> Expr {
        match &u.discriminant {
            Discriminant::Tag { property } => {
                let tags = strings(u.variants.iter().filter_map(|v| v.tag.as_deref()));
                let mut arms: Vec<Arm> = u
                    .variants
                    .iter()
                    .map(|v| {
                        let tag = v.tag.as_deref().unwrap_or_default();
                        arm(pat_lit(tag), self.check(&v.shape, "value"))
                    })
                    .collect();
                // `tag` only returns one of the listed tags.
                arms.push(arm(pat_wild(), ok_unit()));
                let tag = typed(
                    "tag",
                    [
                        var("value"),
                        var("path"),
                        str_lit(property),
                        reference(tags),
                    ],
                );
                match_(try_(tag), arms)
            }
            Discriminant::JsonType => {
                let mut arms: Vec<Arm> = u
                    .variants
                    .iter()
                    .map(|v| {
                        let (variant, payload) = match v.json_type {
                            JsonType::Null => ("Null", false),
                            JsonType::Boolean => ("Bool", true),
                            JsonType::Integer | JsonType::Number => ("Number", true),
                            JsonType::String => ("String", true),
                            JsonType::Array => ("Array", true),
                            JsonType::Object => ("Object", true),
                        };
                        let path = path(false, &["Value", variant]);
                        let pattern = if payload {
                            Pat::TupleStruct(syn::PatTupleStruct {
                                attrs: Vec::new(),
                                qself: None,
                                path,
                                paren_token: Default::default(),
                                elems: [pat_wild()].into_iter().collect(),
                            })
                        } else {
                            Pat::Path(ExprPath {
                                attrs: Vec::new(),
                                qself: None,
                                path,
                            })
                        };
                        arm(pattern, self.check(&v.shape, "value"))
                    })
                    .collect();
                let expected = u.variants.iter().map(|v| {
                    let name = json_type_name(v.json_type).to_string();
                    path_expr(false, &["typed", "JsonType", &name])
                });
                let err = call(
                    path_expr(true, &["core", "result", "Result", "Err"]),
                    [typed(
                        "no_variant",
                        [var("value"), var("path"), reference(array(expected))],
                    )],
                );
                arms.push(arm(pat_wild(), err));
                match_(var("value"), arms)
            }
        }
    }
}

/// `if cond { stmts }`
fn if_(cond: Expr, stmts: Vec<Stmt>) -> Expr {
    Expr::If(syn::ExprIf {
        attrs: Vec::new(),
        if_token: Default::default(),
        cond: Box::new(cond),
        then_branch: block(stmts),
        else_branch: None,
    })
}

/// `let pat = expr` (an `if let` condition)
fn let_(pat: Pat, expr: Expr) -> Expr {
    Expr::Let(syn::ExprLet {
        attrs: Vec::new(),
        let_token: Default::default(),
        pat: Box::new(pat),
        eq_token: Default::default(),
        expr: Box::new(expr),
    })
}

fn pat_lit(value: &str) -> Pat {
    Pat::Lit(syn::ExprLit {
        attrs: Vec::new(),
        lit: syn::Lit::Str(syn::LitStr::new(value, proc_macro2::Span::call_site())),
    })
}

/// `pat => body,`
fn arm(pat: Pat, body: Expr) -> Arm {
    Arm {
        attrs: Vec::new(),
        pat,
        guard: None,
        fat_arrow_token: Default::default(),
        body: Box::new(body),
        comma: Some(Default::default()),
    }
}

fn match_(expr: Expr, arms: Vec<Arm>) -> Expr {
    Expr::Match(syn::ExprMatch {
        attrs: Vec::new(),
        match_token: Default::default(),
        expr: Box::new(expr),
        brace_token: Default::default(),
        arms,
    })
}
