//! The `no_std` protocol core of the `lua-device` runtime.
//!
//! Messages ([`message`]), topics ([`topic`]), command dispatch ([`dispatch`]), idempotency
//! ([`dedup`], [`ledger`]), reconnect backoff ([`backoff`]), the session ([`session`]),
//! timestamps ([`timestamp`]), MQTT 3.1.1 ([`mqtt`]), WebSocket framing ([`ws`]) and the payload
//! checks generated code calls ([`typed`]). It owns no clock, no randomness and no socket, so the
//! same files drive the tokio transport of `lua-device`, the embassy firmware luagen generates
//! (which vendors this crate whole) and, for the rules' wording, the generator itself. JSON
//! values are serde_json's with the `serde` feature and the core's own [`json`] without it, as on
//! the chip (see [`value`]).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod backoff;
pub mod dedup;
pub mod dispatch;
pub mod json;
pub mod ledger;
pub mod message;
pub mod mqtt;
pub mod rule;
pub mod scan;
pub mod session;
pub mod text;
pub mod timestamp;
pub mod topic;
pub mod typed;
pub mod value;
pub mod ws;

#[cfg(feature = "serde")]
pub use dispatch::CommandSpec;
pub use dispatch::{CommandError, CommandResult, Dispatch, LocalDispatch, Retry};
