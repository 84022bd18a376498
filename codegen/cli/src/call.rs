//! `luagen call`: one command to one device, or to every online device of a group.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use luagen_gateway::call::{CallOptions, Caller, Target};
use serde_json::{json, Value};

use crate::agent_args::{broker_error, run_async, AgentArgs};
use crate::report::count;

#[derive(Args, Debug)]
pub struct CallArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// `<device> <command> ['<json>']`, or `<command> ['<json>']` with --group.
    #[arg(num_args = 1..=3, required = true, value_name = "ARGS")]
    args: Vec<String>,
    /// Call every online device of this group.
    #[arg(long)]
    group: Option<String>,
    /// Per-attempt timeout, instead of the command's registered timeoutMs.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Attempts in all, instead of the command's registered retry.maxAttempts.
    #[arg(long)]
    attempts: Option<u32>,
    /// Validate against this manifest when the broker has no luagen directory.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

/// `luagen call --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every device called answered with success
  1  nothing was sent (the payload breaks the inputSchema, no such device or command, an
     invalid --manifest), or a device answered with an error or not at all
  2  usage error, a payload that is not JSON, an unreadable --manifest, or the broker did
     not answer or refused the connection";

pub fn run(args: CallArgs) -> ExitCode {
    let (target, command, payload) = match (&args.group, args.args.as_slice()) {
        (Some(g), [command, rest @ ..]) if rest.len() <= 1 => {
            (Target::Group(g.clone()), command.clone(), rest.first())
        }
        (None, [device, command, rest @ ..]) => (
            Target::Device(device.clone()),
            command.clone(),
            rest.first(),
        ),
        _ => {
            eprintln!("error: expected `<device> <command> ['<json>']` or `--group <group> <command> ['<json>']`");
            return ExitCode::from(2);
        }
    };
    let payload: Value = match payload.map(|p| serde_json::from_str(p)).transpose() {
        Ok(p) => p.unwrap_or_else(|| json!({})),
        Err(e) => {
            eprintln!("error: the payload is not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let manifest_commands = match &args.manifest {
        Some(path) => match luagen::load_file(path) {
            Ok(device) => device.registration_commands().as_array().cloned(),
            Err(e) => return crate::report::load_error(&e),
        },
        None => None,
    };
    let options = CallOptions {
        timeout: args.timeout_ms.map(Duration::from_millis),
        attempts: args.attempts,
        manifest_commands,
    };
    let grouped = args.group.is_some();
    run_async("info", async move {
        let caller = match Caller::connect(&args.agent.login()).await {
            Ok(c) => c,
            Err(e) => return broker_error(&e),
        };
        let plans = match caller.plan(&target, &command, &payload, &options) {
            Ok(plans) => plans,
            Err(refusal) => {
                eprintln!("error: {refusal}");
                return ExitCode::FAILURE;
            }
        };
        let outcomes = match caller.send_all(&plans).await {
            Ok(o) => o,
            Err(e) => return broker_error(&e),
        };
        caller.close().await;
        let report = if grouped {
            Value::Array(
                outcomes
                    .iter()
                    .map(|o| json!({"device": o.device, "response": o.to_json()}))
                    .collect(),
            )
        } else {
            outcomes[0].to_json()
        };
        println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
        for o in outcomes.iter().filter(|o| !o.succeeded()) {
            match &o.response {
                None => eprintln!(
                    "error: {} timed out after {} of {}",
                    o.device,
                    count(o.sent as usize, "attempt"),
                    o.command_id
                ),
                Some(r) => eprintln!(
                    "error: {} failed: {}",
                    o.device,
                    r.error.as_deref().unwrap_or("(no message)")
                ),
            }
        }
        if outcomes.iter().all(|o| o.succeeded()) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
