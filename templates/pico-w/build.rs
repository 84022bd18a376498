//! Puts memory.x where the linker finds it, and turns `.env` (or the environment) into the
//! build-time configuration `src/config.rs` reads. Secrets stay in `.env`, which git ignores.
//! For `mqtts://` it also writes the certificates the broker's chain must lead to where
//! `src/config.rs` embeds them: the user's CA (`LUA_MQTT_CA`, PEM or DER, converted to DER) or,
//! without one, the default store `roots.der` (concatenated DER) as it is.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::{env, fs};

const REQUIRED: [&str; 5] = [
    "LUA_WIFI_SSID",
    "LUA_AGENT_ID",
    "LUA_API_KEY",
    "LUA_MQTT_URL",
    "LUA_WIFI_PASSWORD",
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=.env");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tlink-rp.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");

    let mut config = dotenv();
    for key in REQUIRED.iter().chain(&["LUA_NTP_SERVER", "LUA_MQTT_CA"]) {
        println!("cargo:rerun-if-env-changed={key}");
        if let Ok(value) = env::var(key) {
            config.insert(key.to_string(), value);
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|k| !config.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        panic!(
            "missing configuration: {}. Copy .env.example to .env and fill it in \
             (or export the variables), then build again.",
            missing.join(", ")
        );
    }
    let (tls, host, port) = broker(&config["LUA_MQTT_URL"]);
    secure(tls, &config, &out);
    config.insert("LUA_MQTT_HOST".into(), host);
    config.insert("LUA_MQTT_PORT".into(), port.to_string());
    config
        .entry("LUA_NTP_SERVER".into())
        .or_insert_with(|| "pool.ntp.org".into());
    for (key, value) in &config {
        if key.starts_with("LUA_") {
            println!("cargo:rustc-env={key}={value}");
        }
    }
}

/// `KEY=value` lines of `.env`, if there is one; `#` starts a comment.
fn dotenv() -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(".env") else {
        return BTreeMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// Whether the URL asks for TLS, its host and its port (default 1883, or 8883 with TLS).
fn broker(url: &str) -> (bool, String, u16) {
    let (tls, rest) = if let Some(rest) = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        (false, rest)
    } else if let Some(rest) = ["mqtts://", "ssl://", "tls://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
    {
        (true, rest)
    } else {
        panic!(
            "LUA_MQTT_URL={url}: this firmware speaks MQTT over TCP (mqtt://, tcp://) or over \
             TLS (mqtts://, ssl://); MQTT over WebSocket (ws://, wss://) is not implemented \
             for the Pico W target."
        );
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => (
            tls,
            host.to_string(),
            port.parse()
                .unwrap_or_else(|_| panic!("LUA_MQTT_URL={url}: bad port")),
        ),
        None => (tls, authority.to_string(), if tls { 8883 } else { 1883 }),
    }
}

/// The `tls` feature and the URL must agree, and TLS needs something to verify the broker
/// against: the user's CA, else the default store (a firmware that connects unverified is
/// never built).
fn secure(tls: bool, config: &BTreeMap<String, String>, out: &std::path::Path) {
    let url = &config["LUA_MQTT_URL"];
    let feature = env::var_os("CARGO_FEATURE_TLS").is_some();
    if tls && !feature {
        panic!(
            "LUA_MQTT_URL={url} asks for TLS, which lives behind the `tls` feature so that \
             plain firmware stays small: build with `--features tls` (for example \
             `cargo build --release --features tls`)."
        );
    }
    if !tls && feature {
        panic!(
            "built with `--features tls` but LUA_MQTT_URL={url} is plain MQTT: use an \
             mqtts:// URL, or build without the feature."
        );
    }
    if !tls {
        return;
    }
    let der = match config.get("LUA_MQTT_CA").filter(|p| !p.is_empty()) {
        Some(path) => {
            println!("cargo:rerun-if-changed={path}");
            let bytes = fs::read(path).unwrap_or_else(|e| {
                panic!("LUA_MQTT_CA={path}: cannot read the CA certificate: {e}")
            });
            ca_der(&bytes).unwrap_or_else(|e| panic!("LUA_MQTT_CA={path}: {e}"))
        }
        None => default_roots(),
    };
    fs::write(out.join("broker-ca.der"), der).unwrap();
}

/// The default trust store luagen wrote next to this file (`roots.der`: public CAs' root
/// certificates, concatenated DER), trusted when `LUA_MQTT_CA` names no CA of the user's.
fn default_roots() -> Vec<u8> {
    println!("cargo:rerun-if-changed=roots.der");
    let store = fs::read("roots.der").unwrap_or_else(|e| {
        panic!(
            "TLS without LUA_MQTT_CA trusts the default store roots.der, which cannot be read \
             ({e}): regenerate the project, or set LUA_MQTT_CA to the broker's CA certificate."
        )
    });
    // Whole certificates only: a truncated store would drop roots without a word.
    let mut rest = store.as_slice();
    while !rest.is_empty() {
        let len = match rest {
            [0x30, 0x82, hi, lo, ..] => 4 + (usize::from(*hi) << 8 | usize::from(*lo)),
            [0x30, 0x81, n, ..] => 3 + usize::from(*n),
            _ => usize::MAX,
        };
        if len > rest.len() {
            panic!("roots.der is damaged: regenerate the project, or set LUA_MQTT_CA");
        }
        rest = &rest[len..];
    }
    store
}

/// The first certificate of a PEM file, or a DER certificate as it is.
pub fn ca_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let der = match std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.find(BEGIN).map(|at| &t[at + BEGIN.len()..]))
    {
        Some(body) => {
            let end = body
                .find(END)
                .ok_or("the PEM certificate has no END line")?;
            base64(&body[..end]).ok_or("the PEM certificate is not valid base64")?
        }
        None => bytes.to_vec(),
    };
    // A DER certificate is one SEQUENCE that spans the whole input.
    let whole = match der.as_slice() {
        [0x30, 0x82, hi, lo, rest @ ..] => rest.len() == usize::from(*hi) << 8 | usize::from(*lo),
        [0x30, 0x81, n, rest @ ..] => rest.len() == usize::from(*n),
        [0x30, n, rest @ ..] if *n < 0x80 => rest.len() == usize::from(*n),
        _ => false,
    };
    if whole {
        Ok(der)
    } else {
        Err("not a certificate: expected PEM (-----BEGIN CERTIFICATE-----) or DER".into())
    }
}

/// Standard base64 (padding and whitespace allowed).
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
