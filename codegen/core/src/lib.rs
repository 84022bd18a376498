//! luagen: typed Lua agent devices from `device.yaml`.
//!
//! Data flows one way: manifest text -> [`yaml::Node`] tree with spans -> structural and
//! schema checks -> validated [`model::Device`] with its [`ir::TypeSpace`] -> emitters. Every
//! front end (the proc-macro, the build script, the CLI) calls these same functions.

pub mod board;
#[cfg(feature = "format")]
mod builder;
pub mod diagnostic;
pub mod diff;
pub mod emit;
pub mod example;
pub mod ident;
pub mod ir;
pub mod load;
pub mod manifest;
pub mod model;
pub mod names;
pub mod source;
mod suggest;
#[cfg(feature = "firmware")]
pub mod trust;
pub mod validator;
pub mod yaml;

#[cfg(feature = "format")]
pub use builder::{BuildError, Builder};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{load_file, load_str, LoadError};
pub use model::{Command, Device, Retry, Trigger};
pub use source::{SourceFile, Span};
