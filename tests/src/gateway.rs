//! The gateway's side of the conversation: a plain rumqttc client that sends commands, answers
//! triggers and watches what the broker delivers. Independent of the `lua-device` crate on
//! purpose, so it can judge it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS, SubscribeFilter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message the broker delivered to the gateway.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub topic: String,
    pub payload: Bytes,
    /// True when the broker sent it as a retained message (on subscribe).
    pub retain: bool,
    pub received: Instant,
}

impl Delivery {
    /// The payload parsed as JSON (`null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// A connected client with a subscription and an inbox.
pub struct Gateway {
    client: AsyncClient,
    inbox: mpsc::UnboundedReceiver<Delivery>,
    /// Deliveries skipped by an [`Gateway::expect`] that was looking for something else.
    backlog: VecDeque<Delivery>,
    driver: JoinHandle<()>,
}

impl Gateway {
    /// Connect to `127.0.0.1:port` and subscribe (QoS 1) to `filters` before returning.
    pub async fn connect(port: u16, client_id: &str, filters: &[String]) -> Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_inflight(1000)
            .set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 100_000);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (tx, inbox) = mpsc::unbounded_channel();
        wait_for(&mut eventloop, &tx, |i| matches!(i, Incoming::ConnAck(_)))
            .await
            .with_context(|| format!("{client_id}: connecting to 127.0.0.1:{port}"))?;
        if !filters.is_empty() {
            let subs = filters
                .iter()
                .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
            client.subscribe_many(subs).await?;
            wait_for(&mut eventloop, &tx, |i| matches!(i, Incoming::SubAck(_)))
                .await
                .with_context(|| format!("{client_id}: subscribing to {filters:?}"))?;
        }
        let driver = tokio::spawn(drive(eventloop, tx));
        Ok(Self {
            client,
            inbox,
            backlog: VecDeque::new(),
            driver,
        })
    }

    /// Publish QoS 1, not retained.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| anyhow!("publishing to {topic}: {e}"))
    }

    /// The handle, for callers that drive publishing themselves (the benchmark).
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// The next delivery, oldest first, or an error after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Delivery> {
        if let Some(d) = self.backlog.pop_front() {
            return Ok(d);
        }
        match tokio::time::timeout(timeout, self.inbox.recv()).await {
            Ok(Some(d)) => Ok(d),
            Ok(None) => bail!("the gateway's connection ended"),
            Err(_) => bail!("nothing delivered within {timeout:?}"),
        }
    }

    /// The first delivery matching `want`; others stay queued, in order, for later calls.
    pub async fn expect(
        &mut self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Delivery) -> bool,
    ) -> Result<Delivery> {
        if let Some(pos) = self.backlog.iter().position(&want) {
            return Ok(self.backlog.remove(pos).expect("position is in range"));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(d)) if want(&d) => return Ok(d),
                Ok(Some(d)) => self.backlog.push_back(d),
                Ok(None) => bail!("the gateway's connection ended while waiting for {what}"),
                Err(_) => bail!(
                    "timed out after {timeout:?} waiting for {what}; meanwhile got: {}",
                    describe(&self.backlog)
                ),
            }
        }
    }

    /// Everything delivered and not yet taken, without waiting.
    pub fn drain(&mut self) -> Vec<Delivery> {
        let mut all: Vec<Delivery> = self.backlog.drain(..).collect();
        while let Ok(d) = self.inbox.try_recv() {
            all.push(d);
        }
        all
    }

    /// Send DISCONNECT and stop the event loop.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        // The driver ends once the DISCONNECT is out; do not wait for ever if it cannot.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.driver.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn wait_for(
    eventloop: &mut EventLoop,
    tx: &mpsc::UnboundedSender<Delivery>,
    done: impl Fn(&Incoming) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, eventloop.poll())
            .await
            .map_err(|_| anyhow!("no answer from the broker within 10 s"))??;
        if let Event::Incoming(incoming) = event {
            if done(&incoming) {
                return Ok(());
            }
            forward(incoming, tx);
        }
    }
}

async fn drive(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Delivery>) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(incoming)) => forward(incoming, &tx),
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

fn forward(incoming: Incoming, tx: &mpsc::UnboundedSender<Delivery>) {
    if let Incoming::Publish(p) = incoming {
        let _ = tx.send(Delivery {
            topic: p.topic,
            payload: p.payload,
            retain: p.retain,
            received: Instant::now(),
        });
    }
}

fn describe(deliveries: &VecDeque<Delivery>) -> String {
    if deliveries.is_empty() {
        return "nothing".into();
    }
    deliveries
        .iter()
        .map(|d| format!("{} {}", d.topic, String::from_utf8_lossy(&d.payload)))
        .collect::<Vec<_>>()
        .join("; ")
}
