//! The Lua CDN: upload a file with the device's API key, hand its public URL to the agent.
//!
//! ```no_run
//! # async fn snap(config: &lua_device::Config, png: Vec<u8>) -> Result<(), lua_device::cdn::CdnError> {
//! use lua_device::cdn::Cdn;
//! let cdn = Cdn::from_config(config)?;
//! let upload = cdn.upload(png, "snapshot.png", "image/png").await?;
//! println!("{}", upload.url); // https://cdn.heylua.ai/{fileId}
//! # Ok(()) }
//! ```
//!
//! The contract is the official client's: `POST {base}/upload` with `Authorization: Bearer
//! <apiKey>` and the file in the multipart part `file`, answered `{"fileId","mediaType",
//! "extension"}`; `GET {base}/{fileId}` for anyone. `https` is verified exactly as the MQTT
//! transport's `mqtts`/`wss` (the Mozilla roots, or only `Config::ca_pem`).

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::Config;

/// Chunk size of streamed uploads (and of progress reports).
const CHUNK: usize = 64 << 10;
/// The most of an error answer read for its message.
const MAX_ERROR_BODY: usize = 16 << 10;

/// A client of one CDN, with one API key. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Cdn {
    client: reqwest::Client,
    api_key: String,
    base: String,
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The CDN's name for the file (`3f…9c.png`).
    pub file_id: String,
    /// Its media type, as the CDN serves it.
    pub media_type: String,
    /// Its extension, without the dot.
    pub extension: String,
    /// Its public URL, `{base}/{fileId}`: what a command returns to the agent.
    pub url: String,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// How far a streamed upload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file handed to the connection so far.
    pub sent: u64,
    /// The file's length.
    pub total: u64,
}

impl Progress {
    /// `sent` as a share of `total`, 0.0 to 1.0 (1.0 for an empty file).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.sent as f64 / self.total as f64
        }
    }
}

/// Why a CDN request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CdnError {
    /// 401: the API key is missing or unknown; the server's message.
    Unauthorized(String),
    /// 413: the file is over the CDN's limit; the server's message.
    TooLarge(String),
    /// Any other answer of 400 or more, with the server's `message` (or the status's words).
    Status {
        /// The HTTP status.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// Reading the file, or the connection failing (refused, closed mid-request, timed out).
    Io(io::Error),
    /// The TLS handshake failed (an untrusted or mismatched certificate...).
    Tls(String),
    /// Unusable settings: a bad base URL or CA PEM.
    Config(String),
    /// A success answer that is not the CDN's JSON.
    Protocol(String),
}

impl fmt::Display for CdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdnError::Unauthorized(m) => write!(f, "CDN refused the API key: {m}"),
            CdnError::TooLarge(m) => write!(f, "file too large for the CDN: {m}"),
            CdnError::Status { status, message } => write!(f, "CDN answered {status}: {message}"),
            CdnError::Io(e) => write!(f, "CDN I/O: {e}"),
            CdnError::Tls(m) => write!(f, "CDN TLS: {m}"),
            CdnError::Config(m) => write!(f, "CDN settings: {m}"),
            CdnError::Protocol(m) => write!(f, "unexpected CDN answer: {m}"),
        }
    }
}

impl std::error::Error for CdnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CdnError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CdnError {
    fn from(e: io::Error) -> Self {
        CdnError::Io(e)
    }
}

impl From<reqwest::Error> for CdnError {
    fn from(e: reqwest::Error) -> Self {
        let mut chain = String::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut tls = false;
        let mut kind = io::ErrorKind::Other;
        while let Some(err) = source {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&err.to_string());
            tls |= is_tls(err);
            if let Some(io) = err.downcast_ref::<io::Error>() {
                kind = io.kind();
            }
            source = err.source();
        }
        if tls {
            CdnError::Tls(chain)
        } else if e.is_timeout() {
            CdnError::Io(io::Error::new(io::ErrorKind::TimedOut, chain))
        } else {
            CdnError::Io(io::Error::new(kind, chain))
        }
    }
}

/// Whether rustls said no somewhere in `err`'s chain (an `io::Error` hides the error it wraps
/// from `source`, so its inner error is looked at too).
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<rustls::Error>() {
        return true;
    }
    let wrapped = err
        .downcast_ref::<io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| is_tls(inner));
    wrapped || err.source().is_some_and(is_tls)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    file_id: String,
    media_type: String,
    extension: String,
}

impl Cdn {
    /// A client of the CDN at `base_url` (`https://cdn.heylua.ai`, or the dev gateway's
    /// `http://127.0.0.1:8084`), trusting the Mozilla roots.
    pub fn new(api_key: impl Into<String>, base_url: impl Into<String>) -> Result<Self, CdnError> {
        Self::with_ca_pem(api_key, base_url, None)
    }

    /// The device's CDN: its `api_key`, `cdn_url` and `ca_pem`.
    pub fn from_config(config: &Config) -> Result<Self, CdnError> {
        Self::with_ca_pem(
            config.api_key.clone(),
            config.cdn_url.clone(),
            config.ca_pem.as_deref(),
        )
    }

    /// A client trusting only `ca_pem` when given (as [`Config::ca_pem`]).
    pub fn with_ca_pem(
        api_key: impl Into<String>,
        base_url: impl Into<String>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, CdnError> {
        let base = base_url.into().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| CdnError::Config(format!("CDN URL `{base}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CdnError::Config(format!(
                "CDN URL `{base}`: expected http:// or https://"
            )));
        }
        let tls = Config::tls_client_config(ca_pem).map_err(|e| CdnError::Config(e.to_string()))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .connect_timeout(Duration::from_secs(15))
            // A stalled transfer fails instead of hanging; a slow but moving one goes on.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CdnError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            api_key: api_key.into(),
            base,
        })
    }

    /// The CDN's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The public URL of `file_id`.
    pub fn url(&self, file_id: &str) -> String {
        format!("{}/{file_id}", self.base)
    }

    /// Upload bytes held in memory.
    pub async fn upload(
        &self,
        bytes: impl Into<Vec<u8>>,
        filename: &str,
        content_type: &str,
    ) -> Result<Upload, CdnError> {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        let part = Part::bytes(bytes);
        self.send(part, len, filename, content_type).await
    }

    /// Upload a file, streamed from disk in 64 KiB chunks (never whole in memory); its name is
    /// the path's last component.
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        content_type: &str,
    ) -> Result<Upload, CdnError> {
        self.upload_file_with_progress(path, content_type, |_| {})
            .await
    }

    /// [`Cdn::upload_file`], calling `progress` after each chunk is handed to the connection
    /// (the last call has `sent == total`).
    pub async fn upload_file_with_progress(
        &self,
        path: impl AsRef<Path>,
        content_type: &str,
        mut progress: impl FnMut(Progress) + Send + 'static,
    ) -> Result<Upload, CdnError> {
        let path = path.as_ref();
        let file = tokio::fs::File::open(path).await?;
        let total = file.metadata().await?.len();
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let mut sent = 0u64;
        let chunks = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        })
        .map(move |chunk: io::Result<Vec<u8>>| {
            if let Ok(bytes) = &chunk {
                sent += bytes.len() as u64;
                progress(Progress { sent, total });
            }
            chunk
        });
        let part = Part::stream_with_length(reqwest::Body::wrap_stream(chunks), total);
        self.send(part, total, &filename, content_type).await
    }

    async fn send(
        &self,
        part: Part,
        len: u64,
        filename: &str,
        content_type: &str,
    ) -> Result<Upload, CdnError> {
        let part = part
            .file_name(filename.to_string())
            .mime_str(content_type)
            .map_err(|e| CdnError::Config(format!("content type `{content_type}`: {e}")))?;
        let response = self
            .client
            .post(format!("{}/upload", self.base))
            .bearer_auth(&self.api_key)
            .multipart(Form::new().part("file", part))
            .send()
            .await?;
        let response = refused(response).await?;
        let body = response.bytes().await?;
        let stored: Stored = serde_json::from_slice(&body).map_err(|e| {
            CdnError::Protocol(format!(
                "{e}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        Ok(Upload {
            url: self.url(&stored.file_id),
            file_id: stored.file_id,
            media_type: stored.media_type,
            extension: stored.extension,
            bytes: len,
        })
    }

    /// Download a file whole into memory.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, CdnError> {
        self.fetch(&self.url(file_id)).await
    }

    /// Download any public CDN URL whole into memory.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, CdnError> {
        let response = refused(self.client.get(url).send().await?).await?;
        Ok(response.bytes().await?.to_vec())
    }

    /// Download a public CDN URL into `out` chunk by chunk; returns the bytes written.
    pub async fn fetch_to(
        &self,
        url: &str,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<u64, CdnError> {
        let mut response = refused(self.client.get(url).send().await?).await?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await? {
            out.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        out.flush().await?;
        Ok(written)
    }
}

impl fmt::Debug for Cdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cdn")
            .field("base", &self.base)
            .field("api_key", &"***")
            .finish()
    }
}

/// The response when it is a success, else its error with the server's message.
async fn refused(response: Response) -> Result<Response, CdnError> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let message = error_message(response)
        .await
        .unwrap_or_else(|| format!("CDN request failed: {status}"));
    Err(match status {
        StatusCode::UNAUTHORIZED => CdnError::Unauthorized(message),
        StatusCode::PAYLOAD_TOO_LARGE => CdnError::TooLarge(message),
        _ => CdnError::Status {
            status: status.as_u16(),
            message,
        },
    })
}

/// The `message` of a JSON error answer, read up to a bound.
async fn error_message(mut response: Response) -> Option<String> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            return None;
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
    json.get("message")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_settings() {
        let cdn = Cdn::new("k", "https://cdn.heylua.ai/").unwrap();
        assert_eq!(cdn.url("abc.png"), "https://cdn.heylua.ai/abc.png");
        assert!(!format!("{cdn:?}").contains("\"k\""));
        assert!(matches!(Cdn::new("k", "ftp://x"), Err(CdnError::Config(_))));
        assert!(matches!(
            Cdn::with_ca_pem("k", "https://x", Some(b"not a pem")),
            Err(CdnError::Config(_))
        ));
        let half = Progress { sent: 5, total: 10 };
        assert_eq!(half.fraction(), 0.5);
    }
}
