//! `luagen diff OLD NEW`: every change between two versions of a manifest, classified by whom
//! it breaks (`luagen::diff`), as text or JSON; `--fail-on-breaking` for CI.

use std::path::Path;
use std::process::{Command, ExitCode};

use clap::{Args, ValueEnum};

use crate::report;

#[derive(Args)]
pub struct DiffArgs {
    /// The old manifest: a file, or REV:path to read it from git (`git show REV:path`, run in
    /// the current directory), e.g. origin/main:device.yaml.
    pub old: String,
    /// The new manifest: a file, or REV:path.
    pub new: String,
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with 1 when a change breaks agents written for the old manifest.
    #[arg(long)]
    pub fail_on_breaking: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Grouped by severity, most severe first, for people and CI logs.
    Text,
    /// One object: version, old, new, summary and findings (stable field names).
    Json,
}

/// `luagen diff --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
A file that exists is read as a file; otherwise REV:path is read with `git show REV:path`.
Severity is the agents' view: breaking means agents written for OLD can fail against a device
on NEW. `breaks` also lists devices still on OLD that agents built from NEW can trip up.

Exit codes:
  0  the manifests were compared (breaking changes too, without --fail-on-breaking)
  1  --fail-on-breaking was given and a change breaks agents
  2  usage error; a manifest could not be read (a missing file, an unknown git revision or
     path) or is invalid (its problems are printed): nothing was compared";

pub fn run(args: DiffArgs) -> ExitCode {
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            // Both are reported, so one run shows everything wrong with the inputs.
            for e in [old.err(), new.err()].into_iter().flatten() {
                e.print();
            }
            return ExitCode::from(2);
        }
    };
    let report = luagen::diff::diff(&old, &new);
    let text = match args.format {
        Format::Text => report.to_text(),
        Format::Json => match serde_json::to_string_pretty(&report.to_json()) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    // A reader that stops early (`| head`) is no error of ours.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if args.fail_on_breaking && report.has_breaking() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Why a manifest could not be compared.
enum InputError {
    Load(luagen::LoadError),
    Git { spec: String, why: String },
}

impl InputError {
    fn print(&self) {
        match self {
            InputError::Load(e) => {
                report::load_error(e);
            }
            InputError::Git { spec, why } => eprintln!("error: cannot read {spec} from git: {why}"),
        }
    }
}

/// A manifest from a file, or from git for `REV:path` when no such file exists.
fn load(spec: &str) -> Result<luagen::Device, InputError> {
    let path = Path::new(spec);
    let from_git = !path.exists() && spec.split_once(':').is_some_and(|(rev, _)| !rev.is_empty());
    if !from_git {
        return luagen::load_file(path).map_err(InputError::Load);
    }
    let text = git_show(spec).map_err(|why| InputError::Git {
        spec: spec.to_string(),
        why,
    })?;
    luagen::load_str(spec, &text).map_err(|d| InputError::Load(luagen::LoadError::Invalid(d)))
}

fn git_show(spec: &str) -> Result<String, String> {
    let out = Command::new("git")
        .args(["show", "--no-textconv", spec])
        .output()
        .map_err(|e| format!("git did not run: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim().trim_start_matches("fatal: ");
        return Err(if why.is_empty() {
            format!("git show exited with {}", out.status)
        } else {
            why.to_string()
        });
    }
    String::from_utf8(out.stdout).map_err(|_| "the file is not UTF-8 text".to_string())
}
