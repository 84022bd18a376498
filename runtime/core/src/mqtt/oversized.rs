//! A PUBLISH larger than the client keeps, read through as it streams in: its topic and packet
//! id are kept (the topic up to [`MAX_TOPIC`] bytes), its payload goes through a
//! [`CommandScan`] and is dropped. Memory is fixed whatever the packet's size, so a message
//! too large for the device is still acknowledged and, when its id can be read, answered.

use alloc::string::String;
use alloc::vec::Vec;

use super::codec::DecodeError;
use crate::scan::{CommandScan, Found};
use crate::session::Qos;

/// The longest topic kept; the device's own topics are far shorter, so a longer one is
/// someone else's and only needs acknowledging.
pub const MAX_TOPIC: usize = 256;

/// What the client learnt from a PUBLISH it did not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The topic; empty when it was longer than [`MAX_TOPIC`] or not UTF-8.
    pub topic: String,
    /// The broker sent it as a retained message.
    pub retain: bool,
    /// Bytes of payload that arrived.
    pub payload_len: usize,
    /// The largest payload the client keeps on this topic.
    pub payload_limit: usize,
    /// The `commandId` and `command` read from the payload as it passed.
    pub found: Found,
}

/// A PUBLISH being read through.
#[derive(Debug)]
pub struct Oversized {
    qos: Qos,
    retain: bool,
    max_packet: usize,
    /// Body bytes read so far, and still to come.
    read: usize,
    left: usize,
    topic_len: usize,
    topic: Vec<u8>,
    packet_id: u16,
    scan: CommandScan,
}

impl Oversized {
    /// Start on a PUBLISH whose fixed header was `header` and whose body has `remaining`
    /// bytes, more than the client's `max_packet`.
    pub fn new(header: u8, qos: Qos, remaining: usize, max_packet: usize) -> Self {
        Self {
            qos,
            retain: header & 0x01 != 0,
            max_packet,
            read: 0,
            left: remaining,
            topic_len: 0,
            topic: Vec::new(),
            packet_id: 0,
            scan: CommandScan::new(),
        }
    }

    /// Bytes of the body still to come; 0 once the packet is complete.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Where the payload starts in the body (valid once the topic length is read).
    fn head_len(&self) -> usize {
        let id = if self.qos == Qos::AtLeastOnce { 2 } else { 0 };
        2 + self.topic_len + id
    }

    /// Read the start of `bytes` that belongs to this packet; returns how many bytes that was.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.left);
        let mut rest = &bytes[..n];
        while let Some((&b, tail)) = rest.split_first() {
            if self.read >= 2 && self.read >= self.head_len() {
                self.scan.feed(rest);
                self.read += rest.len();
                break;
            }
            self.head_byte(b);
            self.read += 1;
            rest = tail;
        }
        self.left -= n;
        n
    }

    fn head_byte(&mut self, b: u8) {
        match self.read {
            0 => self.topic_len = usize::from(b) << 8,
            1 => self.topic_len |= usize::from(b),
            at if at < 2 + self.topic_len => {
                if self.topic.len() < MAX_TOPIC + 1 {
                    self.topic.push(b);
                }
            }
            _ => self.packet_id = self.packet_id << 8 | u16::from(b),
        }
    }

    /// The packet ended: its packet id when QoS 1, and what was learnt. A body that ended
    /// before its packet id is malformed.
    pub fn finish(self) -> Result<(Option<u16>, Skipped), DecodeError> {
        let head = self.head_len();
        if self.read < 2 || self.read < head {
            return Err(DecodeError::Malformed);
        }
        let id = (self.qos == Qos::AtLeastOnce).then_some(self.packet_id);
        let topic = if self.topic.len() > MAX_TOPIC {
            String::new()
        } else {
            String::from_utf8(self.topic).unwrap_or_default()
        };
        let skipped = Skipped {
            topic,
            retain: self.retain,
            payload_len: self.read.saturating_sub(head),
            payload_limit: self.max_packet.saturating_sub(head),
            found: self.scan.finish(),
        };
        Ok((id, skipped))
    }
}
