//! Emitters: everything that turns a validated [`crate::Device`] into files.

pub mod project;
pub mod rust;
