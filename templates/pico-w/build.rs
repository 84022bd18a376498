//! Puts memory.x where the linker finds it, and turns `.env` (or the environment) into the
//! build-time configuration `src/config.rs` reads. Secrets stay in `.env`, which git ignores.
//! For `mqtts://` it also writes the broker's CA certificates (`LUA_MQTT_CA`: PEM, a PEM
//! bundle, or DER) as concatenated DER where `src/config.rs` embeds them.

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

/// The `tls` feature and the URL must agree, and TLS needs the broker's CA: a TLS firmware
/// that could not verify the broker is refused here rather than built.
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
    let Some(path) = config.get("LUA_MQTT_CA").filter(|p| !p.is_empty()) else {
        panic!(
            "LUA_MQTT_URL={url} asks for TLS but LUA_MQTT_CA is not set: give the path of the \
             CA certificate (PEM or DER) that signed the broker's certificate. The firmware \
             verifies the broker against it and never connects unverified."
        );
    };
    println!("cargo:rerun-if-changed={path}");
    let bytes = fs::read(path)
        .unwrap_or_else(|e| panic!("LUA_MQTT_CA={path}: cannot read the CA certificate: {e}"));
    let der = ca_der(&bytes).unwrap_or_else(|e| panic!("LUA_MQTT_CA={path}: {e}"));
    fs::write(out.join("broker-ca.der"), der).unwrap();
}

/// The certificates of a PEM file (one or a bundle of several), or of a DER file (one, or
/// several concatenated), as concatenated DER: the trust anchors the firmware verifies with.
pub fn ca_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let der = match std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains(BEGIN))
    {
        Some(mut text) => {
            let mut der = Vec::new();
            while let Some(at) = text.find(BEGIN) {
                let body = &text[at + BEGIN.len()..];
                let end = body.find(END).ok_or("a PEM certificate has no END line")?;
                let one = base64(&body[..end]).ok_or("a PEM certificate is not valid base64")?;
                if certificate_len(&one) != Some(one.len()) {
                    return Err("a PEM certificate does not hold one DER certificate".into());
                }
                der.extend(one);
                text = &body[end + END.len()..];
            }
            der
        }
        None => bytes.to_vec(),
    };
    // DER certificates are SEQUENCEs that, one after another, span the whole input.
    let mut rest = der.as_slice();
    while !rest.is_empty() {
        match certificate_len(rest) {
            Some(len) => rest = &rest[len..],
            None => {
                return Err(
                    "not a certificate: expected PEM (-----BEGIN CERTIFICATE-----) or DER".into(),
                )
            }
        }
    }
    if der.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(der)
}

/// The length of the DER SEQUENCE at the start of `der`, if it fits there.
fn certificate_len(der: &[u8]) -> Option<usize> {
    let (head, len) = match der {
        [0x30, 0x82, hi, lo, ..] => (4, usize::from(*hi) << 8 | usize::from(*lo)),
        [0x30, 0x81, n, ..] => (3, usize::from(*n)),
        [0x30, n, ..] if *n < 0x80 => (2, usize::from(*n)),
        _ => return None,
    };
    (head + len <= der.len()).then_some(head + len)
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
