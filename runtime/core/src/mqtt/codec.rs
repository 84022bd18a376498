//! MQTT 3.1.1 packets: encoding what a client sends, decoding what a broker sends.
//!
//! Only the packets a device needs are supported. Decoding borrows from the input buffer, so a
//! received PUBLISH costs no copy until the caller keeps it.

use alloc::string::String;
use alloc::vec::Vec;

use crate::session::Qos;

/// CONNECT's protocol name ("MQTT", length-prefixed) and level (4: MQTT 3.1.1).
const PROTOCOL: &[u8] = b"\x00\x04MQTT\x04";
/// The largest remaining length MQTT can express (four length bytes).
pub const MAX_REMAINING: usize = 268_435_455;

/// A packet a client sends or receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// The broker's answer to CONNECT.
    ConnAck {
        /// The broker kept state from an earlier connection (clean session false).
        session_present: bool,
        /// 0 accepted; 1-5 refused (see [`connack_reason`]).
        code: u8,
    },
    /// A message, in either direction.
    Publish(Publish<'a>),
    /// Acknowledgement of a QoS 1 PUBLISH.
    PubAck {
        /// The acknowledged packet id.
        packet_id: u16,
    },
    /// The broker's answer to SUBSCRIBE: one return code per topic (0x80 is a refusal).
    SubAck {
        /// The SUBSCRIBE's packet id.
        packet_id: u16,
        /// Granted QoS per topic, or 0x80.
        codes: &'a [u8],
    },
    /// The broker's answer to PINGREQ.
    PingResp,
}

/// A PUBLISH packet.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Topic name (no wildcards).
    pub topic: &'a str,
    /// Payload bytes.
    pub payload: &'a [u8],
    /// Delivery guarantee.
    pub qos: Qos,
    /// Retained by the broker.
    pub retain: bool,
    /// A redelivery of an earlier attempt.
    pub dup: bool,
    /// Present exactly when `qos` is at least once.
    pub packet_id: Option<u16>,
}

// Payloads can carry the API key (registration): never print them.
impl core::fmt::Debug for Publish<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Publish")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("dup", &self.dup)
            .field("packet_id", &self.packet_id)
            .finish()
    }
}

/// The last will the broker publishes when the connection is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// QoS.
    pub qos: Qos,
    /// Retained.
    pub retain: bool,
}

/// The CONNECT packet's contents.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Client identifier.
    pub client_id: &'a str,
    /// Username, if any.
    pub username: Option<&'a str>,
    /// Password (the API key), if any.
    pub password: Option<&'a [u8]>,
    /// Keep-alive interval in seconds.
    pub keep_alive_s: u16,
    /// False: the broker keeps subscriptions and queued QoS 1 messages across connections.
    pub clean_session: bool,
    /// Last will.
    pub will: Option<Will<'a>>,
}

impl core::fmt::Debug for Connect<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connect")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("keep_alive_s", &self.keep_alive_s)
            .field("clean_session", &self.clean_session)
            .field("will", &self.will)
            .finish()
    }
}

/// Why bytes from the broker are not a packet this client understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining length has more than four bytes.
    BadLength,
    /// A packet type a client never receives, or reserved flags set wrong.
    UnexpectedType(u8),
    /// The packet ends before its fields do, or a field is invalid (e.g. QoS 3).
    Malformed,
    /// A topic that is not UTF-8.
    NotUtf8,
    /// A packet other than PUBLISH larger than the client accepts (a broker sends none).
    TooLarge,
}

impl DecodeError {
    /// What is wrong, for a log line (also what [`Display`](core::fmt::Display) writes).
    pub fn text(&self) -> String {
        match self {
            Self::BadLength => "remaining length longer than four bytes".into(),
            Self::UnexpectedType(t) => {
                let mut s = String::from("unexpected packet type ");
                crate::text::write_hex(&mut s, *t);
                s
            }
            Self::Malformed => "malformed packet".into(),
            Self::NotUtf8 => "topic is not UTF-8".into(),
            Self::TooLarge => "control packet larger than the client accepts".into(),
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text())
    }
}

/// What a refused CONNACK's return code means.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown return code",
    }
}

fn qos_bits(qos: Qos) -> u8 {
    match qos {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
    }
}

fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn frame(out: &mut Vec<u8>, header: u8, body: &[u8]) {
    out.push(header);
    put_len(out, body.len());
    out.extend_from_slice(body);
}

/// Append CONNECT.
pub fn encode_connect(c: &Connect<'_>, out: &mut Vec<u8>) {
    let mut flags = 0u8;
    if c.clean_session {
        flags |= 0x02;
    }
    if let Some(w) = &c.will {
        flags |= 0x04 | (qos_bits(w.qos) << 3);
        if w.retain {
            flags |= 0x20;
        }
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(PROTOCOL);
    body.push(flags);
    body.extend_from_slice(&c.keep_alive_s.to_be_bytes());
    put_str(&mut body, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        put_str(&mut body, w.topic.as_bytes());
        put_str(&mut body, w.payload);
    }
    if let Some(u) = c.username {
        put_str(&mut body, u.as_bytes());
    }
    if let Some(p) = c.password {
        put_str(&mut body, p);
    }
    frame(out, 0x10, &body);
}

/// Append PUBLISH. `p.packet_id` must be set for QoS 1.
pub fn encode_publish(p: &Publish<'_>, out: &mut Vec<u8>) {
    let mut header = 0x30 | (qos_bits(p.qos) << 1);
    if p.retain {
        header |= 0x01;
    }
    if p.dup {
        header |= 0x08;
    }
    let id_len = if p.qos == Qos::AtLeastOnce { 2 } else { 0 };
    out.push(header);
    put_len(out, 2 + p.topic.len() + id_len + p.payload.len());
    put_str(out, p.topic.as_bytes());
    if p.qos == Qos::AtLeastOnce {
        out.extend_from_slice(&p.packet_id.unwrap_or(0).to_be_bytes());
    }
    out.extend_from_slice(p.payload);
}

/// Append PUBACK.
pub fn encode_puback(packet_id: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x40, 0x02]);
    out.extend_from_slice(&packet_id.to_be_bytes());
}

/// Append SUBSCRIBE for `topics`.
pub fn encode_subscribe(packet_id: u16, topics: &[(&str, Qos)], out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&packet_id.to_be_bytes());
    for (topic, qos) in topics {
        put_str(&mut body, topic.as_bytes());
        body.push(qos_bits(*qos));
    }
    frame(out, 0x82, &body);
}

/// Append PINGREQ.
pub fn encode_pingreq(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xc0, 0x00]);
}

/// Append DISCONNECT.
pub fn encode_disconnect(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xe0, 0x00]);
}

/// A packet's fixed header: the type-and-flags byte, the remaining length (the body's size)
/// and the header's own size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type (high nibble) and flags (low nibble).
    pub byte: u8,
    /// Bytes in the body after this header.
    pub remaining: usize,
    /// Bytes of the header itself (2 to 5).
    pub len: usize,
}

impl FixedHeader {
    /// A PUBLISH, whose body carries a payload of any size.
    pub fn is_publish(&self) -> bool {
        self.byte >> 4 == 3
    }
}

/// The fixed header at the start of `buf`, or `Ok(None)` when more bytes are needed.
pub fn fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&byte) = buf.first() else {
        return Ok(None);
    };
    let mut remaining = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if i > 4 {
            return Err(DecodeError::BadLength);
        }
    }
    Ok(Some(FixedHeader {
        byte,
        remaining,
        len: i,
    }))
}

/// Decode the first packet in `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// packet and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    let Some(h) = fixed_header(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(h.len..h.len + h.remaining) else {
        return Ok(None);
    };
    let packet = decode_body(h.byte, body)?;
    Ok(Some((packet, h.len + h.remaining)))
}

/// PUBLISH's QoS from its fixed header's flags.
pub fn publish_qos(header: u8) -> Result<Qos, DecodeError> {
    match (header >> 1) & 0x03 {
        0 => Ok(Qos::AtMostOnce),
        1 => Ok(Qos::AtLeastOnce),
        // This client never subscribes at QoS 2, so a broker never sends it.
        _ => Err(DecodeError::Malformed),
    }
}

fn u16_at(body: &[u8], at: usize) -> Result<u16, DecodeError> {
    body.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(DecodeError::Malformed)
}

fn decode_body(header: u8, body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let flags = header & 0x0f;
    match header >> 4 {
        2 if body.len() == 2 && flags == 0 => Ok(Packet::ConnAck {
            session_present: body[0] & 0x01 != 0,
            code: body[1],
        }),
        3 => {
            let qos = publish_qos(header)?;
            let topic_len = usize::from(u16_at(body, 0)?);
            let topic = body.get(2..2 + topic_len).ok_or(DecodeError::Malformed)?;
            let topic = core::str::from_utf8(topic).map_err(|_| DecodeError::NotUtf8)?;
            let mut at = 2 + topic_len;
            let packet_id = if qos == Qos::AtLeastOnce {
                let id = u16_at(body, at)?;
                at += 2;
                Some(id)
            } else {
                None
            };
            Ok(Packet::Publish(Publish {
                topic,
                payload: &body[at..],
                qos,
                retain: flags & 0x01 != 0,
                dup: flags & 0x08 != 0,
                packet_id,
            }))
        }
        4 if body.len() == 2 && flags == 0 => Ok(Packet::PubAck {
            packet_id: u16_at(body, 0)?,
        }),
        9 if body.len() >= 3 && flags == 0 => Ok(Packet::SubAck {
            packet_id: u16_at(body, 0)?,
            codes: &body[2..],
        }),
        13 if body.is_empty() && flags == 0 => Ok(Packet::PingResp),
        _ => Err(DecodeError::UnexpectedType(header)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn connect_matches_the_spec_example_layout() {
        let mut out = Vec::new();
        encode_connect(
            &Connect {
                client_id: "lua-a-d",
                username: Some("a:d"),
                password: Some(b"k"),
                keep_alive_s: 60,
                clean_session: false,
                will: Some(Will {
                    topic: "t",
                    payload: b"w",
                    qos: Qos::AtLeastOnce,
                    retain: true,
                }),
            },
            &mut out,
        );
        let mut want = vec![0x10, 33, 0, 4, b'M', b'Q', b'T', b'T', 4];
        // username, password, will retain, will QoS 1, will flag; clean session off.
        want.push(0x80 | 0x40 | 0x20 | 0x08 | 0x04);
        want.extend_from_slice(&[0, 60, 0, 7]);
        want.extend_from_slice(b"lua-a-d");
        want.extend_from_slice(&[0, 1, b't', 0, 1, b'w', 0, 3, b'a', b':', b'd', 0, 1, b'k']);
        assert_eq!(out, want);
        assert_eq!(usize::from(out[1]), out.len() - 2);
    }

    #[test]
    fn publish_round_trips_through_decode() {
        for (qos, id) in [(Qos::AtMostOnce, None), (Qos::AtLeastOnce, Some(513))] {
            let p = Publish {
                topic: "lua/devices/a/d/command",
                payload: br#"{"x":1}"#,
                qos,
                retain: true,
                dup: id.is_some(),
                packet_id: id,
            };
            let mut out = Vec::new();
            encode_publish(&p, &mut out);
            let (back, used) = decode(&out).unwrap().unwrap();
            assert_eq!(used, out.len());
            assert_eq!(back, Packet::Publish(p));
        }
    }

    #[test]
    fn lengths_use_continuation_bytes() {
        let payload = vec![7u8; 300];
        let p = Publish {
            topic: "t",
            payload: &payload,
            qos: Qos::AtMostOnce,
            retain: false,
            dup: false,
            packet_id: None,
        };
        let mut out = Vec::new();
        encode_publish(&p, &mut out);
        assert_eq!(&out[1..3], &[0xaf, 0x02], "303 = 47 + 2 * 128");
        for cut in 0..out.len() {
            assert_eq!(
                decode(&out[..cut]).unwrap(),
                None,
                "short by {}",
                out.len() - cut
            );
        }
        assert_eq!(
            decode(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::BadLength)
        );
    }

    #[test]
    fn broker_packets_decode() {
        assert_eq!(
            decode(&[0x20, 2, 1, 0, 0xd0]).unwrap(),
            Some((
                Packet::ConnAck {
                    session_present: true,
                    code: 0
                },
                4
            ))
        );
        assert_eq!(
            decode(&[0x40, 2, 1, 2]).unwrap(),
            Some((Packet::PubAck { packet_id: 258 }, 4))
        );
        assert_eq!(
            decode(&[0x90, 4, 0, 9, 1, 0x80]).unwrap(),
            Some((
                Packet::SubAck {
                    packet_id: 9,
                    codes: &[1, 0x80]
                },
                6
            ))
        );
        assert_eq!(decode(&[0xd0, 0]).unwrap(), Some((Packet::PingResp, 2)));
        assert_eq!(decode(&[0x10, 0]), Err(DecodeError::UnexpectedType(0x10)));
        assert_eq!(
            decode(&[0x34, 3, 0, 1, b't']),
            Err(DecodeError::Malformed),
            "QoS 2"
        );
        assert_eq!(
            decode(&[0x32, 3, 0, 1, b't']),
            Err(DecodeError::Malformed),
            "no id"
        );
        assert_eq!(decode(&[0x30, 3, 0, 1, 0xff]), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn small_packets() {
        let mut out = Vec::new();
        encode_subscribe(
            7,
            &[("a/b", Qos::AtLeastOnce), ("c", Qos::AtMostOnce)],
            &mut out,
        );
        assert_eq!(
            out,
            [0x82, 12, 0, 7, 0, 3, b'a', b'/', b'b', 1, 0, 1, b'c', 0]
        );
        out.clear();
        encode_puback(0x0102, &mut out);
        encode_pingreq(&mut out);
        encode_disconnect(&mut out);
        assert_eq!(out, [0x40, 2, 1, 2, 0xc0, 0, 0xe0, 0]);
    }
}
