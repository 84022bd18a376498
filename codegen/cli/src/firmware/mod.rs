//! `luagen firmware --target <language> --board <board> device.yaml -o <dir>`: a complete
//! project for a board (or, `--target python`, for a computer running CPython).

mod cpython;
mod micropython;
mod pico_w;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Args, ValueEnum};
use luagen::board::{self, Board};

use crate::report;

#[derive(Args, Clone)]
pub struct FirmwareArgs {
    /// What the firmware is written in.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The board it runs on.
    #[arg(long, default_value = board::PICO_W.name, value_parser = PossibleValuesParser::new(board::BOARDS.iter().map(|b| b.name)))]
    pub board: String,
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
    /// Regenerate whenever the manifest changes, until Ctrl-C (your files are kept; --force
    /// applies to the first generation only).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Target {
    /// Stock MicroPython (the board's official build) and the generated modules.
    Micropython,
    /// no_std Rust on embassy, a cargo project (`pico-w`, its first spelling, still works).
    #[value(alias = "pico-w")]
    RustEmbassy,
    /// CPython 3.11+ on a computer: a typed project on the official `lua-device-client`
    /// (`--board` does not apply).
    #[value(alias = "cpython")]
    Python,
}

impl FirmwareArgs {
    /// The `--board` record (the parser admits only known names).
    pub fn board(&self) -> &'static Board {
        board::find(&self.board).expect("clap admits only the boards luagen knows")
    }
}

/// `luagen firmware --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the project was written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, the target cannot generate it (e.g. a
     pattern the board cannot check), a file could not be written, or mpy-cross failed";

pub fn run(args: FirmwareArgs) -> ExitCode {
    if !args.watch {
        return once(&args);
    }
    crate::watch::watch(&args.manifest, |first| {
        once(&FirmwareArgs {
            force: args.force && first,
            ..args.clone()
        })
    })
}

fn once(args: &FirmwareArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    let result = match args.target {
        Target::Micropython => micropython::generate(&device, args),
        Target::RustEmbassy => pico_w::generate(&device, args),
        Target::Python => cpython::generate(&device, args),
    };
    match result {
        Err(Failure::Refused(d)) => {
            report::refused(&d);
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
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
    }
}

/// Why no project was written.
pub enum Failure {
    /// The target cannot generate the manifest: where, and why.
    Refused(luagen::Diagnostics),
    Io(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}
