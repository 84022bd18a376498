//! `luagen monitor`: tail a device's traffic, or all of the agent's.

use std::process::ExitCode;

use clap::Args;

use crate::agent_args::{run_async, AgentArgs};

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

pub fn run(args: MonitorArgs) -> ExitCode {
    run_async("warn", async move {
        let login = args.agent.login();
        let printed =
            luagen_gateway::monitor::run(&login, args.device.as_deref(), args.count, |line| {
                println!("{line}")
            });
        match printed.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        }
    })
}
