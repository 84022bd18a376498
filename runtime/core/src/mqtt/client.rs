//! The client side of one MQTT 3.1.1 connection: packet ids, QoS 1 in flight, keep-alive.
//!
//! A [`Client`] outlives connections: with clean session false, QoS 1 publishes the broker
//! never acknowledged are sent again (DUP set) after the next CONNACK, as MQTT 3.1.1 §4.4
//! requires.
//!
//! What it buffers from the broker is bounded by `max_packet`: a larger PUBLISH is read
//! through ([`Oversized`]), acknowledged, and reported as [`Incoming::TooLarge`], so the broker
//! never redelivers a message the device cannot hold.

use alloc::string::String;
use alloc::vec::Vec;

use super::codec::{self, Connect, DecodeError, Packet, Publish};
use super::oversized::{Oversized, Skipped};
use crate::session::{Publication, Qos, Subscription};
use crate::text::concat;

/// The largest body of a packet other than PUBLISH: a broker sends only acknowledgements,
/// a few bytes each (a SUBACK has one byte per topic).
const MAX_CONTROL: usize = 256;

/// What a packet from the broker means to the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// The broker accepted the connection.
    Connected {
        /// It still had this client's session.
        session_present: bool,
    },
    /// A message on a subscribed topic (already acknowledged if QoS 1).
    Message {
        /// Topic name.
        topic: String,
        /// Payload bytes.
        payload: Vec<u8>,
        /// The broker kept it and sent it because this client subscribed, not because it was
        /// just published (MQTT 3.1.1 §3.3.1.3).
        retain: bool,
    },
    /// A message larger than `max_packet`, read through and dropped (already acknowledged if
    /// QoS 1).
    TooLarge(Skipped),
    /// Nothing for the application (acks, pong).
    Nothing,
}

/// Why the connection must be dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The broker refused CONNECT with this return code.
    Refused(u8),
    /// The broker sent bytes that are not a valid packet.
    Decode(DecodeError),
    /// A SUBSCRIBE was refused (return code 0x80).
    SubscriptionRefused,
    /// No PINGRESP within a keep-alive interval: the link is dead.
    KeepAliveTimeout,
    /// A packet arrived before CONNACK.
    NotConnected,
}

impl ClientError {
    /// What went wrong, for a log line (also what [`Display`](core::fmt::Display) writes).
    pub fn text(&self) -> String {
        match self {
            Self::Refused(code) => concat(&[
                "broker refused the connection: ",
                codec::connack_reason(*code),
            ]),
            Self::Decode(e) => concat(&["bad packet from broker: ", &e.text()]),
            Self::SubscriptionRefused => "broker refused a subscription".into(),
            Self::KeepAliveTimeout => "no answer to keep-alive ping".into(),
            Self::NotConnected => "packet before CONNACK".into(),
        }
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text())
    }
}

/// MQTT client state that survives reconnection.
#[derive(Debug)]
pub struct Client {
    keep_alive_ms: u64,
    next_id: u16,
    connected: bool,
    /// Packet id and the exact PUBLISH bytes, for resending with DUP after a reconnect, in the
    /// order they were first sent (MQTT 3.1.1 §4.6). A list, not a map: the session allows
    /// a handful in flight, and a scan of those is less flash than a tree.
    inflight: Vec<(u16, Vec<u8>)>,
    last_sent_ms: u64,
    ping_sent_ms: Option<u64>,
    /// The application has stopped reading (its handlers are busy and commands wait): a
    /// PINGRESP may sit unread behind them, so silence proves nothing until reads resume.
    reads_held: bool,
    /// Bytes received but not yet a whole packet: at most a packet of `max_packet` bytes,
    /// its header, and the rest of one read.
    rx: Vec<u8>,
    /// The largest packet body (remaining length) kept whole.
    max_packet: usize,
    /// A larger PUBLISH being read through.
    oversized: Option<Oversized>,
}

impl Client {
    /// A client whose CONNECT will ask for `keep_alive_s`, keeping packets whose body (topic,
    /// packet id and payload) is at most `max_packet` bytes.
    pub fn new(keep_alive_s: u16, max_packet: usize) -> Self {
        Self {
            keep_alive_ms: u64::from(keep_alive_s) * 1000,
            next_id: 0,
            connected: false,
            inflight: Vec::new(),
            last_sent_ms: 0,
            ping_sent_ms: None,
            reads_held: false,
            rx: Vec::new(),
            max_packet,
            oversized: None,
        }
    }

    /// Start a new connection: forget partial input, append CONNECT to `out`.
    pub fn connect(&mut self, connect: &Connect<'_>, now_ms: u64, out: &mut Vec<u8>) {
        self.connected = false;
        self.rx.clear();
        self.oversized = None;
        self.ping_sent_ms = None;
        self.reads_held = false;
        self.keep_alive_ms = u64::from(connect.keep_alive_s) * 1000;
        codec::encode_connect(connect, out);
        self.last_sent_ms = now_ms;
    }

    /// Whether CONNACK has been accepted on this connection.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection ended; in-flight publishes are kept for the next one.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.rx.clear();
        self.oversized = None;
        self.ping_sent_ms = None;
    }

    /// Bytes held for a packet not yet complete (never much more than `max_packet`).
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// QoS 1 publishes not yet acknowledged.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    fn packet_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id != 0 && !self.inflight.iter().any(|(id, _)| *id == self.next_id) {
                return self.next_id;
            }
        }
    }

    /// Append PUBLISH for `p` to `out`; QoS 1 publishes are kept until PUBACK.
    pub fn publish(&mut self, p: &Publication, now_ms: u64, out: &mut Vec<u8>) {
        let packet_id = (p.qos == Qos::AtLeastOnce).then(|| self.packet_id());
        let start = out.len();
        codec::encode_publish(
            &Publish {
                topic: &p.topic,
                payload: &p.payload,
                qos: p.qos,
                retain: p.retain,
                dup: false,
                packet_id,
            },
            out,
        );
        if let Some(id) = packet_id {
            self.inflight.push((id, out[start..].to_vec()));
        }
        self.last_sent_ms = now_ms;
    }

    /// Append one SUBSCRIBE for all of `subs` to `out`.
    pub fn subscribe(&mut self, subs: &[Subscription], now_ms: u64, out: &mut Vec<u8>) {
        let id = self.packet_id();
        let topics: Vec<(&str, Qos)> = subs.iter().map(|s| (s.topic.as_str(), s.qos)).collect();
        codec::encode_subscribe(id, &topics, out);
        self.last_sent_ms = now_ms;
    }

    /// Append the graceful DISCONNECT.
    pub fn disconnect(&mut self, out: &mut Vec<u8>) {
        codec::encode_disconnect(out);
        self.disconnected();
    }

    /// Feed bytes read from the socket; returns what they meant, in order. Acknowledgements
    /// owed to the broker (PUBACK) and resends after CONNACK are appended to `out`.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<Vec<Incoming>, ClientError> {
        let mut events = Vec::new();
        let mut input = bytes;
        if !input.is_empty() {
            // Bytes prove the link alive, even in the middle of a long packet.
            self.ping_sent_ms = None;
        }
        if let Some(skip) = &mut self.oversized {
            input = &input[skip.feed(input)..];
            if skip.left() > 0 {
                return Ok(events);
            }
            let skip = self
                .oversized
                .take()
                .expect("a packet was being read through");
            events.push(self.skipped(skip, now_ms, out)?);
        }
        self.rx.extend_from_slice(input);
        let rx = core::mem::take(&mut self.rx);
        let mut used = 0;
        let result = loop {
            let head = match codec::fixed_header(&rx[used..]) {
                Ok(Some(head)) => head,
                Ok(None) => break Ok(events),
                Err(e) => break Err(ClientError::Decode(e)),
            };
            if !head.is_publish() && head.remaining > MAX_CONTROL {
                break Err(ClientError::Decode(DecodeError::TooLarge));
            }
            if head.is_publish() && head.remaining > self.max_packet {
                let qos = match codec::publish_qos(head.byte) {
                    Ok(qos) => qos,
                    Err(e) => break Err(ClientError::Decode(e)),
                };
                let mut skip = Oversized::new(head.byte, qos, head.remaining, self.max_packet);
                used += head.len;
                used += skip.feed(&rx[used..]);
                if skip.left() > 0 {
                    self.oversized = Some(skip);
                    break Ok(events);
                }
                match self.skipped(skip, now_ms, out) {
                    Ok(event) => events.push(event),
                    Err(e) => break Err(e),
                }
                continue;
            }
            match codec::decode(&rx[used..]) {
                Ok(Some((packet, n))) => {
                    used += n;
                    match self.handle(packet, now_ms, out) {
                        Ok(event) => events.push(event),
                        Err(e) => break Err(e),
                    }
                }
                Ok(None) => break Ok(events),
                Err(e) => break Err(ClientError::Decode(e)),
            }
        };
        self.rx = rx;
        self.rx.drain(..used);
        result
    }

    /// A PUBLISH read through: acknowledged like any other.
    fn skipped(
        &mut self,
        skip: Oversized,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<Incoming, ClientError> {
        if !self.connected {
            return Err(ClientError::NotConnected);
        }
        let (packet_id, skipped) = skip.finish().map_err(ClientError::Decode)?;
        if let Some(id) = packet_id {
            codec::encode_puback(id, out);
            self.last_sent_ms = now_ms;
        }
        Ok(Incoming::TooLarge(skipped))
    }

    fn handle(
        &mut self,
        packet: Packet<'_>,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<Incoming, ClientError> {
        // Any packet from the broker proves the link is alive.
        self.ping_sent_ms = None;
        match packet {
            Packet::ConnAck {
                code: 0,
                session_present,
            } => {
                self.connected = true;
                // Resend even when the broker lost the session: QoS 1 means at least once.
                for (_, bytes) in &self.inflight {
                    let mut again = bytes.clone();
                    again[0] |= 0x08;
                    out.extend_from_slice(&again);
                }
                if !self.inflight.is_empty() {
                    self.last_sent_ms = now_ms;
                }
                Ok(Incoming::Connected { session_present })
            }
            Packet::ConnAck { code, .. } => Err(ClientError::Refused(code)),
            _ if !self.connected => Err(ClientError::NotConnected),
            Packet::Publish(p) => {
                if let Some(id) = p.packet_id {
                    codec::encode_puback(id, out);
                    self.last_sent_ms = now_ms;
                }
                Ok(Incoming::Message {
                    topic: p.topic.into(),
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                })
            }
            Packet::PubAck { packet_id } => {
                self.inflight.retain(|(id, _)| *id != packet_id);
                Ok(Incoming::Nothing)
            }
            Packet::SubAck { codes, .. } if codes.contains(&0x80) => {
                Err(ClientError::SubscriptionRefused)
            }
            Packet::SubAck { .. } | Packet::PingResp => Ok(Incoming::Nothing),
        }
    }

    /// Stop (`true`) or resume (`false`) expecting answers, because the application stopped
    /// or resumed reading the link. While reads are held, pings still go out when the link is
    /// quiet, so the broker keeps the session; an unanswered one fails nothing, and on resuming
    /// an unanswered ping gets a whole keep-alive from `now_ms` for its answer, which may be
    /// queued behind what was not read. A dead link is then the transport's to notice (TCP
    /// retransmission gives up on the pings sent).
    pub fn hold_reads(&mut self, held: bool, now_ms: u64) {
        if self.reads_held && !held && self.ping_sent_ms.is_some() {
            self.ping_sent_ms = Some(now_ms);
        }
        self.reads_held = held;
    }

    /// Call at least every second: appends PINGREQ when the link has been quiet for half the
    /// keep-alive, and fails when a ping went unanswered for a whole keep-alive (while reads
    /// are held: see [`Client::hold_reads`]).
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<u8>) -> Result<(), ClientError> {
        if !self.connected || self.keep_alive_ms == 0 {
            return Ok(());
        }
        if self.reads_held {
            if now_ms.saturating_sub(self.last_sent_ms) >= self.keep_alive_ms / 2 {
                codec::encode_pingreq(out);
                self.ping_sent_ms = Some(now_ms);
                self.last_sent_ms = now_ms;
            }
            return Ok(());
        }
        if let Some(sent) = self.ping_sent_ms {
            if now_ms.saturating_sub(sent) >= self.keep_alive_ms {
                return Err(ClientError::KeepAliveTimeout);
            }
            return Ok(());
        }
        if now_ms.saturating_sub(self.last_sent_ms) >= self.keep_alive_ms / 2 {
            codec::encode_pingreq(out);
            self.ping_sent_ms = Some(now_ms);
            self.last_sent_ms = now_ms;
        }
        Ok(())
    }

    /// Milliseconds until [`Client::poll`] has something to do.
    pub fn poll_in(&self, now_ms: u64) -> u64 {
        let due = match self.ping_sent_ms {
            Some(sent) if !self.reads_held => sent + self.keep_alive_ms,
            _ => self.last_sent_ms + self.keep_alive_ms / 2,
        };
        due.saturating_sub(now_ms).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect() -> Connect<'static> {
        Connect {
            client_id: "c",
            username: None,
            password: None,
            keep_alive_s: 60,
            clean_session: false,
            will: None,
        }
    }

    fn publication(qos: Qos) -> Publication {
        Publication {
            topic: "t".into(),
            payload: b"p".to_vec(),
            qos,
            retain: false,
        }
    }

    #[test]
    fn qos1_publishes_are_resent_with_dup_after_reconnect_until_acked() {
        let mut c = Client::new(60, 1024);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        assert_eq!(
            c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap(),
            [Incoming::Connected {
                session_present: false
            }]
        );
        out.clear();
        c.publish(&publication(Qos::AtLeastOnce), 1, &mut out);
        c.publish(&publication(Qos::AtMostOnce), 1, &mut out);
        assert_eq!(c.inflight(), 1);
        assert_eq!(out[0], 0x32);
        c.disconnected();
        out.clear();
        c.connect(&connect(), 2, &mut out);
        out.clear();
        c.receive(&[0x20, 2, 1, 0], 3, &mut out).unwrap();
        assert_eq!(out, [0x3a, 6, 0, 1, b't', 0, 1, b'p'], "DUP set, same id");
        c.receive(&[0x40, 2, 0, 1], 4, &mut out).unwrap();
        assert_eq!(c.inflight(), 0);
    }

    #[test]
    fn incoming_qos1_is_acked_and_split_reads_reassemble() {
        let mut c = Client::new(60, 1024);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap();
        out.clear();
        let mut wire = Vec::new();
        codec::encode_publish(
            &Publish {
                topic: "lua/x",
                payload: b"{}",
                qos: Qos::AtLeastOnce,
                retain: false,
                dup: false,
                packet_id: Some(42),
            },
            &mut wire,
        );
        wire.extend_from_slice(&[0xd0, 0]);
        let (a, b) = wire.split_at(5);
        assert!(c.receive(a, 1, &mut out).unwrap().is_empty());
        let events = c.receive(b, 1, &mut out).unwrap();
        assert_eq!(
            events,
            [
                Incoming::Message {
                    topic: "lua/x".into(),
                    payload: b"{}".to_vec(),
                    retain: false
                },
                Incoming::Nothing
            ]
        );
        assert_eq!(out, [0x40, 2, 0, 42]);
    }

    #[test]
    fn keep_alive_pings_when_quiet_and_fails_when_unanswered() {
        let mut c = Client::new(60, 1024);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap();
        out.clear();
        c.poll(29_999, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(c.poll_in(29_999), 1);
        c.poll(30_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0]);
        c.receive(&[0xd0, 0], 31_000, &mut out).unwrap();
        out.clear();
        c.poll(60_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0]);
        assert_eq!(
            c.poll(120_000, &mut out),
            Err(ClientError::KeepAliveTimeout)
        );
    }

    #[test]
    fn held_reads_keep_pinging_and_give_an_unread_answer_a_keep_alive_from_resuming() {
        let mut c = Client::new(60, 1024);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap();
        out.clear();
        // A handler runs for 90 s with another command waiting: nothing is read meanwhile.
        c.hold_reads(true, 1_000);
        c.poll(30_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0], "the broker still hears from the device");
        out.clear();
        assert_eq!(c.poll_in(30_000), 30_000);
        c.poll(60_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0]);
        out.clear();
        c.poll(89_999, &mut out).unwrap();
        assert!(out.is_empty());
        c.poll(91_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0], "no timeout while reads are held");
        out.clear();
        c.hold_reads(false, 91_000);
        c.poll(150_999, &mut out).unwrap();
        assert!(out.is_empty(), "the answer has a keep-alive from resuming");
        assert_eq!(
            c.poll(151_000, &mut out),
            Err(ClientError::KeepAliveTimeout),
            "and fails after it"
        );

        // Resumed, the queued answers arrive and the session goes on.
        let (mut c, mut out) = connected(1024);
        c.hold_reads(true, 0);
        c.poll(30_000, &mut out).unwrap();
        c.hold_reads(false, 95_000);
        c.receive(&[0xd0, 0], 95_001, &mut out).unwrap();
        out.clear();
        c.poll(150_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0]);
    }

    #[test]
    fn holding_reads_without_a_ping_out_changes_nothing_on_resuming() {
        let (mut c, mut out) = connected(1024);
        c.hold_reads(true, 0);
        c.hold_reads(false, 10_000);
        c.poll(29_999, &mut out).unwrap();
        assert!(out.is_empty());
        c.poll(30_000, &mut out).unwrap();
        assert_eq!(out, [0xc0, 0]);
        assert_eq!(c.poll(90_000, &mut out), Err(ClientError::KeepAliveTimeout));
    }

    fn connected(max_packet: usize) -> (Client, Vec<u8>) {
        let mut c = Client::new(60, max_packet);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap();
        out.clear();
        (c, out)
    }

    fn publish_bytes(topic: &str, payload: &[u8], id: Option<u16>, retain: bool) -> Vec<u8> {
        let mut wire = Vec::new();
        codec::encode_publish(
            &Publish {
                topic,
                payload,
                qos: if id.is_some() {
                    Qos::AtLeastOnce
                } else {
                    Qos::AtMostOnce
                },
                retain,
                dup: false,
                packet_id: id,
            },
            &mut wire,
        );
        wire
    }

    #[test]
    fn a_publish_past_the_limit_is_read_through_acked_and_reported() {
        let topic = "lua/devices/a/d/command";
        // The body is topic (2 + 23), packet id (2) and payload: 27 bytes around the payload.
        let limit = 100;
        let fits = alloc::format!(r#"{{"commandId":"ok","x":"{}"}}"#, "a".repeat(73 - 25));
        assert_eq!(fits.len() + 27, limit);
        let big = alloc::format!(
            r#"{{"payload":"{}","commandId":"big","command":"echo"}}"#,
            "b".repeat(5000)
        );
        let mut wire = publish_bytes(topic, fits.as_bytes(), Some(7), false);
        wire.extend(publish_bytes(topic, big.as_bytes(), Some(8), true));
        wire.extend(publish_bytes(topic, b"{}", Some(9), false));
        wire.extend_from_slice(&[0xd0, 0]);
        let want = [
            Incoming::Message {
                topic: topic.into(),
                payload: fits.clone().into_bytes(),
                retain: false,
            },
            Incoming::TooLarge(Skipped {
                topic: topic.into(),
                retain: true,
                payload_len: big.len(),
                payload_limit: 73,
                found: crate::mqtt::Found {
                    command_id: Some("big".into()),
                    command: Some("echo".into()),
                },
            }),
            Incoming::Message {
                topic: topic.into(),
                payload: b"{}".to_vec(),
                retain: false,
            },
            Incoming::Nothing,
        ];
        for chunk in [1, 7, 256, 512, wire.len()] {
            let (mut c, mut out) = connected(limit);
            let mut events = Vec::new();
            for piece in wire.chunks(chunk) {
                events.extend(c.receive(piece, 1, &mut out).unwrap());
                assert!(
                    c.rx.capacity() <= 2 * (limit + 5 + chunk.min(512)) || chunk > 512,
                    "buffered {} bytes with reads of {chunk}",
                    c.rx.capacity()
                );
            }
            assert_eq!(events, want, "reads of {chunk} bytes");
            assert_eq!(out, [0x40, 2, 0, 7, 0x40, 2, 0, 8, 0x40, 2, 0, 9]);
        }
    }

    #[test]
    fn an_oversized_publish_without_an_id_or_a_readable_topic_is_still_consumed() {
        let long_topic = "t".repeat(super::super::oversized::MAX_TOPIC + 1);
        let mut wire = publish_bytes(&long_topic, b"x", Some(3), false);
        wire.extend(publish_bytes("t", &[b'z'; 300], None, false));
        wire.extend_from_slice(&[0xd0, 0]);
        let (mut c, mut out) = connected(64);
        let events = c.receive(&wire, 1, &mut out).unwrap();
        assert!(
            matches!(&events[..], [Incoming::TooLarge(a), Incoming::TooLarge(b), Incoming::Nothing]
                if a.topic.is_empty() && b.topic == "t" && b.payload_len == 300
                    && b.found == crate::mqtt::Found::default()),
            "{events:?}"
        );
        assert_eq!(out, [0x40, 2, 0, 3], "QoS 0 owes no PUBACK");
        // Control packets are never large; one that claims to be is an error.
        let (mut c, mut out) = connected(64);
        assert_eq!(
            c.receive(&[0x90, 0x81, 0x02], 1, &mut out),
            Err(ClientError::Decode(DecodeError::TooLarge))
        );
        // A body that ends inside its packet id is malformed.
        let (mut c, mut out) = connected(1);
        assert_eq!(
            c.receive(&[0x32, 4, 0, 1, b't', 0], 1, &mut out),
            Err(ClientError::Decode(DecodeError::Malformed))
        );
    }

    #[test]
    fn a_reconnect_forgets_a_half_read_packet() {
        let (mut c, mut out) = connected(16);
        let wire = publish_bytes("t", &[b'{'; 100], Some(1), false);
        assert!(c.receive(&wire[..50], 1, &mut out).unwrap().is_empty());
        c.disconnected();
        c.connect(&connect(), 2, &mut out);
        out.clear();
        assert_eq!(
            c.receive(&[0x20, 2, 1, 0], 3, &mut out).unwrap(),
            [Incoming::Connected {
                session_present: true
            }]
        );
    }

    #[test]
    fn refusals_and_early_packets_are_errors() {
        let mut c = Client::new(60, 1024);
        let mut out = Vec::new();
        c.connect(&connect(), 0, &mut out);
        assert_eq!(
            c.receive(&[0xd0, 0], 0, &mut out),
            Err(ClientError::NotConnected)
        );
        c.connect(&connect(), 0, &mut out);
        assert_eq!(
            c.receive(&[0x20, 2, 0, 5], 0, &mut out),
            Err(ClientError::Refused(5))
        );
        c.connect(&connect(), 0, &mut out);
        c.receive(&[0x20, 2, 0, 0], 0, &mut out).unwrap();
        c.subscribe(
            &[Subscription {
                topic: "t".into(),
                qos: Qos::AtLeastOnce,
            }],
            0,
            &mut out,
        );
        assert_eq!(
            c.receive(&[0x90, 3, 0, 1, 0x80], 0, &mut out),
            Err(ClientError::SubscriptionRefused)
        );
    }
}
