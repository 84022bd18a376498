//! `luagen dev`: the local gateway (embedded broker + emulator) until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use luagen_gateway::{Gateway, GatewayConfig, KeyPolicy, Keys, TlsFiles};

use crate::agent_args::run_async;

#[derive(Args, Debug)]
pub struct DevArgs {
    /// MQTT over TCP.
    #[arg(long, default_value = "127.0.0.1:1883")]
    listen: SocketAddr,
    /// MQTT over WebSocket.
    #[arg(long, default_value = "127.0.0.1:8083")]
    ws_listen: SocketAddr,
    /// Serve only plain TCP.
    #[arg(long)]
    no_ws: bool,
    /// Accepted API keys: one per line, `KEY` or `AGENT_ID KEY`.
    #[arg(long, required_unless_present = "insecure_any_key")]
    keys: Option<PathBuf>,
    /// Accept any API key (local experiments only; logged loudly).
    #[arg(long, conflicts_with = "keys")]
    insecure_any_key: bool,
    /// Certificate chain (PEM): both listeners then speak TLS (mqtts://, wss://).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// `luagen dev --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  stopped with Ctrl-C
  2  usage error, the keys file could not be read, or the gateway could not start (a port
     in use, unreadable TLS files)";

pub fn run(args: DevArgs) -> ExitCode {
    let keys = match &args.keys {
        Some(path) => match Keys::load(path) {
            Ok(keys) => KeyPolicy::Keys(keys),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
        None => KeyPolicy::AnyKey,
    };
    let mut config = GatewayConfig::new(keys);
    config.tcp = Some(args.listen);
    config.ws = (!args.no_ws).then_some(args.ws_listen);
    config.tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    run_async("info,rumqttd=off", async move {
        let gateway = match Gateway::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        };
        let mut stdout = std::io::stdout();
        for url in [gateway.url(), gateway.ws_url()].into_iter().flatten() {
            // A closed stdout must not take the gateway down.
            let _ = writeln!(stdout, "luagen dev gateway: {url}");
        }
        let _ = stdout.flush();
        let _ = tokio::signal::ctrl_c().await;
        ExitCode::SUCCESS
    })
}
