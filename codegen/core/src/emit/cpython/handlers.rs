//! `handlers.py` belongs to the user: regeneration never rewrites it, it only appends stubs
//! for commands the file does not define yet (as the MicroPython target does).

use minijinja::{context, Environment};

use super::CommandCtx;
use crate::emit::micropython::handlers::defines;

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
