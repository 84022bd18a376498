//! What a target cannot generate, reported where the manifest wrote it: every firmware target
//! refuses with [`Diagnostics`] (file, line, column, the rule), all at once, like the loader.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Device;
use crate::source::Span;
use crate::yaml::{self, Node, NodeKind};

/// A schema `pattern` a target cannot check, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternRefusal {
    pub pattern: String,
    pub why: String,
}

/// Diagnostics for `refusals` by `target` (e.g. "MicroPython"), at every `pattern:` of the
/// manifest holding the refused pattern (a definition used by many commands is one place).
pub fn patterns(device: &Device, target: &str, refusals: &[PatternRefusal]) -> Diagnostics {
    let source = device.source.clone();
    // The manifest loaded, so it parses; its nodes carry the spans the model dropped.
    let root = yaml::parse(source.text()).ok().map(|(root, _)| root);
    let mut items = Vec::new();
    for refusal in refusals {
        let message = format!(
            "{target} cannot check pattern `{}`: {}",
            refusal.pattern, refusal.why
        );
        let mut spans = Vec::new();
        if let Some(root) = &root {
            pattern_spans(root, &refusal.pattern, &mut spans);
        }
        if spans.is_empty() {
            // Not written as such (a merge key, an alias): the document is the place.
            spans.push(Span::new(0, 0));
        }
        items.extend(spans.into_iter().map(|span| {
            Diagnostic::error(span, message.clone())
                .with_help("rewrite the pattern without it, or generate another target")
        }));
    }
    Diagnostics::new(source, items)
}

fn pattern_spans(node: &Node, pattern: &str, out: &mut Vec<Span>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                match &value.kind {
                    NodeKind::String(s) if key.name == "pattern" && s == pattern => {
                        out.push(value.span)
                    }
                    _ => pattern_spans(value, pattern, out),
                }
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                pattern_spans(item, pattern, out);
            }
        }
        _ => {}
    }
}
