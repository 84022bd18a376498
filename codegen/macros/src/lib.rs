//! `#[lua_device("device.yaml")]`: turns an impl block into a typed device.
//!
//! The macro is thin: it reads the manifest with `luagen`, matches the impl's methods to the
//! manifest's commands, and hands the generated code back. Every problem is collected and
//! reported at once, each at the span a user would fix (serde_derive's `Ctxt` manner).

mod signature;

use proc_macro::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{parse_macro_input, ItemImpl, LitStr, Token};

use luagen::emit::rust::{RustEmitter, RustOptions};

/// Generate a typed device from `device.yaml` (a path relative to `CARGO_MANIFEST_DIR`)
/// around an impl block with one method per command. Write `#[lua_device("device.yaml",
/// agent)]` to also generate the typed agent-side client.
#[proc_macro_attribute]
pub fn lua_device(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let item = parse_macro_input!(item as ItemImpl);
    match expand(&args, item) {
        Ok(tokens) => tokens.into(),
        Err(errors) => errors.to_compile_error().into(),
    }
}

/// The manifest, relative to the crate root (like `include_str!` in build scripts and sqlx's
/// macros), or else to the file holding the attribute.
fn locate(written: &str) -> Option<std::path::PathBuf> {
    let crate_root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    let source_dir = proc_macro::Span::call_site()
        .local_file()
        .and_then(|f| f.parent().map(std::path::Path::to_path_buf));
    [crate_root, source_dir]
        .into_iter()
        .flatten()
        .map(|dir| dir.join(written))
        .find(|p| p.is_file())
}

struct Args {
    manifest: LitStr,
    agent: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let manifest: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the manifest path: #[lua_device(\"device.yaml\")]",
            )
        })?;
        let mut agent = false;
        while input.parse::<Option<Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            let flag: syn::Ident = input.parse()?;
            match flag.to_string().as_str() {
                "agent" => agent = true,
                other => {
                    return Err(syn::Error::new(
                        flag.span(),
                        format!("unknown option `{other}` (expected `agent`)"),
                    ))
                }
            }
        }
        Ok(Self { manifest, agent })
    }
}

fn expand(args: &Args, item: ItemImpl) -> syn::Result<proc_macro2::TokenStream> {
    let written = args.manifest.value();
    let path = locate(&written).ok_or_else(|| {
        syn::Error::new(
            args.manifest.span(),
            format!(
                "cannot find `{written}` relative to CARGO_MANIFEST_DIR or to this source file"
            ),
        )
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        syn::Error::new(
            args.manifest.span(),
            format!("cannot read `{written}`: {e}"),
        )
    })?;
    // Diagnostics show the path as the user wrote it: short, and the same on every machine.
    let device = luagen::load_str(&written, &text).map_err(|e| {
        syn::Error::new(
            args.manifest.span(),
            format!("invalid device manifest:\n{e}"),
        )
    })?;
    let state = signature::self_type(&item)?;
    let handlers = signature::match_handlers(&device, &item, args.manifest.span())?;
    let options = RustOptions {
        agent: args.agent,
        ..RustOptions::default()
    };
    let emitter = RustEmitter::with_options(&device, options);
    let generated = emitter.tokens();
    let glue = emitter.impl_glue(&state, &handlers);
    // Rebuild when the manifest changes: cargo tracks files a crate includes.
    let tracked = path.to_string_lossy().into_owned();
    let item = item.into_token_stream();
    Ok(quote! {
        #item
        #generated
        #glue
        const _: &[u8] = include_bytes!(#tracked);
    })
}
