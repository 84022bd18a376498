//! Where a change is written: the loader keeps spans in its YAML tree, the model drops them,
//! so each manifest is parsed again (it loaded, so it parses) and a change's manifest pointer
//! looked up in it.

use crate::model::Device;
use crate::source::SourceFile;
use crate::yaml::{self, Node};

use super::Position;

pub(super) struct Locator {
    old: Tree,
    new: Tree,
}

struct Tree {
    source: SourceFile,
    root: Option<Node>,
}

impl Tree {
    fn new(device: &Device) -> Self {
        let source = device.source.clone();
        let root = yaml::parse(source.text()).ok().map(|(root, _)| root);
        Self { source, root }
    }

    /// The position of the node at `pointer`, or of its nearest ancestor that exists (a removed
    /// keyword is shown at its schema); `None` only for a document that did not parse.
    fn position(&self, pointer: &str) -> Option<Position> {
        let root = self.root.as_ref()?;
        let mut candidates = vec![pointer.to_string()];
        // Integer bounds are kept inclusive: `exclusiveMaximum: 10` is `maximum` 9 in the IR.
        for (inclusive, exclusive) in [
            ("/minimum", "/exclusiveMinimum"),
            ("/maximum", "/exclusiveMaximum"),
        ] {
            if let Some(base) = pointer.strip_suffix(inclusive) {
                candidates.push(format!("{base}{exclusive}"));
            }
        }
        let mut ptr = pointer;
        while let Some(i) = ptr.rfind('/') {
            ptr = &ptr[..i];
            candidates.push(ptr.to_string());
        }
        let span = candidates
            .iter()
            .find_map(|p| root.pointer(p).and(root.key_span(p)))
            .unwrap_or(root.span);
        let at = self.source.line_col(span.start);
        Some(Position {
            file: self.source.path().display().to_string(),
            line: at.line,
            col: at.col,
        })
    }
}

impl Locator {
    pub(super) fn new(old: &Device, new: &Device) -> Self {
        Self {
            old: Tree::new(old),
            new: Tree::new(new),
        }
    }

    /// The change's place in the new manifest, or in the old one when it has none in the new.
    pub(super) fn position(&self, new: Option<&str>, old: Option<&str>) -> Option<Position> {
        match (new, old) {
            (Some(p), _) => self.new.position(p),
            (None, Some(p)) => self.old.position(p),
            (None, None) => None,
        }
    }
}
