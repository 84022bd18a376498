//! A local Lua device gateway, for trying devices without the hosted one.
//!
//! [`Gateway::start`] runs, in process, the embedded rumqttd broker on a private loopback port,
//! the front door that every client connects through (plain TCP and WebSocket, TLS when given
//! a certificate), and the emulator that plays the server's part of `PROTOCOL.md`. The
//! agent-side tools ([`call`], [`devices`], [`monitor`]) talk to any broker through an
//! [`AgentLink`]; [`mock`] serves any manifest with example answers; [`demo`] puts it all
//! together.
//!
//! # Who may do what
//!
//! rumqttd 0.20 offers an auth hook but no topic ACL (only a tenant prefix tied to TLS client
//! certificates), so the front door parses every packet in both directions and applies these
//! rules itself (details in [`principal`] and [`limits`]):
//!
//! - A **device** (username `{agentId}:{deviceName}`, client id `lua-{agentId}-{deviceName}`)
//!   publishes and subscribes under `lua/devices/{agentId}/{deviceName}/` only; its last will
//!   too.
//! - An **agent** (username `{agentId}`, any client id) subscribes under its own devices
//!   `lua/devices/{agentId}/` and its directory `luagen/gateway/devices/{agentId}/` only
//!   (`#`, `lua/#`, `lua/devices/+/...` or another agent's prefix get a SUBACK failure), and
//!   publishes only `command`, `trigger_ack`, `trigger_result` and `error` to its own devices,
//!   never retained. So the retained status of a device is written by that device (and its last
//!   will) alone, and the directory by the gateway alone.
//! - **Registrations** (a device's status carrying its `apiKey`) reach the gateway's emulator
//!   and no client, whatever it subscribed to: the front door withholds them on the way out
//!   (acknowledging them to the broker for the client). No API key is delivered to anyone.
//! - **Client ids** are namespaced by principal before the broker sees them, so a client can
//!   resume only its own principal's sessions (same username, same client id, clean session
//!   false) and can take over neither another's nor the gateway's own.
//! - **Before authentication** a peer gets 5 s (TLS and WebSocket handshakes included) and a
//!   16 KiB CONNECT, refused from its fixed header; at most 32 peers wait at once and 256
//!   connections are served in all; more are closed on accept, logged.
//! - **Packets** larger than the devices' own limit (2 MiB, [`limits::relay_limit`]) are not
//!   relayed: a too-large PUBLISH is acknowledged and dropped, logged with the limit and
//!   reported as `PACKET_TOO_LARGE` on the concerned device's `error` topic; any other
//!   too-large packet ends the connection.

pub mod agent_module;
pub mod answer;
pub mod call;
pub mod cdn;
pub mod demo;
pub mod devices;
pub mod directory;
pub mod keys;
pub mod limits;
pub mod link;
pub mod mock;
pub mod monitor;
pub mod principal;
pub mod send;

mod broker;
mod delivery;
mod emulator;
mod frame;
mod front_door;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use answer::TriggerAnswers;
pub use cdn::CdnConfig;
pub use directory::{DeviceRecord, Directory};
pub use keys::{KeyPolicy, Keys};
pub use limits::Limits;
pub use link::{AgentLink, AgentLogin, NoBroker};

use front_door::{FrontDoor, Transport};

/// Where the gateway listens and whom it admits.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// MQTT over TCP (`None`: off). Default 127.0.0.1:1883.
    pub tcp: Option<SocketAddr>,
    /// MQTT over WebSocket (`None`: off). Default 127.0.0.1:8083.
    pub ws: Option<SocketAddr>,
    /// When set, both listeners speak TLS (`mqtts://`, `wss://`).
    pub tls: Option<TlsFiles>,
    /// The API keys accepted.
    pub keys: KeyPolicy,
    /// Caps on connections and on what an unauthenticated peer may send.
    pub limits: Limits,
    /// What answers triggers after their ack (by default nothing: acks only).
    pub answers: TriggerAnswers,
    /// The local CDN (`None`: off), HTTPS when `tls` is set. Default 127.0.0.1:8084.
    pub cdn: Option<CdnConfig>,
}

/// A PEM certificate chain and its private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

impl GatewayConfig {
    /// The default ports on loopback.
    pub fn new(keys: KeyPolicy) -> Self {
        Self {
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 1883))),
            ws: Some(SocketAddr::from(([127, 0, 0, 1], 8083))),
            tls: None,
            keys,
            limits: Limits::default(),
            answers: TriggerAnswers::default(),
            cdn: Some(CdnConfig::default()),
        }
    }

    /// Both listeners on free loopback ports: for tests and the demo.
    pub fn ephemeral(keys: KeyPolicy) -> Self {
        Self {
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ws: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            tls: None,
            keys,
            limits: Limits::default(),
            answers: TriggerAnswers::default(),
            cdn: Some(CdnConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))),
        }
    }
}

/// A running gateway. Dropping it closes the listeners and stops the emulator (the embedded
/// broker's thread lives until the process ends).
pub struct Gateway {
    tcp: Option<SocketAddr>,
    ws: Option<SocketAddr>,
    tls: bool,
    cdn: Option<cdn::Cdn>,
    devices: emulator::Devices,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Start the broker, the emulator and the listeners; returns once all accept connections.
    pub async fn start(config: GatewayConfig) -> Result<Self> {
        if matches!(config.keys, KeyPolicy::AnyKey) {
            tracing::warn!("INSECURE: --insecure-any-key: every API key is accepted; use a keys file for anything but local experiments");
        }
        let ticket: Arc<str> = Arc::from(format!("luagen-ticket-{:016x}", random()));
        let broker = {
            let ticket = Arc::clone(&ticket);
            tokio::task::spawn_blocking(move || broker::start(ticket)).await??
        };
        let keys = Arc::new(config.keys);
        let devices: emulator::Devices = Arc::new(Mutex::new(BTreeMap::new()));
        let mut tasks = vec![
            emulator::Emulator::start(
                broker,
                &ticket,
                Arc::clone(&keys),
                Arc::clone(&devices),
                &config.answers,
            )
            .await?,
        ];
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let cdn = match config.cdn {
            Some(cdn) => Some(cdn::Cdn::start(cdn, Arc::clone(&keys), tls.clone()).await?),
            None => None,
        };
        let door = Arc::new(FrontDoor::new(keys, broker, ticket, config.limits));
        let mut bound = [None, None];
        for (slot, (addr, transport)) in [
            (config.tcp, Transport::Tcp),
            (config.ws, Transport::WebSocket),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(addr) = addr else { continue };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} ({transport:?})"))?;
            bound[slot] = Some(listener.local_addr()?);
            tasks.push(tokio::spawn(Arc::clone(&door).listen(
                listener,
                transport,
                tls.clone(),
            )));
        }
        let gateway = Self {
            tcp: bound[0],
            ws: bound[1],
            tls: tls.is_some(),
            cdn,
            devices,
            tasks,
        };
        for url in [gateway.url(), gateway.ws_url(), gateway.cdn_url()]
            .into_iter()
            .flatten()
        {
            tracing::info!("gateway listening on {url}");
        }
        Ok(gateway)
    }

    /// `mqtt://` (or `mqtts://`) URL of the TCP listener.
    pub fn url(&self) -> Option<String> {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        self.tcp.map(|a| format!("{scheme}://{a}"))
    }

    /// `ws://` (or `wss://`) URL of the WebSocket listener.
    pub fn ws_url(&self) -> Option<String> {
        let scheme = if self.tls { "wss" } else { "ws" };
        self.ws.map(|a| format!("{scheme}://{a}/mqtt"))
    }

    /// `http://` (or `https://`) URL of the CDN: uploads go to `{url}/upload`, files are at
    /// `{url}/{fileId}`.
    pub fn cdn_url(&self) -> Option<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.cdn.as_ref().map(|c| format!("{scheme}://{}", c.addr))
    }

    /// The folder the CDN stores its files in.
    pub fn cdn_dir(&self) -> Option<&std::path::Path> {
        self.cdn.as_ref().map(|c| c.dir())
    }

    /// Every device seen so far.
    pub fn devices(&self) -> Vec<DeviceRecord> {
        self.devices
            .lock()
            .expect("devices")
            .values()
            .cloned()
            .collect()
    }

    /// Wait until `device_name` of `agent_id` is registered and online.
    pub async fn wait_registered(
        &self,
        agent_id: &str,
        device_name: &str,
        timeout: Duration,
    ) -> Result<DeviceRecord> {
        let deadline = Instant::now() + timeout;
        let key = (agent_id.to_string(), device_name.to_string());
        loop {
            if let Some(r) = self.devices.lock().expect("devices").get(&key) {
                if r.registered && r.online {
                    return Ok(r.clone());
                }
            }
            if Instant::now() > deadline {
                bail!("{agent_id}:{device_name} did not register within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(cdn) = &self.cdn {
            cdn.task.abort();
        }
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&files.cert)
            .with_context(|| format!("opening {}", files.cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("reading certificates from {}", files.cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&files.key)
            .with_context(|| format!("opening {}", files.key.display()))?,
    ))
    .with_context(|| format!("reading {}", files.key.display()))?
    .with_context(|| format!("no private key in {}", files.key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// "1 command", "2 commands": the one wording of every count (in luagen's diagnostics,
/// which the gateway and the CLI both print).
pub use luagen::diagnostic::count;

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
