//! What the recording proxy keeps of each MQTT packet: the wire facts, with volatile values
//! masked and the API key never stored.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe};
use rumqttc::mqttbytes::QoS;
use serde_json::Value;

/// Which way a packet travelled through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    DeviceToBroker,
    BrokerToDevice,
}

/// One recorded fact, in the order the proxy saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Time since the recorder was created.
    pub at: Duration,
    /// The proxy numbers the device's TCP connections from 0 in accept order.
    pub connection: usize,
    pub direction: Direction,
    pub event: Event,
}

/// A packet (or the end of a stream) as the transcript keeps it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Connect(ConnectRecord),
    Subscribe(Vec<(String, u8)>),
    Publish(PublishRecord),
    Disconnect,
    /// The sender closed its side of the TCP stream.
    Closed,
    /// Bytes the codec rejected; decoding of this direction stops, forwarding goes on.
    Undecodable(String),
}

/// The CONNECT fields the protocol pins down.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectRecord {
    pub protocol_v4: bool,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Password,
    pub clean_session: bool,
    pub keep_alive: u16,
    pub will: Option<PublishRecord>,
}

/// Whether the CONNECT carried the expected API key; the key itself is never recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Password {
    Absent,
    ExpectedKey,
    OtherValue,
}

/// A PUBLISH (or a last will) with its payload masked.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishRecord {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: Payload,
}

/// A payload as compared between implementations.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Empty,
    Json(Value),
    /// Not JSON: kept as (lossy) text so the difference shows.
    Text(String),
}

impl Payload {
    /// The JSON value, if the payload was JSON.
    pub fn json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            _ => None,
        }
    }
}

/// Stands in for every ISO-8601 UTC `timestamp` value.
pub const MASKED_TIMESTAMP: &str = "<ts>";
/// Stands in for the API key wherever it appears in a payload.
pub const MASKED_API_KEY: &str = "<api-key>";

/// Turns packets into [`Entry`]s; shared by the proxy's pump tasks.
#[derive(Clone)]
pub struct Recorder {
    started: Instant,
    api_key: Arc<str>,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Recorder {
    /// A recorder that masks `api_key` in everything it keeps.
    pub fn new(api_key: &str) -> Self {
        Self {
            started: Instant::now(),
            api_key: api_key.into(),
            entries: Arc::default(),
        }
    }

    /// Record a decoded packet; acks and pings are not part of the contract and are skipped.
    pub fn packet(&self, connection: usize, direction: Direction, packet: Packet) {
        let event = match packet {
            Packet::Connect(c) => Event::Connect(self.connect(c)),
            Packet::Subscribe(s) => Event::Subscribe(subscribe(s)),
            Packet::Publish(p) => Event::Publish(self.publish(p)),
            Packet::Disconnect => Event::Disconnect,
            _ => return,
        };
        self.event(connection, direction, event);
    }

    /// Record a non-packet event (stream closed, codec error).
    pub fn event(&self, connection: usize, direction: Direction, event: Event) {
        let entry = Entry {
            at: self.started.elapsed(),
            connection,
            direction,
            event,
        };
        self.entries.lock().expect("recorder lock").push(entry);
    }

    /// Everything recorded so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().expect("recorder lock").clone()
    }

    /// Time since the recorder was created, on the same clock as [`Entry::at`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Mask a raw payload the way recorded publishes are masked.
    pub fn payload(&self, bytes: &[u8]) -> Payload {
        mask_payload(bytes, &self.api_key)
    }

    fn connect(&self, c: Connect) -> ConnectRecord {
        let (username, password) = match c.login {
            None => (None, Password::Absent),
            Some(login) => {
                let password = if login.password.is_empty() {
                    Password::Absent
                } else if login.password == *self.api_key {
                    Password::ExpectedKey
                } else {
                    Password::OtherValue
                };
                (Some(login.username), password)
            }
        };
        ConnectRecord {
            protocol_v4: matches!(c.protocol, rumqttc::mqttbytes::Protocol::V4),
            client_id: c.client_id,
            username,
            password,
            clean_session: c.clean_session,
            keep_alive: c.keep_alive,
            will: c.last_will.map(|w| PublishRecord {
                topic: w.topic,
                qos: qos(w.qos),
                retain: w.retain,
                payload: self.payload(&w.message),
            }),
        }
    }

    fn publish(&self, p: Publish) -> PublishRecord {
        PublishRecord {
            topic: p.topic,
            qos: qos(p.qos),
            retain: p.retain,
            payload: self.payload(&p.payload),
        }
    }
}

fn subscribe(s: Subscribe) -> Vec<(String, u8)> {
    s.filters
        .into_iter()
        .map(|f| (f.path, qos(f.qos)))
        .collect()
}

/// The QoS as its wire number.
pub fn qos(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// Parse a payload as JSON and mask its volatile and secret values.
pub fn mask_payload(bytes: &[u8], api_key: &str) -> Payload {
    if bytes.is_empty() {
        return Payload::Empty;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) => {
            mask_value(&mut value, api_key);
            Payload::Json(value)
        }
        Err(_) => Payload::Text(String::from_utf8_lossy(bytes).replace(api_key, MASKED_API_KEY)),
    }
}

fn mask_value(value: &mut Value, api_key: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "timestamp" {
                    if let Value::String(ts) = v {
                        // A malformed timestamp stays visible so it fails the comparison.
                        if is_iso8601_utc(ts) {
                            *v = Value::String(MASKED_TIMESTAMP.into());
                        }
                        continue;
                    }
                }
                mask_value(v, api_key);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, api_key)),
        Value::String(s) if s == api_key => *s = MASKED_API_KEY.into(),
        _ => {}
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`: what both `isoformat()` on an aware UTC
/// datetime and `toISOString()` produce.
pub fn is_iso8601_utc(ts: &str) -> bool {
    let Some(body) = ts.strip_suffix('Z').or_else(|| ts.strip_suffix("+00:00")) else {
        return false;
    };
    let b = body.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let fraction = &body[19.min(body.len())..];
    shape
        && (fraction.is_empty()
            || (fraction.len() > 1
                && fraction.starts_with('.')
                && fraction[1..].bytes().all(|c| c.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_from_python_and_javascript_are_masked() {
        let p = mask_payload(
            br#"{"status":"offline","timestamp":"2025-01-15T10:30:00.123456+00:00"}"#,
            "k",
        );
        assert_eq!(
            p,
            Payload::Json(json!({"status":"offline","timestamp":"<ts>"}))
        );
        let p = mask_payload(br#"{"timestamp":"2025-01-15T10:30:00.000Z"}"#, "k");
        assert_eq!(p, Payload::Json(json!({"timestamp":"<ts>"})));
    }

    #[test]
    fn a_timestamp_that_is_not_utc_iso8601_stays_visible() {
        for bad in [
            "2025-01-15 10:30:00Z",
            "2025-01-15T10:30:00+02:00",
            "1736937000",
            "2025-01-15T10:30:00.",
        ] {
            let raw = format!(r#"{{"timestamp":"{bad}"}}"#);
            assert_eq!(
                mask_payload(raw.as_bytes(), "k"),
                Payload::Json(json!({ "timestamp": bad })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_api_key_is_masked_anywhere() {
        let p = mask_payload(br#"{"apiKey":"s3cret","nested":["s3cret"]}"#, "s3cret");
        assert_eq!(
            p,
            Payload::Json(json!({"apiKey":"<api-key>","nested":["<api-key>"]}))
        );
        assert_eq!(
            mask_payload(b"key=s3cret", "s3cret"),
            Payload::Text("key=<api-key>".into())
        );
        assert_eq!(mask_payload(b"", "s3cret"), Payload::Empty);
    }
}
