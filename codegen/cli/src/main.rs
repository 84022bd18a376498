//! `luagen`: the command line over the luagen library. Each subcommand is a few lines over the
//! core; anything two front ends need lives in the `luagen` crate instead.
//!
//! Exit codes: 0 success, 1 an invalid manifest (or a failed operation), 2 usage or I/O errors.

mod agent_args;
mod call;
mod check;
mod demo;
mod dev;
mod devices;
mod firmware;
mod monitor;
mod report;
mod rust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "luagen",
    version,
    about = "Typed Lua agent devices from device.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate manifests; print every problem as path:line:col with the source line.
    Check {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// Print the JSON Schema of device.yaml itself (for editors).
    Schema,
    /// Print the tools an agent will see for a device, as JSON.
    Tools { manifest: PathBuf },
    /// Print (or write) the Rust the macro and build.rs generate for a manifest.
    Rust(rust::RustArgs),
    /// Generate a complete device project for a board.
    Firmware(firmware::FirmwareArgs),
    /// Run a local gateway: embedded MQTT broker plus gateway emulator, until Ctrl-C.
    Dev(dev::DevArgs),
    /// List the agent's devices, their groups and commands.
    Devices(devices::DevicesArgs),
    /// Call a device command (validated against its inputSchema first); prints the response.
    Call(call::CallArgs),
    /// Tail the traffic of one device or all.
    Monitor(monitor::MonitorArgs),
    /// Try it all with no account, broker or network: the greenhouse device end to end.
    Demo,
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
        Cmd::Tools { manifest } => match luagen::load_file(&manifest) {
            Ok(device) => report::print_json(&device.tools()),
            Err(e) => report::load_error(&e),
        },
        Cmd::Rust(args) => rust::run(args),
        Cmd::Firmware(args) => firmware::run(args),
        Cmd::Dev(args) => dev::run(args),
        Cmd::Devices(args) => devices::run(args),
        Cmd::Call(args) => call::run(args),
        Cmd::Monitor(args) => monitor::run(args),
        Cmd::Demo => demo::run(),
    }
}
