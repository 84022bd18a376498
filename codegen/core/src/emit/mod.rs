//! Emitters: everything that turns a validated [`crate::Device`] into files.

pub mod micropython;
pub mod project;
pub mod rust;
