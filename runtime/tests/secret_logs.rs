//! The API key stays out of everything an attacker or an operator can read later: the broker's
//! retained store and the device's logs at TRACE level, through connecting, commands, a broker
//! restart and a graceful shutdown.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lua_device::DeviceEvent;
use lua_testkit::retained::retained_store;
use lua_testkit::Mosquitto;
use serde_json::json;

#[allow(dead_code)]
#[path = "transport/support.rs"]
mod support;

use support::*;

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

// The only test of this binary, so its subscriber can be the global one: a thread-scoped
// subscriber beside other tests' threads lost events to tracing's per-callsite interest cache
// (about 2 runs in 5 missed the "registered" line).
#[tokio::test]
async fn the_api_key_is_never_retained_nor_logged_at_trace_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    // rumqttc logs through `log`; forwarded, its records reach the subscriber too.
    tracing_log::LogTracer::init().expect("the only logger");

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
