//! Answering triggers with the agent's own lua-cli module (`luagen agent` writes it): each
//! trigger runs the module's `execute` handler under Node, as lua-core would run it, and what
//! the handler returns is the device's `trigger_result`.
//!
//! One Node process per trigger, through [`ScriptAnswerer`]: the gateway's bounds (timeout,
//! process group killed, answers at once, result size) hold for it as for any script, and a
//! handler that crashes takes nothing else down. The module is read afresh each time, so an
//! edit to a handler counts from the next trigger on.

use std::path::{Path, PathBuf};

use crate::answer::{AnswerFuture, ScriptAnswerer, TriggerAnswerer, TriggerCall};

/// The driver Node runs: loads the module (compiling TypeScript with the project's own
/// `typescript`), finds the device's trigger and prints its handler's result.
const DRIVER: &str = include_str!("agent_module.cjs");

/// A lua-cli module answering triggers.
pub struct AgentModule {
    script: ScriptAnswerer,
}

impl AgentModule {
    /// Answer with the handlers of `module` (a `.ts` or `.js` file of a lua-cli project),
    /// run by `node` (found on `PATH`).
    pub fn new(module: &Path) -> std::io::Result<Self> {
        let module = std::fs::canonicalize(module)?;
        let node = which_node().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no `node` on PATH: the agent module's handlers run on Node 20.19 or later",
            )
        })?;
        // The driver as `node -e`: nothing to write or clean up; the module is its argument.
        let script = ScriptAnswerer::exec(
            vec![
                node.into(),
                "-e".into(),
                DRIVER.into(),
                "--".into(),
                module.clone().into(),
            ],
            format!("the agent module {}", module.display()),
        );
        Ok(Self { script })
    }
}

impl TriggerAnswerer for AgentModule {
    fn answer(&self, call: TriggerCall) -> AnswerFuture {
        self.script.answer(call)
    }

    fn describe(&self) -> String {
        self.script.describe()
    }
}

fn which_node() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())
}
