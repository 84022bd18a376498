//! The contract every project target meets, so a front door (the CLI, a build script, a test)
//! drives them alike: it names the target, says which identifiers it keeps for itself, and
//! either writes the whole project or refuses what it cannot generate at the manifest's spans,
//! every problem at once.

use crate::diagnostic::Diagnostics;
use crate::emit::project::Project;
use crate::model::Device;
use crate::names::Names;

/// A target that turns a device into a project.
pub trait Target {
    /// How messages name it: `MicroPython on the Raspberry Pi Pico W`.
    fn title(&self) -> String;

    /// The payload types' names in this target: its spelling, clear of the identifiers it
    /// generates beside them (see [`crate::names`]).
    fn names(&self, device: &Device) -> Names;

    /// Every file of the project; what the target cannot generate (a schema pattern its
    /// engine cannot run) is refused at the manifest's spans.
    fn project(&self, device: &Device) -> Result<Project, Diagnostics>;
}
