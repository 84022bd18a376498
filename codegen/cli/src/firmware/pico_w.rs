//! `luagen firmware --target rust-embassy`: an embassy (no_std Rust) project for the board.

use luagen::emit::pico_w::Embassy;
use luagen::emit::project::WriteReport;
use luagen::emit::Target;
use luagen::Device;

use super::{Failure, FirmwareArgs};

pub fn generate(device: &Device, args: &FirmwareArgs) -> Result<WriteReport, Failure> {
    let target = Embassy {
        board: args.board(),
    };
    let project = target.project(device).map_err(Failure::Refused)?;
    Ok(project.write(&args.out, args.force)?)
}
