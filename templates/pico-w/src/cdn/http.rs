//! The CDN upload's HTTP/1.1 exchange over any link (`ws::Rx`/`ws::Tx`: TCP, or TLS over it):
//! one `POST` of a multipart/form-data body with an exact Content-Length, the file written
//! straight from the caller's buffer, then the answer read within a fixed budget (a line at a
//! time for the head, at most [`BODY_BYTES`] of body) and its JSON read by the core's reader.
//!
//! Nothing here depends on the chip: luagen's host tests compile this file as it is and run it
//! against the dev gateway's CDN over tokio (`codegen/core/tests/pico_w_cdn.rs`).

use alloc::string::String;
use alloc::vec::Vec;

use lua_device::json;

use crate::ws::{Rx, Tx};

/// The most of the answer's body kept: the contract's JSON is a few dozen bytes.
pub const BODY_BYTES: usize = 1024;
/// The most of one head line kept: status lines and the headers read here are short, and a
/// longer line (a cookie, a policy) is read through and cut.
const LINE_BYTES: usize = 256;
/// Answers that are not the last (`100 Continue`) skipped before giving up.
const INTERIM_ANSWERS: usize = 4;

/// A file the CDN stored: its public URL is the CDN's base URL, a slash and `file_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub file_id: String,
    pub media_type: String,
    pub extension: String,
}

/// Why an upload failed.
#[derive(Clone, Debug, PartialEq)]
pub enum CdnError {
    /// 401 or 403: the API key was refused; the CDN's message.
    Unauthorized(String),
    /// 413: the file is larger than the CDN takes; its message.
    TooLarge(String),
    /// Any other status from 300 on, with the CDN's message (`{"message"}`, else the body).
    Http(u16, String),
    /// The answer was not HTTP, or a success without the contract's JSON.
    BadResponse,
    /// No connection (name lookup, TCP), or it broke before the answer was complete.
    Io,
    /// TLS failed: the CDN was not proven to be its host under the trust store, or the
    /// session broke.
    Tls,
    /// The upload took longer than its time limit.
    Timeout,
}

/// One upload's request, all but the file's bytes.
pub struct Request<'a> {
    pub host: &'a str,
    pub port: u16,
    /// `https://`: the port `Host` leaves out is 443, not 80.
    pub tls: bool,
    /// The request target, e.g. `/upload`.
    pub path: &'a str,
    pub api_key: &'a str,
    pub filename: &'a str,
    pub content_type: &'a str,
    /// The multipart boundary: printable, and found nowhere in the file ([`boundary`]).
    pub boundary: &'a str,
}

/// A boundary made of `random`'s hex digits, or `None` if the file happens to hold it (the
/// caller draws again).
pub fn boundary(random: [u8; 12], file: &[u8]) -> Option<String> {
    let mut b = String::from("luagen-");
    for byte in random {
        push_hex(&mut b, byte);
    }
    let needle = b.as_bytes();
    (!file.windows(needle.len()).any(|w| w == needle)).then_some(b)
}

/// The head, the part's preamble and the closing delimiter; the body is the preamble, the
/// file and the closing delimiter, which the Content-Length counts exactly.
pub fn framing(request: &Request, file_len: usize) -> (String, String, String) {
    let mut preamble = String::new();
    preamble.push_str("--");
    preamble.push_str(request.boundary);
    preamble.push_str("\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
    push_quoted(&mut preamble, request.filename);
    preamble.push_str("\"\r\nContent-Type: ");
    push_quoted(&mut preamble, request.content_type);
    preamble.push_str("\r\n\r\n");
    let mut closing = String::from("\r\n--");
    closing.push_str(request.boundary);
    closing.push_str("--\r\n");

    let mut head = String::from("POST ");
    head.push_str(request.path);
    head.push_str(" HTTP/1.1\r\nHost: ");
    head.push_str(request.host);
    if request.port != if request.tls { 443 } else { 80 } {
        head.push(':');
        push_decimal(&mut head, request.port as usize);
    }
    head.push_str("\r\nAuthorization: Bearer ");
    push_quoted(&mut head, request.api_key);
    head.push_str("\r\nContent-Type: multipart/form-data; boundary=");
    head.push_str(request.boundary);
    head.push_str("\r\nContent-Length: ");
    push_decimal(&mut head, preamble.len() + file_len + closing.len());
    head.push_str("\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    (head, preamble, closing)
}

/// Send the request with `file` as the part's body and read the CDN's answer.
///
/// A CDN may answer (401, 413) and close before the whole body is in: when sending fails, the
/// answer is still read, and only without one is the link's error reported.
pub async fn exchange<R: Rx, W: Tx>(
    reader: &mut R,
    writer: &mut W,
    request: &Request<'_>,
    file: &[u8],
) -> Result<Upload, CdnError>
where
    CdnError: From<R::Error> + From<W::Error>,
{
    let (head, preamble, closing) = framing(request, file.len());
    let sent: Result<(), W::Error> = async {
        writer.write(head.as_bytes()).await?;
        writer.write(preamble.as_bytes()).await?;
        // In pieces of a TLS record's plaintext: the link takes each as it is, no copy here.
        for piece in file.chunks(4096) {
            writer.write(piece).await?;
        }
        writer.write(closing.as_bytes()).await?;
        writer.flush().await
    }
    .await;
    drop((head, preamble, closing));
    match (sent, read_answer(reader).await) {
        (_, Ok((status, body))) => verdict(status, &body),
        (Err(e), Err(_)) => Err(e.into()),
        (Ok(()), Err(e)) => Err(e),
    }
}

/// What an answer means under the contract.
pub fn verdict(status: u16, body: &[u8]) -> Result<Upload, CdnError> {
    let value = json::from_slice(body).ok();
    let field =
        |name: &str| -> Option<String> { Some(String::from(value.as_ref()?.get(name)?.as_str()?)) };
    match status {
        200..=299 => match (field("fileId"), field("mediaType"), field("extension")) {
            (Some(file_id), Some(media_type), Some(extension)) if !file_id.is_empty() => {
                Ok(Upload {
                    file_id,
                    media_type,
                    extension,
                })
            }
            _ => Err(CdnError::BadResponse),
        },
        100..=199 => Err(CdnError::BadResponse),
        _ => {
            let message = field("message").unwrap_or_else(|| match value {
                // Not the contract's JSON (a proxy's page): its text, as far as it was kept.
                None => String::from(core::str::from_utf8(body).unwrap_or("").trim()),
                Some(_) => String::new(),
            });
            Err(match status {
                401 | 403 => CdnError::Unauthorized(message),
                413 => CdnError::TooLarge(message),
                _ => CdnError::Http(status, message),
            })
        }
    }
}

/// The final answer's status and the first [`BODY_BYTES`] of its body (by Content-Length,
/// chunks, or up to the close).
async fn read_answer<R: Rx>(reader: &mut R) -> Result<(u16, Vec<u8>), CdnError>
where
    CdnError: From<R::Error>,
{
    let mut input = Input {
        reader,
        buf: [0; 128],
        at: 0,
        len: 0,
    };
    let mut line = Vec::with_capacity(LINE_BYTES);
    for _ in 0..INTERIM_ANSWERS {
        input.line(&mut line).await?;
        let status = status(&line).ok_or(CdnError::BadResponse)?;
        let (mut length, mut chunked) = (None, false);
        loop {
            input.line(&mut line).await?;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(CdnError::BadResponse);
            };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(decimal(value).ok_or(CdnError::BadResponse)?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case(b"chunked");
            }
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                input.line(&mut line).await?;
                let size_end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
                let size = hex(trim(&line[..size_end])).ok_or(CdnError::BadResponse)?;
                if size == 0 || body.len() >= BODY_BYTES {
                    break;
                }
                input.take(size, &mut body).await?;
                input.line(&mut line).await?;
            }
        } else {
            // Without a length, the body ends at the close (`Connection: close` was asked).
            input.take(length.unwrap_or(usize::MAX), &mut body).await?;
        }
        return Ok((status, body));
    }
    Err(CdnError::BadResponse)
}

/// The link's bytes, read a buffer at a time.
struct Input<'r, R> {
    reader: &'r mut R,
    buf: [u8; 128],
    at: usize,
    len: usize,
}

impl<R: Rx> Input<'_, R>
where
    CdnError: From<R::Error>,
{
    /// The next byte, `None` at the close.
    async fn byte(&mut self) -> Result<Option<u8>, CdnError> {
        if self.at == self.len {
            self.len = self.reader.recv(&mut self.buf).await?;
            self.at = 0;
            if self.len == 0 {
                return Ok(None);
            }
        }
        self.at += 1;
        Ok(Some(self.buf[self.at - 1]))
    }

    /// One head line without its CRLF, cut to [`LINE_BYTES`]; the close ends the answer early.
    async fn line(&mut self, line: &mut Vec<u8>) -> Result<(), CdnError> {
        line.clear();
        loop {
            match self.byte().await? {
                None => return Err(CdnError::Io),
                Some(b'\n') => {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Ok(());
                }
                Some(b) if line.len() < LINE_BYTES => line.push(b),
                Some(_) => {}
            }
        }
    }

    /// `n` bytes of body (`usize::MAX`: up to the close), the first [`BODY_BYTES`] kept in
    /// `body`; reading stops once that much is kept.
    async fn take(&mut self, n: usize, body: &mut Vec<u8>) -> Result<(), CdnError> {
        for _ in 0..n {
            if body.len() >= BODY_BYTES {
                return Ok(());
            }
            match self.byte().await? {
                Some(b) => body.push(b),
                None if n == usize::MAX => return Ok(()),
                None => return Err(CdnError::Io),
            }
        }
        Ok(())
    }
}

/// `HTTP/1.x NNN ...`'s status.
fn status(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    // The minor version, a space, three digits, then a space or nothing.
    if rest.get(1) != Some(&b' ') || rest.get(5).is_some_and(|&b| b != b' ') {
        return None;
    }
    u16::try_from(decimal(rest.get(2..5)?)?).ok()
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

fn decimal(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

fn hex(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    s.iter().try_fold(0usize, |n, &b| {
        let d = (b as char).to_digit(16)?;
        Some(n * 16 + d as usize)
    })
}

fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d as char);
    }
}

fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(DIGITS[usize::from(byte >> 4)] as char);
    out.push(DIGITS[usize::from(byte & 15)] as char);
}

/// `s` inside a quoted header value: `"`, CR and LF percent-encoded as browsers encode a
/// form's file names, so no value can end the quote or the line.
fn push_quoted(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
}
