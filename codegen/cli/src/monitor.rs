//! `luagen monitor`: tail a device's traffic, or all of the agent's.

use std::process::ExitCode;

use clap::Args;

use crate::agent_args::{broker_error, run_async, AgentArgs};

#[derive(Args, Debug)]
pub struct MonitorArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// Only this device.
    device: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<usize>,
}

/// `luagen monitor --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  --count messages were printed (without --count it runs until Ctrl-C)
  2  usage error, or the broker did not answer or refused the connection";

pub fn run(args: MonitorArgs) -> ExitCode {
    run_async("warn", async move {
        let login = args.agent.login();
        let printed =
            luagen_gateway::monitor::run(&login, args.device.as_deref(), args.count, |line| {
                println!("{line}")
            });
        match printed.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => broker_error(&e),
        }
    })
}
