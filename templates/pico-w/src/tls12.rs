//! A small TLS 1.2 client, the fallback for brokers that do not speak TLS 1.3 (`tls.rs` tries
//! 1.3 first). embedded-tls is TLS-1.3-only and rustls cannot build for thumbv6m (no atomic
//! compare-and-swap, so no `Arc`), so this file implements the one handshake a device needs
//! out of RustCrypto parts: ECDHE on P-256 (p256), AES-GCM records (aes-gcm), the TLS 1.2 PRF
//! (hmac, sha2), and `crate::pki` for the certificate chain and the ServerKeyExchange signature.
//!
//! Deliberately left out: CBC and static-RSA suites, session resumption, renegotiation, client
//! certificates, compression. Every length from the server is checked against the buffer it
//! is read into; memory is the two buffers the caller passes and about 2 KiB of state (the
//! AES key schedules).
//!
//! The extended master secret (RFC 7627) is offered and used when the server echoes it, but
//! not required: it defends against the triple-handshake attack, which needs resumption,
//! renegotiation or client certificates, none of which this client does, so requiring it
//! would only shut out older servers. Renegotiation: the ClientHello carries an empty
//! renegotiation_info, the server's must be empty too, and after the handshake a HelloRequest
//! is ignored (RFC 5246 §7.4.1.1 allows it) while any other handshake message ends the session.
//!
//! `tls.rs` uses this only after a TLS 1.3 attempt was refused, so a server random carrying the
//! RFC 8446 downgrade sentinel (the server does speak 1.3) aborts the handshake.
//!
//! Nothing here depends on embassy: luagen's host tests compile this file as it is (with its
//! unit tests) and run it against mosquitto over tokio.

use core::fmt;
use core::ops::Range;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use embedded_io_async_07 as io;
use hmac::{Hmac, Mac};
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256, Sha384};

use crate::pki;

/// The largest record accepted (RFC 5246 §6.2.3 allows 2^14 + 2048 of ciphertext, but AES-GCM
/// adds only 24 bytes, so anything past 2^14 + 256 is an attack or a bug).
const RECORD_LIMIT: usize = 16_384 + 256;
const PLAINTEXT_LIMIT: usize = 16_384;
/// Header, explicit nonce, tag: what a record adds to its plaintext.
const HEADER: usize = 5;
const EXPLICIT: usize = 8;
const TAG: usize = 16;
/// Certificates accepted in the server's chain; public chains have two or three.
pub const MAX_CHAIN: usize = 6;

const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CHANGE_CIPHER_SPEC: u8 = 20;
const APPLICATION_DATA: u8 = 23;

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_KEY_EXCHANGE: u8 = 12;
const CERTIFICATE_REQUEST: u8 = 13;
const SERVER_HELLO_DONE: u8 = 14;
const CLIENT_KEY_EXCHANGE: u8 = 16;
const FINISHED: u8 = 20;

/// RFC 8446 §4.1.3: a TLS 1.3 server that negotiates 1.2 or below ends its random with these.
const DOWNGRADE_12: &[u8; 8] = b"DOWNGRD\x01";
const DOWNGRADE_11: &[u8; 8] = b"DOWNGRD\x00";

/// Offered in this order: AES-128 first, it is the cheaper one on a Cortex-M0+.
const SUITES: [u16; 4] = [0xc02b, 0xc02f, 0xc02c, 0xc030];
const SECP256R1: u16 = 0x0017;
/// ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256/384/512,
/// rsa_pkcs1_sha256/384/512: what public CAs' keys sign with.
const SCHEMES: [u16; 8] = [
    0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
];

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_EXTENDED_MASTER_SECRET: u16 = 0x0017;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;

/// Why the TLS 1.2 session failed. `Alert` carries the description the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The socket failed.
    Io,
    /// The connection ended in the middle of a record or handshake.
    Closed,
    /// The server sent a fatal alert (or a warning during the handshake).
    Alert(u8),
    /// A message or record that does not parse.
    Decode,
    /// A message or record the protocol does not allow at this point.
    Unexpected,
    /// A record longer than TLS allows.
    RecordOverflow,
    /// A record or handshake message larger than the buffer it must fit in.
    TooLarge,
    /// A record that fails authentication.
    BadRecordMac,
    /// The server chose a version other than TLS 1.2.
    Version,
    /// The server chose a cipher suite, curve, extension or signature scheme not offered.
    Negotiation,
    /// The server's random carries the RFC 8446 downgrade sentinel: it speaks TLS 1.3, so the
    /// failed TLS 1.3 attempt before this one was forced by someone in between.
    Downgrade,
    /// The server asked for a client certificate; the device has none.
    ClientAuth,
    /// The certificate chain did not verify for the host.
    Certificate,
    /// The ServerKeyExchange signature did not verify with the certificate's key.
    Signature,
    /// The server's Finished did not match: the handshake was tampered with.
    Finished,
    /// The server asked to renegotiate, or its renegotiation_info was not empty.
    Renegotiation,
    /// The host name cannot go into a ClientHello, or the buffers are too small.
    Config,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io => f.write_str("socket error"),
            Error::Closed => f.write_str("connection closed mid-record"),
            Error::Alert(d) => write!(f, "alert {d} from the server"),
            Error::Decode => f.write_str("malformed message"),
            Error::Unexpected => f.write_str("unexpected message"),
            Error::RecordOverflow => f.write_str("record too long"),
            Error::TooLarge => f.write_str("message larger than the buffer"),
            Error::BadRecordMac => f.write_str("record failed authentication"),
            Error::Version => f.write_str("server chose a version other than TLS 1.2"),
            Error::Negotiation => f.write_str("server chose parameters that were not offered"),
            Error::Downgrade => f.write_str("downgrade sentinel: the server speaks TLS 1.3"),
            Error::ClientAuth => f.write_str("server asked for a client certificate"),
            Error::Certificate => f.write_str("certificate chain not verified"),
            Error::Signature => f.write_str("key exchange signature not verified"),
            Error::Finished => f.write_str("server Finished did not verify"),
            Error::Renegotiation => f.write_str("renegotiation refused"),
            Error::Config => f.write_str("host name or buffers unusable"),
        }
    }
}

impl core::error::Error for Error {}

impl io::Error for Error {
    fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io => io::ErrorKind::Other,
            Error::Closed => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::InvalidData,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Suite(u16);

impl Suite {
    fn sha384(self) -> bool {
        matches!(self.0, 0xc02c | 0xc030)
    }

    fn ecdsa(self) -> bool {
        matches!(self.0, 0xc02b | 0xc02c)
    }

    fn key_len(self) -> usize {
        if self.sha384() {
            32
        } else {
            16
        }
    }

    /// Whether a ServerKeyExchange signed with `scheme` fits this suite's certificate type.
    fn allows(self, scheme: u16) -> bool {
        SCHEMES.contains(&scheme) && ((scheme & 0xff == 0x03) == self.ecdsa())
    }
}

// ---------------------------------------------------------------------------------------------
// The PRF (RFC 5246 §5) and the handshake transcript.

fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let Ok(mac) = <M as KeyInit>::new_from_slice(secret) else {
        return; // HMAC takes keys of any length
    };
    let mut a = mac.clone();
    for part in seed {
        a.update(part);
    }
    let mut a = a.finalize().into_bytes();
    for chunk in out.chunks_mut(a.len()) {
        let mut block = mac.clone();
        block.update(&a);
        for part in seed {
            block.update(part);
        }
        let block = block.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
        let mut next = mac.clone();
        next.update(&a);
        a = next.finalize().into_bytes();
    }
}

/// PRF(secret, label, seed) with SHA-384 or SHA-256, into all of `out`.
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let mut parts: [&[u8]; 4] = [label, &[], &[], &[]];
    let n = seed.len().min(3);
    parts[1..=n].copy_from_slice(&seed[..n]);
    if sha384 {
        p_hash::<Hmac<Sha384>>(secret, &parts[..=n], out);
    } else {
        p_hash::<Hmac<Sha256>>(secret, &parts[..=n], out);
    }
}

/// Both hashes run until the end: the suite is known only after the ClientHello, and hashing
/// a few kilobytes twice is cheaper than keeping the messages.
#[derive(Clone)]
struct Transcript {
    sha256: Sha256,
    sha384: Sha384,
}

impl Transcript {
    fn new() -> Self {
        Self {
            sha256: Sha256::new(),
            sha384: Sha384::new(),
        }
    }

    fn update(&mut self, message: &[u8]) {
        self.sha256.update(message);
        self.sha384.update(message);
    }

    fn hash(&self, sha384: bool, out: &mut [u8; 48]) -> usize {
        if sha384 {
            out.copy_from_slice(&self.sha384.clone().finalize());
            48
        } else {
            out[..32].copy_from_slice(&self.sha256.clone().finalize());
            32
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records.

// Two per session, for its lifetime: the size is the AES key schedule's, wherever it lives.
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

/// One direction's record protection: key, 4-byte implicit nonce, sequence number.
pub struct Direction {
    cipher: Cipher,
    iv: [u8; 4],
    seq: u64,
}

impl Direction {
    fn new(key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        let cipher = match key.len() {
            16 => Cipher::Aes128(Aes128Gcm::new_from_slice(key).map_err(|_| Error::Config)?),
            _ => Cipher::Aes256(Aes256Gcm::new_from_slice(key).map_err(|_| Error::Config)?),
        };
        let mut implicit = [0u8; 4];
        implicit.copy_from_slice(iv);
        Ok(Self {
            cipher,
            iv: implicit,
            seq: 0,
        })
    }

    fn aad(&self, kind: u8, len: usize) -> [u8; 13] {
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8] = kind;
        aad[9..11].copy_from_slice(&[3, 3]);
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    fn next_seq(&mut self) -> Result<(), Error> {
        self.seq = self.seq.checked_add(1).ok_or(Error::Unexpected)?;
        Ok(())
    }

    /// Seal `record[13..13 + len]` in place: the header and explicit nonce go in front, the
    /// tag after. Returns the record's whole length.
    fn seal(&mut self, kind: u8, record: &mut [u8], len: usize) -> Result<usize, Error> {
        let total = HEADER + EXPLICIT + len + TAG;
        if record.len() < total {
            return Err(Error::TooLarge);
        }
        // The sequence number is the explicit nonce: unique per key, as GCM needs.
        let explicit = self.seq.to_be_bytes();
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.iv);
        nonce[4..].copy_from_slice(&explicit);
        let aad = self.aad(kind, len);
        let body = &mut record[HEADER + EXPLICIT..HEADER + EXPLICIT + len];
        let nonce = GenericArray::from_slice(&nonce);
        let tag = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_in_place_detached(nonce, &aad, body),
            Cipher::Aes256(c) => c.encrypt_in_place_detached(nonce, &aad, body),
        }
        .map_err(|_| Error::TooLarge)?;
        record[HEADER + EXPLICIT + len..total].copy_from_slice(&tag);
        record[0] = kind;
        record[1..3].copy_from_slice(&[3, 3]);
        record[3..5].copy_from_slice(&((total - HEADER) as u16).to_be_bytes());
        record[5..13].copy_from_slice(&explicit);
        self.next_seq()?;
        Ok(total)
    }

    /// Open a record's body (explicit nonce, ciphertext, tag) in place; the plaintext's range.
    fn open(&mut self, kind: u8, body: &mut [u8]) -> Result<Range<usize>, Error> {
        if body.len() < EXPLICIT + TAG {
            return Err(Error::BadRecordMac);
        }
        let len = body.len() - EXPLICIT - TAG;
        if len > PLAINTEXT_LIMIT {
            return Err(Error::RecordOverflow);
        }
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.iv);
        nonce[4..].copy_from_slice(&body[..EXPLICIT]);
        let aad = self.aad(kind, len);
        let (text, tag) = body[EXPLICIT..].split_at_mut(len);
        let nonce = GenericArray::from_slice(&nonce);
        let tag = GenericArray::from_slice(tag);
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt_in_place_detached(nonce, &aad, text, tag),
            Cipher::Aes256(c) => c.decrypt_in_place_detached(nonce, &aad, text, tag),
        }
        .map_err(|_| Error::BadRecordMac)?;
        self.next_seq()?;
        Ok(EXPLICIT..EXPLICIT + len)
    }
}

async fn read_exact<S: io::Read>(socket: &mut S, mut buf: &mut [u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        match socket.read(buf).await {
            Ok(0) => return Err(Error::Closed),
            Ok(n) => {
                let n = n.min(buf.len());
                buf = &mut core::mem::take(&mut buf)[n..];
            }
            Err(_) => return Err(Error::Io),
        }
    }
    Ok(())
}

async fn write_all<S: io::Write>(socket: &mut S, mut buf: &[u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        match socket.write(buf).await {
            Ok(0) | Err(_) => return Err(Error::Io),
            Ok(n) => buf = &buf[n.min(buf.len())..],
        }
    }
    Ok(())
}

/// A record header: its content type and body length, checked against the limits.
async fn read_header<S: io::Read>(socket: &mut S) -> Result<(u8, usize), Error> {
    let mut header = [0u8; HEADER];
    read_exact(socket, &mut header).await?;
    if header[1] != 3 {
        return Err(Error::Decode);
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if len > RECORD_LIMIT {
        return Err(Error::RecordOverflow);
    }
    Ok((header[0], len))
}

/// A received alert: close_notify ends the stream, anything else is the server's error.
fn alert(body: &[u8]) -> Error {
    match body {
        [_, 0] => Error::Closed,
        [_, description] => Error::Alert(*description),
        _ => Error::Decode,
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake.

/// Handshake messages reassembled from records, in the read buffer: a message may span
/// records and a record may hold several messages.
struct Inbox<'b> {
    buf: &'b mut [u8],
    start: usize,
    end: usize,
}

impl Inbox<'_> {
    /// The next whole handshake message (header included), as a range of `buf`, valid until
    /// the next call. `keys`: the server's record protection once its ChangeCipherSpec came.
    async fn next<S: io::Read>(
        &mut self,
        socket: &mut S,
        mut keys: Option<&mut Direction>,
    ) -> Result<(u8, Range<usize>), Error> {
        loop {
            let have = self.end - self.start;
            if have >= 4 {
                let b = &self.buf[self.start..];
                let len =
                    4 + (usize::from(b[1]) << 16 | usize::from(b[2]) << 8 | usize::from(b[3]));
                if len > self.buf.len() {
                    return Err(Error::TooLarge);
                }
                if have >= len {
                    let kind = b[0];
                    let range = self.start..self.start + len;
                    self.start += len;
                    return Ok((kind, range));
                }
            }
            let (kind, len) = read_header(socket).await?;
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.buf.len() - self.end < len {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            if self.buf.len() - self.end < len {
                return Err(Error::TooLarge);
            }
            let fragment = &mut self.buf[self.end..self.end + len];
            read_exact(socket, fragment).await?;
            let text = match keys.as_deref_mut() {
                Some(keys) => keys.open(kind, fragment)?,
                None if len > PLAINTEXT_LIMIT => return Err(Error::RecordOverflow),
                None => 0..len,
            };
            match kind {
                HANDSHAKE if !text.is_empty() => {
                    let (from, n) = (self.end + text.start, text.len());
                    self.buf.copy_within(from..from + n, self.end);
                    self.end += n;
                }
                ALERT => return Err(alert(&fragment[text])),
                _ => return Err(Error::Unexpected),
            }
        }
    }

    /// The server's ChangeCipherSpec, which may not split a handshake message.
    async fn change_cipher_spec<S: io::Read>(&mut self, socket: &mut S) -> Result<(), Error> {
        if self.start != self.end {
            return Err(Error::Unexpected);
        }
        let (kind, len) = read_header(socket).await?;
        if len > self.buf.len() {
            return Err(Error::TooLarge);
        }
        let body = &mut self.buf[..len];
        read_exact(socket, body).await?;
        match kind {
            CHANGE_CIPHER_SPEC if body == [1] => Ok(()),
            ALERT => Err(alert(body)),
            _ => Err(Error::Unexpected),
        }
    }
}

/// A big-endian reader over a message; every read is bounds-checked.
struct Parser<'a>(&'a [u8]);

impl<'a> Parser<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Decode);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Result<usize, Error> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    fn vec8(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u8()?;
        self.take(n.into())
    }

    fn vec16(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()?;
        self.take(n.into())
    }

    fn vec24(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u24()?;
        self.take(n)
    }

    fn end(&self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Decode)
        }
    }
}

/// A ClientHello into `out` (handshake header included); its length.
fn client_hello(random: &[u8; 32], host: &str, out: &mut [u8]) -> Result<usize, Error> {
    // SNI carries DNS names only (RFC 6066 §3).
    let sni = host.parse::<core::net::IpAddr>().is_err();
    if host.is_empty() || host.len() > 253 || out.len() < 160 + host.len() {
        return Err(Error::Config);
    }
    let mut w = Out { buf: out, len: 0 };
    w.put(&[CLIENT_HELLO, 0, 0, 0, 3, 3]);
    w.put(random);
    w.put(&[0]); // no session id: no resumption
    w.u16(SUITES.len() as u16 * 2);
    for suite in SUITES {
        w.u16(suite);
    }
    w.put(&[1, 0]); // compression: null only
    let extensions = w.len;
    w.u16(0);
    if sni {
        let n = host.len() as u16;
        w.u16(EXT_SERVER_NAME);
        w.u16(n + 5);
        w.u16(n + 3);
        w.put(&[0]);
        w.u16(n);
        w.put(host.as_bytes());
    }
    for word in [
        EXT_SUPPORTED_GROUPS,
        4,
        2,
        SECP256R1,
        EXT_EC_POINT_FORMATS,
        2,
    ] {
        w.u16(word);
    }
    w.put(&[1, 0]); // uncompressed points only
    w.u16(EXT_SIGNATURE_ALGORITHMS);
    w.u16(SCHEMES.len() as u16 * 2 + 2);
    w.u16(SCHEMES.len() as u16 * 2);
    for scheme in SCHEMES {
        w.u16(scheme);
    }
    for word in [EXT_EXTENDED_MASTER_SECRET, 0, EXT_RENEGOTIATION_INFO, 1] {
        w.u16(word);
    }
    w.put(&[0]); // renegotiation_info: empty, a first handshake
    let len = w.len;
    out[extensions..extensions + 2].copy_from_slice(&((len - extensions - 2) as u16).to_be_bytes());
    out[1..4].copy_from_slice(&(len as u32 - 4).to_be_bytes()[1..]);
    Ok(len)
}

struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }
}

/// What the ServerHello settled.
struct Hello {
    random: [u8; 32],
    suite: Suite,
    extended_master_secret: bool,
}

fn server_hello(body: &[u8]) -> Result<Hello, Error> {
    let mut p = Parser(body);
    if p.u16()? != 0x0303 {
        return Err(Error::Version);
    }
    let mut random = [0u8; 32];
    random.copy_from_slice(p.take(32)?);
    if &random[24..] == DOWNGRADE_12 || &random[24..] == DOWNGRADE_11 {
        return Err(Error::Downgrade);
    }
    if p.vec8()?.len() > 32 {
        return Err(Error::Decode);
    }
    let suite = p.u16()?;
    if !SUITES.contains(&suite) || p.u8()? != 0 {
        return Err(Error::Negotiation);
    }
    let mut hello = Hello {
        random,
        suite: Suite(suite),
        extended_master_secret: false,
    };
    if p.0.is_empty() {
        return Ok(hello);
    }
    let mut extensions = Parser(p.vec16()?);
    p.end()?;
    let mut seen = 0u8;
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let data = extensions.vec16()?;
        let bit = match kind {
            EXT_SERVER_NAME if data.is_empty() => 1,
            EXT_EC_POINT_FORMATS if data.len() > 1 && data[1..].contains(&0) => 2,
            EXT_EXTENDED_MASTER_SECRET if data.is_empty() => {
                hello.extended_master_secret = true;
                4
            }
            // RFC 5746: a first handshake's renegotiation_info is empty.
            EXT_RENEGOTIATION_INFO if data == [0] => 8,
            EXT_RENEGOTIATION_INFO => return Err(Error::Renegotiation),
            _ => return Err(Error::Negotiation),
        };
        if seen & bit != 0 {
            return Err(Error::Decode);
        }
        seen |= bit;
    }
    Ok(hello)
}

/// The ServerKeyExchange: the server's P-256 point, once its signature over both randoms and
/// the parameters verified with the certificate's key.
fn server_key_exchange(
    body: &[u8],
    suite: Suite,
    key: &pki::ServerKey,
    randoms: (&[u8; 32], &[u8; 32]),
) -> Result<p256::PublicKey, Error> {
    let mut p = Parser(body);
    if p.u8()? != 3 || p.u16()? != SECP256R1 {
        return Err(Error::Negotiation);
    }
    let point = p.vec8()?;
    let params_len = 4 + point.len();
    let scheme = p.u16()?;
    let signature = p.vec16()?;
    p.end()?;
    if !suite.allows(scheme) {
        return Err(Error::Negotiation);
    }
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::Decode);
    }
    let mut signed = [0u8; 64 + 4 + 65];
    signed[..32].copy_from_slice(randoms.0);
    signed[32..64].copy_from_slice(randoms.1);
    signed[64..].copy_from_slice(&body[..params_len]);
    pki::verify_signature(key, scheme, &signed, signature).map_err(|_| Error::Signature)?;
    p256::PublicKey::from_sec1_bytes(point).map_err(|_| Error::Decode)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The TLS 1.2 handshake over `socket`, as a client of `host`, trusting `anchors` (DER
/// certificates, concatenated) at wall-clock time `now_s` (`None`: dates unchecked). `read`
/// holds one whole record or handshake message (16 KiB and a little more for any server);
/// `write` one outgoing record. Nothing of the application's is sent before the server is
/// proven to be `host`.
pub async fn connect<'b, S: io::Read + io::Write>(
    mut socket: S,
    host: &str,
    anchors: &[u8],
    now_s: Option<u64>,
    mut rng: impl CryptoRngCore,
    read: &'b mut [u8],
    write: &'b mut [u8],
) -> Result<Connection<'b, S>, Error> {
    if write.len() < 512 || read.len() < 512 {
        return Err(Error::Config);
    }
    let mut transcript = Transcript::new();
    let mut client_random = [0u8; 32];
    rng.fill_bytes(&mut client_random);
    let secret = EphemeralSecret::random(&mut rng);

    let len = client_hello(&client_random, host, &mut write[HEADER..])?;
    transcript.update(&write[HEADER..HEADER + len]);
    send_plain(&mut socket, HANDSHAKE, write, len).await?;

    let mut inbox = Inbox {
        buf: read,
        start: 0,
        end: 0,
    };
    let (kind, range) = inbox.next(&mut socket, None).await?;
    if kind != SERVER_HELLO {
        return Err(Error::Unexpected);
    }
    let hello = server_hello(&inbox.buf[range.start + 4..range.end])?;
    transcript.update(&inbox.buf[range]);
    let suite = hello.suite;

    let (kind, range) = inbox.next(&mut socket, None).await?;
    if kind != CERTIFICATE {
        return Err(Error::Unexpected);
    }
    let key = {
        let message = &inbox.buf[range.clone()];
        let mut p = Parser(&message[4..]);
        let mut list = Parser(p.vec24()?);
        p.end()?;
        let mut chain: [&[u8]; MAX_CHAIN] = [&[]; MAX_CHAIN];
        let mut n = 0;
        while !list.0.is_empty() {
            let cert = list.vec24()?;
            *chain.get_mut(n).ok_or(Error::TooLarge)? = cert;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Certificate);
        }
        let key = pki::verify_chain(anchors, &chain[..n], host, now_s).map_err(|e| {
            pki::log_refusal(host, e);
            Error::Certificate
        })?;
        transcript.update(message);
        key
    };

    let (kind, range) = inbox.next(&mut socket, None).await?;
    if kind != SERVER_KEY_EXCHANGE {
        return Err(Error::Unexpected);
    }
    let server_point = server_key_exchange(
        &inbox.buf[range.start + 4..range.end],
        suite,
        &key,
        (&client_random, &hello.random),
    )?;
    transcript.update(&inbox.buf[range]);

    let (kind, range) = inbox.next(&mut socket, None).await?;
    match kind {
        SERVER_HELLO_DONE if range.len() == 4 => transcript.update(&inbox.buf[range]),
        CERTIFICATE_REQUEST => return Err(Error::ClientAuth),
        _ => return Err(Error::Unexpected),
    }

    // ClientKeyExchange: our point, uncompressed.
    let public = secret.public_key().to_encoded_point(false);
    let point = public.as_bytes();
    let body = &mut write[HEADER..];
    body[..5].copy_from_slice(&[
        CLIENT_KEY_EXCHANGE,
        0,
        0,
        point.len() as u8 + 1,
        point.len() as u8,
    ]);
    body[5..5 + point.len()].copy_from_slice(point);
    let len = 5 + point.len();
    transcript.update(&write[HEADER..HEADER + len]);
    send_plain(&mut socket, HANDSHAKE, write, len).await?;

    let shared = secret.diffie_hellman(&server_point);
    let mut master = [0u8; 48];
    let mut hash = [0u8; 48];
    if hello.extended_master_secret {
        // RFC 7627: the master secret is bound to this handshake's transcript.
        let n = transcript.hash(suite.sha384(), &mut hash);
        prf(
            suite.sha384(),
            shared.raw_secret_bytes(),
            b"extended master secret",
            &[&hash[..n]],
            &mut master,
        );
    } else {
        prf(
            suite.sha384(),
            shared.raw_secret_bytes(),
            b"master secret",
            &[&client_random, &hello.random],
            &mut master,
        );
    }
    let mut block = [0u8; 72];
    let k = suite.key_len();
    let block = &mut block[..2 * k + 8];
    prf(
        suite.sha384(),
        &master,
        b"key expansion",
        &[&hello.random, &client_random],
        block,
    );
    let mut tx = Direction::new(&block[..k], &block[2 * k..2 * k + 4])?;
    let mut rx = Direction::new(&block[k..2 * k], &block[2 * k + 4..])?;
    block.fill(0);

    write[HEADER] = 1;
    send_plain(&mut socket, CHANGE_CIPHER_SPEC, write, 1).await?;
    let n = transcript.hash(suite.sha384(), &mut hash);
    let mut finished = [FINISHED, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    prf(
        suite.sha384(),
        &master,
        b"client finished",
        &[&hash[..n]],
        &mut finished[4..],
    );
    transcript.update(&finished);
    write[HEADER + EXPLICIT..HEADER + EXPLICIT + 16].copy_from_slice(&finished);
    let total = tx.seal(HANDSHAKE, write, 16)?;
    write_all(&mut socket, &write[..total]).await?;
    socket.flush().await.map_err(|_| Error::Io)?;

    inbox.change_cipher_spec(&mut socket).await?;
    let (kind, range) = inbox.next(&mut socket, Some(&mut rx)).await?;
    let n = transcript.hash(suite.sha384(), &mut hash);
    let mut expected = [0u8; 12];
    prf(
        suite.sha384(),
        &master,
        b"server finished",
        &[&hash[..n]],
        &mut expected,
    );
    master.fill(0);
    let message = &inbox.buf[range];
    if kind != FINISHED || message.len() != 16 || !ct_eq(&message[4..], &expected) {
        return Err(Error::Finished);
    }
    // Anything after the Finished in its record would be a second handshake.
    if inbox.start != inbox.end {
        return Err(Error::Renegotiation);
    }
    Ok(Connection {
        socket,
        read: inbox.buf,
        write,
        rx: RxState {
            keys: rx,
            start: 0,
            end: 0,
            eof: false,
            failed: false,
        },
        tx: TxState { keys: tx, len: 0 },
        suite: suite.0,
    })
}

/// One unprotected record, its body at `buf[5..5 + len]`.
async fn send_plain<S: io::Write>(
    socket: &mut S,
    kind: u8,
    buf: &mut [u8],
    len: usize,
) -> Result<(), Error> {
    buf[0] = kind;
    buf[1..3].copy_from_slice(&[3, 3]);
    buf[3..5].copy_from_slice(&(len as u16).to_be_bytes());
    write_all(socket, &buf[..HEADER + len]).await?;
    socket.flush().await.map_err(|_| Error::Io)
}

// ---------------------------------------------------------------------------------------------
// The established connection.

struct RxState {
    keys: Direction,
    /// Decrypted application data not yet read, in the read buffer.
    start: usize,
    end: usize,
    /// close_notify came: reads return 0 from now on.
    eof: bool,
    /// A read failed: the stream's position is lost, so every later read fails too.
    failed: bool,
}

struct TxState {
    keys: Direction,
    /// Plaintext waiting in the write buffer (after the header and explicit nonce).
    len: usize,
}

/// A TLS 1.2 session after its handshake.
pub struct Connection<'b, S> {
    socket: S,
    read: &'b mut [u8],
    write: &'b mut [u8],
    rx: RxState,
    tx: TxState,
    suite: u16,
}

impl<S> Connection<'_, S> {
    /// The cipher suite in use (its TLS code point).
    pub fn suite(&self) -> u16 {
        self.suite
    }

    /// A reader and a writer that work at the same time, like `TlsConnection::split`.
    pub fn split(&mut self) -> (Reader<'_, S>, Writer<'_, S>)
    where
        S: Clone,
    {
        (
            Reader {
                socket: self.socket.clone(),
                buf: &mut *self.read,
                state: &mut self.rx,
            },
            Writer {
                socket: self.socket.clone(),
                buf: &mut *self.write,
                state: &mut self.tx,
            },
        )
    }
}

/// The receiving half of a [`Connection`]. Reads are not cancel-safe: a record half read is
/// lost with the future.
pub struct Reader<'a, S> {
    socket: S,
    buf: &'a mut [u8],
    state: &'a mut RxState,
}

impl<S> io::ErrorType for Reader<'_, S> {
    type Error = Error;
}

impl<S: io::Read> io::Read for Reader<'_, S> {
    async fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.state.failed {
            return Err(Error::Unexpected);
        }
        let result = self.read_inner(out).await;
        if result.is_err() {
            self.state.failed = true;
        }
        result
    }
}

impl<S: io::Read> Reader<'_, S> {
    async fn read_inner(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let st = &mut *self.state;
        loop {
            if st.start < st.end || out.is_empty() {
                let n = out.len().min(st.end - st.start);
                out[..n].copy_from_slice(&self.buf[st.start..st.start + n]);
                st.start += n;
                return Ok(n);
            }
            if st.eof {
                return Ok(0);
            }
            let (kind, len) = read_header(&mut self.socket).await?;
            let body = self.buf.get_mut(..len).ok_or(Error::TooLarge)?;
            read_exact(&mut self.socket, body).await?;
            let text = st.keys.open(kind, body)?;
            match kind {
                APPLICATION_DATA => (st.start, st.end) = (text.start, text.end),
                ALERT => match alert(&body[text]) {
                    Error::Closed => st.eof = true,
                    e => return Err(e),
                },
                // RFC 5246 §7.4.1.1 lets a client ignore a HelloRequest; any other handshake
                // message now would be a renegotiation, which this client never does.
                HANDSHAKE
                    if !text.is_empty() && body[text.clone()].chunks(4).all(|m| m == [0; 4]) => {}
                HANDSHAKE => return Err(Error::Renegotiation),
                _ => return Err(Error::Unexpected),
            }
        }
    }
}

/// The sending half of a [`Connection`]: bytes collect into one record until it is full or
/// flushed.
pub struct Writer<'a, S> {
    socket: S,
    buf: &'a mut [u8],
    state: &'a mut TxState,
}

impl<S> io::ErrorType for Writer<'_, S> {
    type Error = Error;
}

impl<S: io::Write> Writer<'_, S> {
    fn capacity(&self) -> usize {
        let overhead = HEADER + EXPLICIT + TAG;
        self.buf.len().saturating_sub(overhead).min(PLAINTEXT_LIMIT)
    }

    async fn send_record(&mut self) -> Result<(), Error> {
        let len = self.state.len;
        if len > 0 {
            let total = self.state.keys.seal(APPLICATION_DATA, self.buf, len)?;
            self.state.len = 0;
            write_all(&mut self.socket, &self.buf[..total]).await?;
        }
        Ok(())
    }
}

impl<S: io::Write> io::Write for Writer<'_, S> {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.state.len == self.capacity() {
            self.send_record().await?;
        }
        let at = HEADER + EXPLICIT + self.state.len;
        let n = data.len().min(self.capacity() - self.state.len);
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.state.len += n;
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.send_record().await?;
        self.socket.flush().await.map_err(|_| Error::Io)
    }
}

// The host tests (codegen/core/tests/pico_w_tls12.rs) run these with `cargo test` on the probe
// that compiles this file; the firmware never builds them.
#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// A server that says `input`, `chunk` bytes per read, then closes; what we send is kept.
    struct Script {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
        sent: Vec<u8>,
    }

    impl Script {
        fn new(input: Vec<u8>) -> Self {
            Self {
                input,
                pos: 0,
                chunk: 7,
                sent: Vec::new(),
            }
        }
    }

    impl io::ErrorType for Script {
        type Error = io::ErrorKind;
    }

    impl io::Read for Script {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::ErrorKind> {
            let n = buf.len().min(self.chunk).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl io::Write for Script {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, io::ErrorKind> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), io::ErrorKind> {
            Ok(())
        }
    }

    /// The scripted socket never waits, so one poll finishes any of these futures.
    fn run<F: core::future::Future>(future: F) -> F::Output {
        let mut future = core::pin::pin!(future);
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            core::task::Poll::Ready(out) => out,
            core::task::Poll::Pending => panic!("a scripted socket never blocks"),
        }
    }

    struct Rng(u64);

    impl rand_core::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            // xorshift: deterministic test input, not key material anyone relies on.
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = self.next_u64() as u8;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for Rng {}

    fn handshake(server: Vec<u8>) -> (Result<(), Error>, Vec<u8>) {
        let mut socket = Script::new(server);
        let (mut read, mut write) = (std::vec![0u8; 16_640], std::vec![0u8; 4096]);
        let result = run(connect(
            &mut socket,
            "localhost",
            &[],
            None,
            Rng(0x9e37_79b9_7f4a_7c15),
            &mut read,
            &mut write,
        ))
        .map(|_| ());
        (result, socket.sent)
    }

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = std::vec![kind, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = std::vec![kind];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(body);
        m
    }

    fn server_hello_body(version: u16, random_tail: &[u8; 8], suite: u16, ext: &[u8]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x42; 24]);
        b.extend_from_slice(random_tail);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        if !ext.is_empty() {
            b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            b.extend_from_slice(ext);
        }
        b
    }

    const EMS_AND_RENEGOTIATION: &[u8] = &[0, 0x17, 0, 0, 0xff, 1, 0, 1, 0];

    fn good_hello() -> Vec<u8> {
        message(
            SERVER_HELLO,
            &server_hello_body(0x0303, &[7; 8], 0xc02b, EMS_AND_RENEGOTIATION),
        )
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn prf_matches_the_published_sha256_vector_and_openssl_for_sha384() {
        // IETF TLS list, msg03416 (also in the PKCS#11 TLS 1.2 PRF tests).
        let mut out = [0u8; 100];
        prf(
            false,
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &[&hex("a0ba9f936cda311827a6f796ffd5198c")],
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            hex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66"
            )
        );
        // `openssl kdf -keylen 100 -kdfopt digest:SHA384 ... TLS1-PRF`, the list's SHA-384 case.
        prf(
            true,
            &hex("b80b733d6ceefcdc71566ea48e5567df"),
            b"test label",
            &[&hex("cd665cf6a8447dd6ff8b27555edb7465")],
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            hex(
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd\
                 e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd\
                 8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425\
                 9b5bf8cd"
            )
        );
    }

    #[test]
    fn the_client_hello_offers_tls12_and_only_aead_suites() {
        let (result, sent) = handshake(Vec::new());
        assert_eq!(result, Err(Error::Closed));
        // One handshake record holding one ClientHello, version 1.2.
        assert_eq!(&sent[..3], &[HANDSHAKE, 3, 3]);
        assert_eq!(
            usize::from(u16::from_be_bytes([sent[3], sent[4]])),
            sent.len() - 5
        );
        let hello = &sent[5..];
        assert_eq!(hello[0], CLIENT_HELLO);
        assert_eq!(&hello[4..6], &[3, 3]);
        let suites = &hello[4 + 2 + 32 + 1..][..10];
        assert_eq!(
            suites,
            &[0, 8, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30]
        );
        let text = hello.windows(9).any(|w| w == b"localhost");
        assert!(text, "SNI names the host");
        assert!(hello.windows(5).any(|w| w == [0xff, 1, 0, 1, 0]));
        assert!(hello.windows(4).any(|w| w == [0, 0x17, 0, 0]));
    }

    #[test]
    fn hostile_first_flights_are_errors() {
        let mut sentinel = [0u8; 8];
        sentinel.copy_from_slice(DOWNGRADE_12);
        let mut sentinel11 = [0u8; 8];
        sentinel11.copy_from_slice(DOWNGRADE_11);
        let hello = |v, tail: &[u8; 8], suite, ext: &[u8]| {
            record(
                HANDSHAKE,
                &message(SERVER_HELLO, &server_hello_body(v, tail, suite, ext)),
            )
        };
        let mut huge = record(HANDSHAKE, &[SERVER_HELLO, 0xff, 0xff, 0xff]);
        huge.extend_from_slice(&[0; 64]);
        let cases: Vec<(&str, Vec<u8>, Error)> = std::vec![
            ("nothing", Vec::new(), Error::Closed),
            ("half a header", std::vec![HANDSHAKE, 3], Error::Closed),
            (
                "a truncated record",
                record(HANDSHAKE, &[2; 40])[..20].to_vec(),
                Error::Closed
            ),
            (
                "a giant record length",
                std::vec![HANDSHAKE, 3, 3, 0xff, 0xff],
                Error::RecordOverflow
            ),
            (
                "a record one past the limit",
                std::vec![HANDSHAKE, 3, 3, 0x41, 0x01],
                Error::RecordOverflow
            ),
            (
                "not TLS",
                b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
                Error::Decode
            ),
            ("a giant handshake message", huge, Error::TooLarge),
            (
                "an empty handshake record",
                record(HANDSHAKE, &[]),
                Error::Unexpected
            ),
            ("a fatal alert", record(ALERT, &[2, 70]), Error::Alert(70)),
            ("close_notify", record(ALERT, &[1, 0]), Error::Closed),
            ("a bad alert", record(ALERT, &[2, 70, 1]), Error::Decode),
            (
                "application data",
                record(APPLICATION_DATA, &[1; 30]),
                Error::Unexpected
            ),
            (
                "an early ChangeCipherSpec",
                record(CHANGE_CIPHER_SPEC, &[1]),
                Error::Unexpected
            ),
            (
                "an unknown record type",
                record(99, &[1]),
                Error::Unexpected
            ),
            (
                "a Certificate first",
                record(HANDSHAKE, &message(CERTIFICATE, &[0, 0, 0])),
                Error::Unexpected
            ),
            (
                "TLS 1.3",
                hello(0x0304, &[7; 8], 0xc02b, &[]),
                Error::Version
            ),
            (
                "TLS 1.1",
                hello(0x0302, &[7; 8], 0xc02b, &[]),
                Error::Version
            ),
            (
                "the 1.2 downgrade sentinel",
                hello(0x0303, &sentinel, 0xc02b, &[]),
                Error::Downgrade
            ),
            (
                "the 1.1 downgrade sentinel",
                hello(0x0303, &sentinel11, 0xc02b, &[]),
                Error::Downgrade
            ),
            (
                "a CBC suite",
                hello(0x0303, &[7; 8], 0xc013, &[]),
                Error::Negotiation
            ),
            (
                "a TLS 1.3 suite",
                hello(0x0303, &[7; 8], 0x1301, &[]),
                Error::Negotiation
            ),
            (
                "an unoffered extension",
                hello(0x0303, &[7; 8], 0xc02b, &[0, 0x23, 0, 0]),
                Error::Negotiation
            ),
            (
                "a renegotiation",
                hello(0x0303, &[7; 8], 0xc02b, &[0xff, 1, 0, 2, 1, 9]),
                Error::Renegotiation
            ),
            (
                "a doubled extension",
                hello(0x0303, &[7; 8], 0xc02b, &[0, 0x17, 0, 0, 0, 0x17, 0, 0]),
                Error::Decode
            ),
            (
                "an extension overrunning",
                hello(0x0303, &[7; 8], 0xc02b, &[0, 0x17, 0, 9]),
                Error::Decode
            ),
            (
                "a short ServerHello",
                record(HANDSHAKE, &message(SERVER_HELLO, &[3, 3, 1])),
                Error::Decode
            ),
        ];
        for (what, server, expected) in cases {
            let (result, _) = handshake(server);
            assert_eq!(result, Err(expected), "{what}");
        }
    }

    #[test]
    fn handshake_messages_are_reassembled_across_and_within_records() {
        let empty_chain = message(CERTIFICATE, &[0, 0, 0]);
        // One byte per record.
        let mut split = Vec::new();
        for b in good_hello().iter().chain(&empty_chain) {
            split.extend(record(HANDSHAKE, &[*b]));
        }
        // Both messages in one record.
        let mut both = good_hello();
        both.extend_from_slice(&empty_chain);
        for server in [split, record(HANDSHAKE, &both)] {
            // Getting as far as the (empty) chain means the ServerHello parsed whole.
            assert_eq!(handshake(server).0, Err(Error::Certificate));
        }
        // A chain longer than the client keeps.
        let mut list = Vec::new();
        for _ in 0..=MAX_CHAIN {
            list.extend_from_slice(&[0, 0, 1, 0x30]);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend(list);
        let mut server = record(HANDSHAKE, &good_hello());
        server.extend(record(HANDSHAKE, &message(CERTIFICATE, &body)));
        assert_eq!(handshake(server).0, Err(Error::TooLarge));
        // A certificate overrunning its list.
        let mut server = record(HANDSHAKE, &good_hello());
        server.extend(record(
            HANDSHAKE,
            &message(CERTIFICATE, &[0, 0, 4, 0, 0, 9, 0x30]),
        ));
        assert_eq!(handshake(server).0, Err(Error::Decode));
    }

    #[test]
    fn random_server_bytes_are_errors_not_panics() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let base = {
            let mut b = record(HANDSHAKE, &good_hello());
            b.extend(record(
                HANDSHAKE,
                &message(CERTIFICATE, &[0, 0, 4, 0, 0, 1, 0x30]),
            ));
            b
        };
        for round in 0..3000 {
            let mut server = base.clone();
            if round % 3 == 0 {
                let len = (rng.next_u32() % 300) as usize;
                server = (0..len).map(|_| rng.next_u32() as u8).collect();
                if round % 2 == 0 && server.len() > 3 {
                    server[0] = HANDSHAKE;
                    server[1] = 3;
                }
            } else {
                for _ in 0..1 + rng.next_u32() % 4 {
                    let i = rng.next_u32() as usize % server.len();
                    server[i] ^= 1 << (rng.next_u32() % 8);
                }
                server.truncate(1 + rng.next_u32() as usize % server.len());
            }
            let (result, _) = handshake(server);
            assert!(result.is_err(), "round {round}: accepted");
        }
    }

    use rand_core::RngCore;

    /// A reader whose server writes records with `server` keys.
    fn pair(key: &[u8]) -> (Direction, Direction) {
        (
            Direction::new(key, &[1, 2, 3, 4]).unwrap(),
            Direction::new(key, &[1, 2, 3, 4]).unwrap(),
        )
    }

    fn sealed(keys: &mut Direction, kind: u8, text: &[u8]) -> Vec<u8> {
        let mut buf = std::vec![0u8; text.len() + 29];
        buf[13..13 + text.len()].copy_from_slice(text);
        let n = keys.seal(kind, &mut buf, text.len()).unwrap();
        buf.truncate(n);
        buf
    }

    fn read_all(keys: Direction, server: Vec<u8>) -> (Vec<u8>, Result<usize, Error>) {
        let mut socket = Script::new(server);
        let mut buf = std::vec![0u8; 16_640];
        let mut state = RxState {
            keys,
            start: 0,
            end: 0,
            eof: false,
            failed: false,
        };
        let mut reader = Reader {
            socket: &mut socket,
            buf: &mut buf,
            state: &mut state,
        };
        let mut got = Vec::new();
        loop {
            let mut chunk = [0u8; 100];
            match run(io::Read::read(&mut reader, &mut chunk)) {
                Ok(0) => return (got, Ok(0)),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    // A failed reader stays failed.
                    assert!(run(io::Read::read(&mut reader, &mut chunk)).is_err());
                    return (got, Err(e));
                }
            }
        }
    }

    #[test]
    fn records_after_the_handshake() {
        for key in [&[5u8; 16][..], &[6u8; 32][..]] {
            let (mut server, client) = pair(key);
            let mut stream = sealed(&mut server, APPLICATION_DATA, b"hello ");
            stream.extend(sealed(&mut server, APPLICATION_DATA, b""));
            stream.extend(sealed(&mut server, HANDSHAKE, &[0, 0, 0, 0]));
            stream.extend(sealed(&mut server, APPLICATION_DATA, &[b'x'; 16_384]));
            stream.extend(sealed(&mut server, ALERT, &[1, 0]));
            stream.extend(sealed(&mut server, APPLICATION_DATA, b"after close"));
            let (got, end) = read_all(client, stream);
            assert_eq!(end, Ok(0));
            assert_eq!(got.len(), 6 + 16_384);
            assert_eq!(&got[..6], b"hello ");
        }
    }

    #[test]
    fn hostile_records_after_the_handshake_are_errors() {
        let key = [9u8; 16];
        type Case = (&'static str, fn(&mut Direction) -> Vec<u8>, Error);
        let cases: Vec<Case> = std::vec![
            (
                "a flipped ciphertext bit",
                |s| {
                    let mut r = sealed(s, APPLICATION_DATA, b"data");
                    r[14] ^= 1;
                    r
                },
                Error::BadRecordMac
            ),
            (
                "a flipped tag bit",
                |s| {
                    let mut r = sealed(s, APPLICATION_DATA, b"data");
                    let n = r.len();
                    r[n - 1] ^= 0x80;
                    r
                },
                Error::BadRecordMac
            ),
            (
                "a changed content type",
                |s| {
                    let mut r = sealed(s, APPLICATION_DATA, b"data");
                    r[0] = HANDSHAKE;
                    r
                },
                Error::BadRecordMac
            ),
            (
                "a replayed record",
                |s| {
                    let r = sealed(s, APPLICATION_DATA, b"data");
                    [r.clone(), r].concat()
                },
                Error::BadRecordMac
            ),
            (
                "a wrong key",
                |_| {
                    sealed(
                        &mut Direction::new(&[8; 16], &[1, 2, 3, 4]).unwrap(),
                        APPLICATION_DATA,
                        b"d",
                    )
                },
                Error::BadRecordMac
            ),
            (
                "a record too short for its tag",
                |_| record(APPLICATION_DATA, &[0; 23]),
                Error::BadRecordMac
            ),
            (
                "a giant length",
                |_| std::vec![APPLICATION_DATA, 3, 3, 0xff, 0xff],
                Error::RecordOverflow
            ),
            (
                "a truncated record",
                |s| {
                    let r = sealed(s, APPLICATION_DATA, b"data");
                    r[..r.len() - 3].to_vec()
                },
                Error::Closed
            ),
            (
                "a fatal alert",
                |s| sealed(s, ALERT, &[2, 20]),
                Error::Alert(20)
            ),
            (
                "a HelloRequest and more",
                |s| sealed(s, HANDSHAKE, &[0, 0, 0, 0, 1]),
                Error::Renegotiation
            ),
            (
                "a new ServerHello",
                |s| sealed(s, HANDSHAKE, &good_hello()),
                Error::Renegotiation
            ),
            (
                "a ChangeCipherSpec",
                |s| sealed(s, CHANGE_CIPHER_SPEC, &[1]),
                Error::Unexpected
            ),
            (
                "an oversized plaintext",
                |s| sealed(s, APPLICATION_DATA, &[0; 16_384 + 1]),
                Error::RecordOverflow
            ),
        ];
        for (what, make, expected) in cases {
            let (mut server, client) = pair(&key);
            let (_, end) = read_all(client, make(&mut server));
            assert_eq!(end, Err(expected), "{what}");
        }
    }

    #[test]
    fn the_writer_splits_what_does_not_fit_one_record() {
        let key = [3u8; 32];
        let (client, server) = pair(&key);
        let mut socket = Script::new(Vec::new());
        let mut buf = std::vec![0u8; 512];
        let mut state = TxState {
            keys: client,
            len: 0,
        };
        let mut writer = Writer {
            socket: &mut socket,
            buf: &mut buf,
            state: &mut state,
        };
        let data: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        run(io::Write::write_all(&mut writer, &data)).unwrap();
        run(io::Write::flush(&mut writer)).unwrap();
        let sent = socket.sent;
        assert!(sent.len() > 2000 + 4 * 29, "several records");
        let (got, end) = read_all(server, sent);
        assert_eq!(
            end,
            Err(Error::Closed),
            "the script ends without close_notify"
        );
        assert_eq!(got, data);
    }
}
