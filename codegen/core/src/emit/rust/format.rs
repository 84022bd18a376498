//! The device module as formatted source, one slice of items at a time, on every core: the
//! token emitters' own output (the proc-macro's), parsed with syn and printed with
//! prettyplease, as a last step. There is one rendering path; this only cuts it in pieces.
//!
//! Formatting is most of what `luagen rust` costs on a large manifest. Done as one file, a
//! 1,000-command device is a single multi-megabyte token tree parsed, printed and freed at
//! once (most of the time went to allocating and freeing it). prettyplease ends every item
//! with a hard line break, so an item's text does not depend on its neighbours, only on its
//! indentation: formatting the items in slices and joining the texts in order gives the same
//! bytes. The slices are independent, so they are formatted in parallel; each result is kept
//! at its slice's index, so the output never depends on which thread took which slice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use proc_macro2::TokenStream;
use quote::quote;

use super::checks::{checks_module, CheckEmitter};
use super::device::DeviceEmitter;
use super::names::DeviceNames;
use super::types::TypeEmitter;
use super::{Codec, RustOptions};
use crate::ir::TypeId;
use crate::model::Device;

/// Items per slice: large enough that formatting a slice costs far more than taking one.
const TYPES_PER_SLICE: usize = 32;
const CHECKS_PER_SLICE: usize = 16;

/// Below this many payload types, starting threads costs more than it saves.
const PARALLEL_FROM_TYPES: usize = 256;

/// One independently formatted slice of the device module, in output order.
#[derive(Clone, Copy, Debug)]
enum Slice {
    /// Payload types `start..end`.
    Types(usize, usize),
    /// The checks module's attributes, `mod` line and imports.
    ChecksOpen,
    /// The `Check` impls of types `start..end`, inside the checks module.
    Checks(usize, usize),
    ChecksClose,
    /// Part `i` of the device glue (see [`DeviceEmitter::part`]).
    Device(usize),
}

/// [`super::RustEmitter::tokens`] formatted, after `header`.
pub(super) fn items(device: &Device, options: &RustOptions, header: String) -> String {
    let texts = slice_texts(device, options);
    let mut out = header;
    out.reserve(texts.iter().map(String::len).sum());
    for text in texts {
        out.push_str(&text);
    }
    out
}

fn slice_texts(device: &Device, options: &RustOptions) -> Vec<String> {
    let slices = slices(device, options);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers < 2 || device.types.types.len() < PARALLEL_FROM_TYPES {
        let names = DeviceNames::new(device);
        let formatter = Formatter::new(device, options, &names);
        return slices.iter().map(|s| formatter.format(*s)).collect();
    }
    // Tokens are not `Send` (proc_macro2 shares them with `Rc`), so each thread builds its
    // own formatter from the runtime path's text.
    let runtime = options.runtime.to_string();
    let (types_only, agent) = (options.types_only, options.agent);
    let pattern_tables = &options.pattern_tables;
    // The device parts (the handler trait, the dispatch adapter) are the largest slices and
    // come last: take them first, so no thread is left formatting one alone at the end.
    let mut order: Vec<usize> = (0..slices.len()).collect();
    order.sort_by_key(|&i| !matches!(slices[i], Slice::Device(_)));
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; slices.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(slices.len()) {
            scope.spawn(|| {
                let options = RustOptions {
                    runtime: runtime
                        .parse()
                        .expect("the runtime path was a token stream before printing"),
                    types_only,
                    agent,
                    pattern_tables: pattern_tables.clone(),
                    // `RustEmitter::source` formats other codecs in one piece.
                    codec: super::Codec::Serde,
                };
                let names = DeviceNames::new(device);
                let formatter = Formatter::new(device, &options, &names);
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let text = formatter.format(slices[i]);
                    done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(text);
                }
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|text| text.expect("every slice was formatted"))
        .collect()
}

fn slices(device: &Device, options: &RustOptions) -> Vec<Slice> {
    let types = device.types.types.len();
    let ranges = |per: usize| {
        (0..types)
            .step_by(per)
            .map(move |s| (s, (s + per).min(types)))
    };
    let mut out: Vec<Slice> = ranges(TYPES_PER_SLICE)
        .map(|(s, e)| Slice::Types(s, e))
        .collect();
    out.push(Slice::ChecksOpen);
    out.extend(ranges(CHECKS_PER_SLICE).map(|(s, e)| Slice::Checks(s, e)));
    out.push(Slice::ChecksClose);
    if !options.types_only {
        out.extend((0..DeviceEmitter::PARTS).map(Slice::Device));
    }
    out
}

/// Everything one thread needs to format slices, built once.
struct Formatter<'a> {
    device: &'a Device,
    options: &'a RustOptions,
    names: &'a DeviceNames,
    types: TypeEmitter<'a>,
    checks: CheckEmitter<'a>,
}

impl<'a> Formatter<'a> {
    fn new(device: &'a Device, options: &'a RustOptions, names: &'a DeviceNames) -> Self {
        Self {
            device,
            options,
            names,
            types: TypeEmitter::new(&device.types, &names.types, &options.runtime, Codec::Serde),
            checks: CheckEmitter::new(
                &device.types,
                &names.types,
                &options.runtime,
                options.pattern_tables.as_deref(),
                Codec::Serde,
            ),
        }
    }

    fn format(&self, slice: Slice) -> String {
        let module = &self.names.checks_module;
        match slice {
            Slice::Types(start, end) => {
                let defs = &self.device.types.types;
                let items = (start..end).map(|i| self.types.type_def(TypeId(i), &defs[i]));
                unparse(quote!(#(#items)*))
            }
            Slice::ChecksOpen => {
                let open = checks_module(
                    &self.options.runtime,
                    module,
                    TokenStream::new(),
                    Codec::Serde,
                );
                unparse(open)
                    .strip_suffix("}\n")
                    .expect("a module's text ends with its closing brace")
                    .to_string()
            }
            Slice::Checks(start, end) => {
                let impls = (start..end).map(|i| self.checks.impl_for(TypeId(i)));
                let text = unparse(quote!(mod #module { #(#impls)* }));
                // The impls as they stand inside the module: drop its first and last lines.
                text.split_once('\n')
                    .map(|(_, rest)| rest)
                    .and_then(|rest| rest.strip_suffix("}\n"))
                    .expect("a module's text is its `mod` line, its items and `}`")
                    .to_string()
            }
            Slice::ChecksClose => "}\n".to_string(),
            Slice::Device(i) => DeviceEmitter::new(self.device, self.names, self.options)
                .part(i)
                .map(unparse)
                .unwrap_or_default(),
        }
    }
}

/// Tokens of whole items as prettyplease prints them.
fn unparse(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the Rust emitter produces valid Rust items");
    prettyplease::unparse(&file)
}

#[cfg(test)]
mod tests {
    use super::super::{format_source, RustEmitter, RustOptions};

    /// The slices and the threads change nothing: the text is the formatted token stream the
    /// proc-macro gets, byte for byte.
    #[test]
    fn sliced_source_is_the_formatted_token_stream() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut manifests = vec![("big".to_string(), lua_testkit::synthetic::manifest(200))];
        for dir in [
            root.join("tests/corpus/valid"),
            root.join("../../manifests"),
        ] {
            for entry in std::fs::read_dir(&dir).expect("manifest directory") {
                let path = entry.expect("directory entry").path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).expect("readable manifest");
                    manifests.push((path.display().to_string(), text));
                }
            }
        }
        assert!(
            manifests.len() > 3,
            "the corpus and the examples were found"
        );
        for (name, text) in &manifests {
            let device = crate::load_str(name, text).expect("valid manifest");
            for (types_only, agent) in [(false, false), (false, true), (true, false)] {
                let options = RustOptions {
                    types_only,
                    agent,
                    ..RustOptions::default()
                };
                let emitter = RustEmitter::with_options(&device, options);
                let whole = format_source(emitter.tokens(), name);
                let sliced = emitter.source();
                let first = sliced.lines().zip(whole.lines()).position(|(a, b)| a != b);
                assert!(
                    sliced == whole,
                    "{name} (types_only {types_only}, agent {agent}): sliced source differs from \
                     line {:?}",
                    first.map(|i| i + 1)
                );
            }
        }
    }
}
