//! MQTT over WebSocket (RFC 6455), client side, without I/O: the HTTP/1.1 upgrade and the
//! frames around the MQTT byte stream, for the chip's `ws://` and `wss://` links.
//!
//! [`Handshake`] writes the upgrade request (subprotocol `mqtt`, the URL's path) and checks
//! the server's answer as it arrives: status 101, `Upgrade: websocket`, `Connection: Upgrade`,
//! `Sec-WebSocket-Accept` (base64 of SHA-1 of the key and RFC 6455's GUID, both computed here:
//! the core has no dependencies) and the `mqtt` subprotocol. Its memory is fixed: a response
//! head longer than [`MAX_HEAD`] is refused.
//!
//! [`Decoder`] turns the server's frames into the MQTT byte stream in place, however frames
//! and packets line up: a packet split over several frames (or fragments of one message), or
//! several packets in one frame, read the same. It keeps no payload, only a control frame's
//! 125 bytes, so a frame of any size costs nothing; a ping is kept for its pong, a close is
//! reported, and anything a client must not accept from a server is an [`Error`], never a panic.
//! Client frames ([`binary_header`], [`control_frame`]) are masked with the key the caller gives
//! for each frame (fresh randomness, as RFC 6455 asks).

use alloc::string::String;
use alloc::vec::Vec;

use crate::text::{concat, number, write_hex};

/// RFC 6455's GUID, appended to the key before hashing for `Sec-WebSocket-Accept`.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The most bytes of the server's response head (status line and headers) read before the
/// upgrade is given up: the head is kept line by line, never whole.
pub const MAX_HEAD: usize = 8 * 1024;
/// The part of a response line kept: every line this client reads is shorter, and a longer
/// header it does not read is skipped.
const LINE: usize = 128;
/// The longest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL: usize = 125;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Why a WebSocket connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The host or path cannot go into a request line (empty, a space, a control byte...).
    BadTarget,
    /// The answer does not start with an `HTTP/1.1` status line.
    BadStatusLine,
    /// The server answered with this status instead of 101 (404: wrong path, 401: refused...).
    Status(u16),
    /// The response head is longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// A header this client checks is longer than it keeps.
    HeaderTooLong,
    /// A header line without a colon.
    BadHeader,
    /// No `Upgrade: websocket`, or no `Connection: Upgrade`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` missing or not the one the key asks for.
    BadAccept,
    /// The server did not choose the `mqtt` subprotocol.
    NoSubprotocol,
    /// The server chose a subprotocol other than `mqtt`.
    WrongSubprotocol,
    /// The server turned on an extension this client did not offer.
    UnofferedExtension,
    /// A header given twice that may appear once.
    DuplicateHeader,
    /// A server frame is masked (servers never mask).
    MaskedFrame,
    /// A text frame: MQTT travels in binary frames only.
    TextFrame,
    /// Reserved bits set, with no extension to give them meaning.
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    ReservedOpcode(u8),
    /// A control frame with FIN clear (control frames are never fragmented).
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    ControlTooLong,
    /// A 64-bit length with its most significant bit set.
    LengthTooLarge,
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new binary message before the fragmented one ended.
    InterruptedMessage,
    /// A close frame with a one-byte body, or a reason that is not UTF-8.
    BadClose,
}

impl Error {
    /// What is wrong, for a log line (also what [`Display`](core::fmt::Display) writes).
    pub fn text(&self) -> String {
        match self {
            Self::BadTarget => "the host or path cannot be sent in a request".into(),
            Self::BadStatusLine => "the server's answer is not HTTP/1.1".into(),
            Self::Status(code) => concat(&[
                "the server answered HTTP ",
                &number((*code).into()),
                ", not 101",
            ]),
            Self::HeadTooLarge => concat(&[
                "the response head exceeds ",
                &number(MAX_HEAD as u64),
                " bytes",
            ]),
            Self::HeaderTooLong => "a WebSocket header in the response is too long".into(),
            Self::BadHeader => "a response header has no colon".into(),
            Self::NotUpgraded => "the server did not upgrade to WebSocket".into(),
            Self::BadAccept => "Sec-WebSocket-Accept does not match the key".into(),
            Self::NoSubprotocol => "the server did not choose the mqtt subprotocol".into(),
            Self::WrongSubprotocol => "the server chose a subprotocol other than mqtt".into(),
            Self::UnofferedExtension => "the server chose an extension not offered".into(),
            Self::DuplicateHeader => "a WebSocket header is repeated".into(),
            Self::MaskedFrame => "the server sent a masked frame".into(),
            Self::TextFrame => "the server sent a text frame".into(),
            Self::ReservedBits => "a frame has reserved bits set".into(),
            Self::ReservedOpcode(op) => {
                let mut s = String::from("a frame has the reserved opcode ");
                write_hex(&mut s, *op);
                s
            }
            Self::FragmentedControl => "a control frame is fragmented".into(),
            Self::ControlTooLong => "a control frame is longer than 125 bytes".into(),
            Self::LengthTooLarge => "a frame length has its top bit set".into(),
            Self::UnexpectedContinuation => "a continuation frame starts a message".into(),
            Self::InterruptedMessage => "a message began inside a fragmented one".into(),
            Self::BadClose => "a close frame's body is malformed".into(),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text())
    }
}

/// The client's side of the opening handshake: the request, then the server's answer read
/// as it comes.
pub struct Handshake {
    /// `Sec-WebSocket-Key`: base64 of 16 random bytes.
    key: [u8; 24],
    /// The `Sec-WebSocket-Accept` that proves the server read this key.
    accept: [u8; 28],
    line: [u8; LINE],
    line_len: usize,
    /// The current line is longer than [`LINE`]; only its start was kept.
    line_cut: bool,
    head_bytes: usize,
    status_seen: bool,
    upgrade: bool,
    connection: bool,
    accepted: bool,
    protocol: bool,
}

impl Handshake {
    /// A handshake keyed by `nonce`, which must be random and fresh for each connection.
    pub fn new(nonce: [u8; 16]) -> Self {
        let mut key = [0u8; 24];
        base64(&nonce, &mut key);
        let mut accept = [0u8; 28];
        base64(&sha1(&[&key, GUID]), &mut accept);
        Self {
            key,
            accept,
            line: [0; LINE],
            line_len: 0,
            line_cut: false,
            head_bytes: 0,
            status_seen: false,
            upgrade: false,
            connection: false,
            accepted: false,
            protocol: false,
        }
    }

    /// Append the upgrade request for `path` (from `/`, query included) on `host`:`port` to
    /// `out`; the port is named in `Host` unless it is the scheme's default (80, or 443 with
    /// `tls`).
    pub fn request(
        &self,
        host: &str,
        port: u16,
        tls: bool,
        path: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !visible(host) || !visible(path) || !path.starts_with('/') || host.contains('/') {
            return Err(Error::BadTarget);
        }
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(host.as_bytes());
        if port != if tls { 443 } else { 80 } {
            out.push(b':');
            decimal(port, out);
        }
        out.extend_from_slice(
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
        );
        out.extend_from_slice(&self.key);
        out.extend_from_slice(
            b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
        );
        Ok(())
    }

    /// Read part of the server's answer: `Some(n)` once the head ended at `input[n - 1]` and
    /// the connection is a WebSocket (what follows is frames), `None` while more is needed.
    pub fn receive(&mut self, input: &[u8]) -> Result<Option<usize>, Error> {
        for (i, &b) in input.iter().enumerate() {
            self.head_bytes += 1;
            if self.head_bytes > MAX_HEAD {
                return Err(Error::HeadTooLarge);
            }
            if b != b'\n' {
                if self.line_len < LINE {
                    self.line[self.line_len] = b;
                    self.line_len += 1;
                } else {
                    self.line_cut = true;
                }
                continue;
            }
            let mut end = self.line_len;
            if !self.line_cut && end > 0 && self.line[end - 1] == b'\r' {
                end -= 1;
            }
            let done = self.line(end)?;
            self.line_len = 0;
            self.line_cut = false;
            if done {
                return Ok(Some(i + 1));
            }
        }
        Ok(None)
    }

    /// One line of the head, `self.line[..end]`; true at the blank line that ends it.
    fn line(&mut self, end: usize) -> Result<bool, Error> {
        let line = &self.line[..end];
        if !self.status_seen {
            self.status_seen = true;
            let code = line
                .strip_prefix(b"HTTP/1.1 ")
                .filter(|rest| rest.len() == 3 || rest.get(3) == Some(&b' '))
                .and_then(|rest| rest.get(..3))
                .filter(|digits| digits.iter().all(u8::is_ascii_digit))
                .ok_or(Error::BadStatusLine)?
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            return if code == 101 {
                Ok(false)
            } else {
                Err(Error::Status(code))
            };
        }
        if line.is_empty() && !self.line_cut {
            return if !self.upgrade || !self.connection {
                Err(Error::NotUpgraded)
            } else if !self.accepted {
                Err(Error::BadAccept)
            } else if !self.protocol {
                Err(Error::NoSubprotocol)
            } else {
                Ok(true)
            };
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Error::BadHeader)?;
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let checked = is(b"upgrade")
            || is(b"connection")
            || is(b"sec-websocket-accept")
            || is(b"sec-websocket-protocol")
            || is(b"sec-websocket-extensions");
        if !checked {
            return Ok(false);
        }
        if self.line_cut {
            return Err(Error::HeaderTooLong);
        }
        let has_token = |token: &[u8]| {
            value
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token))
        };
        if is(b"upgrade") {
            self.upgrade |= has_token(b"websocket");
        } else if is(b"connection") {
            self.connection |= has_token(b"upgrade");
        } else if is(b"sec-websocket-accept") {
            if self.accepted {
                return Err(Error::DuplicateHeader);
            }
            if value != self.accept {
                return Err(Error::BadAccept);
            }
            self.accepted = true;
        } else if is(b"sec-websocket-protocol") {
            if self.protocol {
                return Err(Error::DuplicateHeader);
            }
            if value != b"mqtt" {
                return Err(Error::WrongSubprotocol);
            }
            self.protocol = true;
        } else if !value.is_empty() {
            return Err(Error::UnofferedExtension);
        }
        Ok(false)
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn decimal(n: u16, out: &mut Vec<u8>) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The header of a client frame: up to 14 bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameHeader {
    bytes: [u8; 14],
    len: u8,
}

impl FrameHeader {
    /// The header's bytes, to send before the masked payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The header of a final binary frame of `payload_len` bytes masked with `mask`; the payload
/// follows it, masked by [`apply_mask`].
pub fn binary_header(payload_len: usize, mask: [u8; 4]) -> FrameHeader {
    header(0x80 | OP_BINARY, payload_len as u64, mask)
}

fn header(first: u8, len: u64, mask: [u8; 4]) -> FrameHeader {
    let mut bytes = [0u8; 14];
    bytes[0] = first;
    let at = if len < 126 {
        bytes[1] = 0x80 | len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        bytes[1] = 0x80 | 126;
        bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        bytes[1] = 0x80 | 127;
        bytes[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    bytes[at..at + 4].copy_from_slice(&mask);
    FrameHeader {
        bytes,
        len: (at + 4) as u8,
    }
}

/// Mask (or unmask) `data`, which starts `offset` bytes into a frame's payload, so a payload
/// can be masked piece by piece.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[(offset + i) % 4];
    }
}

/// A control frame the client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// The answer to a ping, with its payload.
    Pong,
    /// The answer to a close, or the start of one.
    Close,
}

/// A whole masked control frame (at most 131 bytes).
#[derive(Clone, Copy)]
pub struct ControlFrame {
    bytes: [u8; 6 + MAX_CONTROL],
    len: u8,
}

impl ControlFrame {
    /// The frame's bytes, ready to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A masked control frame carrying `payload` (past 125 bytes, its first 125).
pub fn control_frame(control: Control, payload: &[u8], mask: [u8; 4]) -> ControlFrame {
    let payload = &payload[..payload.len().min(MAX_CONTROL)];
    let op = match control {
        Control::Pong => OP_PONG,
        Control::Close => OP_CLOSE,
    };
    let head = header(0x80 | op, payload.len() as u64, mask);
    let mut bytes = [0u8; 6 + MAX_CONTROL];
    let at = head.as_bytes().len();
    bytes[..at].copy_from_slice(head.as_bytes());
    bytes[at..at + payload.len()].copy_from_slice(payload);
    apply_mask(&mut bytes[at..at + payload.len()], mask, 0);
    ControlFrame {
        bytes,
        len: (at + payload.len()) as u8,
    }
}

/// The server's close frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The status code (1000 normal, 1001 going away...), when the frame has one.
    pub code: Option<u16>,
    reason: [u8; MAX_CONTROL - 2],
    reason_len: u8,
}

impl Close {
    /// The reason the server gave (UTF-8, possibly empty).
    pub fn reason(&self) -> &str {
        core::str::from_utf8(&self.reason[..usize::from(self.reason_len)]).unwrap_or_default()
    }

    /// The close frame that answers this one: its code echoed, as RFC 6455 §5.5.1 suggests,
    /// unless it is one that must never be sent (then no code).
    pub fn reply(&self, mask: [u8; 4]) -> ControlFrame {
        match self.code {
            Some(code @ 1000..=4999) if !matches!(code, 1005 | 1006 | 1015) => {
                control_frame(Control::Close, &code.to_be_bytes(), mask)
            }
            _ => control_frame(Control::Close, &[], mask),
        }
    }
}

impl core::fmt::Debug for Close {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Close")
            .field("code", &self.code)
            .field("reason", &self.reason())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Reading a frame header into `head`.
    Header,
    /// Reading `remaining` payload bytes of a frame with opcode `op`.
    Payload,
    /// The server closed; nothing more is read.
    Closed,
}

/// The server's frames, turned into the MQTT byte stream they carry.
pub struct Decoder {
    stage: Stage,
    head: [u8; 10],
    head_len: u8,
    op: u8,
    remaining: u64,
    /// A binary message was begun with FIN clear: continuations belong to it.
    in_message: bool,
    control: [u8; MAX_CONTROL],
    control_len: u8,
    pong: [u8; MAX_CONTROL],
    /// A ping not answered yet: the length of its payload in `pong`.
    pong_len: Option<u8>,
    close: Option<Close>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of the server's first frame.
    pub fn new() -> Self {
        Self {
            stage: Stage::Header,
            head: [0; 10],
            head_len: 0,
            op: 0,
            remaining: 0,
            in_message: false,
            control: [0; MAX_CONTROL],
            control_len: 0,
            pong: [0; MAX_CONTROL],
            pong_len: None,
            close: None,
        }
    }

    /// Decode `buf` (bytes as read from the connection) in place: the MQTT bytes it carries
    /// are moved to its front and their count returned. Stops at a close frame (see
    /// [`Decoder::close`]); after one, the rest is ignored.
    pub fn decode_in_place(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let (mut read, mut written) = (0, 0);
        while read < buf.len() && self.stage != Stage::Closed {
            let (used, data) = self.step(&buf[read..])?;
            let start = read + used - data;
            buf.copy_within(start..start + data, written);
            written += data;
            read += used;
        }
        Ok(written)
    }

    /// Read from the start of `input` (not empty) up to the end of a header or of a payload:
    /// `(used, data)`, where `input[used - data..used]` are MQTT bytes. `used` is at least 1.
    fn step(&mut self, input: &[u8]) -> Result<(usize, usize), Error> {
        match self.stage {
            Stage::Closed => Ok((input.len(), 0)),
            Stage::Header => {
                let mut used = 0;
                for &b in input {
                    used += 1;
                    self.head[usize::from(self.head_len)] = b;
                    self.head_len += 1;
                    if self.header_complete()? {
                        break;
                    }
                }
                Ok((used, 0))
            }
            Stage::Payload => {
                let n = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= n as u64;
                let data = if matches!(self.op, OP_BINARY | OP_CONTINUATION) {
                    n
                } else {
                    let at = usize::from(self.control_len);
                    self.control[at..at + n].copy_from_slice(&input[..n]);
                    self.control_len += n as u8;
                    0
                };
                if self.remaining == 0 {
                    self.frame_done()?;
                }
                Ok((n, data))
            }
        }
    }

    /// Check the header read so far; true once it is whole (and the payload stage set up).
    fn header_complete(&mut self) -> Result<bool, Error> {
        let len = usize::from(self.head_len);
        if len < 2 {
            return Ok(false);
        }
        let (b0, b1) = (self.head[0], self.head[1]);
        if len == 2 {
            let (fin, op) = (b0 & 0x80 != 0, b0 & 0x0f);
            if b0 & 0x70 != 0 {
                return Err(Error::ReservedBits);
            }
            if b1 & 0x80 != 0 {
                return Err(Error::MaskedFrame);
            }
            match op {
                OP_CONTINUATION if !self.in_message => return Err(Error::UnexpectedContinuation),
                OP_CONTINUATION => {}
                OP_TEXT => return Err(Error::TextFrame),
                OP_BINARY if self.in_message => return Err(Error::InterruptedMessage),
                OP_BINARY => {}
                OP_CLOSE | OP_PING | OP_PONG if !fin => return Err(Error::FragmentedControl),
                OP_CLOSE | OP_PING | OP_PONG if b1 & 0x7f > MAX_CONTROL as u8 => {
                    return Err(Error::ControlTooLong)
                }
                OP_CLOSE | OP_PING | OP_PONG => {}
                op => return Err(Error::ReservedOpcode(op)),
            }
        }
        let needed = match b1 & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        if len < needed {
            return Ok(false);
        }
        let length = match needed {
            4 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            10 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.head[2..10]);
                let n = u64::from_be_bytes(be);
                if n >> 63 != 0 {
                    return Err(Error::LengthTooLarge);
                }
                n
            }
            _ => u64::from(b1 & 0x7f),
        };
        self.op = b0 & 0x0f;
        if matches!(self.op, OP_BINARY | OP_CONTINUATION) {
            self.in_message = b0 & 0x80 == 0;
        }
        self.head_len = 0;
        self.remaining = length;
        self.control_len = 0;
        self.stage = Stage::Payload;
        if length == 0 {
            self.frame_done()?;
        }
        Ok(true)
    }

    /// The current frame's payload is all read.
    fn frame_done(&mut self) -> Result<(), Error> {
        self.stage = Stage::Header;
        let body = &self.control[..usize::from(self.control_len)];
        match self.op {
            OP_PING => {
                self.pong[..body.len()].copy_from_slice(body);
                self.pong_len = Some(self.control_len);
            }
            OP_CLOSE => {
                let mut close = Close {
                    code: None,
                    reason: [0; MAX_CONTROL - 2],
                    reason_len: 0,
                };
                match body {
                    [] => {}
                    [_] => return Err(Error::BadClose),
                    [hi, lo, reason @ ..] => {
                        core::str::from_utf8(reason).map_err(|_| Error::BadClose)?;
                        close.code = Some(u16::from_be_bytes([*hi, *lo]));
                        close.reason[..reason.len()].copy_from_slice(reason);
                        close.reason_len = reason.len() as u8;
                    }
                }
                self.close = Some(close);
                self.stage = Stage::Closed;
            }
            _ => {}
        }
        Ok(())
    }

    /// The pong owed for the last ping read (RFC 6455 lets one pong answer several pings),
    /// once: the caller sends it.
    pub fn take_pong(&mut self, mask: [u8; 4]) -> Option<ControlFrame> {
        let len = usize::from(self.pong_len.take()?);
        Some(control_frame(Control::Pong, &self.pong[..len], mask))
    }

    /// The server's close frame, once read: the connection is over (answer it with
    /// [`Close::reply`]).
    pub fn close(&self) -> Option<&Close> {
        self.close.as_ref()
    }
}

/// SHA-1 of the concatenated `parts` (FIPS 180-4); only for `Sec-WebSocket-Accept`, where
/// it is a checksum, not a security primitive.
fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut block = [0u8; 64];
    let mut filled = 0;
    let mut total: u64 = 0;
    let mut feed = |bytes: &[u8], block: &mut [u8; 64], filled: &mut usize| {
        for &b in bytes {
            block[*filled] = b;
            *filled += 1;
            if *filled == 64 {
                sha1_block(&mut h, block);
                *filled = 0;
            }
        }
    };
    for part in parts {
        total += part.len() as u64;
        feed(part, &mut block, &mut filled);
    }
    feed(&[0x80], &mut block, &mut filled);
    while filled != 56 {
        feed(&[0], &mut block, &mut filled);
    }
    feed(&(total * 8).to_be_bytes(), &mut block, &mut filled);
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn sha1_block(h: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *h;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i {
            0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
            20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
            40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
        *x = x.wrapping_add(y);
    }
}

/// Standard base64 with padding of `input` into `out`, which holds exactly
/// `4 * ceil(len / 3)` bytes.
fn base64(input: &[u8], out: &mut [u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (chunk, dst) in input.chunks(3).zip(out.chunks_mut(4)) {
        let n = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, d) in dst.iter_mut().enumerate() {
            *d = if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| alloc::format!("{b:02x}")).collect()
    }

    fn b64(input: &[u8]) -> String {
        let mut out = vec![0u8; input.len().div_ceil(3) * 4];
        base64(input, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sha1_matches_the_fips_vectors() {
        assert_eq!(
            hex(&sha1(&[b""])),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex(&sha1(&[b"abc"])),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        // Split anywhere, the same digest: parts are one message.
        assert_eq!(
            hex(&sha1(&[
                b"abcdbcdecdefdefgefghfghighij",
                b"hijkijkljklmklmnlmnomnopnopq"
            ])),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha1(&[&million])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        // 55, 56 and 64 bytes: the padding's edge cases (one block, two blocks).
        assert_eq!(
            hex(&sha1(&[&[b'a'; 55]])),
            "c1c8bbdc22796e28c0e15163d20899b65621d65a"
        );
        assert_eq!(
            hex(&sha1(&[&[b'a'; 56]])),
            "c2db330f6083854c99d4b5bfb6e8f29f201be699"
        );
        assert_eq!(
            hex(&sha1(&[&[b'a'; 64]])),
            "0098ba824b5c16427bd7a1122a5a442a25ec644d"
        );
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(b64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }

    /// RFC 6455 §1.3's example nonce ("the sample nonce").
    const NONCE: [u8; 16] = *b"the sample nonce";

    #[test]
    fn the_accept_is_rfc_6455s_example() {
        let h = Handshake::new(NONCE);
        assert_eq!(&h.key, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(&h.accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    fn request(host: &str, port: u16, tls: bool, path: &str) -> Result<String, Error> {
        let mut out = Vec::new();
        Handshake::new(NONCE).request(host, port, tls, path, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_request_names_the_path_host_and_subprotocol() {
        assert_eq!(
            request("mqtt.heylua.ai", 443, true, "/mqtt").unwrap(),
            "GET /mqtt HTTP/1.1\r\nHost: mqtt.heylua.ai\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        // The port is named only when it is not the scheme's.
        assert!(request("h", 80, false, "/")
            .unwrap()
            .contains("Host: h\r\n"));
        assert!(request("h", 443, false, "/")
            .unwrap()
            .contains("Host: h:443\r\n"));
        assert!(request("h", 80, true, "/")
            .unwrap()
            .contains("Host: h:80\r\n"));
        assert!(request("10.0.0.2", 9001, false, "/a/b?c=d")
            .unwrap()
            .starts_with("GET /a/b?c=d HTTP/1.1\r\nHost: 10.0.0.2:9001\r\n"));
        assert!(request("h", 0, false, "/")
            .unwrap()
            .contains("Host: h:0\r\n"));
        assert!(request("h", 65535, false, "/")
            .unwrap()
            .contains("Host: h:65535\r\n"));
    }

    #[test]
    fn a_target_that_would_break_the_request_is_refused() {
        for (host, path) in [
            ("", "/"),
            ("h", ""),
            ("h", "mqtt"),
            ("h", "/a b"),
            ("h", "/a\r\nX-Evil: 1"),
            ("h\r\nX: y", "/"),
            ("h/x", "/"),
            ("h", "/\u{e9}"),
        ] {
            assert_eq!(
                request(host, 80, false, path),
                Err(Error::BadTarget),
                "{host:?} {path:?}"
            );
        }
    }

    const GOOD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                        Sec-WebSocket-Protocol: mqtt\r\n\r\n";

    fn answer(text: &[u8]) -> Result<Option<usize>, Error> {
        Handshake::new(NONCE).receive(text)
    }

    #[test]
    fn the_upgrade_is_accepted_byte_by_byte_and_leaves_the_frames() {
        let mut input = GOOD.as_bytes().to_vec();
        input.extend_from_slice(&[0x82, 0x02, 0x20, 0x02]);
        assert_eq!(answer(&input), Ok(Some(GOOD.len())));
        let mut h = Handshake::new(NONCE);
        for (i, b) in input.iter().enumerate() {
            let got = h.receive(core::slice::from_ref(b)).unwrap();
            assert_eq!(got.is_some(), i == GOOD.len() - 1, "byte {i}");
            if got.is_some() {
                break;
            }
        }
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive_and_lf_alone_ends_lines() {
        let text = "HTTP/1.1 101 OK\nupgrade:WebSocket\nCONNECTION: keep-alive, upgrade \n\
                    X-Long: "
            .to_string()
            + &"x".repeat(1000)
            + "\nsec-websocket-accept:\ts3pPLMBiTxaQ9kYGzzhZRbK+xOo=\t\n\
               sec-websocket-protocol: mqtt\n\n";
        assert_eq!(answer(text.as_bytes()), Ok(Some(text.len())));
    }

    #[test]
    fn a_wrong_answer_is_refused_with_its_reason() {
        let swap = |from: &str, to: &str| GOOD.replace(from, to);
        let cases = [
            (
                "HTTP/1.1 404 Not Found\r\n\r\n".to_string(),
                Error::Status(404),
            ),
            ("HTTP/1.1 200\r\n\r\n".to_string(), Error::Status(200)),
            (swap("HTTP/1.1 101", "HTTP/1.0 101"), Error::BadStatusLine),
            (swap("HTTP/1.1 101", "HTTP/1.1 1O1"), Error::BadStatusLine),
            (
                swap("101 Switching", "1010 Switching"),
                Error::BadStatusLine,
            ),
            ("SSH-2.0-OpenSSH\r\n".to_string(), Error::BadStatusLine),
            (swap("Upgrade: websocket\r\n", ""), Error::NotUpgraded),
            (
                swap("Upgrade: websocket", "Upgrade: h2c"),
                Error::NotUpgraded,
            ),
            (swap("Connection: Upgrade\r\n", ""), Error::NotUpgraded),
            (
                swap("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", ""),
                Error::BadAccept,
            ),
            (
                swap(
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOp=",
                ),
                Error::BadAccept,
            ),
            (
                swap(
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                    "S3PPLMBITXAQ9KYGZZHZRBK+XOO=",
                ),
                Error::BadAccept,
            ),
            (
                swap("Sec-WebSocket-Protocol: mqtt\r\n", ""),
                Error::NoSubprotocol,
            ),
            (
                swap("Protocol: mqtt", "Protocol: mqttv3.1"),
                Error::WrongSubprotocol,
            ),
            (
                swap(
                    "Protocol: mqtt\r\n",
                    "Protocol: mqtt\r\nSec-WebSocket-Protocol: mqtt\r\n",
                ),
                Error::DuplicateHeader,
            ),
            (
                swap(
                    "Protocol: mqtt\r\n",
                    "Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
                ),
                Error::UnofferedExtension,
            ),
            (
                swap("Upgrade: websocket\r\n", "Upgrade websocket\r\n"),
                Error::BadHeader,
            ),
            (
                swap(
                    "Upgrade: websocket",
                    &("Upgrade: websocket".to_string() + &" ".repeat(200)),
                ),
                Error::HeaderTooLong,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(answer(text.as_bytes()), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn the_response_head_is_bounded() {
        let mut h = Handshake::new(NONCE);
        assert_eq!(h.receive(b"HTTP/1.1 101 OK\r\n"), Ok(None));
        let filler = "X-Filler: 0123456789012345678901234567890123456789\r\n";
        let mut result = Ok(None);
        for _ in 0..MAX_HEAD / filler.len() + 1 {
            result = h.receive(filler.as_bytes());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Error::HeadTooLarge));
        // And one endless line: the same bound, no growing buffer.
        let mut h = Handshake::new(NONCE);
        let endless = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(h.receive(&endless), Err(Error::HeadTooLarge));
    }

    /// A server frame: FIN, opcode, unmasked, with the shortest length encoding unless
    /// `long` forces the 64-bit one.
    fn frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | op];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xffff => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Everything `decoder` makes of `input` fed in pieces of `piece` bytes.
    fn decode(decoder: &mut Decoder, input: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
        let mut stream = Vec::new();
        for chunk in input.chunks(piece) {
            let mut buf = chunk.to_vec();
            let n = decoder.decode_in_place(&mut buf)?;
            stream.extend_from_slice(&buf[..n]);
        }
        Ok(stream)
    }

    /// Three MQTT packets (PUBLISH QoS 0 of 300 bytes, PINGRESP, PUBLISH of 5 bytes).
    fn packets() -> Vec<u8> {
        let mut p = Vec::new();
        let payload = vec![b'x'; 300 - 2 - 3 - 2];
        p.extend_from_slice(&[0x30, 0xab, 0x02, 0x00, 0x03, b'a', b'/', b'b']);
        p.extend_from_slice(&payload[..payload.len() - 3]);
        p.extend_from_slice(&[0xd0, 0x00]);
        p.extend_from_slice(&[0x30, 0x07, 0x00, 0x01, b't', b'h', b'e', b'l', b'o']);
        p
    }

    #[test]
    fn packets_split_over_frames_and_packed_in_one_read_the_same() {
        let stream = packets();
        let layouts: Vec<Vec<u8>> = vec![
            // All in one frame.
            frame(true, OP_BINARY, &stream),
            // One frame per 7 bytes: every packet split over several.
            stream
                .chunks(7)
                .flat_map(|c| frame(true, OP_BINARY, c))
                .collect(),
            // One fragmented message: binary, continuations, with pings and empty frames
            // between fragments.
            {
                let mut v = frame(false, OP_BINARY, &stream[..100]);
                v.extend(frame(false, OP_CONTINUATION, &[]));
                v.extend(frame(true, OP_PING, b"hi"));
                v.extend(frame(false, OP_CONTINUATION, &stream[100..250]));
                v.extend(frame(true, OP_PONG, b"unsolicited"));
                v.extend(frame(true, OP_CONTINUATION, &stream[250..]));
                v
            },
            // Empty binary frames and the 16-bit and 64-bit length forms.
            {
                let mut v = frame(true, OP_BINARY, &[]);
                v.extend(frame(true, OP_BINARY, &stream[..200]));
                let mut long = vec![0x82, 127];
                long.extend_from_slice(&((stream.len() - 200) as u64).to_be_bytes());
                long.extend_from_slice(&stream[200..]);
                v.extend(long);
                v
            },
        ];
        for (i, wire) in layouts.iter().enumerate() {
            for piece in [1, 2, 3, 13, 256, wire.len()] {
                let mut decoder = Decoder::new();
                assert_eq!(
                    decode(&mut decoder, wire, piece).unwrap(),
                    stream,
                    "layout {i}, pieces of {piece}"
                );
                assert!(decoder.close().is_none());
            }
        }
    }

    #[test]
    fn a_ping_is_answered_by_a_masked_pong_with_its_payload() {
        let mut decoder = Decoder::new();
        let mut wire = frame(true, OP_PING, b"first");
        wire.extend(frame(true, OP_BINARY, b"\xd0\x00"));
        wire.extend(frame(true, OP_PING, b"last"));
        assert_eq!(decode(&mut decoder, &wire, 5).unwrap(), b"\xd0\x00");
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let pong = decoder.take_pong(mask).unwrap();
        let bytes = pong.as_bytes();
        assert_eq!(&bytes[..2], &[0x8a, 0x84]);
        assert_eq!(&bytes[2..6], &mask);
        let mut payload = bytes[6..].to_vec();
        apply_mask(&mut payload, mask, 0);
        assert_eq!(payload, b"last");
        assert!(decoder.take_pong(mask).is_none(), "a pong is owed once");
        // A ping of 125 bytes, the most there is, and an empty one.
        let mut decoder = Decoder::new();
        decode(&mut decoder, &frame(true, OP_PING, &[7; 125]), 9).unwrap();
        assert_eq!(decoder.take_pong(mask).unwrap().as_bytes().len(), 131);
        decode(&mut decoder, &frame(true, OP_PING, &[]), 9).unwrap();
        assert_eq!(
            decoder.take_pong(mask).unwrap().as_bytes(),
            &[0x8a, 0x80, 0x37, 0xfa, 0x21, 0x3d]
        );
    }

    #[test]
    fn a_close_is_reported_answered_and_ends_the_stream() {
        let mut decoder = Decoder::new();
        let mut body = 1001u16.to_be_bytes().to_vec();
        body.extend_from_slice("going away \u{e9}".as_bytes());
        let mut wire = frame(true, OP_BINARY, b"ab");
        wire.extend(frame(true, OP_CLOSE, &body));
        wire.extend(frame(true, OP_BINARY, b"after"));
        wire.extend([0xff, 0xff]);
        assert_eq!(decode(&mut decoder, &wire, 4).unwrap(), b"ab");
        let close = decoder.close().unwrap();
        assert_eq!(close.code, Some(1001));
        assert_eq!(close.reason(), "going away \u{e9}");
        let mask = [1, 2, 3, 4];
        let reply = close.reply(mask);
        let mut echoed = reply.as_bytes()[6..].to_vec();
        apply_mask(&mut echoed, mask, 0);
        assert_eq!(&reply.as_bytes()[..2], &[0x88, 0x82]);
        assert_eq!(echoed, 1001u16.to_be_bytes());

        // No body: no code, and none in the answer; a code never sent on the wire is not echoed.
        let mut decoder = Decoder::new();
        decode(&mut decoder, &frame(true, OP_CLOSE, &[]), 1).unwrap();
        assert_eq!(decoder.close().unwrap().code, None);
        assert_eq!(
            decoder.close().unwrap().reply(mask).as_bytes(),
            &[0x88, 0x80, 1, 2, 3, 4]
        );
        let mut decoder = Decoder::new();
        decode(
            &mut decoder,
            &frame(true, OP_CLOSE, &1005u16.to_be_bytes()),
            1,
        )
        .unwrap();
        assert_eq!(decoder.close().unwrap().reply(mask).as_bytes().len(), 6);
    }

    #[test]
    fn what_a_server_must_not_send_is_an_error() {
        let mut masked = vec![0x82, 0x82, 1, 2, 3, 4];
        masked.extend_from_slice(&[0x20 ^ 1, 0x02 ^ 2]);
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (masked, Error::MaskedFrame),
            (frame(true, OP_TEXT, b"{}"), Error::TextFrame),
            (frame(true, OP_BINARY | 0x40, b"x"), Error::ReservedBits),
            (frame(true, OP_BINARY | 0x10, b"x"), Error::ReservedBits),
            (frame(true, 0x3, b"x"), Error::ReservedOpcode(3)),
            (frame(true, 0x7, b"x"), Error::ReservedOpcode(7)),
            (frame(true, 0xb, b"x"), Error::ReservedOpcode(0xb)),
            (frame(true, 0xf, b""), Error::ReservedOpcode(0xf)),
            (frame(false, OP_PING, b"x"), Error::FragmentedControl),
            (frame(false, OP_CLOSE, b""), Error::FragmentedControl),
            (frame(true, OP_PING, &[0; 126]), Error::ControlTooLong),
            (frame(true, OP_PONG, &[0; 200]), Error::ControlTooLong),
            (huge, Error::LengthTooLarge),
            (
                frame(true, OP_CONTINUATION, b"x"),
                Error::UnexpectedContinuation,
            ),
            (
                [frame(false, OP_BINARY, b"x"), frame(true, OP_BINARY, b"y")].concat(),
                Error::InterruptedMessage,
            ),
            (
                [frame(false, OP_BINARY, b"x"), frame(true, OP_TEXT, b"y")].concat(),
                Error::TextFrame,
            ),
            (
                [
                    frame(true, OP_BINARY, b"x"),
                    frame(true, OP_CONTINUATION, b"y"),
                ]
                .concat(),
                Error::UnexpectedContinuation,
            ),
            (frame(true, OP_CLOSE, &[3]), Error::BadClose),
            (
                frame(true, OP_CLOSE, &[3, 232, 0xff, 0xfe]),
                Error::BadClose,
            ),
        ];
        for (wire, expected) in cases {
            for piece in [1, 3, wire.len()] {
                let mut decoder = Decoder::new();
                assert_eq!(
                    decode(&mut decoder, &wire, piece),
                    Err(expected),
                    "{wire:02x?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn a_frame_longer_than_memory_streams_through() {
        // 2^62 bytes announced: read as far as bytes come, nothing kept.
        let mut decoder = Decoder::new();
        let mut wire = vec![0x82, 127];
        wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
        wire.extend_from_slice(&[9; 1000]);
        assert_eq!(decode(&mut decoder, &wire, 100).unwrap(), vec![9; 1000]);
        assert_eq!(decoder.remaining, (1u64 << 62) - 1000);
    }

    /// Arbitrary bytes never panic the decoder or the handshake, and the decoder's answer does
    /// not depend on how the bytes were cut: whole or in pieces, the same stream or error.
    #[test]
    fn hostile_bytes_never_panic_and_reads_do_not_matter() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000 {
            let wire: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 300) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                // Plausible frames (any opcode, FIN, length form), sometimes one bit flipped,
                // so the deeper states are reached.
                let mut v = Vec::new();
                for _ in 0..1 + next() % 6 {
                    let op = [0u8, 1, 2, 2, 2, 3, 8, 9, 9, 10, 11][(next() % 11) as usize];
                    let fin = next() % 4 != 0;
                    let len = [0usize, 1, 5, 125, 126, 300][(next() % 6) as usize];
                    let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    let mut f = frame(fin, op, &payload);
                    if next() % 3 == 0 {
                        f[1] = 127;
                        f.splice(2..2, [0u8; 8]);
                        f[9] = len as u8;
                        f.truncate(10);
                        f.extend_from_slice(&payload[..len.min(255)]);
                    }
                    v.extend(f);
                }
                if next() % 3 == 0 && !v.is_empty() {
                    let at = (next() as usize) % v.len();
                    v[at] ^= 1 << (next() % 8);
                }
                v
            };
            let piece = 1 + (next() % 17) as usize;
            let whole = decode(&mut Decoder::new(), &wire, wire.len().max(1));
            let mut pieces_decoder = Decoder::new();
            let pieces = decode(&mut pieces_decoder, &wire, piece);
            assert_eq!(whole, pieces, "{wire:02x?} whole vs pieces of {piece}");
            if let Ok(stream) = &whole {
                assert!(stream.len() <= wire.len());
            }
            let _ = pieces_decoder.take_pong([0; 4]);
            let mut h = Handshake::new([round as u8; 16]);
            let _ = h.receive(&wire);
        }
    }

    #[test]
    fn client_frames_are_masked_with_the_key_given() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        for (len, head) in [
            (0usize, vec![0x82, 0x80]),
            (125, vec![0x82, 0xfd]),
            (126, vec![0x82, 0xfe, 0x00, 0x7e]),
            (65535, vec![0x82, 0xfe, 0xff, 0xff]),
            (65536, vec![0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let header = binary_header(len, mask);
            let mut expected = head;
            expected.extend_from_slice(&mask);
            assert_eq!(header.as_bytes(), expected.as_slice(), "{len}");
        }
        // Masked piece by piece or whole: the same bytes, and masking twice restores them.
        let data: Vec<u8> = (0..=255).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        let mut pieces = data.clone();
        for (i, chunk) in pieces.chunks_mut(7).enumerate() {
            apply_mask(chunk, mask, i * 7);
        }
        assert_eq!(whole, pieces);
        assert_ne!(whole, data);
        apply_mask(&mut whole, mask, 0);
        assert_eq!(whole, data);
        // Our own header, unmasked, reads back through a decoder.
        let mut unmasked = binary_header(data.len(), mask).as_bytes()[..4].to_vec();
        unmasked[1] &= 0x7f;
        unmasked.extend_from_slice(&data);
        assert_eq!(decode(&mut Decoder::new(), &unmasked, 10).unwrap(), data);
    }
}
