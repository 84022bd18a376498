//! What the agent-side subcommands (`call`, `devices`, `monitor`) share: where the broker is,
//! who the agent is, and a runtime to run them on.

use std::future::Future;
use std::process::ExitCode;

use clap::Args;
use luagen_gateway::{AgentLogin, NoBroker};

#[derive(Args, Clone, Debug)]
pub struct AgentArgs {
    /// Broker URL: mqtt://host or mqtt://host:port, ws://host:port/path.
    #[arg(long, env = "LUA_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    pub broker: String,
    /// The agent whose devices to address.
    #[arg(long, env = "LUA_AGENT_ID", default_value = "local")]
    pub agent_id: String,
    /// The agent's API key (the MQTT password; left out when not given).
    #[arg(long, env = "LUA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl AgentArgs {
    pub fn login(&self) -> AgentLogin {
        AgentLogin {
            url: self.broker.clone(),
            agent_id: self.agent_id.clone(),
            api_key: self.api_key.clone(),
        }
    }
}

/// Print why the broker could not be used; exit 2. When nothing answered at all, say how to get
/// a broker: the default URL is where `luagen dev` listens, and it is easy not to know that.
pub fn broker_error(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    if e.downcast_ref::<NoBroker>().is_some() {
        eprintln!(
            "hint: start the local gateway in another terminal with `luagen dev --insecure-any-key` \
             and give this command any --api-key, or pass --broker URL (or set LUA_MQTT_URL) for \
             another broker"
        );
    }
    ExitCode::from(2)
}

/// Log to stderr (`RUST_LOG` overrides `default`) and run `f` on a small runtime.
pub fn run_async<T>(default_log: &str, f: impl Future<Output = T>) -> T {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}
