//! `luagen firmware --target rust-embassy`: an embassy (no_std Rust) project for the board.

use luagen::emit::pico_w::PicoWProject;
use luagen::emit::project::WriteReport;
use luagen::Device;

use super::{Failure, FirmwareArgs};

pub fn generate(device: &Device, args: &FirmwareArgs) -> Result<WriteReport, Failure> {
    let project = PicoWProject::new(device)
        .board(args.board())
        .project()
        .map_err(Failure::Refused)?;
    Ok(project.write(&args.out, args.force)?)
}
