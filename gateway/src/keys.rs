//! Which API keys the gateway accepts, which messages carry one, and how secrets are shown in
//! the log.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The API keys the gateway accepts.
#[derive(Clone, Debug)]
pub enum KeyPolicy {
    /// Keys from a keys file.
    Keys(Keys),
    /// Any non-empty key (`--insecure-any-key`): for quick local use only.
    AnyKey,
}

impl KeyPolicy {
    /// Whether `key` may act for `agent_id`.
    pub fn accepts(&self, agent_id: &str, key: &str) -> bool {
        match self {
            KeyPolicy::Keys(keys) => keys.accepts(agent_id, key),
            KeyPolicy::AnyKey => !key.is_empty(),
        }
    }

    /// Whether `key` may act for some agent: the CDN's bearer keys name no agent.
    pub fn accepts_some_agent(&self, key: &str) -> bool {
        match self {
            KeyPolicy::Keys(keys) => keys
                .entries
                .iter()
                .any(|(_, k)| constant_time_eq(k.as_bytes(), key.as_bytes())),
            KeyPolicy::AnyKey => !key.is_empty(),
        }
    }
}

/// A keys file: one key per line, either `KEY` (valid for every agent) or `AGENT_ID KEY`
/// (valid for that agent's devices and tools). Blank lines and `#` comments are skipped.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    entries: Vec<(Option<String>, String)>,
}

impl Keys {
    /// Read a keys file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading keys file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in keys file {}", path.display()))
    }

    /// Parse the keys file format.
    pub fn parse(text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [key] => entries.push((None, key.to_string())),
                [agent, key] => entries.push((Some(agent.to_string()), key.to_string())),
                _ => bail!("line {}: expected `KEY` or `AGENT_ID KEY`", n + 1),
            }
        }
        if entries.is_empty() {
            bail!("no keys");
        }
        Ok(Self { entries })
    }

    /// One key for one agent.
    pub fn single(agent_id: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            entries: vec![(Some(agent_id.into()), key.into())],
        }
    }

    /// Whether `key` may act for `agent_id`.
    pub fn accepts(&self, agent_id: &str, key: &str) -> bool {
        self.entries.iter().any(|(agent, k)| {
            constant_time_eq(k.as_bytes(), key.as_bytes())
                && agent.as_deref().is_none_or(|a| a == agent_id)
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A secret as the log shows it: its first three characters and its length.
pub fn mask(secret: &str) -> String {
    let head: String = secret.chars().take(3).collect();
    format!("{head}…({} chars)", secret.chars().count())
}

/// A payload as the log shows it: JSON with every `apiKey` masked and long text cut short.
pub fn loggable_payload(payload: &[u8]) -> String {
    const LIMIT: usize = 400;
    let text = match serde_json::from_slice::<Value>(payload) {
        Ok(mut json) => {
            mask_api_keys(&mut json);
            json.to_string()
        }
        Err(_) if payload.is_empty() => "(empty)".to_string(),
        Err(_) => format!("(not JSON, {})", crate::count(payload.len(), "byte")),
    };
    if text.len() > LIMIT {
        let cut = (0..=LIMIT)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}… ({} bytes)", &text[..cut], text.len())
    } else {
        text
    }
}

/// Whether a device's status is its registration, which carries its API key: only the
/// gateway's emulator reads one.
pub fn is_registration(status: &Value) -> bool {
    status.get("apiKey").is_some() || status.get("commands").is_some()
}

/// Whether a payload on a device's `status` topic may be delivered to a client: empty (a
/// retained status cleared) or a JSON object that is not a registration. Anything else may
/// hold a key (a registration, or one the emulator could not read), so no client gets it.
pub fn is_public_status(payload: &[u8]) -> bool {
    payload.is_empty()
        || serde_json::from_slice::<Value>(payload)
            .is_ok_and(|status| status.is_object() && !is_registration(&status))
}

fn mask_api_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), &*v) {
                    ("apiKey", Value::String(s)) => *v = Value::String(mask(s)),
                    _ => mask_api_keys(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_api_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_file_scopes_keys_to_agents() {
        let keys = Keys::parse("# comment\n\nglobal-key\nagent-a  key-a\n").unwrap();
        assert!(keys.accepts("anyone", "global-key"));
        assert!(keys.accepts("agent-a", "key-a"));
        assert!(!keys.accepts("agent-b", "key-a"));
        assert!(!keys.accepts("agent-a", "key-"));
        let policy = KeyPolicy::Keys(keys);
        assert!(policy.accepts_some_agent("key-a") && policy.accepts_some_agent("global-key"));
        assert!(!policy.accepts_some_agent("key-") && !policy.accepts_some_agent(""));
        assert!(Keys::parse("a b c").is_err());
        assert!(Keys::parse("# nothing").is_err());
    }

    #[test]
    fn any_key_still_wants_a_key() {
        assert!(KeyPolicy::AnyKey.accepts("a", "x"));
        assert!(!KeyPolicy::AnyKey.accepts("a", ""));
    }

    #[test]
    fn log_never_shows_an_api_key() {
        let shown =
            loggable_payload(br#"{"status":"online","apiKey":"sk-very-secret","commands":[]}"#);
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("sk-…(14 chars)"), "{shown}");
        assert_eq!(loggable_payload(b""), "(empty)");
    }

    #[test]
    fn only_public_statuses_are_delivered() {
        assert!(is_public_status(br#"{"status":"online","group":"g"}"#));
        assert!(is_public_status(b""));
        for held in [
            &br#"{"status":"online","apiKey":"k","commands":[]}"#[..],
            br#"{"status":"online","commands":[]}"#,
            br#"{"apiKey":"k"}"#,
            br#"["k"]"#,
            b"k",
            br#"{"apiKey":"k""#,
        ] {
            assert!(!is_public_status(held), "{}", String::from_utf8_lossy(held));
        }
    }
}
