//! `luagen send`: an `error` or a `trigger_result` to one device, by hand, to try its handlers.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use luagen_gateway::send::{send, NotDelivered, NotSent, Notice};
use serde_json::Value;

use crate::agent_args::{broker_error, run_async, AgentArgs};

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// A server error on the device's error topic: {"code":CODE,"message":MESSAGE}.
    #[command(after_help = EXIT_CODES)]
    Error {
        #[command(flatten)]
        to: To,
        /// Machine-readable code, e.g. QUOTA_EXCEEDED.
        code: String,
        /// Human-readable text.
        message: String,
    },
    /// A trigger's result on the device's trigger_result topic:
    /// {"triggerName":TRIGGER,"result":JSON}.
    #[command(after_help = EXIT_CODES)]
    TriggerResult {
        #[command(flatten)]
        to: To,
        /// The trigger answered.
        trigger: String,
        /// The result, as JSON (default null).
        #[arg(value_parser = json_value)]
        result: Option<Value>,
    },
}

/// Where it goes.
#[derive(Args, Debug)]
struct To {
    #[command(flatten)]
    agent: AgentArgs,
    /// Send even when the broker's luagen directory does not list the device (a plain
    /// broker keeps none).
    #[arg(long)]
    unlisted: bool,
    /// The device.
    device: String,
}

fn json_value(arg: &str) -> Result<Value, String> {
    serde_json::from_str(arg).map_err(|e| format!("not JSON: {e}"))
}

/// `luagen send --help`'s account of what `run` returns.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the broker took the message (it was delivered back to this tool)
  1  nothing was sent (an unknown device, a message larger than devices accept), or the
     broker did not deliver it back
  2  usage error, a result that is not JSON, or the broker did not answer or refused the
     connection";

pub fn run(args: SendArgs) -> ExitCode {
    let (to, notice) = match args.what {
        What::Error { to, code, message } => (to, Notice::Error { code, message }),
        What::TriggerResult {
            to,
            trigger,
            result,
        } => (
            to,
            Notice::TriggerResult {
                trigger_name: trigger,
                result: result.unwrap_or(Value::Null),
            },
        ),
    };
    run_async("info", async move {
        match send(&to.agent.login(), &to.device, &notice, to.unlisted).await {
            Ok(()) => {
                println!("sent to {}: {}", to.device, notice.body());
                ExitCode::SUCCESS
            }
            Err(e) if e.is::<NotSent>() || e.is::<NotDelivered>() => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
            Err(e) => broker_error(&e),
        }
    })
}
