//! `luagen firmware --target rust-embassy`: an embassy (no_std Rust) project for the board.

use luagen::emit::pico_w::PicoWProject;
use luagen::emit::project::WriteReport;
use luagen::Device;

use super::FirmwareArgs;

pub fn generate(device: &Device, args: &FirmwareArgs) -> std::io::Result<WriteReport> {
    PicoWProject::new(device)
        .board(args.board())
        .project()
        .map_err(std::io::Error::other)?
        .write(&args.out, args.force)
}
