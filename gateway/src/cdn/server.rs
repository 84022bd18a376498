//! The CDN's HTTP/1.1 side: connections, routes, the streamed multipart upload and the
//! download.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::file_type::{is_file_id, FileType};
use super::store::{Store, WriteError};
use super::CdnConfig;
use crate::keys::mask;
use crate::KeyPolicy;

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 16 << 10;
/// Time a client has to send a request's head, and a TLS handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for the multipart framing around the file (boundaries, part headers, small fields).
const FRAMING_BYTES: u64 = 64 << 10;
/// After a file over the cap, the rest of the body is read (and dropped) up to this much and
/// this long, so that the client is reading when the 413 comes, not writing into a reset.
const DRAIN_BYTES: u64 = 8 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);
/// Chunk size of downloads.
const READ_CHUNK: usize = 64 << 10;

pub(super) struct Server {
    pub(super) store: Arc<Store>,
    pub(super) keys: Arc<KeyPolicy>,
    pub(super) uploads: Arc<Semaphore>,
    pub(super) connections: Arc<Semaphore>,
    pub(super) config: CdnConfig,
}

/// A request answered with an error: its status and `{"message"}`.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl Server {
    pub(super) async fn listen(self: Arc<Self>, listener: TcpListener, tls: Option<TlsAcceptor>) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("CDN: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&self.connections).try_acquire_owned() else {
                tracing::warn!(
                    "CDN: closed {peer}: {} connections are open already",
                    self.config.max_connections
                );
                continue;
            };
            let server = Arc::clone(&self);
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => server.serve(stream).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => server.serve(stream).await,
                            Ok(Err(e)) => tracing::debug!("CDN: TLS handshake with {peer}: {e}"),
                            Err(_) => tracing::debug!("CDN: TLS handshake with {peer} timed out"),
                        }
                    }
                }
            });
        }
    }

    async fn serve<S>(self: Arc<Self>, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |request| {
            let server = Arc::clone(&self);
            async move { Ok::<_, Infallible>(server.answer(request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        if let Err(e) = connection.await {
            tracing::debug!("CDN: connection ended: {e}");
        }
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let answer = match (&method, path.as_str()) {
            (&Method::POST, "/upload") => self.upload(request).await,
            (_, "/upload") => Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST a multipart/form-data body to /upload",
            )),
            (&Method::GET, _) => self.download(&path[1..], true).await,
            (&Method::HEAD, _) => self.download(&path[1..], false).await,
            _ => Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "files are read with GET /{fileId} and written with POST /upload",
            )),
        };
        answer.unwrap_or_else(|Refusal(status, message)| {
            if status.is_server_error() {
                tracing::warn!("CDN: {} {path}: {status}: {message}", request_word(status));
            } else {
                tracing::info!("CDN: {} {path}: {status}: {message}", request_word(status));
            }
            json_response(status, &json!({ "message": message }))
        })
    }

    async fn upload(&self, request: Request<Incoming>) -> Result<Response<Body>, Refusal> {
        let (head, body) = request.into_parts();
        match self.admit(&head) {
            Ok((boundary, permit)) => {
                let answer = self.store_upload(body, boundary).await;
                drop(permit);
                answer
            }
            Err(refusal) => {
                // A client that waits for `100 Continue` is answered at once: hyper sends
                // the go-ahead only when the body is first read, so the file never leaves the
                // device. Any other client is already writing the body: read it (bounded)
                // first, so it is reading when the answer comes and not writing into a
                // closed socket.
                let waits = head
                    .headers
                    .get(hyper::header::EXPECT)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
                if !waits {
                    drain(idle_limited(body, Duration::from_secs(1))).await;
                }
                Err(refusal)
            }
        }
    }

    /// The checks an upload passes before its body is read: its key, its content type, its
    /// declared length and a free upload slot.
    fn admit(
        &self,
        head: &hyper::http::request::Parts,
    ) -> Result<(String, tokio::sync::OwnedSemaphorePermit), Refusal> {
        self.authorize(head)?;
        let boundary = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "expected a multipart/form-data body with a boundary, the file in a part named `file`",
                )
            })?;
        let max = self.config.max_file_bytes;
        let declared = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max + FRAMING_BYTES + DRAIN_BYTES) {
            return Err(too_large(max));
        }
        let permit = Arc::clone(&self.uploads).try_acquire_owned().map_err(|_| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} uploads are in progress already; retry shortly",
                    self.config.max_uploads
                ),
            )
        })?;
        Ok((boundary, permit))
    }

    /// Stream the multipart body's `file` part to the store.
    async fn store_upload(
        &self,
        body: Incoming,
        boundary: String,
    ) -> Result<Response<Body>, Refusal> {
        let max = self.config.max_file_bytes;
        let body = idle_limited(body, self.config.idle_timeout);
        let limits = multer::SizeLimit::new()
            .whole_stream(max + FRAMING_BYTES + DRAIN_BYTES)
            .per_field(max + DRAIN_BYTES);
        let mut multipart = multer::Multipart::with_constraints(
            body,
            boundary,
            multer::Constraints::new().size_limit(limits),
        );
        let mut upload = None;
        while let Some(mut field) = multipart.next_field().await.map_err(refusal)? {
            if field.name() != Some("file") || upload.is_some() {
                while field.chunk().await.map_err(refusal)?.is_some() {}
                continue;
            }
            let kind = FileType::of(field.content_type(), field.file_name());
            let mut partial = self.store.begin().await.map_err(internal)?;
            while let Some(chunk) = field.chunk().await.map_err(refusal)? {
                if partial.len() + chunk.len() as u64 > max {
                    drop(partial);
                    drain(futures_util::stream::unfold(
                        field,
                        |mut field| async move {
                            let chunk = field.chunk().await.transpose()?;
                            Some((chunk, field))
                        },
                    ))
                    .await;
                    return Err(too_large(max));
                }
                partial.write(&chunk).await.map_err(|e| match e {
                    WriteError::Full => Refusal::new(
                        StatusCode::INSUFFICIENT_STORAGE,
                        format!(
                            "the CDN's storage is full ({} bytes); restart `luagen dev` or raise --cdn-max-total-bytes",
                            self.config.max_total_bytes
                        ),
                    ),
                    WriteError::Io(e) => internal(e),
                })?;
            }
            upload = Some((kind, partial));
        }
        let Some((kind, partial)) = upload else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "no part named `file` in the multipart body",
            ));
        };
        let id = kind.new_id().map_err(internal)?;
        let stored = partial
            .finish(&id, kind.media_type.clone())
            .await
            .map_err(internal)?;
        tracing::info!(
            "CDN: stored {id} ({}, {})",
            crate::count(stored.size as usize, "byte"),
            stored.media_type
        );
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "fileId": id,
                "mediaType": kind.media_type,
                "extension": kind.extension,
            }),
        ))
    }

    fn authorize(&self, head: &hyper::http::request::Parts) -> Result<(), Refusal> {
        let key = head
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "uploads need the header `Authorization: Bearer <apiKey>`",
                )
            })?;
        if self.keys.accepts_some_agent(key) {
            Ok(())
        } else {
            Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                format!("unknown API key {}", mask(key)),
            ))
        }
    }

    async fn download(&self, id: &str, with_body: bool) -> Result<Response<Body>, Refusal> {
        let found = is_file_id(id).then(|| self.store.get(id)).flatten();
        let Some((stored, path)) = found else {
            let shown: String = id.chars().take(80).collect();
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no file `{shown}` on this CDN"),
            ));
        };
        let body = if with_body {
            let file = tokio::fs::File::open(&path).await.map_err(internal)?;
            file_body(file)
        } else {
            Empty::new().map_err(|never| match never {}).boxed_unsync()
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&stored.media_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(stored.size));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(response)
    }
}

fn request_word(status: StatusCode) -> &'static str {
    if status.is_server_error() {
        "failed"
    } else {
        "refused"
    }
}

fn too_large(max: u64) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is larger than this CDN's limit of {max} bytes"),
    )
}

fn internal(e: io::Error) -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the CDN could not store the file: {e}"),
    )
}

/// A multipart error: a body over the stream's backstop is 413, one whose bytes stopped
/// coming 408 or 400, anything else malformed 400.
fn refusal(e: multer::Error) -> Refusal {
    use multer::Error as E;
    match &e {
        E::FieldSizeExceeded { .. } | E::StreamSizeExceeded { .. } => {
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        E::StreamReadFailed(cause) => {
            let timed_out = cause
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut);
            let status = if timed_out {
                StatusCode::REQUEST_TIMEOUT
            } else {
                StatusCode::BAD_REQUEST
            };
            Refusal::new(status, format!("the body ended early: {cause}"))
        }
        E::IncompleteFieldData { .. } | E::IncompleteHeaders | E::IncompleteStream => Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the body ended early: {e}"),
        ),
        _ => Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("malformed multipart/form-data: {e}"),
        ),
    }
}

/// Read and drop what is left of a refused body, within bounds.
async fn drain<E>(body: impl futures_util::Stream<Item = Result<Bytes, E>>) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut drained = 0u64;
    let mut body = std::pin::pin!(body);
    while drained < DRAIN_BYTES {
        match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Ok(Some(Ok(chunk))) => drained += chunk.len() as u64,
            _ => break,
        }
    }
}

/// The request body's data as a stream, ended with a `TimedOut` error when the client sends
/// nothing for `idle`.
fn idle_limited(
    body: Incoming,
    idle: Duration,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no bytes for {}s", idle.as_secs_f32()),
                    );
                    return Some((Err(e), None));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(io::Error::other(e)), None)),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Some((Ok(data), Some(body))),
                    Err(_trailers) => continue,
                },
            }
        }
    })
}

/// A file streamed in chunks.
fn file_body(file: tokio::fs::File) -> Body {
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; READ_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    StreamBody::new(StreamExt::boxed(chunks)).boxed_unsync()
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
