//! `handlers.py` belongs to the user: regeneration never rewrites it, it only appends stubs
//! for commands the file does not define yet.

use minijinja::{context, Environment};

use super::CommandCtx;

/// The stubs to append to `existing` (a user's `handlers.py`), or `None` when every command
/// already has its function.
pub(crate) fn missing_stubs(
    env: &Environment<'static>,
    existing: &str,
    commands: &[CommandCtx],
) -> Option<String> {
    let template = env
        .get_template("handler.py.j2")
        .expect("handler.py.j2 is embedded");
    let mut added = String::new();
    for c in commands {
        if !defines(existing, &c.function) {
            added.push_str(
                &template
                    .render(context! { c => c })
                    .unwrap_or_else(|e| panic!("handler.py.j2 is broken: {e:#}")),
            );
        }
    }
    if added.is_empty() {
        None
    } else if existing.ends_with('\n') {
        Some(added)
    } else {
        Some(format!("\n{added}"))
    }
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
