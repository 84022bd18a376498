//! Test support shared by every luagen suite.
//!
//! Tests talk to real peers over real sockets: each test starts its own broker on a free
//! loopback port and stops it by PID when it is dropped, so suites run in parallel and leave
//! nothing behind.

pub mod deps;
pub mod mosquitto;
pub mod ports;

pub use mosquitto::Mosquitto;
