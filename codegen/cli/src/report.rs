//! How the CLI prints results and errors.

use std::process::ExitCode;

use luagen::LoadError;

pub use luagen::diagnostic::count;

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

/// Print what a target refused to generate, as the loader's problems are printed.
pub fn refused(d: &luagen::Diagnostics) {
    eprint!("{d}");
    eprintln!(
        "{}: {} this target cannot generate",
        d.source().path().display(),
        count(d.len(), "problem")
    );
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
