//! The manifests every generator is tried on: the examples in `manifests/` and the tricky
//! valid corpus (keywords as names, quotes in descriptions, odd enum values).

use std::path::PathBuf;

use crate::deps::workspace_root;

/// Every valid manifest: `manifests/*.yaml`, then `codegen/core/tests/corpus/valid/*.yaml`,
/// each folder sorted by name.
pub fn valid_manifests() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut out = Vec::new();
    for dir in ["manifests", "codegen/core/tests/corpus/valid"] {
        let dir = root.join(dir);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        entries.sort();
        out.extend(entries);
    }
    out
}
