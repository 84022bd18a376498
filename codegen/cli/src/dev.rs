//! `luagen dev`: the local gateway (embedded broker + emulator) until Ctrl-C.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use luagen_gateway::agent_module::AgentModule;
use luagen_gateway::answer::{FirstAnswer, FixedResults, ScriptAnswerer, TriggerAnswerer};
use luagen_gateway::{
    CdnConfig, Gateway, GatewayConfig, KeyPolicy, Keys, TlsFiles, TriggerAnswers,
};
use serde_json::Value;

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
    /// Answer every trigger NAME with a trigger_result carrying JSON (after its ack), e.g.
    /// --trigger-result 'humidity_alert={"action":"vent"}'. Repeatable, one per trigger.
    #[arg(long, value_name = "NAME=JSON", value_parser = trigger_result)]
    trigger_result: Vec<(String, Value)>,
    /// Run CMD (with sh -c) for each trigger --trigger-result does not answer: it reads
    /// {"agentId","deviceName","triggerName","triggerId","payload"} on stdin and prints the
    /// result as JSON (nothing: no result). A non-zero exit or output that is not JSON sends
    /// the device an error naming the trigger; its stderr goes to this log only.
    #[arg(long, value_name = "CMD")]
    trigger_script: Option<String>,
    /// Answer triggers with the agent's own lua-cli module (the .ts `luagen agent` writes,
    /// in a project with lua-cli installed): each trigger runs its `execute` handler under
    /// Node, what it returns is the trigger_result, a thrown error (a payload its schema
    /// refuses) an error to the device. Asked after --trigger-result, before --trigger-script.
    #[arg(long, value_name = "FILE")]
    agent_module: Option<PathBuf>,
    /// How long one trigger's answer may take; a script still running is killed (with its
    /// children) and the device gets a TRIGGER_RESULT_TIMEOUT error.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    trigger_timeout_ms: u64,
    /// The local Lua CDN (HTTP; HTTPS with --tls-cert): POST /upload with an accepted API
    /// key, GET /{fileId} for anyone. Default 127.0.0.1:8084, or a free port when another
    /// gateway holds that one (the CDN line printed at start says which).
    #[arg(long, value_name = "ADDR")]
    cdn_listen: Option<SocketAddr>,
    /// Serve no CDN.
    #[arg(long, conflicts_with_all = ["cdn_listen", "cdn_dir"])]
    no_cdn: bool,
    /// Keep the CDN's uploads in this folder (default: a temporary folder removed at exit).
    #[arg(long, value_name = "DIR")]
    cdn_dir: Option<PathBuf>,
    /// Largest file the CDN accepts, in bytes (more: 413).
    #[arg(long, value_name = "BYTES", default_value_t = luagen_gateway::cdn::DEFAULT_MAX_FILE_BYTES)]
    cdn_max_bytes: u64,
    /// Most bytes the CDN stores in all (more: 507).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    cdn_max_total_bytes: u64,
}

/// Where the CDN listens unless --cdn-listen says otherwise.
const DEFAULT_CDN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8084);

/// `NAME=JSON`: the JSON is checked here, so a typo fails at start, not at the first trigger.
fn trigger_result(arg: &str) -> Result<(String, Value), String> {
    let Some((name, json)) = arg.split_once('=') else {
        return Err("expected NAME=JSON, e.g. humidity_alert={\"action\":\"vent\"}".into());
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a trigger name (letters, digits and underscores): expected NAME=JSON"
        ));
    }
    serde_json::from_str(json)
        .map(|v| (name.to_string(), v))
        .map_err(|e| format!("the result for {name} is not JSON: {e} (quote it for the shell: '{name}={{\"ok\":true}}')"))
}

/// The answerer the flags describe; an error when one trigger is given two results.
fn answers(args: &DevArgs) -> Result<TriggerAnswers, String> {
    let mut chain: Vec<Arc<dyn TriggerAnswerer>> = Vec::new();
    if !args.trigger_result.is_empty() {
        let mut fixed = BTreeMap::new();
        for (name, result) in &args.trigger_result {
            if fixed.insert(name.clone(), result.clone()).is_some() {
                return Err(format!(
                    "--trigger-result gives {name} more than one result"
                ));
            }
        }
        chain.push(Arc::new(FixedResults(fixed)));
    }
    if let Some(module) = &args.agent_module {
        let module = AgentModule::new(module)
            .map_err(|e| format!("--agent-module {}: {e}", module.display()))?;
        chain.push(Arc::new(module));
    }
    if let Some(script) = &args.trigger_script {
        if script.trim().is_empty() {
            return Err("--trigger-script is empty".into());
        }
        chain.push(Arc::new(ScriptAnswerer::new(script.clone())));
    }
    if args.trigger_timeout_ms == 0 {
        return Err("--trigger-timeout-ms must be more than 0".into());
    }
    Ok(TriggerAnswers {
        answerer: match chain.len() {
            0 => None,
            1 => chain.pop(),
            _ => Some(Arc::new(FirstAnswer(chain))),
        },
        timeout: Duration::from_millis(args.trigger_timeout_ms),
        ..TriggerAnswers::default()
    })
}

/// `luagen dev --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  stopped with Ctrl-C (or SIGTERM)
  2  usage error (a --trigger-result that is not NAME=JSON), the keys file could not be
     read, or the gateway could not start (a port in use, unreadable TLS files, a --cdn-dir
     that cannot be made)";

pub fn run(args: DevArgs) -> ExitCode {
    let answers = match answers(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
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
    config.answers = answers;
    config.tcp = Some(args.listen);
    config.ws = (!args.no_ws).then_some(args.ws_listen);
    config.cdn = (!args.no_cdn).then(|| CdnConfig {
        dir: args.cdn_dir,
        max_file_bytes: args.cdn_max_bytes,
        max_total_bytes: args.cdn_max_total_bytes,
        any_port_if_taken: args.cdn_listen.is_none(),
        ..CdnConfig::new(args.cdn_listen.unwrap_or(DEFAULT_CDN_LISTEN))
    });
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
        if let Some(url) = gateway.cdn_url() {
            let _ = writeln!(stdout, "luagen dev gateway: {url} (CDN)");
        }
        let _ = stdout.flush();
        stopped().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C, or SIGTERM where there is one: either way the gateway is dropped, so a temporary
/// CDN folder goes with it.
async fn stopped() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
