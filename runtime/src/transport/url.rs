//! Broker URLs in the forms the official clients accept.

use std::fmt;

use super::Error;

/// How to reach the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`, `tcp://`: plain TCP, port 1883.
    Tcp,
    /// `mqtts://`, `ssl://`: TLS, port 8883.
    Tls,
    /// `ws://`: WebSocket, port 8083.
    Ws,
    /// `wss://`: WebSocket over TLS, port 443.
    Wss,
}

/// A parsed broker URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Transport.
    pub scheme: Scheme,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// Port, defaulted per scheme.
    pub port: u16,
    /// WebSocket path (`/mqtt` when absent); empty for TCP schemes.
    pub path: String,
}

impl BrokerUrl {
    /// Parse `scheme://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("broker URL {url:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Scheme::Tcp,
            "mqtts" | "ssl" => Scheme::Tls,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => return Err(bad(&format!("unsupported scheme {other}"))),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None => scheme.default_port(),
        };
        let path = match scheme {
            Scheme::Ws | Scheme::Wss if path.is_empty() || path == "/" => "/mqtt".to_string(),
            Scheme::Ws | Scheme::Wss => path.to_string(),
            Scheme::Tcp | Scheme::Tls => String::new(),
        };
        Ok(Self {
            scheme,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The URL rumqttc's WebSocket transport connects to.
    pub(crate) fn websocket_url(&self) -> String {
        let scheme = if self.scheme == Scheme::Wss {
            "wss"
        } else {
            "ws"
        };
        format!(
            "{scheme}://{}:{}{}",
            self.host_for_url(),
            self.port,
            self.path
        )
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl Scheme {
    /// The port when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Tcp => 1883,
            Scheme::Tls => 8883,
            Scheme::Ws => 8083,
            Scheme::Wss => 443,
        }
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Ws | Scheme::Wss => f.write_str(&self.websocket_url()),
            Scheme::Tcp => write!(f, "mqtt://{}:{}", self.host_for_url(), self.port),
            Scheme::Tls => write!(f, "mqtts://{}:{}", self.host_for_url(), self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> (Scheme, String, u16, String) {
        let u = BrokerUrl::parse(url).unwrap();
        (u.scheme, u.host, u.port, u.path)
    }

    #[test]
    fn defaults_per_scheme() {
        let s = |x: &str| x.to_string();
        assert_eq!(parse("mqtt://h"), (Scheme::Tcp, s("h"), 1883, s("")));
        assert_eq!(parse("tcp://h:1"), (Scheme::Tcp, s("h"), 1, s("")));
        assert_eq!(parse("mqtts://h"), (Scheme::Tls, s("h"), 8883, s("")));
        assert_eq!(parse("ssl://h"), (Scheme::Tls, s("h"), 8883, s("")));
        assert_eq!(parse("ws://h"), (Scheme::Ws, s("h"), 8083, s("/mqtt")));
        assert_eq!(
            parse("wss://mqtt.heylua.ai/mqtt"),
            (Scheme::Wss, s("mqtt.heylua.ai"), 443, s("/mqtt"))
        );
        assert_eq!(parse("wss://h:9/x/y"), (Scheme::Wss, s("h"), 9, s("/x/y")));
        assert_eq!(parse("mqtt://[::1]:5"), (Scheme::Tcp, s("::1"), 5, s("")));
    }

    #[test]
    fn rejects_what_it_cannot_reach() {
        for bad in [
            "h:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:port",
            "mqtt://[::1",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn websocket_url_keeps_port_and_path() {
        let u = BrokerUrl::parse("wss://mqtt.heylua.ai/mqtt").unwrap();
        assert_eq!(u.websocket_url(), "wss://mqtt.heylua.ai:443/mqtt");
    }
}
