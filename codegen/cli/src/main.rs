//! `luagen`: the command line over the luagen library.
//!
//! Exit codes: 0 success, 1 an invalid manifest, 2 usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use luagen::LoadError;

#[derive(Parser)]
#[command(
    name = "luagen",
    version,
    about = "Typed Lua agent devices from device.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate manifests; print every problem as path:line:col with the source line.
    Check {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// Print the JSON Schema of device.yaml itself (for editors).
    Schema,
    /// Print the tools an agent will see for a device, as JSON.
    Tools { manifest: PathBuf },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Cmd::Check { manifests } => check(&manifests),
        Cmd::Schema => print_json(&luagen::manifest::manifest_schema()),
        Cmd::Tools { manifest } => match luagen::load_file(&manifest) {
            Ok(device) => print_json(&device.tools()),
            Err(e) => report(&e),
        },
    }
}

fn check(manifests: &[PathBuf]) -> ExitCode {
    let mut worst = ExitCode::SUCCESS;
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
            Err(e) => {
                if report(&e) == ExitCode::from(2) {
                    worst = ExitCode::from(2);
                } else {
                    invalid = true;
                }
            }
        }
    }
    if worst == ExitCode::SUCCESS && invalid {
        ExitCode::FAILURE
    } else {
        worst
    }
}

fn report(e: &LoadError) -> ExitCode {
    match e {
        LoadError::Io { .. } => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        LoadError::Invalid(d) => {
            eprint!("{d}");
            eprintln!(
                "{}: {} error{}",
                d.source().path().display(),
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &serde_json::Value) -> ExitCode {
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
