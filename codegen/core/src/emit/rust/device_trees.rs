//! The two device parts that grow with the command count, the handler trait's methods and the
//! dispatch adapter's match arms, as syn trees for formatting (see [`super::ast`]); the rest
//! of each part is the token emitter's, parsed once. `format::tests` holds the result to the
//! token emitter's output for every manifest.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Arm, Expr, Item, PathArguments, PathSegment, TraitItemFn, Type};

use super::ast::*;
use super::device::DeviceEmitter;
use super::type_trees::doc_attr_list;
use super::types::type_ident;
use crate::ident;
use crate::ir::TypeId;
use crate::model::{Command, Device};

pub(super) struct DeviceTrees<'a> {
    device: &'a Device,
    /// The runtime crate's path.
    rt: syn::Path,
    /// `fn m(&self, input: I) -> impl Future<Output = Result<O, CommandError>> + Send;`, and
    /// the same without `input`: each method is a copy with its names and types filled in.
    with_input: TraitItemFn,
    without_input: TraitItemFn,
}

impl<'a> DeviceTrees<'a> {
    pub fn new(device: &'a Device, rt: &TokenStream) -> Self {
        let method = |input: TokenStream| -> TraitItemFn {
            syn::parse2(quote! {
                fn m(&self #input) -> impl ::core::future::Future<Output = ::core::result::Result<O, #rt::CommandError>> + Send;
            })
            .expect("the handler method skeleton is a trait method")
        };
        Self {
            device,
            rt: syn::parse2(rt.clone()).expect("the runtime crate is named by a path"),
            with_input: method(quote!(, input: I)),
            without_input: method(quote!()),
        }
    }

    /// Part `i` of the device glue (see [`DeviceEmitter::part`]) as items.
    pub fn part(&self, emitter: &DeviceEmitter, i: usize) -> Vec<Item> {
        match i {
            0 => {
                let mut items = parse(emitter.handler_trait_around(false));
                if let Some(Item::Trait(t)) = items.first_mut() {
                    t.items = self
                        .device
                        .commands
                        .iter()
                        .map(|c| syn::TraitItem::Fn(self.method(c)))
                        .collect();
                }
                items
            }
            1 => {
                let mut items = parse(emitter.adapter_around(false));
                let arms = self.device.commands.iter().map(|c| self.arm(c));
                if let Some(dispatch) = items.iter_mut().find_map(dispatch_match) {
                    // Before the catch-all arm for unknown commands.
                    dispatch.splice(0..0, arms);
                }
                items
            }
            _ => emitter.part(i).map(parse).unwrap_or_default(),
        }
    }

    fn method(&self, c: &Command) -> TraitItemFn {
        let mut method = match c.input {
            Some(_) => self.with_input.clone(),
            None => self.without_input.clone(),
        };
        method.attrs = doc_attr_list(Some(&c.description));
        method.sig.ident = ident(&ident::rust_snake(&c.name));
        if let (Some(id), Some(syn::FnArg::Typed(arg))) =
            (c.input, method.sig.inputs.iter_mut().nth(1))
        {
            *arg.ty = self.named(id);
        }
        if let Some(out) = result_ok(&mut method.sig.output) {
            *out = match c.output {
                Some(id) => self.named(id),
                None => Type::Tuple(syn::TypeTuple {
                    paren_token: Default::default(),
                    elems: Default::default(),
                }),
            };
        }
        method
    }

    fn named(&self, id: TypeId) -> Type {
        Type::Path(syn::TypePath {
            qself: None,
            path: PathSegment::from(type_ident(&self.device.types, id)).into(),
        })
    }

    /// `rt::typed::name`, optionally `::<T>`
    fn typed(&self, name: &str, turbofish: Option<Type>) -> Expr {
        let mut path = self.rt.clone();
        path.segments.push(PathSegment::from(ident("typed")));
        path.segments.push(PathSegment {
            ident: ident(name),
            arguments: match turbofish {
                Some(t) => PathArguments::AngleBracketed(syn::AngleBracketedGenericArguments {
                    colon2_token: Some(Default::default()),
                    lt_token: Default::default(),
                    args: [syn::GenericArgument::Type(t)].into_iter().collect(),
                    gt_token: Default::default(),
                }),
                None => PathArguments::None,
            },
        });
        Expr::Path(syn::ExprPath {
            attrs: Vec::new(),
            qself: None,
            path,
        })
    }

    /// `"name" => rt::typed::encode(&self.0.name(..).await?),`, or for a command without
    /// output `"name" => { let () = self.0.name(..).await?; Ok(None) }`
    fn arm(&self, c: &Command) -> Arm {
        let handler = Expr::Field(syn::ExprField {
            attrs: Vec::new(),
            base: Box::new(var("self")),
            dot_token: Default::default(),
            member: syn::Member::Unnamed(syn::Index {
                index: 0,
                span: Span::call_site(),
            }),
        });
        let args = c.input.map(|id| {
            let decode = self.typed("decode", Some(self.named(id)));
            try_(call(decode, [var("payload")]))
        });
        let call = method(handler, &ident::rust_snake(&c.name), args);
        let call = try_(Expr::Await(syn::ExprAwait {
            attrs: Vec::new(),
            base: Box::new(call),
            dot_token: Default::default(),
            await_token: Default::default(),
        }));
        let (body, comma) = match c.output {
            Some(_) => (
                super::ast::call(self.typed("encode", None), [reference(call)]),
                Some(Default::default()),
            ),
            None => {
                let unit = syn::Pat::Tuple(syn::PatTuple {
                    attrs: Vec::new(),
                    paren_token: Default::default(),
                    elems: Default::default(),
                });
                let bind = syn::Stmt::Local(syn::Local {
                    attrs: Vec::new(),
                    let_token: Default::default(),
                    pat: unit,
                    init: Some(syn::LocalInit {
                        eq_token: Default::default(),
                        expr: Box::new(call),
                        diverge: None,
                    }),
                    semi_token: Default::default(),
                });
                let none = path_expr(true, &["core", "option", "Option", "None"]);
                let ok =
                    super::ast::call(path_expr(true, &["core", "result", "Result", "Ok"]), [none]);
                (block_expr(vec![bind, tail(ok)]), None)
            }
        };
        Arm {
            attrs: Vec::new(),
            pat: syn::Pat::Lit(syn::ExprLit {
                attrs: Vec::new(),
                lit: syn::Lit::Str(syn::LitStr::new(&c.name, Span::call_site())),
            }),
            guard: None,
            fat_arrow_token: Default::default(),
            body: Box::new(body),
            comma,
        }
    }
}

fn parse(tokens: TokenStream) -> Vec<Item> {
    syn::parse2::<syn::File>(tokens)
        .expect("the Rust emitter produces valid Rust items")
        .items
}

/// The `Ok` type in `impl Future<Output = Result<Ok, E>>`.
fn result_ok(output: &mut syn::ReturnType) -> Option<&mut Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::ImplTrait(future) = ty.as_mut() else {
        return None;
    };
    let syn::TypeParamBound::Trait(bound) = future.bounds.first_mut()? else {
        return None;
    };
    let PathArguments::AngleBracketed(args) = &mut bound.path.segments.last_mut()?.arguments else {
        return None;
    };
    let syn::GenericArgument::AssocType(output) = args.args.first_mut()? else {
        return None;
    };
    let Type::Path(result) = &mut output.ty else {
        return None;
    };
    let PathArguments::AngleBracketed(args) = &mut result.path.segments.last_mut()?.arguments
    else {
        return None;
    };
    match args.args.first_mut()? {
        syn::GenericArgument::Type(ok) => Some(ok),
        _ => None,
    }
}

/// The arms of the `match command` in the adapter's `Dispatch::dispatch`.
fn dispatch_match(item: &mut Item) -> Option<&mut Vec<Arm>> {
    let Item::Impl(imp) = item else { return None };
    let (_, trait_path, _) = imp.trait_.as_ref()?;
    if trait_path.segments.last()?.ident != "Dispatch" {
        return None;
    }
    imp.items.iter_mut().find_map(|i| match i {
        syn::ImplItem::Fn(f) if f.sig.ident == "dispatch" => match f.block.stmts.first_mut() {
            Some(syn::Stmt::Expr(Expr::Match(m), _)) => Some(&mut m.arms),
            _ => None,
        },
        _ => None,
    })
}
