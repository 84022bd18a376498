//! MQTT over WebSocket (`ws://`, and `wss://`, the hosted gateway's default) goes through the
//! relay like plain MQTT: commands answered both ways, an oversized one acknowledged and
//! answered with the limit, and a failed first connection reported by `connect()`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use lua_device::{Config, Device, Error};
use lua_testkit::mosquitto::{Mosquitto, Options};
use lua_testkit::ports::free_port;
use lua_testkit::tls::Certificates;
use serde_json::json;

use crate::limits::answers_oversized_commands;
use crate::support::*;

/// A broker with its plain listener (for the agent and the raw publisher) and a WebSocket
/// listener on the returned port, over TLS when `certs` are given.
fn broker(certs: Option<&Certificates>) -> (Mosquitto, u16) {
    let port = free_port();
    let mut extra_config = match certs {
        // Started as root, mosquitto drops to its own user, which cannot read our key.
        Some(certs) => [certs.listener(port), vec!["user root".into()]].concat(),
        None => vec![format!("listener {port} 127.0.0.1")],
    };
    extra_config.insert(1, "protocol websockets".into());
    let broker = Mosquitto::start_with(Options {
        extra_config,
        ..Default::default()
    })
    .unwrap();
    // The test kit waits for the plain listener only; libwebsockets opens its own later.
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (broker, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the WebSocket listener on {port} never opened");
}

/// mosquitto 2.0's WebSocket listener delivers about 40 kB/s towards the client (a 3 MB
/// command takes over a minute), so these tests cut the device's limit down instead.
const LIMIT: usize = 16 * 1024;
const HUGE: usize = 60_000;

fn small_limit(mut config: Config) -> Config {
    config.max_packet_size = LIMIT;
    config
}

async fn connect(config: Config) -> Result<(), Error> {
    Device::builder(config).connect().await?.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_over_websocket() {
    let (broker, port) = broker(None);
    let dev = "dev-ws";
    let _device = start_device(config(&format!("ws://127.0.0.1:{port}/mqtt"), dev)).await;
    let gw = agent(&broker.url(), "gw").await;
    echo_works(&gw, dev).await;
    // Past 64 KiB each way: frames with the 64-bit length, packets across reads.
    let big = json!({"big": "x".repeat(70_000)});
    let r = gw
        .call(AGENT, dev, "echo", big.clone(), WAIT)
        .await
        .unwrap();
    assert_eq!(r.data, Some(big));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_command_over_websocket_is_answered_with_the_limit() {
    let (broker, port) = broker(None);
    let url = format!("ws://127.0.0.1:{port}/mqtt");
    answers_oversized_commands(&broker, || small_limit(config(&url, "dev-ws-huge")), HUGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_wss_the_broker_is_verified_and_an_oversized_command_answered() {
    let certs = Certificates::generate().unwrap();
    let (broker, port) = broker(Some(&certs));
    let url = format!("wss://localhost:{port}/mqtt");
    // The Mozilla roots did not sign this broker.
    let err = connect(config(&url, "dev-wss")).await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let ca = std::fs::read(certs.path("ca.pem")).unwrap();
    answers_oversized_commands(
        &broker,
        || small_limit(config(&url, "dev-wss").with_ca_pem(ca.clone())),
        HUGE,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_reports_a_refused_connection_and_a_refused_upgrade() {
    let nobody = free_port();
    let err = connect(config(
        &format!("ws://127.0.0.1:{nobody}/mqtt"),
        "dev-ws-none",
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");

    // An HTTP server that answers the upgrade with 404.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = http.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = http.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
        let mut stream = reader.into_inner();
        stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        line
    });
    let err = connect(config(
        &format!("ws://127.0.0.1:{port}/elsewhere"),
        "dev-ws-404",
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /elsewhere HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol: mqtt\r\n"),
        "{request}"
    );
}
