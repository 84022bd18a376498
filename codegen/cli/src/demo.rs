//! `luagen demo`: a mock of a manifest's device against the embedded gateway, end to end.

use std::path::Path;
use std::process::ExitCode;

use crate::agent_args::run_async;

/// `luagen demo --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the whole loop worked
  1  a step failed (the error says which)
  2  usage error, or the manifest could not be read";

pub fn run(manifest: Option<&Path>) -> ExitCode {
    let source = match manifest {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.display().to_string(), text)),
            Err(e) => {
                eprintln!("error: reading {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    run_async("warn,rumqttd=off", async {
        let mut out = std::io::stdout();
        let manifest = source.as_ref().map(|(p, t)| (p.as_str(), t.as_str()));
        match luagen_gateway::demo::run(manifest, &mut out).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
