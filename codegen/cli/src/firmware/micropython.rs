//! The `micropython` target: a Pico W project on stock MicroPython (see
//! `luagen::emit::micropython`). This file only does the I/O around the core generator.

use luagen::emit::micropython::{mpy, Options};
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
    let options = Options {
        existing_handlers,
        mpy: args.mpy,
        board: args.board(),
    };
    let project = options.project(device).map_err(Failure::Refused)?;
    let mut report = project.write(&args.out, args.force)?;
    if args.mpy {
        report
            .written
            .extend(mpy::compile(&args.out, &mpy::mpy_cross())?);
    }
    Ok(report)
}
