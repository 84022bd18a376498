//! Emitters: everything that turns a validated [`crate::Device`] into files.

#[cfg(feature = "firmware")]
pub mod asyncapi;
#[cfg(feature = "firmware")]
pub mod cpython;
#[cfg(feature = "firmware")]
pub mod docs;
#[cfg(feature = "firmware")]
pub mod markdown;
#[cfg(feature = "firmware")]
pub mod micropython;
#[cfg(feature = "firmware")]
pub mod pico_w;
pub mod project;
#[cfg(feature = "firmware")]
pub mod refusal;
pub mod rust;
#[cfg(feature = "firmware")]
mod source_text;
#[cfg(feature = "firmware")]
pub mod target;
#[cfg(feature = "firmware")]
mod templates;
#[cfg(feature = "firmware")]
pub mod typescript;

#[cfg(feature = "firmware")]
pub use target::Target;
