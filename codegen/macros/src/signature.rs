//! Matching an impl block's methods to the manifest's commands.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, ImplItem, ImplItemFn, ItemImpl, PathArguments, ReturnType, Type,
};

use luagen::emit::rust::{DeviceNames, HandlerShape, Receiver, Returns};
use luagen::model::Command;
use luagen::names::Names;
use luagen::Device;

/// The impl's type, which must be a plain named type.
pub fn self_type(item: &ItemImpl) -> syn::Result<syn::Ident> {
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[lua_device] goes on an inherent impl block, not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "#[lua_device] does not support generic device types",
        ));
    }
    match item.self_ty.as_ref() {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Ok(p.path.segments[0].ident.clone())
        }
        other => Err(syn::Error::new(
            other.span(),
            "#[lua_device] needs a plain type name here",
        )),
    }
}

/// Every handler's shape, or every problem found, combined into one error.
pub fn match_handlers(
    device: &Device,
    item: &ItemImpl,
    attr: Span,
) -> syn::Result<Vec<HandlerShape>> {
    let types = DeviceNames::new(device).types;
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut handlers = Vec::new();
    // Commands a misspelled method was matched to: their "missing handler" would repeat it.
    let mut suggested: Vec<String> = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        let name = f.sig.ident.to_string();
        let Some(command) = device
            .commands
            .iter()
            .find(|c| luagen::ident::rust_snake(&c.name) == name)
        else {
            let names: Vec<String> = device
                .commands
                .iter()
                .map(|c| luagen::ident::rust_snake(&c.name))
                .collect();
            let close = luagen::emit::rust::closest(&name, &names);
            if let Some(c) = close {
                suggested.push(c.to_string());
            }
            let hint = close
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            errors.push(syn::Error::new(
                f.sig.ident.span(),
                format!(
                    "`{name}` is not a command of `{}` in its manifest{hint}\n(commands: {}; helper methods go in a separate impl block)",
                    device.name,
                    names.join(", ")
                ),
            ));
            continue;
        };
        match check(&types, command, f) {
            Ok(shape) => handlers.push(shape),
            Err(e) => errors.push(e),
        }
    }
    for command in &device.commands {
        let method = luagen::ident::rust_snake(&command.name);
        let handled = handlers.iter().any(|h| h.command == command.name);
        if !handled && !suggested.contains(&method) && !errors_mention(&errors, command) {
            errors.push(syn::Error::new(
                attr,
                format!(
                    "missing handler for command `{}` of `{}`; add:\n    {}",
                    command.name,
                    device.name,
                    luagen::emit::rust::expected_signature(&types, command)
                ),
            ));
        }
    }
    match errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        Some(e) => Err(e),
        None => Ok(handlers),
    }
}

/// A method with the right name but a wrong signature already has its own error.
fn errors_mention(errors: &[syn::Error], command: &Command) -> bool {
    let needle = format!("`{}`", luagen::ident::rust_snake(&command.name));
    errors
        .iter()
        .any(|e| e.to_string().contains(&needle) && e.to_string().contains("expected"))
}

fn check(types: &Names, command: &Command, f: &ImplItemFn) -> syn::Result<HandlerShape> {
    let expected = luagen::emit::rust::expected_signature(types, command);
    let mismatch = |span: Span, what: String| {
        syn::Error::new(
            span,
            format!("{what}\nexpected, from the manifest:\n    {expected}"),
        )
    };
    let name = f.sig.ident.to_string();
    let mut inputs = f.sig.inputs.iter();
    let receiver = match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {
            Receiver::Exclusive
        }
        Some(FnArg::Receiver(r)) if r.reference.is_some() => Receiver::Shared,
        _ => {
            return Err(mismatch(
                f.sig.span(),
                format!("handler `{name}` must take `&self` or `&mut self`"),
            ))
        }
    };
    let params: Vec<&FnArg> = inputs.collect();
    let input_type = command.input.map(|id| types.ty(id).to_string());
    match (&input_type, params.as_slice()) {
        (None, []) => {}
        (Some(expected_ty), [FnArg::Typed(arg)]) => {
            if last_ident(&arg.ty).as_deref() != Some(expected_ty.as_str()) {
                return Err(mismatch(
                    arg.ty.span(),
                    format!(
                        "handler `{name}` takes `{expected_ty}` (the inputSchema of command `{}`), found `{}`",
                        command.name,
                        pretty(&arg.ty)
                    ),
                ));
            }
        }
        (None, _) => {
            return Err(mismatch(
                f.sig.inputs.span(),
                format!(
                    "command `{}` has no inputSchema, so handler `{name}` takes no payload",
                    command.name
                ),
            ))
        }
        (Some(t), _) => {
            return Err(mismatch(
                f.sig.inputs.span(),
                format!("handler `{name}` takes one payload argument of type `{t}`"),
            ))
        }
    }
    let output_type = command.output.map(|id| types.ty(id).to_string());
    let returns = returns(&f.sig.output, output_type.as_deref()).map_err(|found| {
        let what = match &output_type {
            Some(t) => format!("handler `{name}` must return `{t}` or `Result<{t}, E>`, found `{found}`"),
            None => format!(
                "command `{}` has no outputSchema, so handler `{name}` returns `()` or `Result<(), E>`, found `{found}` (declare an outputSchema to return data)",
                command.name
            ),
        };
        let span = match &f.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => f.sig.ident.span(),
        };
        mismatch(span, what)
    })?;
    Ok(HandlerShape {
        method: f.sig.ident.clone(),
        command: command.name.clone(),
        receiver,
        is_async: f.sig.asyncness.is_some(),
        returns,
        span: f.sig.ident.span(),
    })
}

fn returns(output: &ReturnType, expected: Option<&str>) -> Result<Returns, String> {
    let ty = match output {
        ReturnType::Default => {
            return if expected.is_none() {
                Ok(Returns::Unit)
            } else {
                Err("()".into())
            };
        }
        ReturnType::Type(_, ty) => ty.as_ref(),
    };
    let found = pretty(ty);
    if is_unit(ty) {
        return if expected.is_none() {
            Ok(Returns::Unit)
        } else {
            Err(found)
        };
    }
    if let Some(ok) = result_ok_type(ty) {
        let matches = match expected {
            Some(t) => last_ident(ok).as_deref() == Some(t),
            None => is_unit(ok),
        };
        return if matches {
            Ok(Returns::Result)
        } else {
            Err(found)
        };
    }
    match expected {
        Some(t) if last_ident(ty).as_deref() == Some(t) => Ok(Returns::Value),
        _ => Err(found),
    }
}

/// A type as a person writes it (`Result<String, E>`, not `Result < String , E >`).
fn pretty(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" :: ", "::")
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// `T` of `Result<T, E>` (any path ending in `Result` with two arguments).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
