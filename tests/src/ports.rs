//! Free loopback ports for servers a test starts itself.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The listener is dropped before returning, so a racing test could take the port; callers
/// that start a server on it retry on `AddrInUse` (see [`crate::Mosquitto::start`]).
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 never fails on a working loopback")
}
