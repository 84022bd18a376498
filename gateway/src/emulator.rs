//! The server's part of the protocol, played for every device that connects: registration
//! check and manifest record, `connected` confirmation, trigger acks (and, when configured,
//! trigger results: [`crate::answer`]), heartbeat pongs, and the
//! online/offline bookkeeping published as the retained device directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use lua_device::timestamp::iso8601;
use lua_device::topic::{self, Suffix, Topics};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::answer::{Answering, TriggerAnswers, TriggerCall};
use crate::directory::{directory_topic, DeviceRecord};
use crate::keys::{is_registration, loggable_payload, KeyPolicy};
use crate::link::nodelay;

/// Devices by (agent id, device name), shared with [`crate::Gateway`].
pub(crate) type Devices = Arc<Mutex<BTreeMap<(String, String), DeviceRecord>>>;

pub(crate) struct Emulator {
    client: AsyncClient,
    keys: Arc<KeyPolicy>,
    devices: Devices,
    next_trigger: AtomicU64,
    /// What answers triggers after their ack, when something does.
    answering: Option<Answering>,
}

impl Emulator {
    /// Connect to the broker's private port and start answering; returns once subscribed.
    pub(crate) async fn start(
        broker: SocketAddr,
        ticket: &str,
        keys: Arc<KeyPolicy>,
        devices: Devices,
        answers: &TriggerAnswers,
    ) -> Result<JoinHandle<()>> {
        let mut options = MqttOptions::new(
            "luagen-gateway-emulator",
            broker.ip().to_string(),
            broker.port(),
        );
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(60))
            .set_max_packet_size(5 * 1024 * 1024, 5 * 1024 * 1024)
            .set_credentials("luagen-gateway", ticket);
        let (client, mut eventloop) = AsyncClient::new(options, 4096);
        eventloop.set_network_options(nodelay());
        let emulator = Arc::new(Emulator {
            client: client.clone(),
            keys,
            devices,
            next_trigger: AtomicU64::new(1),
            answering: Answering::new(answers, client.clone()),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let every = format!("{}+/+/+", topic::ROOT);
                        let _ = client.try_subscribe(every, QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        // Answers are published from the event loop's own task: the client's
                        // queue is large, and `try_publish` never waits on the loop itself.
                        emulator.handle(&p);
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "gateway emulator lost the broker");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .map_err(|_| anyhow!("the gateway emulator did not subscribe in time"))?
            .map_err(|_| anyhow!("the gateway emulator stopped"))?;
        Ok(task)
    }

    fn handle(&self, p: &Publish) {
        let Some(t) = topic::parse(&p.topic) else {
            return;
        };
        let (agent, device) = (t.agent_id, t.device_name);
        match t.suffix {
            Suffix::Status => self.on_status(agent, device, &p.payload, p.retain),
            Suffix::Trigger => self.on_trigger(agent, device, &p.payload),
            Suffix::Heartbeat => {
                self.touch(agent, device);
                self.send(agent, device, Suffix::Pong, json!({"timestamp": now()}));
            }
            Suffix::Response => {
                let r: Value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                let ok = r.get("success").and_then(Value::as_bool) == Some(true);
                let id = r.get("commandId").and_then(Value::as_str).unwrap_or("?");
                tracing::info!(
                    "{agent}:{device} answered {id}: {}",
                    if ok { "success" } else { "FAILURE" }
                );
                self.touch(agent, device);
            }
            // The gateway's own and the agent's messages.
            _ => {}
        }
    }

    fn on_status(&self, agent: &str, device: &str, payload: &[u8], retained: bool) {
        let Ok(status) = serde_json::from_slice::<Value>(payload) else {
            tracing::warn!("{agent}:{device} sent a status that is not JSON");
            return;
        };
        if is_registration(&status) {
            if retained {
                tracing::warn!("{agent}:{device} RETAINED its registration: the API key is now stored by the broker");
            }
            self.on_registration(agent, device, &status);
            return;
        }
        let online = status.get("status").and_then(Value::as_str) == Some("online");
        let group = status
            .get("group")
            .and_then(Value::as_str)
            .map(str::to_string);
        let changed = self.update(agent, device, |r| {
            let was = r.online;
            r.online = online;
            if group.is_some() {
                r.group = group.clone();
            }
            was != online
        });
        if changed {
            if online {
                tracing::info!("{agent}:{device} is ONLINE");
            } else {
                tracing::info!("{agent}:{device} is OFFLINE (graceful disconnect or last will)");
            }
        }
    }

    fn on_registration(&self, agent: &str, device: &str, registration: &Value) {
        let key = registration
            .get("apiKey")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !self.keys.accepts(agent, key) {
            tracing::warn!(
                "{agent}:{device} REFUSED registration: invalid API key ({})",
                loggable_payload(registration.to_string().as_bytes())
            );
            self.send(
                agent,
                device,
                Suffix::Error,
                json!({"code": "INVALID_API_KEY", "message": "The registration's API key is not valid for this agent"}),
            );
            return;
        }
        let commands = registration
            .get("commands")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let group = registration
            .get("group")
            .and_then(Value::as_str)
            .map(str::to_string);
        let names: Vec<&str> = commands
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect();
        tracing::info!(
            "{agent}:{device} REGISTERED {} [{}]{}",
            crate::count(names.len(), "command"),
            names.join(", "),
            group
                .as_deref()
                .map(|g| format!(" in group {g}"))
                .unwrap_or_default()
        );
        let message = format!(
            "Registered {} with the luagen dev gateway",
            crate::count(commands.len(), "command")
        );
        self.update(agent, device, |r| {
            r.online = true;
            r.registered = true;
            r.group = group.clone();
            r.commands = commands.clone();
            true
        });
        self.send(
            agent,
            device,
            Suffix::Connected,
            json!({ "message": message }),
        );
    }

    fn on_trigger(&self, agent: &str, device: &str, payload: &[u8]) {
        let trigger: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let name = trigger
            .get("triggerName")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let registered = self
            .devices
            .lock()
            .expect("devices")
            .get(&(agent.to_string(), device.to_string()))
            .is_some_and(|r| r.registered);
        let trigger_id = format!(
            "trg-{:x}-{}",
            unix_ms(),
            self.next_trigger.fetch_add(1, Ordering::Relaxed)
        );
        if registered {
            let shown = match trigger.get("payload") {
                Some(p) => loggable_payload(p.to_string().as_bytes()),
                None => "{}".to_string(),
            };
            tracing::info!("{agent}:{device} TRIGGER {name} {shown} → ack {trigger_id}");
            self.send(
                agent,
                device,
                Suffix::TriggerAck,
                json!({"triggerId": trigger_id, "received": true}),
            );
            let named = trigger.get("triggerName").and_then(Value::as_str);
            if let (Some(answering), Some(name)) = (&self.answering, named) {
                answering.dispatch(TriggerCall {
                    agent_id: agent.to_string(),
                    device_name: device.to_string(),
                    trigger_name: name.to_string(),
                    trigger_id,
                    payload: trigger.get("payload").cloned().unwrap_or_else(|| json!({})),
                });
            }
        } else {
            tracing::warn!("{agent}:{device} TRIGGER {name} from an unregistered device: refused");
            self.send(
                agent,
                device,
                Suffix::TriggerAck,
                json!({"triggerId": trigger_id, "received": false, "error": "Device is not registered"}),
            );
        }
        self.touch(agent, device);
    }

    fn touch(&self, agent: &str, device: &str) {
        if let Some(r) = self
            .devices
            .lock()
            .expect("devices")
            .get_mut(&(agent.to_string(), device.to_string()))
        {
            r.last_seen = now();
        }
    }

    /// Apply `change` to the device's record; republish its directory entry when it says so.
    fn update(
        &self,
        agent: &str,
        device: &str,
        change: impl FnOnce(&mut DeviceRecord) -> bool,
    ) -> bool {
        let record = {
            let mut devices = self.devices.lock().expect("devices");
            let record = devices
                .entry((agent.to_string(), device.to_string()))
                .or_insert_with(|| DeviceRecord::new(agent, device));
            record.last_seen = now();
            if !change(record) {
                return false;
            }
            record.clone()
        };
        let body = serde_json::to_vec(&record).expect("a record always serializes");
        if let Err(e) =
            self.client
                .try_publish(directory_topic(agent, device), QoS::AtLeastOnce, true, body)
        {
            tracing::error!(error = %e, "could not publish the device directory");
        }
        true
    }

    fn send(&self, agent: &str, device: &str, suffix: Suffix, body: Value) {
        let topic = Topics::new(agent, device).topic(suffix);
        let qos = if suffix == Suffix::Pong {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        tracing::debug!("gateway → {topic} {body}");
        if let Err(e) = self.client.try_publish(topic, qos, false, body.to_string()) {
            tracing::error!(error = %e, "gateway could not answer");
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn now() -> String {
    iso8601(unix_ms())
}
