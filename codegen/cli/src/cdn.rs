//! `luagen cdn put|get`: the agent's side of the Lua CDN, for a file a command returned (its
//! `format: uri` output) or one to hand a device.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lua_device::cdn::{Cdn, CdnError};

use crate::agent_args::run_async;

#[derive(Args, Debug)]
pub struct CdnArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Upload a file; prints {"fileId","mediaType","extension","url"} as JSON.
    #[command(after_help = EXIT_CODES)]
    Put {
        /// The file to upload (streamed from disk).
        file: PathBuf,
        /// Its media type (the CDN serves it back with it).
        #[arg(long, value_name = "TYPE", default_value = "application/octet-stream")]
        content_type: String,
        /// The API key (a key `luagen dev` accepts, or your Lua key).
        #[arg(long, env = "LUA_API_KEY", hide_env_values = true)]
        api_key: String,
        #[command(flatten)]
        cdn: CdnUrl,
    },
    /// Download a file by its id or its URL, to stdout or -o FILE.
    #[command(after_help = EXIT_CODES)]
    Get {
        /// A fileId (fetched from --cdn) or a whole URL (fetched as it is).
        file: String,
        /// Write the file here instead of to stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        cdn: CdnUrl,
    },
}

#[derive(Args, Debug)]
struct CdnUrl {
    /// The CDN's base URL: `luagen dev`'s local one by default, https://cdn.heylua.ai for
    /// the hosted one.
    #[arg(
        long = "cdn",
        value_name = "URL",
        env = "LUA_CDN_URL",
        default_value = "http://127.0.0.1:8084"
    )]
    url: String,
    /// PEM of the only CA to trust for https (the device's `ca_pem`); default the Mozilla
    /// roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

impl CdnUrl {
    fn client(&self, api_key: &str) -> Result<Cdn, ExitCode> {
        let ca = match &self.ca {
            Some(path) => match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => return Err(fail(2, format!("reading {}: {e}", path.display()))),
            },
            None => None,
        };
        Cdn::with_ca_pem(api_key, &self.url, ca.as_deref()).map_err(|e| fail(2, e.to_string()))
    }
}

/// `luagen cdn put|get --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the file was uploaded (its JSON printed) or downloaded
  1  the CDN refused: an unknown API key (401), no such file (404), a file over its limit
     (413), or another error status with its message
  2  usage error, an unreadable file or CA, or the CDN could not be reached (connection,
     TLS)";

pub fn run(args: CdnArgs) -> ExitCode {
    run_async("warn", async move {
        match args.what {
            What::Put {
                file,
                content_type,
                api_key,
                cdn,
            } => {
                let cdn = match cdn.client(&api_key) {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                match cdn.upload_file(&file, &content_type).await {
                    Ok(up) => {
                        println!(
                            "{}",
                            serde_json::json!({
                                "fileId": up.file_id,
                                "mediaType": up.media_type,
                                "extension": up.extension,
                                "url": up.url,
                            })
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => refused(&e),
                }
            }
            What::Get { file, output, cdn } => {
                let client = match cdn.client("") {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                let url = if file.contains("://") {
                    file
                } else {
                    client.url(&file)
                };
                get(&client, &url, output).await
            }
        }
    })
}

async fn get(cdn: &Cdn, url: &str, output: Option<PathBuf>) -> ExitCode {
    let written = match &output {
        Some(path) => {
            // Written beside the target and renamed, so a failed download leaves no half file.
            let partial = path.with_extension("partial");
            let mut out = match tokio::fs::File::create(&partial).await {
                Ok(f) => f,
                Err(e) => return fail(2, format!("creating {}: {e}", partial.display())),
            };
            let written = cdn.fetch_to(url, &mut out).await;
            drop(out);
            match written {
                Ok(n) => match tokio::fs::rename(&partial, path).await {
                    Ok(()) => Ok(n),
                    Err(e) => Err(CdnError::Io(e)),
                },
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    Err(e)
                }
            }
        }
        None => cdn.fetch_to(url, &mut tokio::io::stdout()).await,
    };
    match written {
        Ok(n) => {
            if let Some(path) = output {
                eprintln!("wrote {} ({n} bytes)", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => refused(&e),
    }
}

fn refused(e: &CdnError) -> ExitCode {
    let code = match e {
        CdnError::Unauthorized(_) | CdnError::TooLarge(_) | CdnError::Status { .. } => 1,
        _ => 2,
    };
    fail(code, e.to_string())
}

fn fail(code: u8, message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
