//! Emitters: everything that turns a validated [`crate::Device`] into files.

pub mod micropython;
pub mod pico_w;
pub mod project;
pub mod rust;
