//! Device configuration, from code or from the `LUA_*` environment variables.

use std::fmt;
use std::time::Duration;

use crate::backoff::BackoffPolicy;
use crate::dedup::DedupConfig;
use crate::topic::is_valid_segment;

use super::url::BrokerUrl;
use super::Error;

/// The gateway's public broker.
pub const DEFAULT_URL: &str = "wss://mqtt.heylua.ai/mqtt";

/// The Lua CDN (`lua_device::cdn`, feature `cdn`).
pub const DEFAULT_CDN_URL: &str = "https://cdn.heylua.ai";

/// Everything a device needs to connect. `Debug` masks the API key.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The agent the device belongs to (`LUA_AGENT_ID`).
    pub agent_id: String,
    /// The device's secret (`LUA_API_KEY`): the MQTT password and the registration's
    /// `apiKey`; never logged, never retained.
    pub api_key: String,
    /// Lowercase words joined by hyphens (`LUA_DEVICE_NAME` overrides the app's).
    pub device_name: String,
    /// Broker URL (`LUA_MQTT_URL`), default `wss://mqtt.heylua.ai/mqtt`.
    pub url: String,
    /// Device group (`LUA_DEVICE_GROUP`).
    pub group: Option<String>,
    /// Period of the empty heartbeat; 30 s like the official clients.
    pub heartbeat_interval: Duration,
    /// How long a trigger waits for its `trigger_ack`; 10 s like the official client.
    pub trigger_ack_timeout: Duration,
    /// MQTT keep alive; 60 s per the protocol.
    pub keep_alive: Duration,
    /// Commands running at once; further ones wait for a slot.
    pub max_concurrent_commands: usize,
    /// Most commands acknowledged and not yet answered (running or waiting for a slot); 64
    /// by default. Further commands are not acknowledged: the broker keeps them in the
    /// device's persistent session and sends more as these are answered.
    pub max_queued_commands: usize,
    /// Most payload bytes of those commands; 8 MiB by default. A command larger than this
    /// alone is still taken when nothing else is queued.
    pub max_queued_bytes: usize,
    /// Most bytes of commands received but not yet acknowledged (waiting behind the queue,
    /// in the order they arrived); 16 MiB by default. The broker sends at most its in-flight
    /// window of them (mosquitto: 20); past this bound the device drops their payloads and
    /// reconnects once the queue has room, so that the broker delivers them again.
    pub max_held_bytes: usize,
    /// Limits of the idempotency cache. Its time to live is raised to the longest retry
    /// horizon of the device's commands (`maxAttempts × backoffMs + timeoutMs`).
    pub dedup: DedupConfig,
    /// Reconnect delays.
    pub backoff: BackoffPolicy,
    /// PEM of the only CA to trust for `mqtts`/`wss` (and the CDN's `https`); `None` trusts
    /// the Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Base URL of the Lua CDN (`LUA_CDN_URL`), default `https://cdn.heylua.ai`: uploads go to
    /// `{cdn_url}/upload`, files are at `{cdn_url}/{fileId}`.
    pub cdn_url: String,
    /// Largest MQTT packet sent or accepted. 2 MiB by default, so a 1 MiB command payload
    /// (and its echo) fits with room for the envelope.
    pub max_packet_size: usize,
    /// How long graceful shutdown waits for the broker to acknowledge the offline status.
    pub shutdown_timeout: Duration,
    /// Capacity of the [`DeviceEvent`](super::DeviceEvent) stream: how far a listener may fall
    /// behind before it loses the oldest events. 256 by default. Every slot is allocated when
    /// the first listener subscribes (about 100 bytes each), so a process running thousands of
    /// listened-to devices sets it low; a device nobody listens to allocates none.
    pub event_capacity: usize,
    /// Most QoS 1 publications (responses, triggers, status) awaiting the broker's PUBACK at
    /// once; 100 by default, as in rumqttc. Its table is allocated up front (64 bytes a slot).
    pub max_inflight: u16,
}

impl Config {
    /// A configuration with the protocol's defaults.
    pub fn new(
        agent_id: impl Into<String>,
        api_key: impl Into<String>,
        device_name: impl Into<String>,
    ) -> Self {
        Self {
            agent_id: agent_id.into(),
            api_key: api_key.into(),
            device_name: device_name.into(),
            url: DEFAULT_URL.into(),
            group: None,
            heartbeat_interval: Duration::from_secs(30),
            trigger_ack_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(60),
            max_concurrent_commands: 16,
            max_queued_commands: 64,
            max_queued_bytes: 8 * 1024 * 1024,
            max_held_bytes: 16 * 1024 * 1024,
            dedup: DedupConfig::default(),
            backoff: BackoffPolicy::default(),
            ca_pem: None,
            cdn_url: DEFAULT_CDN_URL.into(),
            max_packet_size: 2 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            event_capacity: 256,
            max_inflight: 100,
        }
    }

    /// Read `LUA_AGENT_ID`, `LUA_API_KEY` (required), `LUA_MQTT_URL`, `LUA_DEVICE_GROUP`,
    /// `LUA_DEVICE_NAME` and `LUA_CDN_URL` (all optional; the name falls back to
    /// `device_name`).
    pub fn from_env(device_name: &str) -> Result<Self, Error> {
        Self::from_lookup(device_name, |key| std::env::var(key).ok())
    }

    /// [`Config::from_env`] over any variable source, so it can be tested without `set_var`.
    pub fn from_lookup(
        device_name: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let get = |key: &str| var(key).filter(|v| !v.is_empty());
        let required =
            |key: &str| get(key).ok_or_else(|| Error::Config(format!("{key} is not set")));
        let name = get("LUA_DEVICE_NAME").unwrap_or_else(|| device_name.to_string());
        let mut config = Self::new(required("LUA_AGENT_ID")?, required("LUA_API_KEY")?, name);
        if let Some(url) = get("LUA_MQTT_URL") {
            config.url = url;
        }
        config.group = get("LUA_DEVICE_GROUP");
        if let Some(url) = get("LUA_CDN_URL") {
            config.cdn_url = url;
        }
        Ok(config)
    }

    /// Set the broker URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Set the CDN's base URL.
    pub fn with_cdn_url(mut self, url: impl Into<String>) -> Self {
        self.cdn_url = url.into();
        self
    }

    /// The rustls client settings of `mqtts`/`wss`, for the CDN's `https` too: one place
    /// decides what a Lua client trusts (here because the `tls` module is the transport's).
    #[cfg(feature = "cdn")]
    pub(crate) fn tls_client_config(
        ca_pem: Option<&[u8]>,
    ) -> Result<std::sync::Arc<rustls::ClientConfig>, Error> {
        super::tls::client_config(ca_pem)
    }

    /// Set the device group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Set the heartbeat period.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Set how long triggers wait for their ack.
    pub fn with_trigger_ack_timeout(mut self, timeout: Duration) -> Self {
        self.trigger_ack_timeout = timeout;
        self
    }

    /// Set how many commands run at once.
    pub fn with_max_concurrent_commands(mut self, limit: usize) -> Self {
        self.max_concurrent_commands = limit.max(1);
        self
    }

    /// Set how many commands, and how many of their bytes, may be acknowledged and not yet
    /// answered (at least one command).
    pub fn with_queue_limits(mut self, commands: usize, bytes: usize) -> Self {
        self.max_queued_commands = commands.max(1);
        self.max_queued_bytes = bytes;
        self
    }

    /// Set how many bytes of not yet acknowledged commands the device holds.
    pub fn with_max_held_bytes(mut self, bytes: usize) -> Self {
        self.max_held_bytes = bytes;
        self
    }

    /// Set the reconnect policy.
    pub fn with_backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// Set the idempotency cache limits.
    pub fn with_dedup(mut self, dedup: DedupConfig) -> Self {
        self.dedup = dedup;
        self
    }

    /// Set the capacity of the event stream (at least 1).
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Set how many QoS 1 publications may await their PUBACK at once (at least 1).
    pub fn with_max_inflight(mut self, limit: u16) -> Self {
        self.max_inflight = limit.max(1);
        self
    }

    /// Trust only this CA (PEM) for TLS.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<BrokerUrl, Error> {
        for (what, value) in [
            ("agent id", &self.agent_id),
            ("device name", &self.device_name),
        ] {
            if !is_valid_segment(value) {
                return Err(Error::Config(format!(
                    "{what} {value:?} cannot be a topic segment"
                )));
            }
        }
        if self.api_key.is_empty() {
            return Err(Error::Config("the API key is empty".into()));
        }
        BrokerUrl::parse(&self.url)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("agent_id", &self.agent_id)
            .field("api_key", &"<redacted>")
            .field("device_name", &self.device_name)
            .field("url", &self.url)
            .field("group", &self.group)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("trigger_ack_timeout", &self.trigger_ack_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("max_concurrent_commands", &self.max_concurrent_commands)
            .field("max_queued_commands", &self.max_queued_commands)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("max_held_bytes", &self.max_held_bytes)
            .field("dedup", &self.dedup)
            .field("backoff", &self.backoff)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("cdn_url", &self.cdn_url)
            .field("max_packet_size", &self.max_packet_size)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("event_capacity", &self.event_capacity)
            .field("max_inflight", &self.max_inflight)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_env_with_defaults_and_overrides() {
        let c = Config::from_lookup(
            "greenhouse-sensor",
            lookup(&[("LUA_AGENT_ID", "a"), ("LUA_API_KEY", "k")]),
        )
        .unwrap();
        assert_eq!(
            (c.device_name.as_str(), c.url.as_str(), c.group),
            ("greenhouse-sensor", DEFAULT_URL, None)
        );
        assert_eq!(c.cdn_url, DEFAULT_CDN_URL);
        let c = Config::from_lookup(
            "x",
            lookup(&[
                ("LUA_AGENT_ID", "a"),
                ("LUA_API_KEY", "k"),
                ("LUA_MQTT_URL", "mqtt://h"),
                ("LUA_DEVICE_GROUP", "g"),
                ("LUA_DEVICE_NAME", "other"),
                ("LUA_CDN_URL", "http://127.0.0.1:8084"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.device_name.as_str(), c.url.as_str(), c.group.as_deref()),
            ("other", "mqtt://h", Some("g"))
        );
        assert_eq!(c.cdn_url, "http://127.0.0.1:8084");
        assert!(matches!(
            Config::from_lookup("x", lookup(&[("LUA_AGENT_ID", "a")])),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn buffer_limits_default_to_the_single_device_sizes_and_stay_positive() {
        let c = Config::new("a", "k", "d");
        assert_eq!((c.event_capacity, c.max_inflight), (256, 100));
        let c = c.with_event_capacity(0).with_max_inflight(0);
        assert_eq!((c.event_capacity, c.max_inflight), (1, 1));
        let c = c.with_event_capacity(8).with_max_inflight(16);
        assert_eq!((c.event_capacity, c.max_inflight), (8, 16));
    }

    #[test]
    fn debug_masks_the_api_key() {
        let c = Config::new("a", "super-secret-key", "d");
        assert!(!format!("{c:?}").contains("super-secret-key"));
    }

    #[test]
    fn validates_names_and_url() {
        assert!(Config::new("a", "k", "d").validate().is_ok());
        assert!(Config::new("a", "k", "d/x").validate().is_err());
        assert!(Config::new("a", "", "d").validate().is_err());
        assert!(Config::new("a", "k", "d")
            .with_url("http://x")
            .validate()
            .is_err());
    }
}
