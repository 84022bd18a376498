//! The Rust emitter: payload types, their schema checks, the handler trait and the glue onto
//! `lua_device`, from the IR. The proc-macro, the build-script [`crate::Builder`] and
//! `luagen rust` all call [`RustEmitter`].
//!
//! Generated code names everything by absolute path through the runtime crate (`::lua_device`
//! by default), so it compiles wherever it is pasted and a device depends on one crate.

mod checks;
mod device;
#[cfg(feature = "format")]
mod format;
#[cfg(feature = "firmware")]
mod json_codec;
mod names;
mod types;

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::Device;

pub use device::{HandlerShape, Receiver, Returns};
pub use names::DeviceNames;

/// Which parts of the device code to generate.
#[derive(Clone, Debug)]
pub struct RustOptions {
    /// Path of the runtime crate in the generated code.
    pub runtime: TokenStream,
    /// Payload types and checks only (no_std firmware); no transport glue.
    pub types_only: bool,
    /// Also generate the typed agent-side client (needs `lua-device`'s `agent` feature).
    pub agent: bool,
    /// Schema patterns as tables generated beside the code, for a chip without the atomics
    /// the regex crates need: pattern `i` of this list is `P{i}`, a `typed::PatternTable`, in
    /// a module `patterns` beside the checks module. `None`: the `regex` crate compiles each
    /// on first use.
    pub pattern_tables: Option<Vec<String>>,
    /// How payloads are read from and written to JSON.
    pub codec: Codec,
}

/// How generated payload types meet JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Codec {
    /// serde derives over `serde_json` (the host runtime).
    #[default]
    Serde,
    /// No serde: `typed::FromJson`/`ToJson` impls written from the IR over the runtime core's
    /// own `json` (no_std firmware), with every check, reader and writer kept out of line.
    /// Inlined, each was copied into the dispatch future's state machine: the synthetic
    /// 21-command Pico W firmware was 176 KiB with them inlined and 159 KiB without.
    #[cfg(feature = "firmware")]
    CoreJson,
}

impl Codec {
    /// The module under `typed::__private` that holds `Value`.
    fn json_module(self) -> proc_macro2::Ident {
        match self {
            Codec::Serde => quote::format_ident!("serde_json"),
            #[cfg(feature = "firmware")]
            Codec::CoreJson => quote::format_ident!("json"),
        }
    }

    fn serde(self) -> bool {
        self == Codec::Serde
    }
}

impl Default for RustOptions {
    fn default() -> Self {
        Self {
            runtime: quote!(::lua_device),
            types_only: false,
            agent: false,
            pattern_tables: None,
            codec: Codec::Serde,
        }
    }
}

/// Generates Rust for one device.
pub struct RustEmitter<'a> {
    device: &'a Device,
    options: RustOptions,
    names: DeviceNames,
}

impl<'a> RustEmitter<'a> {
    pub fn new(device: &'a Device) -> Self {
        Self::with_options(device, RustOptions::default())
    }

    pub fn with_options(device: &'a Device, options: RustOptions) -> Self {
        Self {
            names: DeviceNames::new(device),
            device,
            options,
        }
    }

    pub fn names(&self) -> &DeviceNames {
        &self.names
    }

    /// Payload types with their JSON codec (serde derives, or readers and writers) and schema
    /// checks (no_std: core + alloc).
    pub fn types(&self) -> TokenStream {
        let codec = self.options.codec;
        let names = &self.names.types;
        let types =
            types::TypeEmitter::new(&self.device.types, names, &self.options.runtime, codec).all();
        let checks = checks::CheckEmitter::new(
            &self.device.types,
            names,
            &self.options.runtime,
            self.options.pattern_tables.as_deref(),
            codec,
        )
        .module(&self.names.checks_module);
        let readers = match codec {
            Codec::Serde => TokenStream::new(),
            #[cfg(feature = "firmware")]
            Codec::CoreJson => json_codec::all(&self.device.types, names),
        };
        quote!(#types #checks #readers)
    }

    /// Everything for a handler-trait device: types, checks, manifest constants, the handler
    /// trait, the dispatch adapter, trigger senders and (optionally) the agent client.
    pub fn tokens(&self) -> TokenStream {
        let types = self.types();
        if self.options.types_only {
            return types;
        }
        let device = device::DeviceEmitter::new(self.device, &self.names, &self.options).all();
        quote!(#types #device)
    }

    /// The chip's dispatch function (see [`Codec::CoreJson`]): the same arms as the host's
    /// adapter, each handler reached as `handlers::method(&mut state, input)`, `state` a
    /// mutex of the handlers' state of type `state`.
    #[cfg(feature = "firmware")]
    pub fn chip_dispatch(&self, handlers: &TokenStream, state: &TokenStream) -> TokenStream {
        device::DeviceEmitter::new(self.device, &self.names, &self.options)
            .chip_dispatch(handlers, state)
    }

    /// The glue for a `#[lua_device]` impl block on `state`: wraps the user's methods (with
    /// the receivers and return shapes found in `handlers`) in the handler trait.
    pub fn impl_glue(&self, state: &syn::Ident, handlers: &[HandlerShape]) -> TokenStream {
        device::DeviceEmitter::new(self.device, &self.names, &self.options)
            .impl_glue(state, handlers)
    }

    #[cfg(feature = "format")]
    /// [`Self::tokens`] as formatted source, with a header saying where it came from: the
    /// same text as [`format_source`] of the tokens, formatted in slices (see `format`).
    pub fn source(&self) -> String {
        let manifest = self.device.source.path().display().to_string();
        if self.options.codec != Codec::Serde {
            // The sliced formatter builds serde's trees; firmware payloads are small.
            return format_source(self.tokens(), &manifest);
        }
        format::items(self.device, &self.options, header(&manifest))
    }
}

/// Format generated tokens as a Rust file (prettyplease), with a provenance header.
#[cfg(feature = "format")]
pub fn format_source(tokens: TokenStream, manifest: &str) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the Rust emitter produces valid Rust items");
    header(manifest) + &prettyplease::unparse(&file)
}

#[cfg(feature = "format")]
fn header(manifest: &str) -> String {
    format!(
        "// @generated by luagen from {}. Do not edit: change the manifest and regenerate.\n\n",
        manifest.replace(['\n', '\r'], " "),
    )
}

/// The handler a command expects, as a user would write it (for messages), its payload types
/// named by the device's Rust naming pass (`types`, from [`DeviceNames`]).
pub fn expected_signature(types: &crate::names::Names, command: &crate::model::Command) -> String {
    let method = crate::ident::rust_snake(&command.name);
    let input = command
        .input
        .map(|id| format!(", input: {}", types.ty(id)))
        .unwrap_or_default();
    let output = command
        .output
        .map_or_else(|| "()".to_string(), |id| types.ty(id).to_string());
    format!("async fn {method}(&self{input}) -> Result<{output}, CommandError>")
}

/// The candidate closest to `word`, for "did you mean" hints in front ends.
pub fn closest<'c>(word: &str, candidates: &'c [String]) -> Option<&'c str> {
    crate::suggest::did_you_mean(word, candidates.iter().map(String::as_str))
}
