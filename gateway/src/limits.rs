//! How much the gateway takes from a client: before it authenticates (CONNECT size, time,
//! connections waiting) and after (connections in all, the largest packet relayed).
//!
//! A connection costs memory before anyone knows who it is, so the front door bounds what an
//! unauthenticated peer can make it hold: a CONNECT is refused as soon as its fixed header
//! announces more than [`Limits::max_connect`] (nothing of it is buffered), a connection that
//! has not authenticated within [`Limits::auth_timeout`] (TLS and WebSocket handshakes
//! included) is closed, and at most [`Limits::max_pending`] such connections exist at once.
//! Over WebSocket a peer may still send one frame of up to the relay limit before its CONNECT
//! is read (tungstenite reads whole frames), so the pending cap also bounds that.

use std::time::Duration;

/// The gateway's limits; [`Limits::default`] is what `luagen dev` runs with.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest CONNECT packet (its remaining length), refused from its fixed header.
    pub max_connect: usize,
    /// Time from accepting a connection to its authenticated CONNECT.
    pub auth_timeout: Duration,
    /// Connections not yet authenticated at once; more are closed on accept.
    pub max_pending: usize,
    /// Connections at once, authenticated or not; more are closed on accept. Each takes two
    /// sockets (the client's and the broker's).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A device's CONNECT is its ids, key and a small last will: well under 1 KiB.
            max_connect: 16 * 1024,
            auth_timeout: Duration::from_secs(5),
            max_pending: 32,
            max_connections: 256,
        }
    }
}

/// The largest packet (MQTT remaining length) the gateway relays, in either direction: the
/// devices' own default, read from the runtime's `Config` so the two never drift apart. A
/// device refuses a larger packet as a connection error, so relaying one could only wedge it.
pub fn relay_limit() -> usize {
    lua_device::Config::new("", "", "").max_packet_size
}

/// `bytes` for a person: "2 MiB", "16 KiB", "300 bytes".
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        crate::count(bytes, "byte")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_limit_is_the_devices_default() {
        assert_eq!(relay_limit(), 2 * 1024 * 1024);
        assert_eq!(size(relay_limit()), "2 MiB");
        assert_eq!(size(Limits::default().max_connect), "16 KiB");
        assert_eq!(size(3_000_000), "3000000 bytes");
    }

    /// The crate docs, `luagen dev --help` and the README state these figures: change them
    /// together.
    #[test]
    fn the_defaults_are_the_documented_ones() {
        let l = Limits::default();
        assert_eq!(
            (
                size(l.max_connect),
                l.auth_timeout,
                l.max_pending,
                l.max_connections
            ),
            ("16 KiB".to_string(), Duration::from_secs(5), 32, 256)
        );
    }
}
