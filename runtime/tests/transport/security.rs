//! The API key stays out of everything an attacker or an operator can read later: the broker's
//! retained store and the device's logs at TRACE level, through connecting, commands, a broker
//! restart and a graceful shutdown. And TLS is verified by default: a broker whose certificate
//! a private CA signed is refused until that CA is configured.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lua_device::{Config, Device, DeviceEvent};
use lua_testkit::retained::retained_store;
use lua_testkit::tls::{self, Certificates};
use lua_testkit::Mosquitto;
use serde_json::json;

use crate::support::*;

/// Everything the subscriber writes, kept for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// Current-thread runtime: the subscriber below is the thread's default, and every task of the
// device (driver, heartbeat, handlers) runs on this thread, so all their events reach it.
#[tokio::test]
async fn the_api_key_is_never_retained_nor_logged_at_trace_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // rumqttc logs through `log`; forwarded, its records go to this thread's subscriber too.
    // Another test may have installed it already: either way it is installed.
    let _ = tracing_log::LogTracer::init();

    let mut broker = Mosquitto::start().unwrap();
    let url = broker.url();
    let device = start_device(config(&url, "dev-secret")).await;
    let mut events = device.handle.events();
    let agent = agent(&url, "agent-secret").await;
    echo_works(&agent, "dev-secret").await;
    for (command, payload) in [
        ("fail", json!({})),
        ("count", json!({})),
        ("slow", json!({"ms": "not a number"})),
        ("no_such_command", json!({"apiKey": "x"})),
    ] {
        agent
            .call(AGENT, "dev-secret", command, payload, WAIT)
            .await
            .expect("every command is answered");
    }

    // A broker restart: the device reconnects and registers (with its key) again.
    broker.restart().unwrap();
    next_event(&mut events, |e| matches!(e, DeviceEvent::Reconnected)).await;
    let agent = lua_device::agent::AgentClient::connect(&url, "agent-secret-2")
        .await
        .unwrap();
    echo_works(&agent, "dev-secret").await;
    device.handle.shutdown().await.unwrap();

    let retained = retained_store(broker.port()).await.unwrap();
    assert!(
        retained
            .iter()
            .any(|(t, p)| t.ends_with("/dev-secret/status")
                && serde_json::from_slice::<serde_json::Value>(p).unwrap()["status"] == "offline"),
        "the device's status is retained: {retained:?}"
    );
    for (topic, payload) in &retained {
        assert!(
            !String::from_utf8_lossy(payload).contains(API_KEY) && !topic.contains(API_KEY),
            "the API key is retained on {topic}"
        );
    }

    let logs = captured.text();
    // The capture saw the device and its MQTT client at work (rumqttc's packet log is at
    // DEBUG), or its silence would prove nothing.
    assert!(logs.contains("registered"), "{logs}");
    assert!(logs.contains("DEBUG rumqttc"), "{logs}");
    assert!(
        !logs.contains(API_KEY),
        "the API key is in the logs:\n{}",
        logs.lines()
            .filter(|l| l.contains(API_KEY))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Connect a device to `url` with an optional CA; the first connection's result.
async fn connect_tls(url: &str, ca_pem: Option<Vec<u8>>) -> Result<(), lua_device::Error> {
    let mut config = Config::new(AGENT, API_KEY, "dev-tls").with_url(url);
    if let Some(pem) = ca_pem {
        config = config.with_ca_pem(pem);
    }
    let handle = Device::builder(config).connect().await?;
    handle.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_by_default_and_the_configured_ca_is_trusted() {
    let certs = Certificates::generate().unwrap();
    let (_broker, tls_port) = tls::broker(&certs).unwrap();
    let url = format!("mqtts://localhost:{tls_port}");
    let ca = std::fs::read(certs.path("ca.pem")).unwrap();

    // Default configuration: the Mozilla roots, which did not sign this broker.
    let err = connect_tls(&url, None).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // Another CA than the one that signed the broker.
    let other = std::fs::read(certs.path("other-ca.pem")).unwrap();
    let err = connect_tls(&url, Some(other)).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The right CA but an address the certificate does not name.
    let by_ip = format!("mqtts://127.0.0.1:{tls_port}");
    let err = connect_tls(&by_ip, Some(ca.clone())).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The CA that signed it: connected, registered, shut down cleanly.
    connect_tls(&url, Some(ca)).await.unwrap();
}
