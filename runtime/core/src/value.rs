//! The JSON value handlers exchange: serde_json's with the `serde` feature (the host runtime,
//! whose API hands users `serde_json::Value`), the core's own [`crate::json`] without it (the
//! chip, which carries no serde). The protocol code is written once against this.

use alloc::string::String;

#[cfg(feature = "serde")]
pub use serde_json::{Error, Map, Value};

#[cfg(not(feature = "serde"))]
pub use crate::json::{Error, Map, Value};

/// Parse one JSON value.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    #[cfg(feature = "serde")]
    return serde_json::from_slice(bytes);
    #[cfg(not(feature = "serde"))]
    return crate::json::from_slice(bytes);
}

/// [`from_slice`] of a string.
pub fn from_str(text: &str) -> Result<Value, Error> {
    from_slice(text.as_bytes())
}

/// Append the compact JSON text of `value`.
pub fn write(out: &mut String, value: &Value) {
    #[cfg(feature = "serde")]
    {
        use core::fmt::Write;
        // Writing a Value into a String cannot fail.
        let _ = write!(out, "{value}");
    }
    #[cfg(not(feature = "serde"))]
    crate::json::write_value(out, value);
}

/// `{}`.
pub fn empty_object() -> Value {
    Value::Object(Map::new())
}
