//! The gateway's side of the field soak: commands out (resent, same id, when late), answers
//! in, triggers acknowledged and now and then answered with a `trigger_result`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use super::{AGENT, MICROPYTHON_NAME, PICO_NAME, RESEND_AFTER};

/// What the agent saw of one device.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) sent: u64,
    pub(super) answered: u64,
    /// Ids answered twice with different sequence numbers: ran twice.
    pub(super) doubled: u64,
    pub(super) latencies_ms: Vec<f64>,
    /// When each command was first sent and when its first answer came.
    pub(super) answers: Vec<(Instant, Instant)>,
    pub(super) results_sent: u64,
}

impl Seen {
    pub(super) fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
}

struct Pending {
    device: &'static str,
    command: String,
    payload: Value,
    first: Instant,
    last: Instant,
}

#[derive(Default)]
struct Book {
    pending: HashMap<String, Pending>,
    answered: HashMap<String, Option<u64>>,
    seen: HashMap<&'static str, Seen>,
    stats: HashMap<(String, u64), Value>,
    ticks: u64,
}

/// The gateway's side: sends commands, acknowledges triggers, answers some with a result.
pub(super) struct Agent {
    client: AsyncClient,
    book: Arc<Mutex<Book>>,
}

fn device_of(topic: &str) -> Option<&'static str> {
    [MICROPYTHON_NAME, PICO_NAME]
        .into_iter()
        .find(|d| topic.starts_with(&format!("lua/devices/{AGENT}/{d}/")))
}

impl Agent {
    pub(super) async fn connect(port: u16) -> Result<Self> {
        let mut options = MqttOptions::new("field-soak-agent", "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let book = Arc::new(Mutex::new(Book::default()));
        for d in [MICROPYTHON_NAME, PICO_NAME] {
            book.lock().unwrap().seen.insert(d, Seen::default());
        }
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<()>();
        let driver = {
            let client = client.clone();
            let book = book.clone();
            async move {
                let mut ready_tx = Some(ready_tx);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            // Subscriptions are the connection's: made again after each restart.
                            for d in [MICROPYTHON_NAME, PICO_NAME] {
                                for suffix in ["response", "trigger"] {
                                    let _ = client
                                        .subscribe(
                                            format!("lua/devices/{AGENT}/{d}/{suffix}"),
                                            QoS::AtLeastOnce,
                                        )
                                        .await;
                                }
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        // Retained messages come with each subscription: not news.
                        Ok(Event::Incoming(Packet::Publish(p))) if !p.retain => {
                            on_publish(&client, &book, &p.topic, &p.payload).await;
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        };
        tokio::spawn(driver);
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .map_err(|_| anyhow!("the soak agent got no SUBACK within 10 s"))??;
        Ok(Self { client, book })
    }

    async fn publish(&self, device: &str, id: &str, command: &str, payload: &Value) -> Result<()> {
        let message = json!({"commandId": id, "command": command, "payload": payload});
        self.client
            .publish(
                format!("lua/devices/{AGENT}/{device}/command"),
                QoS::AtLeastOnce,
                false,
                message.to_string(),
            )
            .await
            .map_err(|e| anyhow!("publishing a command: {e}"))
    }

    pub(super) async fn send(
        &self,
        device: &'static str,
        id: &str,
        command: &str,
        payload: Value,
    ) -> Result<()> {
        {
            let mut book = self.book.lock().unwrap();
            let now = Instant::now();
            book.pending.insert(
                id.to_string(),
                Pending {
                    device,
                    command: command.into(),
                    payload: payload.clone(),
                    first: now,
                    last: now,
                },
            );
            book.seen.get_mut(device).expect("a soak device").sent += 1;
        }
        self.publish(device, id, command, &payload).await
    }

    /// Send again, same id, every command unanswered for [`RESEND_AFTER`].
    pub(super) async fn resend_late(&self) -> Result<()> {
        let late: Vec<(String, &'static str, String, Value)> = {
            let mut book = self.book.lock().unwrap();
            let now = Instant::now();
            book.pending
                .iter_mut()
                .filter(|(_, p)| now - p.last >= RESEND_AFTER)
                .map(|(id, p)| {
                    p.last = now;
                    (id.clone(), p.device, p.command.clone(), p.payload.clone())
                })
                .collect()
        };
        for (id, device, command, payload) in late {
            self.publish(device, &id, &command, &payload).await?;
        }
        Ok(())
    }

    pub(super) fn unanswered(&self) -> usize {
        self.book.lock().unwrap().pending.len()
    }

    /// The device's `stats` (not counted as work).
    pub(super) async fn stats(&self, device: &'static str, n: u64) -> Result<Value> {
        let id = format!("{device}-stats-{n}");
        self.publish(device, &id, "stats", &json!({})).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = self
                .book
                .lock()
                .unwrap()
                .stats
                .remove(&(device.to_string(), n))
            {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("{device} did not answer stats within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) fn report(&self) -> HashMap<&'static str, Seen> {
        std::mem::take(&mut self.book.lock().unwrap().seen)
    }
}

async fn on_publish(client: &AsyncClient, book: &Mutex<Book>, topic: &str, payload: &[u8]) {
    let Some(device) = device_of(topic) else {
        return;
    };
    let message: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    if topic.ends_with("/response") {
        let Some(id) = message["commandId"].as_str() else {
            return;
        };
        let mut book = book.lock().unwrap();
        if let Some(rest) = id.strip_prefix(&format!("{device}-stats-")) {
            let n = if rest == u64::MAX.to_string() {
                u64::MAX
            } else {
                rest.parse().unwrap_or(0)
            };
            book.stats
                .insert((device.to_string(), n), message["data"].clone());
            return;
        }
        let seq = message["data"]["seq"].as_u64();
        if let Some(pending) = book.pending.remove(id) {
            let seen = book.seen.get_mut(device).expect("a soak device");
            seen.answered += 1;
            seen.latencies_ms
                .push(pending.first.elapsed().as_secs_f64() * 1e3);
            seen.answers.push((pending.first, Instant::now()));
            book.answered.insert(id.to_string(), seq);
        } else if let Some(first) = book.answered.get(id).copied() {
            // A replay carries the first answer; a different sequence number is a second run.
            if first != seq {
                book.seen.get_mut(device).expect("a soak device").doubled += 1;
            }
        }
    } else if topic.ends_with("/trigger") {
        let prefix = format!("lua/devices/{AGENT}/{device}/");
        let n = {
            let mut book = book.lock().unwrap();
            book.ticks += 1;
            book.ticks
        };
        let ack = json!({"triggerId": format!("t-{n}"), "received": true});
        let _ = client
            .publish(
                format!("{prefix}trigger_ack"),
                QoS::AtLeastOnce,
                false,
                ack.to_string(),
            )
            .await;
        // Every third trigger the agent's handler returns something.
        if n.is_multiple_of(3) {
            let result = json!({"triggerName": message["triggerName"], "result": {"seen": message["payload"]["n"]}});
            let _ = client
                .publish(
                    format!("{prefix}trigger_result"),
                    QoS::AtLeastOnce,
                    false,
                    result.to_string(),
                )
                .await;
            book.lock()
                .unwrap()
                .seen
                .get_mut(device)
                .expect("a soak device")
                .results_sent += 1;
        }
    }
}
