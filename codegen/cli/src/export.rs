//! `luagen export asyncapi device.yaml [-o asyncapi.yaml] [--format yaml|json]`: the device's
//! MQTT API as a document other tools read (see `luagen::emit::asyncapi`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use luagen::emit::asyncapi::{document, to_yaml, Options};

use crate::report;

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: Export,
}

#[derive(Subcommand)]
pub enum Export {
    /// An AsyncAPI 3.0 document of the device's MQTT API: a channel per topic, the device's
    /// operations (send: it publishes, receive: it subscribes), each command's, response's
    /// and trigger's payload from the manifest's schemas, the hosted gateway and its
    /// username/password security.
    #[command(after_help = ASYNCAPI_EXIT_CODES)]
    Asyncapi(AsyncapiArgs),
}

#[derive(Args)]
pub struct AsyncapiArgs {
    /// The device manifest.
    pub manifest: PathBuf,
    /// Write the document here instead of standard output.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// yaml or json (default: json when --out ends in .json, else yaml).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The document's info.version: the version of the device's API.
    #[arg(long, value_name = "VERSION", default_value = "1.0.0")]
    pub api_version: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// `luagen export --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = ASYNCAPI_EXIT_CODES;

/// `luagen export asyncapi --help`'s.
const ASYNCAPI_EXIT_CODES: &str = "\
Exit codes:
  0  the document was printed or written
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, or --out could not be written";

pub fn run(args: ExportArgs) -> ExitCode {
    match args.what {
        Export::Asyncapi(args) => asyncapi(args),
    }
}

fn asyncapi(args: AsyncapiArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    let doc = document(
        &device,
        &Options {
            api_version: args.api_version,
        },
    );
    let json_out = args
        .out
        .as_deref()
        .and_then(Path::extension)
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = match args.format {
        Some(Format::Json) => json(&doc),
        Some(Format::Yaml) => to_yaml(&doc),
        None if json_out => json(&doc),
        None => to_yaml(&doc),
    };
    emit(args.out.as_deref(), &text)
}

fn json(doc: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Print `text`, or write it to `out` (saying so on standard error).
pub fn emit(out: Option<&Path>, text: &str) -> ExitCode {
    match out {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitCode::from(2)
            }
        },
    }
}
