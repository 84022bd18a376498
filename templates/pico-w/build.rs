//! Puts memory.x where the linker finds it, and turns `.env` (or the environment) into the
//! build-time configuration `src/config.rs` reads. Secrets stay in `.env`, which git ignores.
//! For `mqtts://` and `wss://` it also writes the certificates the broker's chain must lead to
//! where `src/config.rs` embeds them: the user's CA (`LUA_MQTT_CA`, PEM, PEM bundle or DER,
//! converted to DER) or, without one, the default store `roots.der` (concatenated DER) as it is.
//! `LUA_DEVICE_NAME` and `LUA_DEVICE_GROUP` give this unit its own name and group (empty: the
//! manifest's); `{uid}` in the name becomes the flash chip's unique id at boot. With the `cdn`
//! feature, `LUA_CDN_URL` (default the hosted CDN) is split the same way for `src/cdn.rs`.

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
    // Read, not included: memory.x is written from luagen's board record beside this file.
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x beside Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=.env");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    // The RP2040's boot2 (embassy-rp writes this script for it alone; the RP2040 is the one
    // ARMv6-M chip a luagen board has).
    if env::var("TARGET").as_deref() == Ok("thumbv6m-none-eabi") {
        println!("cargo:rustc-link-arg-bins=-Tlink-rp.x");
    }
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");

    let mut config = dotenv();
    for key in REQUIRED.iter().chain(&[
        "LUA_NTP_SERVER",
        "LUA_MQTT_CA",
        "LUA_DEVICE_NAME",
        "LUA_DEVICE_GROUP",
        "LUA_CDN_URL",
    ]) {
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
    let broker = broker(&config["LUA_MQTT_URL"]);
    let cdn = env::var_os("CARGO_FEATURE_CDN").map(|_| {
        let url = config
            .get("LUA_CDN_URL")
            .filter(|u| !u.is_empty())
            .map_or(DEFAULT_CDN_URL, String::as_str);
        cdn(url)
    });
    secure(
        broker.tls,
        cdn.as_ref().is_some_and(|c| c.tls),
        &config,
        &out,
    );
    // The link is chosen here, at build time, so the firmware carries the code of one link
    // only (TLS, WebSocket, both or neither) and not the session compiled once for each.
    println!("cargo:rustc-check-cfg=cfg(mqtt_tls, mqtt_ws, cdn_tls)");
    if broker.tls {
        println!("cargo:rustc-cfg=mqtt_tls");
    }
    if broker.websocket {
        println!("cargo:rustc-cfg=mqtt_ws");
    }
    if let Some(cdn) = cdn {
        if cdn.tls {
            println!("cargo:rustc-cfg=cdn_tls");
        }
        config.insert("LUA_CDN_URL".into(), cdn.url);
        config.insert("LUA_CDN_IPV4".into(), ipv4(&cdn.host));
        config.insert("LUA_CDN_HOST".into(), cdn.host);
        config.insert("LUA_CDN_PORT".into(), cdn.port.to_string());
        config.insert("LUA_CDN_UPLOAD_PATH".into(), cdn.upload_path);
    }
    // Always set, so the firmware never picks up a stray variable of the shell: empty means
    // the manifest's (already checked by luagen).
    let name = config.get("LUA_DEVICE_NAME").cloned().unwrap_or_default();
    let group = config.get("LUA_DEVICE_GROUP").cloned().unwrap_or_default();
    let uid = check_identity(&name, &group).unwrap_or_else(|e| panic!("{e}"));
    println!("cargo:rustc-check-cfg=cfg(device_uid)");
    if uid {
        println!("cargo:rustc-cfg=device_uid");
    }
    config.insert("LUA_DEVICE_NAME".into(), name);
    config.insert("LUA_DEVICE_GROUP".into(), group);
    config.insert("LUA_MQTT_IPV4".into(), ipv4(&broker.host));
    config.insert("LUA_MQTT_HOST".into(), broker.host);
    config.insert("LUA_MQTT_PORT".into(), broker.port.to_string());
    config.insert("LUA_MQTT_PATH".into(), broker.path);
    config
        .entry("LUA_NTP_SERVER".into())
        .or_insert_with(|| "pool.ntp.org".into());
    for (key, value) in &config {
        if key.starts_with("LUA_") {
            println!("cargo:rustc-env={key}={value}");
        }
    }
}

/// `host` as the number of its IPv4 address when it is a literal one (`config::ipv4` reads it
/// back), else empty: a name the firmware resolves.
pub fn ipv4(host: &str) -> String {
    host.parse::<std::net::Ipv4Addr>()
        .map(|ip| u32::from(ip).to_string())
        .unwrap_or_default()
}

/// What `{uid}` stands for in a checked name: as many hex digits as the firmware puts there
/// (the RP2040's flash unique id is 8 bytes).
pub const SAMPLE_UID: &str = "e6614c311b7c9a2f";

/// Check `LUA_DEVICE_NAME` (empty, or a name with at most one `{uid}`, as it will be once the
/// id is in) and `LUA_DEVICE_GROUP` (empty, or a name) against PROTOCOL.md's rule for device
/// names, the one luagen checks the manifest's with. Whether the name has a `{uid}`.
pub fn check_identity(name: &str, group: &str) -> Result<bool, String> {
    let uid = name.contains("{uid}");
    if name.matches("{uid}").count() > 1 {
        return Err(format!(
            "LUA_DEVICE_NAME={name}: `{{uid}}` may appear once (it is the same id each time)"
        ));
    }
    if !name.is_empty() && !is_device_name(&name.replace("{uid}", SAMPLE_UID)) {
        return Err(format!(
            "LUA_DEVICE_NAME={name}: a device name is lowercase letters and digits in words              joined by hyphens, at most 64 characters once `{{uid}}` is replaced by its {} hex              digits, e.g. greenhouse-{{uid}} or greenhouse-north-2 (or leave it empty for the              manifest's name)",
            SAMPLE_UID.len()
        ));
    }
    if !group.is_empty() && !is_device_name(group) {
        return Err(format!(
            "LUA_DEVICE_GROUP={group}: a group is lowercase letters and digits in words joined              by hyphens, at most 64 characters, e.g. greenhouse-sensors (or leave it empty for              the manifest's group)"
        ));
    }
    Ok(uid)
}

/// `^[a-z0-9]+(-[a-z0-9]+)*$`, 1 to 64 characters: luagen's `DEVICE_NAME_PATTERN`.
fn is_device_name(name: &str) -> bool {
    name.len() <= 64
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
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

/// Where `LUA_MQTT_URL` points, and how to get there.
pub struct Broker {
    pub tls: bool,
    pub websocket: bool,
    pub host: String,
    pub port: u16,
    /// The WebSocket's request path (and query): `/mqtt` when the URL has none.
    pub path: String,
}

/// `LUA_MQTT_URL` taken apart as the official clients and luagen's other targets read it
/// (PROTOCOL.md): the scheme picks TLS and WebSocket and the default port (1883, 8883 with
/// TLS, 8083 for `ws://`, 443 for `wss://`), and the WebSocket's path is `/mqtt` unless the
/// URL names one.
pub fn broker(url: &str) -> Broker {
    const SCHEMES: [(&str, bool, bool, u16); 7] = [
        ("mqtt://", false, false, 1883),
        ("tcp://", false, false, 1883),
        ("mqtts://", true, false, 8883),
        ("ssl://", true, false, 8883),
        ("tls://", true, false, 8883),
        ("ws://", false, true, 8083),
        ("wss://", true, true, 443),
    ];
    let Some((rest, tls, websocket, default_port)) = SCHEMES
        .iter()
        .find_map(|&(s, tls, ws, port)| Some((url.strip_prefix(s)?, tls, ws, port)))
    else {
        panic!(
            "LUA_MQTT_URL={url}: this firmware speaks MQTT over TCP (mqtt://, tcp://), over TLS \
             (mqtts://, ssl://), or over WebSocket (ws://, and wss:// with TLS)."
        );
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if authority.contains('@') {
        panic!(
            "LUA_MQTT_URL={url}: user names and passwords do not go in the URL (the API key \
             is sent when the device connects)."
        );
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .unwrap_or_else(|_| panic!("LUA_MQTT_URL={url}: bad port")),
        ),
        None => (authority, default_port),
    };
    if host.is_empty() {
        panic!("LUA_MQTT_URL={url}: no host");
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/mqtt{path}")
    };
    // The path goes into the request line as it is.
    if websocket && !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        panic!(
            "LUA_MQTT_URL={url}: the path must be printable ASCII without spaces \
             (percent-encode anything else)."
        );
    }
    Broker {
        tls,
        websocket,
        host: host.to_string(),
        port,
        path,
    }
}

/// The Lua CDN, where `cdn::upload` sends files when `LUA_CDN_URL` names no other.
pub const DEFAULT_CDN_URL: &str = "https://cdn.heylua.ai";

/// Where `LUA_CDN_URL` points.
pub struct Cdn {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The URL without a trailing slash: a file's public URL is this, a slash and its id.
    pub url: String,
    /// The upload's request target: the URL's path and `/upload`.
    pub upload_path: String,
}

/// `LUA_CDN_URL` (`https://` or `http://`, `host[:port][/path]`) taken apart.
pub fn cdn(url: &str) -> Cdn {
    let trimmed = url.trim_end_matches('/');
    let Some((rest, tls, default_port)) = [("https://", true, 443), ("http://", false, 80)]
        .iter()
        .find_map(|&(s, tls, port)| Some((trimmed.strip_prefix(s)?, tls, port)))
    else {
        panic!("LUA_CDN_URL={url}: the CDN's URL starts with https:// or http://");
    };
    let at = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if authority.contains('@') || path.contains(['?', '#']) {
        panic!(
            "LUA_CDN_URL={url}: a base URL without credentials, query or fragment (the API \
             key is sent as a header)."
        );
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .unwrap_or_else(|_| panic!("LUA_CDN_URL={url}: bad port")),
        ),
        None => (authority, default_port),
    };
    if host.is_empty() {
        panic!("LUA_CDN_URL={url}: no host");
    }
    if !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        panic!(
            "LUA_CDN_URL={url}: the path must be printable ASCII without spaces \
             (percent-encode anything else)."
        );
    }
    Cdn {
        tls,
        host: host.to_string(),
        port,
        url: trimmed.to_string(),
        upload_path: format!("{path}/upload"),
    }
}

/// TLS needs the `tls` feature and something to verify the broker (and the CDN, `cdn_tls`)
/// against: the user's CA, else the default store (a firmware that connects unverified is
/// never built). Both links trust the same store.
fn secure(mqtt_tls: bool, cdn_tls: bool, config: &BTreeMap<String, String>, out: &std::path::Path) {
    let url = &config["LUA_MQTT_URL"];
    let feature = env::var_os("CARGO_FEATURE_TLS").is_some();
    if mqtt_tls && !feature {
        panic!(
            "LUA_MQTT_URL={url} asks for TLS, which is the `tls` feature, on by default: this \
             build turned it off (`--no-default-features`). Build without that flag, or add \
             `--features tls`."
        );
    }
    if cdn_tls && !feature {
        panic!(
            "LUA_CDN_URL (default {DEFAULT_CDN_URL}) is https://, which is the `tls` feature: \
             this build turned it off (`--no-default-features`). Add `--features tls`, or set \
             an http:// LUA_CDN_URL."
        );
    }
    let tls = mqtt_tls || cdn_tls;
    if !tls {
        if feature {
            println!(
                "cargo:warning=LUA_MQTT_URL={url} is plain MQTT: `--no-default-features` \
                 builds it without compiling the TLS crates"
            );
        }
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
