//! `luagen docs device.yaml [-o device.md]`: the device's Markdown reference (see
//! `luagen::emit::docs`). This file only does the I/O around the generator.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::report;

#[derive(Args)]
pub struct DocsArgs {
    /// The device manifest.
    pub manifest: PathBuf,
    /// Write the page here (e.g. docs/greenhouse-sensor.md) instead of standard output.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// `luagen docs --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the page was printed or written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, or --out could not be written";

pub fn run(args: DocsArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    crate::export::emit(args.out.as_deref(), &luagen::emit::docs::docs(&device))
}
