//! The same device against rumqttd, in process, where the broker shows the CONNECT fields.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use lua_testkit::ports::free_port;
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use serde_json::json;

use crate::support::*;

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Start rumqttd on a free loopback port; its auth hook records (client id, user, password).
fn start_rumqttd() -> (String, Seen) {
    let port = free_port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let mut server = ServerSettings {
        name: "v4".into(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 4 * 1024 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    server.set_auth_handler(move |client_id, user, pass| {
        record.lock().unwrap().push((client_id, user, pass));
        async { true }
    });
    let config = Config {
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("v4".to_string(), server)])),
        ..Default::default()
    };
    std::thread::spawn(move || {
        if let Err(e) = Broker::new(config).start() {
            eprintln!("rumqttd stopped: {e}");
        }
    });
    // Wait until it accepts connections.
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "rumqttd did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (format!("mqtt://127.0.0.1:{port}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fields_and_round_trip_on_rumqttd() {
    let (url, seen) = start_rumqttd();
    let dev = "dev-rumqttd";
    let device = start_device(config(&url, dev)).await;
    let connects = seen.lock().unwrap().clone();
    assert!(connects.contains(&(
        format!("lua-{AGENT}-{dev}"),
        format!("{AGENT}:{dev}"),
        API_KEY.to_string()
    )));

    // The auth hook makes rumqttd refuse clients without a login.
    let gw =
        lua_device::agent::AgentClient::connect_with_login(&url, "gw", Some(("gateway", "pw")))
            .await
            .unwrap();
    let r = gw.call(AGENT, dev, "count", json!({}), WAIT).await.unwrap();
    assert_eq!(r.data, Some(json!({"count": 1})));
    let r = gw.call(AGENT, dev, "nope", json!({}), WAIT).await.unwrap();
    assert_eq!(r.error.as_deref(), Some("Unknown command: nope"));
    device.handle.shutdown().await.unwrap();
    assert!(!device.handle.is_connected());
}
