//! `luagen agent device.yaml -o src/devices/<name>.ts`: the agent's lua-cli module for the
//! device (see `luagen::emit::typescript`). This file only does the I/O around the generator.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use luagen::emit::typescript::Options;
use luagen::emit::Target;

use crate::report;

#[derive(Args)]
pub struct AgentArgs {
    /// The device manifest.
    pub manifest: PathBuf,
    /// The module to write, in the lua-cli project (`src/devices/<name>.ts`); the trigger
    /// handlers go beside it in `<name>.triggers.ts`, which is yours.
    #[arg(short, long, value_parser = ts_path)]
    pub out: PathBuf,
    /// Overwrite the trigger handlers you own with fresh stubs.
    #[arg(long)]
    pub force: bool,
    /// Regenerate whenever the manifest changes, until Ctrl-C (your handlers are kept;
    /// --force applies to the first generation only).
    #[arg(long)]
    pub watch: bool,
}

fn ts_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match path.file_name().and_then(|f| f.to_str()) {
        Some(f) if f.ends_with(".ts") && f.len() > 3 && !f.ends_with(".triggers.ts") => Ok(path),
        _ => Err("the module is a .ts file, such as src/devices/greenhouse-sensor.ts".into()),
    }
}

/// `luagen agent --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the module was written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, the module cannot express it (a pattern
     JavaScript cannot run as the device does), or a file could not be written";

pub fn run(args: AgentArgs) -> ExitCode {
    if !args.watch {
        return once(&args, args.force);
    }
    crate::watch::watch(&args.manifest, |first| once(&args, args.force && first))
}

fn once(args: &AgentArgs, force: bool) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    let mut options = Options::for_paths(&args.manifest, &args.out);
    let dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !force {
        options.existing_triggers =
            std::fs::read_to_string(dir.join(format!("{}.triggers.ts", options.stem))).ok();
    }
    let project = match options.project(&device) {
        Ok(project) => project,
        Err(d) => {
            report::refused(&d);
            return ExitCode::from(2);
        }
    };
    match project.write(&dir, force) {
        Ok(written) => {
            for path in &written.written {
                println!("wrote {}", dir.join(path).display());
            }
            for path in &written.kept {
                println!(
                    "kept  {} (yours; --force replaces it)",
                    dir.join(path).display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write into {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}
