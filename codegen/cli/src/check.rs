//! `luagen check`: one OK line per valid manifest, every problem of the others.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report;

pub fn run(manifests: &[PathBuf]) -> ExitCode {
    let mut io_error = false;
    let mut invalid = false;
    for path in manifests {
        match luagen::load_file(path) {
            Ok(device) => println!(
                "{}: ok ({}, {} commands, {} triggers)",
                path.display(),
                device.name,
                device.commands.len(),
                device.triggers.len()
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
