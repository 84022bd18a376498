//! The project's `Cargo.lock`: one known-good resolve for every generated project.
//!
//! A project resolved on the day it is built picks whatever crates.io holds that day, and a
//! release that needs a newer rustc (or simply breaks) would break a project generated long
//! before it. So every project ships the resolve kept in `templates/pico-w/Cargo.lock`, which
//! builds on the declared [`RUST_VERSION`] and on current stable; `cargo xtask pico-w-lock`
//! refreshes it on purpose (re-resolve, pin, rebuild by every route).
//!
//! The projects differ only in their package name, so the kept lock names its root package
//! [`TEMPLATE_PACKAGE`] and [`for_crate`] renames it and moves it to where cargo would write it:
//! `cargo build --locked` refuses a lock file whose text differs from its own rendering, so the
//! order matters, not only the content.

/// The oldest rustc a generated project builds on: Debian 12's `rustc-web` before its security
/// updates. Declared as the project's `rust-version`, so cargo resolves for it.
pub const RUST_VERSION: &str = "1.85";

/// The oldest rustc the `tls` feature builds on: embedded-tls 0.19 takes heapless 0.9, which
/// uses `FromBytesWithNulError`'s variants (1.87).
pub const TLS_RUST_VERSION: &str = "1.87";

/// The root package's name in the kept lock.
pub const TEMPLATE_PACKAGE: &str = "luagen-pico-w";

/// The kept lock, root package named [`TEMPLATE_PACKAGE`].
pub const TEMPLATE: &str = include_str!("../../../../../templates/pico-w/Cargo.lock");

const PACKAGE: &str = "\n[[package]]\n";

/// The kept lock with its root package named `crate_name`, as cargo would write it.
pub fn for_crate(crate_name: &str) -> String {
    rename_root(TEMPLATE, TEMPLATE_PACKAGE, crate_name)
}

/// `lock` with the package `from` (the root: nothing depends on it) renamed to `to`.
///
/// Cargo writes packages sorted by name (then version), comparing names as strings.
pub fn rename_root(lock: &str, from: &str, to: &str) -> String {
    let mut blocks: Vec<&str> = lock.split(PACKAGE).collect();
    let header = blocks.remove(0);
    let name_line = |name: &str| format!("name = {name:?}\n");
    let root = blocks
        .iter()
        .position(|b| b.starts_with(&name_line(from)))
        .unwrap_or_else(|| panic!("the kept Cargo.lock has no package {from:?}"));
    let renamed = blocks
        .remove(root)
        .replacen(&name_line(from), &name_line(to), 1);
    let at = blocks
        .iter()
        .position(|b| package_name(b) > to)
        .unwrap_or(blocks.len());
    let mut out = String::from(header);
    for (i, block) in blocks.iter().enumerate() {
        if i == at {
            out.push_str(PACKAGE);
            out.push_str(&renamed);
        }
        out.push_str(PACKAGE);
        out.push_str(block);
    }
    if at == blocks.len() {
        out.push_str(PACKAGE);
        out.push_str(&renamed);
    }
    out
}

fn package_name(block: &str) -> &str {
    block
        .strip_prefix("name = \"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lock: &str) -> Vec<&str> {
        lock.split(PACKAGE).skip(1).map(package_name).collect()
    }

    #[test]
    fn the_root_moves_to_its_sorted_place() {
        let lock = "version = 4\n\n[[package]]\nname = \"b\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"root\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\n";
        for (to, order) in [
            ("a-pico-w", ["a-pico-w", "b", "x"]),
            ("c-pico-w", ["b", "c-pico-w", "x"]),
            ("z-pico-w", ["b", "x", "z-pico-w"]),
        ] {
            let renamed = rename_root(lock, "root", to);
            assert_eq!(names(&renamed), order);
            assert_eq!(renamed.len(), lock.len() - "root".len() + to.len());
        }
    }

    /// Every generated package is `{device}-pico-w`: no locked dependency may be named so, or
    /// cargo would disambiguate references by version and the text would differ.
    #[test]
    fn the_kept_lock_is_sorted_and_names_no_other_pico_w_package() {
        let names = names(TEMPLATE);
        assert!(names.contains(&TEMPLATE_PACKAGE));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names
            .iter()
            .all(|n| *n == TEMPLATE_PACKAGE || !n.ends_with("-pico-w")));
    }

    #[test]
    fn a_project_lock_keeps_every_package() {
        let lock = for_crate("greenhouse-sensor-pico-w");
        assert_eq!(names(&lock).len(), names(TEMPLATE).len());
        assert!(!lock.contains(TEMPLATE_PACKAGE));
    }
}
