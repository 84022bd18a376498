//! Runtime for Lua AI agent devices over MQTT.
//!
//! The crate is two layers. The protocol core ([`message`], [`topic`], [`dispatch`],
//! [`dedup`], [`ledger`], [`backoff`], [`session`], [`timestamp`], ...) is the `no_std` crate
//! `lua-device-core`, re-exported here module for module: it owns no clock, no randomness and no
//! socket, so the same files drive the tokio transport here and the embassy firmware luagen
//! generates (which vendors that crate whole). The `std` feature adds `transport`, a rumqttc
//! client that speaks the protocol in `PROTOCOL.md`, and `agent` adds the gateway's side for
//! tests. JSON values are serde_json's with the `serde` feature (which `std` turns on) and the
//! core's own [`json`] without it, as on the chip (see [`value`]).
// Without `std` the crate is `no_std`, so `cargo check --no-default-features` proves the core
// never reaches for the standard library.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub use lua_device_core::{
    backoff, dedup, dispatch, json, ledger, message, mqtt, rule, scan, session, timestamp, topic,
    typed, value, ws,
};

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "cdn")]
pub mod cdn;
#[cfg(feature = "std")]
pub mod transport;

#[cfg(feature = "serde")]
pub use dispatch::CommandSpec;
pub use dispatch::{CommandError, CommandResult, Dispatch, LocalDispatch, Retry};
#[cfg(feature = "macros")]
pub use luagen_macros::lua_device;
#[cfg(feature = "std")]
pub use transport::{Config, Device, DeviceBuilder, DeviceEvent, DeviceHandle, Error};
