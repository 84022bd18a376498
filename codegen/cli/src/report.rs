//! How the CLI prints results and errors.

use std::process::ExitCode;

use luagen::LoadError;

// "1 command", "2 commands": the one wording of every count. It lives in the gateway crate,
// whose messages the CLI prints too, because that crate cannot depend on this one.
pub use luagen_gateway::count;

/// Print a manifest that failed to load; returns the exit code it deserves.
pub fn load_error(e: &LoadError) -> ExitCode {
    match e {
        LoadError::Io { .. } => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        LoadError::Invalid(d) => {
            eprint!("{d}");
            eprintln!(
                "{}: {}",
                d.source().path().display(),
                count(d.len(), "error")
            );
            ExitCode::FAILURE
        }
    }
}

pub fn print_json(value: &serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
