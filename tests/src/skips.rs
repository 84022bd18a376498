//! Tests that cannot run on this machine say so where the summary shows it.
//!
//! A test that returns early passes in cargo's eyes. Its skip record makes it visible: printed
//! at once, and kept under `target/luagen-skips/`, which `cargo xtask test` empties before the
//! suite and lists as SKIPPED in its summary.

use std::path::PathBuf;

use crate::deps::workspace_root;

/// The directory of skip records, one file per skipped part.
pub fn dir() -> PathBuf {
    workspace_root().join("target").join("luagen-skips")
}

/// Say that `what` did not run here, and why.
pub fn record(what: &str, why: &str) {
    eprintln!("\n!!! SKIPPED: {what}: {why}\n");
    let file: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let _ = std::fs::create_dir_all(dir());
    let _ = std::fs::write(dir().join(file), format!("{what}\n{why}\n"));
}

/// The skip records: (what, why), sorted.
pub fn all() -> Vec<(String, String)> {
    let mut skips: Vec<(String, String)> = std::fs::read_dir(dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .map(|text| {
            let (what, why) = text.split_once('\n').unwrap_or((&text, ""));
            (what.to_string(), why.trim_end().to_string())
        })
        .collect();
    skips.sort();
    skips
}

/// Forget the records of an earlier run.
pub fn clear() {
    let _ = std::fs::remove_dir_all(dir());
}

/// The MicroPython unix port, or a skip record naming `what` when this platform has none.
/// Any other failure to set it up is an error: only a missing wheel is a reason to skip.
pub fn micropython(what: &str) -> bool {
    match crate::deps::micropython_unavailable() {
        Ok(None) => true,
        Ok(Some(why)) => {
            record(what, &why);
            false
        }
        Err(e) => panic!("the MicroPython toolchain: {e:#}"),
    }
}

/// Return from the calling test, with a skip record, where this platform has no MicroPython
/// unix port: `lua_testkit::require_micropython!("the generated device's reconnects");`.
#[macro_export]
macro_rules! require_micropython {
    ($what:expr) => {
        if !$crate::skips::micropython($what) {
            return;
        }
    };
}
