//! The embedded rumqttd broker, on a private loopback port behind the front door.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Start rumqttd on a free loopback port and wait until it accepts connections. Its auth hook
/// admits only clients presenting `ticket` as their password: the front door and the
/// gateway's own client. rumqttd cannot be stopped; it lives as long as the process.
pub(crate) fn start(ticket: Arc<str>) -> Result<SocketAddr> {
    let mut last_error = None;
    // The port is free when probed and taken by rumqttd a moment later; retry on a race.
    for _ in 0..5 {
        let addr = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?;
        let mut server = ServerSettings {
            name: "luagen-dev".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 5 * 1024 * 1024,
                max_inflight_count: 200,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let ticket = Arc::clone(&ticket);
        server.set_auth_handler(move |_client_id, _username, password| {
            let admitted = *password == *ticket;
            async move { admitted }
        });
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections: 10_000,
                max_outgoing_packet_count: 200,
                max_segment_size: 100 * 1024 * 1024,
                max_segment_count: 10,
                ..Default::default()
            },
            v4: Some(HashMap::from([("luagen-dev".to_string(), server)])),
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("rumqttd".into())
            .spawn(move || {
                if let Err(e) = Broker::new(config).start() {
                    tracing::error!(error = %e, "embedded broker stopped");
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(addr).is_ok() {
                return Ok(addr);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        last_error = Some(addr);
    }
    bail!("the embedded broker did not start (last port tried: {last_error:?})")
}
