//! The agent's side of a broker connection, shared by `call`, `devices`, `monitor` and the demo.
//! Any broker: the embedded gateway, mosquitto, or a hosted one over `mqtt://` or `ws://`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use lua_device::transport::{BrokerUrl, Scheme};
use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode, Transport,
};
use tokio::sync::{broadcast, oneshot};

/// Who the tools connect as: username `{agentId}`, password the API key (when the broker
/// wants one).
#[derive(Clone, Debug)]
pub struct AgentLogin {
    /// Broker URL, `mqtt://host[:port]` or `ws://host[:port]/path`.
    pub url: String,
    /// The agent whose devices are addressed.
    pub agent_id: String,
    /// The agent's API key; `None` connects without credentials.
    pub api_key: Option<String>,
}

/// How long connecting may take, TCP and CONNACK together: a host that drops the packets, or a
/// server that accepts the socket but never answers, fails after this instead of never.
const CONNECT_TIMEOUT_S: u64 = 5;

/// Nothing answered at the broker URL: nothing listens there, the host is unreachable or
/// unknown, or what listens never spoke MQTT. Front ends can tell it apart (`downcast_ref`) to
/// say how to get a broker.
#[derive(Debug)]
pub struct NoBroker {
    /// The URL tried.
    pub url: String,
    /// What the network said.
    pub cause: String,
}

impl std::fmt::Display for NoBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no MQTT broker answered at {} ({})",
            self.url, self.cause
        )
    }
}

impl std::error::Error for NoBroker {}

/// A message the broker delivered.
#[derive(Clone, Debug)]
pub struct Message {
    /// Full topic.
    pub topic: String,
    /// Raw payload.
    pub payload: Bytes,
    /// Delivered from the broker's retained store.
    pub retain: bool,
}

/// A connected agent-side client. Cheap to clone.
#[derive(Clone)]
pub struct AgentLink {
    client: AsyncClient,
    incoming: broadcast::Sender<Message>,
    agent_id: String,
    id_prefix: String,
    next_id: Arc<AtomicU64>,
}

impl AgentLink {
    /// Connect (clean session) and subscribe to `filters` (QoS 1). Returns once the broker has
    /// granted every subscription, with a receiver that already holds any retained messages.
    pub async fn connect(
        login: &AgentLogin,
        filters: &[String],
    ) -> Result<(Self, broadcast::Receiver<Message>)> {
        let url = BrokerUrl::parse(&login.url).map_err(|e| anyhow!("{e}"))?;
        let nonce = random_u64();
        let client_id = format!("luagen-{}-{:x}", login.agent_id, nonce & 0xffff_ffff);
        let mut options = match url.scheme {
            Scheme::Tcp => MqttOptions::new(&client_id, url.host.clone(), url.port),
            Scheme::Ws => {
                let mut o = MqttOptions::new(
                    &client_id,
                    format!("ws://{}:{}{}", url.host, url.port, url.path),
                    url.port,
                );
                o.set_transport(Transport::Ws);
                o
            }
            Scheme::Tls | Scheme::Wss => {
                bail!(
                    "the luagen tools speak mqtt:// and ws://; {} needs TLS",
                    login.url
                )
            }
        };
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(60))
            .set_max_packet_size(5 * 1024 * 1024, 5 * 1024 * 1024);
        if let Some(key) = &login.api_key {
            options.set_credentials(login.agent_id.clone(), key.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let mut network = nodelay();
        network.set_connection_timeout(CONNECT_TIMEOUT_S);
        eventloop.set_network_options(network);
        let (incoming, first_rx) = broadcast::channel(8192);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        let wanted: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        let task_client = client.clone();
        let task_incoming = incoming.clone();
        let task_url = login.url.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if wanted.is_empty() {
                            if let Some(r) = ready.take() {
                                let _ = r.send(Ok(()));
                            }
                        } else {
                            let _ = task_client.try_subscribe_many(wanted.clone());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let refused = ack
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, SubscribeReasonCode::Failure));
                        if let Some(r) = ready.take() {
                            let _ = r.send(if refused {
                                Err(anyhow!("the broker refused a subscription"))
                            } else {
                                Ok(())
                            });
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = task_incoming.send(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.clone(),
                            retain: p.retain,
                        });
                    }
                    // Our own DISCONNECT: the broker closes next, which is no loss.
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(ConnectionError::RequestsDone) => return,
                    Err(e) => {
                        // The first connection fails once and for all: retrying is for a link
                        // that worked and dropped.
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(describe(e, &task_url)));
                            return;
                        }
                        tracing::warn!(error = %e, "broker connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        match ready_rx
            .await
            .map_err(|_| anyhow!("the connection task ended"))?
        {
            Ok(()) => {}
            // It names the URL already.
            Err(e) if e.is::<NoBroker>() => return Err(e),
            Err(e) => return Err(e.context(format!("connecting to {}", login.url))),
        }
        Ok((
            Self {
                client,
                incoming,
                agent_id: login.agent_id.clone(),
                id_prefix: format!("luagen-{:x}", nonce >> 16),
                next_id: Arc::new(AtomicU64::new(1)),
            },
            first_rx,
        ))
    }

    /// Messages delivered from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.incoming.subscribe()
    }

    /// The agent this link acts for.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// A command id no other call of this process used, and unlikely in any other.
    pub fn fresh_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Publish at QoS 1, not retained.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .context("publishing")
    }

    /// Send DISCONNECT.
    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }
}

/// Why the first connection failed, for a person to act on.
fn describe(e: ConnectionError, url: &str) -> anyhow::Error {
    let no_broker = |cause: String| {
        anyhow::Error::new(NoBroker {
            url: url.to_string(),
            cause,
        })
    };
    match e {
        ConnectionError::ConnectionRefused(code) => {
            anyhow!("the broker refused the connection ({code:?}): check the agent id and API key")
        }
        // Before CONNACK, an I/O error means no MQTT server is on the other end: refused,
        // unreachable, unknown host, or a peer that hung up on CONNECT.
        ConnectionError::Io(io) => no_broker(io.to_string()),
        ConnectionError::NetworkTimeout => {
            no_broker(format!("no answer within {CONNECT_TIMEOUT_S} s"))
        }
        other => anyhow!("{other}"),
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Small packets go out at once: Nagle plus delayed ACKs cost ~40 ms per round trip.
pub(crate) fn nodelay() -> rumqttc::NetworkOptions {
    let mut options = rumqttc::NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}
