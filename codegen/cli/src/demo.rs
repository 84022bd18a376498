//! `luagen demo`: the greenhouse device against the embedded gateway, end to end.

use std::process::ExitCode;

use crate::agent_args::run_async;

/// `luagen demo --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the whole loop worked
  1  a step failed (the error says which)
  2  usage error";

pub fn run() -> ExitCode {
    run_async("warn,rumqttd=off", async {
        let mut out = std::io::stdout();
        match luagen_gateway::demo::run(&mut out).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
