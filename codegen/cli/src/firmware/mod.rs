//! `luagen firmware --target <board> device.yaml -o <dir>`: a complete project for a board.

mod micropython;
mod pico_w;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::report;

#[derive(Args)]
pub struct FirmwareArgs {
    /// The board and language to generate for.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The device manifest.
    pub manifest: PathBuf,
    /// Where to write the project (created if missing).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Overwrite files you own (handlers, configuration) with fresh stubs.
    #[arg(long)]
    pub force: bool,
    /// MicroPython only: also precompile the modules to .mpy with mpy-cross.
    #[arg(long)]
    pub mpy: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Target {
    /// Raspberry Pi Pico W running stock MicroPython.
    Micropython,
    /// Raspberry Pi Pico W, no_std Rust on embassy.
    PicoW,
}

/// `luagen firmware --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the project was written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, the target cannot generate it (e.g. a
     pattern the board cannot check), a file could not be written, or mpy-cross failed";

pub fn run(args: FirmwareArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    let result = match args.target {
        Target::Micropython => micropython::generate(&device, &args),
        Target::PicoW => pico_w::generate(&device, &args),
    };
    match result {
        Ok(report) => {
            for path in &report.written {
                println!("wrote {}", args.out.join(path).display());
            }
            for path in &report.kept {
                println!(
                    "kept  {} (yours; --force replaces it)",
                    args.out.join(path).display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
