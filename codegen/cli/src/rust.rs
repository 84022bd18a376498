//! `luagen rust device.yaml [-o out.rs] [--agent]`: the generated Rust, as the macro and
//! build.rs would produce it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use luagen::emit::rust::{RustEmitter, RustOptions};

use crate::report;

#[derive(Args)]
pub struct RustArgs {
    /// The device manifest.
    pub manifest: PathBuf,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Also generate the typed agent-side client.
    #[arg(long)]
    pub agent: bool,
    /// Regenerate whenever the manifest changes, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
}

/// `luagen rust --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the code was printed or written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, or --out could not be written";

pub fn run(args: RustArgs) -> ExitCode {
    if args.watch {
        return crate::watch::watch(&args.manifest, |_| once(&args));
    }
    once(&args)
}

fn once(args: &RustArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    let options = RustOptions {
        agent: args.agent,
        ..RustOptions::default()
    };
    let source = RustEmitter::with_options(&device, options).source();
    match &args.out {
        Some(path) => match std::fs::write(path, source) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitCode::from(2)
            }
        },
        None => {
            print!("{source}");
            ExitCode::SUCCESS
        }
    }
}
