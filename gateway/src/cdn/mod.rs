//! The Lua CDN's contract, served locally: devices and agents upload files and share their
//! public URLs, as with `https://cdn.heylua.ai`.
//!
//! - `POST /upload`, `Authorization: Bearer <apiKey>` (a key the gateway accepts for MQTT),
//!   `multipart/form-data` with the file in the part named `file` (its filename and content
//!   type): `200 {"fileId","mediaType","extension"}`.
//! - `GET /{fileId}` (and `HEAD`), no auth (the URL is public): the bytes, with the stored
//!   content type.
//! - Errors are JSON `{"message"}`: 400 a malformed request (not multipart, no `file` part, a
//!   body that ends early), 401 a missing or unknown key, 404 an unknown id, 405 another
//!   method, 408 a client that stopped sending, 413 a file over `max_file_bytes`, 503 more
//!   uploads at once than `max_uploads`, 507 the store's `max_total_bytes` spent.
//!
//! Uploads stream to disk chunk by chunk (a 64 MiB file never sits in memory) and are listed
//! only once complete; a client that goes away or stalls for `idle_timeout` leaves nothing
//! behind. Request heads are capped at 16 KiB and must arrive within 10 s.

mod file_type;
mod server;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::KeyPolicy;

pub use file_type::{is_file_id, FileType};
pub use store::Stored;

/// Where the CDN listens, where it keeps files and how much it takes.
#[derive(Clone, Debug)]
pub struct CdnConfig {
    /// HTTP listener (HTTPS when the gateway has TLS files). Default 127.0.0.1:8084.
    pub listen: SocketAddr,
    /// When `listen`'s port is taken, listen on a free port of the same address instead
    /// (the gateway's `cdn_url` says which): for a default that another gateway may hold.
    pub any_port_if_taken: bool,
    /// Folder of uploads; `None`: a temporary folder removed when the gateway stops.
    pub dir: Option<PathBuf>,
    /// Largest file accepted. Default 64 MiB.
    pub max_file_bytes: u64,
    /// Most bytes stored in all (finished and in-progress uploads). Default 1 GiB.
    pub max_total_bytes: u64,
    /// Uploads in progress at once; more get 503. Default 8.
    pub max_uploads: usize,
    /// Connections open at once; more are closed on accept. Default 64.
    pub max_connections: usize,
    /// How long an upload may wait for its next bytes before it is dropped. Default 30 s.
    pub idle_timeout: Duration,
}

/// 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

impl CdnConfig {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            any_port_if_taken: false,
            dir: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: 1 << 30,
            max_uploads: 8,
            max_connections: 64,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for CdnConfig {
    fn default() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 8084)))
    }
}

/// A running CDN listener.
pub(crate) struct Cdn {
    pub(crate) addr: SocketAddr,
    pub(crate) dir: PathBuf,
    pub(crate) task: JoinHandle<()>,
    // Held so the temporary folder lives exactly as long as the gateway.
    _store: Arc<store::Store>,
}

impl Cdn {
    /// Bind the listener and serve until the task is aborted.
    pub(crate) async fn start(
        config: CdnConfig,
        keys: Arc<KeyPolicy>,
        tls: Option<TlsAcceptor>,
    ) -> Result<Self> {
        let store = Arc::new(
            store::Store::open(config.dir.as_deref(), config.max_total_bytes).with_context(
                || match &config.dir {
                    Some(dir) => format!("CDN folder {}", dir.display()),
                    None => "a temporary CDN folder".to_string(),
                },
            )?,
        );
        let listener = match TcpListener::bind(config.listen).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && config.any_port_if_taken => {
                let any = SocketAddr::new(config.listen.ip(), 0);
                let listener = TcpListener::bind(any).await;
                if let Some(bound) = listener.as_ref().ok().and_then(|l| l.local_addr().ok()) {
                    tracing::warn!("CDN: {} is taken; listening on {bound}", config.listen);
                }
                listener
            }
            bound => bound,
        }
        .with_context(|| format!("listening on {} (CDN)", config.listen))?;
        let addr = listener.local_addr()?;
        let server = Arc::new(server::Server {
            store: Arc::clone(&store),
            keys,
            uploads: Arc::new(Semaphore::new(config.max_uploads)),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config,
        });
        let task = tokio::spawn(server.listen(listener, tls));
        Ok(Self {
            addr,
            dir: store.dir().to_path_buf(),
            task,
            _store: store,
        })
    }

    /// The folder the files are stored in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}
