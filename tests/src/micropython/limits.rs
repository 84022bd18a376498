//! The generated MicroPython device at its limits, on a Pico W's heap: a project with the
//! fault runs' counting commands (so `faults::FaultAgent` drives storms) and commands whose
//! schemas have the edges the limits concern, and an agent that sends any bytes as a command
//! (a 3 MiB one, a retained one, JSON the Rust side would not write).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{generate_ok, scratch_dir};
use crate::faults;

/// The counting device of `faults` plus `echo` and fields with schema edges.
pub const MANIFEST: &str = r#"name: fault-device
description: Counts its executions; echoes; fields at the schema's edges
commands:
  - name: work
    description: Count one execution and return its sequence number
    inputSchema:
      type: object
      properties:
        n: { type: integer, minimum: 0 }
      required: [n]
  - name: stats
    description: How many times work ran
  - name: echo
    description: Return the payload
    inputSchema: { type: object }
  - name: label
    description: Print a label
    inputSchema:
      type: object
      properties:
        text: { type: string, maxLength: 32 }
      required: [text]
  - name: count
    description: Take a count of at least one
    inputSchema:
      type: object
      properties:
        n: { type: integer, minimum: 1 }
        level: { type: number }
      required: [n]
  - name: slow_retry
    description: A command the gateway may resend for ten and a half minutes
    timeoutMs: 30000
    retry: { maxAttempts: 3, backoffMs: 200000 }
"#;

/// The handlers `faults` gives its counting device (`work`, `stats`), then these.
const MORE_HANDLERS: &str = r#"

def echo(payload: dict) -> dict:
    return payload


def label(payload: dict) -> dict:
    return {"chars": len(payload["text"])}


def count(payload: dict) -> dict:
    return {"n": payload["n"]}


def slow_retry(payload: "Any") -> None:
    return None
"#;

/// The project, with `config` lines appended to config.py (`MAX_COMMAND_BYTES = 4096`).
pub fn project(config: &str) -> Result<PathBuf> {
    let dir = scratch_dir("limits")?;
    let manifest = dir.join("fault-device.yaml");
    std::fs::write(&manifest, MANIFEST)?;
    generate_ok(&manifest, &dir, &[])?;
    std::fs::write(
        dir.join("handlers.py"),
        [faults::MICROPYTHON_HANDLERS, MORE_HANDLERS].concat(),
    )?;
    append_config(&dir, config)?;
    Ok(dir)
}

/// Append `lines` to the project's config.py.
pub fn append_config(dir: &Path, lines: &str) -> Result<()> {
    let path = dir.join("config.py");
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(&path, text + "\n" + lines + "\n")?;
    Ok(())
}

/// A command message: `{"commandId":id,"command":name,"payload":<payload, raw JSON>}`.
pub fn command(id: &str, name: &str, payload: &str) -> Vec<u8> {
    format!(r#"{{"commandId":"{id}","command":"{name}","payload":{payload}}}"#).into_bytes()
}

/// An `echo` command of exactly `size` bytes (a string field padded to fit).
pub fn echo_of_size(id: &str, size: usize) -> Vec<u8> {
    let empty = command(id, "echo", r#"{"pad":""}"#).len();
    let pad = "x".repeat(size.saturating_sub(empty));
    command(id, "echo", &format!(r#"{{"pad":"{pad}"}}"#))
}

/// An agent that publishes any bytes on the counting device's command topic.
pub struct CommandAgent {
    client: AsyncClient,
    responses: mpsc::UnboundedReceiver<Bytes>,
    driver: JoinHandle<()>,
}

impl CommandAgent {
    /// Connect to `127.0.0.1:port` and subscribe to the device's responses.
    pub async fn connect(port: u16, tag: &str) -> Result<Self> {
        let mut options = MqttOptions::new(format!("limits-agent-{tag}"), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (tx, responses) = mpsc::unbounded_channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<()>();
        let topic = format!("{}response", faults::prefix());
        let subscriber = client.clone();
        let driver = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = subscriber.try_subscribe(&topic, QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        if tx.send(p.payload).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .map_err(|_| anyhow!("no SUBACK within 10 s"))?
            .map_err(|_| anyhow!("the connection ended before SUBACK"))?;
        Ok(Self {
            client,
            responses,
            driver,
        })
    }

    /// Publish `message` on the command topic (QoS 1), retained when `retain`.
    pub async fn send(&self, message: Vec<u8>, retain: bool) -> Result<()> {
        let topic = format!("{}command", faults::prefix());
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, message)
            .await
            .map_err(|e| anyhow!("publishing a command: {e}"))
    }

    /// The next response to `id` within `timeout` (others are skipped).
    pub async fn answer(&mut self, id: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.responses.recv()).await {
                Ok(Some(payload)) => {
                    let response: Value = serde_json::from_slice(&payload)
                        .map_err(|e| anyhow!("a response that is not JSON ({e}): {payload:?}"))?;
                    if response["commandId"] == id {
                        return Ok(response);
                    }
                }
                Ok(None) => bail!("the agent's connection ended"),
                Err(_) => bail!("no answer to {id} within {timeout:?}"),
            }
        }
    }

    /// Send `message` and wait for the response to `id`.
    pub async fn call(&mut self, id: &str, message: Vec<u8>, timeout: Duration) -> Result<Value> {
        self.send(message, false).await?;
        self.answer(id, timeout).await
    }

    /// Responses that arrive within `quiet` of each other, whatever their id.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(payload)) = tokio::time::timeout(quiet, self.responses.recv()).await {
            out.push(serde_json::from_slice(&payload).unwrap_or(Value::Null));
        }
        out
    }

    /// Disconnect and stop the event loop.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.driver.abort();
    }
}
