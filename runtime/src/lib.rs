//! Runtime for Lua AI agent devices over MQTT.
//!
//! The crate is two layers. The protocol core ([`message`], [`topic`], [`dispatch`],
//! [`dedup`], [`ledger`], [`backoff`], [`session`], [`timestamp`]) is `no_std` + `alloc`: it
//! owns no clock, no randomness and no socket, so the same logic drives the tokio transport
//! here and the embassy firmware luagen generates. The `std` feature adds `transport`, a
//! rumqttc client that speaks the protocol in `PROTOCOL.md`, and `agent` adds the gateway's side
//! for tests. JSON values are serde_json's with the `serde` feature (which `std` turns on) and
//! the core's own [`json`] without it, as on the chip (see [`value`]).
// Without `std` the crate is `no_std`, so `cargo check --no-default-features` proves the core
// never reaches for the standard library.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod backoff;
pub mod dedup;
pub mod dispatch;
pub mod json;
pub mod ledger;
pub mod message;
pub mod mqtt;
pub mod scan;
pub mod session;
pub mod timestamp;
pub mod topic;
pub mod typed;
pub mod value;
pub mod ws;

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "std")]
pub mod transport;

#[cfg(feature = "serde")]
pub use dispatch::CommandSpec;
pub use dispatch::{CommandError, CommandResult, Dispatch, LocalDispatch, Retry};
#[cfg(feature = "macros")]
pub use luagen_macros::lua_device;
#[cfg(feature = "std")]
pub use transport::{Config, Device, DeviceBuilder, DeviceEvent, DeviceHandle, Error};
