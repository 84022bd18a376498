//! The gateway's side of the protocol: a client that calls device commands, watches
//! registrations and status, and acknowledges triggers. For tests, the dev gateway and
//! benchmarks; a device never needs it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};

use crate::message::{Command, Response};
use crate::topic::{self, Suffix, Topics};
use crate::transport::{BrokerUrl, Error, Scheme};

/// A message a device published, as the agent saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The device's agent.
    pub agent_id: String,
    /// The device.
    pub device_name: String,
    /// Which topic.
    pub suffix: Suffix,
    /// Raw payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message.
    pub retain: bool,
}

impl Observed {
    /// The payload as JSON (`Value::Null` when it is not JSON, e.g. a heartbeat).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or(Value::Null)
    }
}

type Waiters = Mutex<HashMap<String, oneshot::Sender<Response>>>;

/// An MQTT client playing the gateway. Cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    client: AsyncClient,
    waiters: Arc<Waiters>,
    observed: broadcast::Sender<Observed>,
    next_id: Arc<AtomicU64>,
    id_prefix: String,
}

/// What the agent subscribes to under `lua/devices/+/+/`.
const WATCHED: [Suffix; 4] = [
    Suffix::Status,
    Suffix::Response,
    Suffix::Trigger,
    Suffix::Heartbeat,
];

impl AgentClient {
    /// Connect to a plain `mqtt://` or `ws://` broker as `client_id` (clean session) and
    /// subscribe to every device's status, response, trigger and heartbeat. Returns once
    /// the subscription is acknowledged.
    pub async fn connect(url: &str, client_id: &str) -> Result<Self, Error> {
        Self::connect_with_login(url, client_id, None).await
    }

    /// [`connect`](Self::connect) with a username and password, for brokers that require one.
    pub async fn connect_with_login(
        url: &str,
        client_id: &str,
        login: Option<(&str, &str)>,
    ) -> Result<Self, Error> {
        let url = BrokerUrl::parse(url)?;
        let mut options = match url.scheme {
            Scheme::Tcp => MqttOptions::new(client_id, url.host.clone(), url.port),
            _ => {
                return Err(Error::Config(
                    "the agent client speaks plain mqtt:// only".into(),
                ))
            }
        };
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(60))
            .set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
        if let Some((username, password)) = login {
            options.set_credentials(username, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        eventloop.set_network_options(crate::transport::network_options());
        let (observed, _) = broadcast::channel(4096);
        let waiters: Arc<Waiters> = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel();
        let agent = Self {
            client: client.clone(),
            waiters: Arc::clone(&waiters),
            observed: observed.clone(),
            next_id: Arc::new(AtomicU64::new(1)),
            id_prefix: format!("{client_id}-{:x}", crate::transport::random_u32()),
        };
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let filters = WATCHED.map(|s| {
                            rumqttc::SubscribeFilter::new(
                                format!("{}+/+/{}", topic::ROOT, s.as_str()),
                                QoS::AtLeastOnce,
                            )
                        });
                        let _ = client.try_subscribe_many(filters);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Some(t) = topic::parse(&p.topic) else {
                            continue;
                        };
                        if t.suffix == Suffix::Response {
                            if let Ok(response) = serde_json::from_slice::<Response>(&p.payload) {
                                let waiter = waiters
                                    .lock()
                                    .expect("waiters")
                                    .remove(&response.command_id);
                                if let Some(waiter) = waiter {
                                    let _ = waiter.send(response);
                                }
                            }
                        }
                        let _ = observed.send(Observed {
                            agent_id: t.agent_id.to_string(),
                            device_name: t.device_name.to_string(),
                            suffix: t.suffix,
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(e) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Err(Error::Connect(Box::new(e))));
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        ready_rx.await.map_err(|_| Error::NotConnected)??;
        Ok(agent)
    }

    /// Everything devices publish from now on.
    pub fn observe(&self) -> broadcast::Receiver<Observed> {
        self.observed.subscribe()
    }

    /// A command id no other call of this client used.
    pub fn fresh_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Call `command` on a device with a fresh id and wait up to `timeout` for its response.
    pub async fn call(
        &self,
        agent_id: &str,
        device_name: &str,
        command: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Response, Error> {
        self.call_with_resend(agent_id, device_name, command, payload, timeout, 1)
            .await
    }

    /// Like [`call`](Self::call), but publish the same command (same id) again after each
    /// timeout, up to `attempts` times in all, as the gateway's retry does.
    pub async fn call_with_resend(
        &self,
        agent_id: &str,
        device_name: &str,
        command: &str,
        payload: Value,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Response, Error> {
        let command = Command {
            command_id: self.fresh_id(),
            command: command.to_string(),
            payload,
            timeout: Some(timeout.as_millis() as u64),
        };
        let (tx, mut rx) = oneshot::channel();
        self.waiters
            .lock()
            .expect("waiters")
            .insert(command.command_id.clone(), tx);
        for _ in 0..attempts.max(1) {
            self.send_command(agent_id, device_name, &command).await?;
            match tokio::time::timeout(timeout, &mut rx).await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(_)) => return Err(Error::NotConnected),
                Err(_) => {}
            }
        }
        self.waiters
            .lock()
            .expect("waiters")
            .remove(&command.command_id);
        Err(Error::Timeout)
    }

    /// Publish `command` as is (QoS 1) without waiting: for duplicates and queued commands.
    pub async fn send_command(
        &self,
        agent_id: &str,
        device_name: &str,
        command: &Command,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(command).expect("a Command always serializes");
        self.publish(agent_id, device_name, Suffix::Command, body)
            .await
    }

    /// Publish raw bytes to one of a device's topics (QoS 1, not retained).
    pub async fn publish(
        &self,
        agent_id: &str,
        device_name: &str,
        suffix: Suffix,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), Error> {
        let topic = Topics::new(agent_id, device_name).topic(suffix);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        Ok(())
    }

    /// Acknowledge a device's trigger with a fresh `triggerId`, which is returned.
    pub async fn ack_trigger(
        &self,
        agent_id: &str,
        device_name: &str,
        received: bool,
    ) -> Result<String, Error> {
        let trigger_id = format!("trg-{}", self.fresh_id());
        let body = json!({"triggerId": trigger_id, "received": received});
        self.publish(agent_id, device_name, Suffix::TriggerAck, body.to_string())
            .await?;
        Ok(trigger_id)
    }

    /// Publish the gateway's confirmation on `connected`.
    pub async fn confirm_connected(
        &self,
        agent_id: &str,
        device_name: &str,
        message: &str,
    ) -> Result<(), Error> {
        let body = json!({"message": message}).to_string();
        self.publish(agent_id, device_name, Suffix::Connected, body)
            .await
    }

    /// Publish a server error on `error`.
    pub async fn send_error(
        &self,
        agent_id: &str,
        device_name: &str,
        code: &str,
        message: &str,
    ) -> Result<(), Error> {
        let body = json!({"code": code, "message": message}).to_string();
        self.publish(agent_id, device_name, Suffix::Error, body)
            .await
    }

    /// Publish a `trigger_result`.
    pub async fn send_trigger_result(
        &self,
        agent_id: &str,
        device_name: &str,
        trigger_name: &str,
        result: Value,
    ) -> Result<(), Error> {
        let body = json!({"triggerName": trigger_name, "result": result}).to_string();
        self.publish(agent_id, device_name, Suffix::TriggerResult, body)
            .await
    }

    /// Send DISCONNECT; the event loop task ends with it.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.client.disconnect().await?;
        Ok(())
    }
}
