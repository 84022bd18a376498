//! A small JSON Schema validator for the three checks luagen makes at generation time: a
//! manifest against the manifest's own schema, each payload schema against the draft 7
//! meta-schema, and each `default` against its schema.
//!
//! It replaces the `jsonschema` crate on luagen's own dependency path: that crate brought ~45
//! packages (regex engines, big-number and URL crates) which cargo walks on every build of a
//! crate using `#[lua_device]`, for three checks this module makes in a few hundred lines.
//! Tests hold its verdicts to the `jsonschema` crate's (`tests/validator.rs`).

mod error;
mod meta;
mod walk;

pub use error::{Error, Kind};
pub use meta::meta_errors;
pub use walk::{equal, Dialect, Validator};
