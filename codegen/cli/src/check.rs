//! `luagen check`: one OK line per valid manifest, every problem of the others.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report::{self, count};

/// `luagen check --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every manifest is valid
  1  some manifest is invalid (its problems are printed)
  2  usage error, or some manifest could not be read";

pub fn run(manifests: &[PathBuf]) -> ExitCode {
    let mut io_error = false;
    let mut invalid = false;
    for path in manifests {
        match luagen::load_file(path) {
            Ok(device) => println!(
                "{}: ok ({}, {}, {})",
                path.display(),
                device.name,
                count(device.commands.len(), "command"),
                count(device.triggers.len(), "trigger")
            ),
            Err(e @ luagen::LoadError::Io { .. }) => {
                report::load_error(&e);
                io_error = true;
            }
            Err(e) => {
                report::load_error(&e);
                invalid = true;
            }
        }
    }
    if io_error {
        ExitCode::from(2)
    } else if invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
