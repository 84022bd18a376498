//! `luagen firmware --target python`: a typed CPython device on the official client (see
//! `luagen::emit::cpython`). This file only does the I/O around the core generator.

use luagen::emit::cpython::Options;
use luagen::emit::project::WriteReport;
use luagen::emit::Target;
use luagen::Device;

use super::{Failure, FirmwareArgs};

pub fn generate(device: &Device, args: &FirmwareArgs) -> Result<WriteReport, Failure> {
    let existing_handlers = if args.force {
        None
    } else {
        std::fs::read_to_string(args.out.join("handlers.py")).ok()
    };
    let project = Options { existing_handlers }
        .project(device)
        .map_err(Failure::Refused)?;
    Ok(project.write(&args.out, args.force)?)
}
