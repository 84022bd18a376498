//! MQTT 3.1.1 for drivers without an MQTT library (the embassy firmware): a packet codec, the
//! client side of one connection (which reads through a message too large to keep,
//! [`oversized`], scanning it for the command's id with [`crate::scan`]), and the device
//! protocol on top.
//!
//! Everything here is sans-IO: bytes in, bytes and decisions out, time passed in by the
//! caller. The firmware feeds it from an embassy-net socket; the host tests feed it from a
//! `std::net::TcpStream` to a real broker, so both run exactly this code.

pub mod client;
pub mod codec;
pub mod device;
pub mod oversized;

pub use crate::scan::{CommandScan, Found};
pub use client::{Client, ClientError, Incoming};
pub use codec::{Connect, DecodeError, Packet, Publish, Will};
pub use device::{DeviceConfig, DeviceSession, Inbound};
pub use oversized::Skipped;
