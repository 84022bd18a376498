//! `handlers.py` belongs to the user, in both Python targets: regeneration never rewrites it,
//! it only appends stubs for commands the file does not define yet.

use minijinja::{context, Environment};
use serde::Serialize;

use super::context::{CommandCtx, With};
use crate::emit::project::GeneratedFile;
use crate::emit::templates;

/// `handlers.py`: `handlers.py.j2` rendered with `ctx` while the user has none (`existing`),
/// else the user's file with `handler.py.j2`'s stub appended for each command it lacks.
pub(crate) fn file<T: Serialize>(
    env: &Environment<'_>,
    ctx: impl Serialize,
    existing: Option<&str>,
    commands: &[With<CommandCtx, T>],
) -> GeneratedFile {
    templates::user_file(
        "handlers.py",
        existing,
        || templates::render(env, "handlers.py.j2", ctx),
        |existing| {
            (commands.iter())
                .filter(|c| !defines(existing, &c.shared.function))
                .map(|c| templates::render(env, "handler.py.j2", context! { c => c }))
                .collect()
        },
    )
}

/// Whether `source` defines a top-level function `name`.
pub fn defines(source: &str, name: &str) -> bool {
    source.lines().any(|l| {
        l.strip_prefix("def ")
            .or_else(|| l.strip_prefix("async def "))
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.trim_start().starts_with('('))
    })
}

#[cfg(test)]
mod tests {
    use super::defines;

    #[test]
    fn finds_top_level_functions_only() {
        let src = "def echo(payload):\n    pass\n    def count(x): pass\ndef echo_all (p):\n";
        assert!(defines(src, "echo"));
        assert!(defines(src, "echo_all"));
        assert!(!defines(src, "count"));
        assert!(!defines(src, "ech"));
    }
}
