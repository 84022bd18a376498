//! `luagen`: the command line over the luagen library. Each subcommand is a few lines over the
//! core; anything two front ends need lives in the `luagen` crate instead.
//!
//! Exit codes: 0 success, 1 an invalid manifest (or a failed operation), 2 usage or I/O errors.

#[cfg(feature = "gateway")]
mod agent_args;
mod agent_module;
#[cfg(feature = "gateway")]
mod call;
#[cfg(feature = "gateway")]
mod cdn;
mod check;
#[cfg(feature = "gateway")]
mod demo;
#[cfg(feature = "gateway")]
mod dev;
#[cfg(feature = "gateway")]
mod devices;
mod diff;
mod docs;
mod export;
mod firmware;
#[cfg(feature = "gateway")]
mod mock;
#[cfg(feature = "gateway")]
mod monitor;
mod report;
mod rust;
#[cfg(feature = "gateway")]
mod send;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "luagen",
    version,
    about = "Typed Lua agent devices from device.yaml",
    after_help = "\
Exit codes: 0 success, 1 an invalid manifest or a failed operation, 2 usage or I/O error.
`luagen <COMMAND> --help` gives each command's."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate manifests; print every problem as path:line:col with the source line.
    #[command(after_help = check::EXIT_CODES)]
    Check {
        /// The device manifests (device.yaml files) to check.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// Print the JSON Schema of device.yaml itself (for editors).
    #[command(after_help = SCHEMA_EXIT_CODES)]
    Schema,
    /// Print the tools an agent will see for a device, as JSON.
    #[command(after_help = TOOLS_EXIT_CODES)]
    Tools {
        /// The device manifest.
        manifest: PathBuf,
        /// The tools of the unit running under this name (its `LUA_DEVICE_NAME` or
        /// `DEVICE_NAME`, with its id in place of `{uid}`) instead of the manifest's name.
        #[arg(long, value_name = "NAME", value_parser = unit_name)]
        device_name: Option<String>,
    },
    /// Print (or write) the Rust the macro and build.rs generate for a manifest.
    #[command(after_help = rust::EXIT_CODES)]
    Rust(rust::RustArgs),
    /// Write the agent's lua-cli module for a device (TypeScript, zod schemas).
    #[command(after_help = agent_module::EXIT_CODES)]
    Agent(agent_module::AgentArgs),
    /// Compare two versions of a manifest: every change, breaking or compatible, and for whom.
    #[command(after_help = diff::EXIT_CODES)]
    Diff(diff::DiffArgs),
    /// Print (or write) a Markdown reference of a device: its tools, commands, triggers,
    /// each payload's fields with their rules, and an example of each.
    #[command(after_help = docs::EXIT_CODES)]
    Docs(docs::DocsArgs),
    /// Export a device's API in a standard format (AsyncAPI 3.0).
    #[command(after_help = export::EXIT_CODES, subcommand_value_name = "FORMAT")]
    Export(export::ExportArgs),
    /// Generate a complete device project for a board.
    #[command(after_help = firmware::EXIT_CODES)]
    Firmware(firmware::FirmwareArgs),
    #[cfg(feature = "gateway")]
    /// Run a local gateway: embedded MQTT broker plus gateway emulator, until Ctrl-C.
    ///
    /// Every client is confined to its own topics. A device (username agentId:deviceName)
    /// uses lua/devices/{agentId}/{deviceName}/ only. An agent (username agentId) subscribes
    /// under its own lua/devices/{agentId}/ and luagen/gateway/devices/{agentId}/ only, and
    /// publishes only command, trigger_ack, trigger_result and error to its own devices, never
    /// retained. Registrations (they carry the API key) reach the gateway and no client.
    /// Client ids are bound to the username. Before logging in a client has 5 s and 16 KiB;
    /// 32 may wait at once, 256 connections are served in all. Packets over 2 MiB (what
    /// devices accept) are not relayed.
    #[command(after_help = dev::EXIT_CODES)]
    Dev(dev::DevArgs),
    #[cfg(feature = "gateway")]
    /// List the agent's devices, their groups and commands.
    #[command(after_help = devices::EXIT_CODES)]
    Devices(devices::DevicesArgs),
    #[cfg(feature = "gateway")]
    /// Call a device command (validated against its inputSchema first); prints the response.
    #[command(after_help = call::EXIT_CODES)]
    Call(call::CallArgs),
    #[cfg(feature = "gateway")]
    /// Send a device an error or a trigger_result by hand, to try its handlers.
    #[command(after_help = send::EXIT_CODES, subcommand_value_name = "WHAT")]
    Send(send::SendArgs),
    #[cfg(feature = "gateway")]
    /// Upload a file to the Lua CDN or download one (a URL a command returned).
    #[command(after_help = cdn::EXIT_CODES, subcommand_value_name = "WHAT")]
    Cdn(cdn::CdnArgs),
    #[cfg(feature = "gateway")]
    /// Tail the traffic of one device or all.
    #[command(after_help = monitor::EXIT_CODES)]
    Monitor(monitor::MonitorArgs),
    #[cfg(feature = "gateway")]
    /// Run a mock of a manifest's device on any broker: schema-valid answers after a chosen
    /// latency, a chosen share of failures, triggers fired on request.
    #[command(after_help = mock::EXIT_CODES)]
    Mock(mock::MockArgs),
    #[cfg(feature = "gateway")]
    /// Try it all with no account, broker or network: a mock of a manifest's device (the
    /// greenhouse sensor by default) on a local gateway, every command called, every trigger
    /// fired.
    #[command(after_help = demo::EXIT_CODES)]
    Demo {
        /// The device manifest (default: the greenhouse sensor of the transport guide,
        /// built in).
        manifest: Option<PathBuf>,
    },
}

/// `luagen schema --help`'s account of what `main` returns for it.
const SCHEMA_EXIT_CODES: &str = "\
Exit codes:
  0  the schema was printed
  2  usage error";

/// `luagen tools --help`'s account of what `main` returns for it.
const TOOLS_EXIT_CODES: &str = "\
Exit codes:
  0  the tools were printed
  1  the manifest is invalid (its problems are printed)
  2  usage error, or the manifest could not be read";

/// `--device-name`: a name as a unit runs under it (PROTOCOL.md's rule, no placeholder left).
fn unit_name(name: &str) -> Result<String, String> {
    if name.contains("{uid}") {
        return Err(
            "give the name a unit runs under, with its id in place of `{uid}` (the id is \
             printed at boot; on a Pico W it is 16 hex digits)"
                .into(),
        );
    }
    if !luagen::manifest::is_device_name(name) {
        return Err(
            "a device name is lowercase letters and digits in words joined by \
                    hyphens, at most 64 characters, e.g. greenhouse-2"
                .into(),
        );
    }
    Ok(name.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Cmd::Check { manifests } => check::run(&manifests),
        Cmd::Schema => report::print_json(&luagen::manifest::manifest_schema()),
        Cmd::Tools {
            manifest,
            device_name,
        } => match luagen::load_file(&manifest) {
            Ok(mut device) => {
                if let Some(name) = device_name {
                    device.name = name;
                }
                report::print_json(&device.tools())
            }
            Err(e) => report::load_error(&e),
        },
        Cmd::Rust(args) => rust::run(args),
        Cmd::Agent(args) => agent_module::run(args),
        Cmd::Diff(args) => diff::run(args),
        Cmd::Docs(args) => docs::run(args),
        Cmd::Export(args) => export::run(args),
        Cmd::Firmware(args) => firmware::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Dev(args) => dev::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Devices(args) => devices::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Call(args) => call::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Send(args) => send::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Cdn(args) => cdn::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Monitor(args) => monitor::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Mock(args) => mock::run(args),
        #[cfg(feature = "gateway")]
        Cmd::Demo { manifest } => demo::run(manifest.as_deref()),
    }
}
