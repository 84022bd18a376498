//! The `pico_w` target (in progress: see its issue).

use luagen::emit::project::WriteReport;
use luagen::Device;

use super::FirmwareArgs;

pub fn generate(_device: &Device, _args: &FirmwareArgs) -> std::io::Result<WriteReport> {
    Err(std::io::Error::other(
        "the pico_w target is not implemented yet",
    ))
}
