//! The outcome of a conformance session, and its readable renderings.

use std::fmt::Write as _;
use std::time::Duration;

use crate::recorder::{ConnectRecord, Direction, Entry, Event, Payload, PublishRecord};

/// Everything one device did in a session, as the broker and the gateway saw it.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The implementation's name (from its launcher).
    pub device: String,
    /// `lua/devices/{agentId}/{deviceName}/`, abbreviated as `{prefix}` when rendered.
    pub prefix: String,
    /// Packets through the proxy, both directions, in order.
    pub entries: Vec<Entry>,
    /// What the observer subscribed to `lua/devices/#` received, in order.
    pub observed: Vec<Observed>,
    /// What the broker published for the device after it was killed.
    pub will: Option<WillObservation>,
}

/// A message the broker delivered to the observer.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub at: Duration,
    pub topic: String,
    pub retain: bool,
    pub payload: Payload,
}

/// The last will as the broker published it after SIGKILL.
#[derive(Clone, Debug, PartialEq)]
pub struct WillObservation {
    /// Delivered live to the observer.
    pub delivered: Observed,
    /// What a client subscribing afterwards reads as the retained status (None: nothing).
    pub retained_afterwards: Option<Payload>,
}

impl Transcript {
    /// The device's own packets, in order.
    pub fn device_events(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.direction == Direction::DeviceToBroker)
    }

    /// The device's publishes on `{prefix}{suffix}`, in order, with their connection.
    pub fn publishes_on(&self, suffix: &str) -> Vec<(usize, &PublishRecord)> {
        let topic = format!("{}{suffix}", self.prefix);
        self.device_events()
            .filter_map(|e| match &e.event {
                Event::Publish(p) if p.topic == topic => Some((e.connection, p)),
                _ => None,
            })
            .collect()
    }

    /// The device's CONNECT packets, one per connection.
    pub fn connects(&self) -> Vec<(usize, &ConnectRecord)> {
        self.device_events()
            .filter_map(|e| match &e.event {
                Event::Connect(c) => Some((e.connection, c)),
                _ => None,
            })
            .collect()
    }

    /// The device's events on one connection, in order.
    pub fn connection(&self, connection: usize) -> Vec<&Event> {
        self.device_events()
            .filter(|e| e.connection == connection)
            .map(|e| &e.event)
            .collect()
    }

    /// The device's responses to `command_id`, in order.
    pub fn responses_to(&self, command_id: &str) -> Vec<&serde_json::Value> {
        self.publishes_on("response")
            .into_iter()
            .filter_map(|(_, p)| p.payload.json())
            .filter(|v| v["commandId"] == command_id)
            .collect()
    }

    /// Full text: every packet both ways with its time, then the observer's view and the will.
    pub fn render(&self) -> String {
        let mut out = format!("=== transcript of {} ===\n", self.device);
        for e in &self.entries {
            let arrow = match e.direction {
                Direction::DeviceToBroker => "dev ->",
                Direction::BrokerToDevice => "-> dev",
            };
            let _ = writeln!(
                out,
                "[{:>8.3}s] #{} {arrow} {}",
                e.at.as_secs_f64(),
                e.connection,
                self.event_line(&e.event)
            );
        }
        out.push_str("--- observer (lua/devices/#) ---\n");
        for o in &self.observed {
            let _ = writeln!(
                out,
                "[{:>8.3}s] {}",
                o.at.as_secs_f64(),
                self.observed_line(o)
            );
        }
        out.push_str("--- will after SIGKILL ---\n");
        out.push_str(&self.will_line());
        out.push('\n');
        out
    }

    /// The device's side only, without times: the lines two implementations should share.
    pub fn comparable_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .device_events()
            .map(|e| format!("#{} {}", e.connection, self.event_line(&e.event)))
            .collect();
        lines.push(format!("will: {}", self.will_line()));
        lines
    }

    /// One packet as a line, topics shortened to `{prefix}...`.
    pub fn event_line(&self, event: &Event) -> String {
        match event {
            Event::Connect(c) => format!(
                "CONNECT v3.1.1={} id={} user={} password={:?} clean={} keepalive={} will=[{}]",
                c.protocol_v4,
                c.client_id,
                c.username.as_deref().unwrap_or("-"),
                c.password,
                c.clean_session,
                c.keep_alive,
                c.will
                    .as_ref()
                    .map(|w| self.publish_line(w))
                    .unwrap_or_else(|| "none".into())
            ),
            Event::Subscribe(filters) => {
                let filters: Vec<String> = filters
                    .iter()
                    .map(|(t, q)| format!("{}@q{q}", self.short(t)))
                    .collect();
                format!("SUBSCRIBE {}", filters.join(" "))
            }
            Event::Publish(p) => format!("PUBLISH {}", self.publish_line(p)),
            Event::Disconnect => "DISCONNECT".into(),
            Event::Closed => "(tcp closed)".into(),
            Event::Undecodable(e) => format!("(undecodable: {e})"),
        }
    }

    fn publish_line(&self, p: &PublishRecord) -> String {
        format!(
            "{} q{}{} {}",
            self.short(&p.topic),
            p.qos,
            if p.retain { " retained" } else { "" },
            render_payload(&p.payload)
        )
    }

    fn observed_line(&self, o: &Observed) -> String {
        format!(
            "{}{} {}",
            self.short(&o.topic),
            if o.retain { " retained" } else { "" },
            render_payload(&o.payload)
        )
    }

    fn will_line(&self) -> String {
        match &self.will {
            None => "none observed".into(),
            Some(w) => format!(
                "delivered {}; retained afterwards: {}",
                self.observed_line(&w.delivered),
                w.retained_afterwards
                    .as_ref()
                    .map(render_payload)
                    .unwrap_or_else(|| "nothing".into())
            ),
        }
    }

    fn short(&self, topic: &str) -> String {
        match topic.strip_prefix(&self.prefix) {
            Some(suffix) => format!("{{prefix}}{suffix}"),
            None => topic.to_string(),
        }
    }
}

/// A payload as one line of text.
/// JSON objects are rendered with sorted keys: key order carries no meaning in JSON, and it
/// differs between serializers (serde_json's order depends on a feature other crates enable).
pub fn render_payload(p: &Payload) -> String {
    match p {
        Payload::Empty => "(empty)".into(),
        Payload::Json(v) => canonical(v).to_string(),
        Payload::Text(t) => format!("(not JSON) {t:?}"),
    }
}

fn canonical(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

/// Two transcripts' comparable lines in two columns; rows that differ are marked `!`.
pub fn side_by_side(left: &Transcript, right: &Transcript) -> String {
    const WIDTH: usize = 90;
    let l = left.comparable_lines();
    let r = right.comparable_lines();
    let mut out = format!("  {:<WIDTH$} | {}\n", left.device, right.device);
    for i in 0..l.len().max(r.len()) {
        let a = l.get(i).map(String::as_str).unwrap_or("");
        let b = r.get(i).map(String::as_str).unwrap_or("");
        let mark = if a == b { ' ' } else { '!' };
        let a = wrap(a, WIDTH);
        let b = wrap(b, WIDTH);
        for row in 0..a.len().max(b.len()) {
            let _ = writeln!(
                out,
                "{} {:<WIDTH$} | {}",
                if row == 0 { mark } else { ' ' },
                a.get(row).map(String::as_str).unwrap_or(""),
                b.get(row).map(String::as_str).unwrap_or("")
            );
        }
    }
    out
}

fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}
