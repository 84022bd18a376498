//! `luagen devices`: the agent's devices as the broker knows them.

use std::process::ExitCode;

use clap::Args;

use crate::agent_args::{broker_error, run_async, AgentArgs};

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// Include offline devices.
    #[arg(long)]
    all: bool,
    /// Print the records as JSON.
    #[arg(long)]
    json: bool,
}

/// `luagen devices --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the devices were listed
  2  usage error, or the broker did not answer or refused the connection";

pub fn run(args: DevicesArgs) -> ExitCode {
    run_async("warn", async move {
        match luagen_gateway::devices::list(&args.agent.login()).await {
            Ok(directory) if args.json => {
                let records: Vec<_> = directory
                    .devices()
                    .filter(|d| args.all || d.online)
                    .collect();
                println!("{}", serde_json::to_string_pretty(&records).expect("JSON"));
                ExitCode::SUCCESS
            }
            Ok(directory) => {
                print!("{}", luagen_gateway::devices::table(&directory, args.all));
                ExitCode::SUCCESS
            }
            Err(e) => broker_error(&e),
        }
    })
}
