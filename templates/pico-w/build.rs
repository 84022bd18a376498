//! Puts memory.x where the linker finds it, and turns `.env` (or the environment) into the
//! build-time configuration `src/config.rs` reads. Secrets stay in `.env`, which git ignores.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::{env, fs};

const REQUIRED: [&str; 5] = ["LUA_WIFI_SSID", "LUA_AGENT_ID", "LUA_API_KEY", "LUA_MQTT_URL", "LUA_WIFI_PASSWORD"];

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
    for key in REQUIRED.iter().chain(&["LUA_NTP_SERVER"]) {
        println!("cargo:rerun-if-env-changed={key}");
        if let Ok(value) = env::var(key) {
            config.insert(key.to_string(), value);
        }
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| !config.contains_key(*k)).collect();
    if !missing.is_empty() {
        panic!(
            "missing configuration: {}. Copy .env.example to .env and fill it in \
             (or export the variables), then build again.",
            missing.join(", ")
        );
    }
    let (host, port) = broker(&config["LUA_MQTT_URL"]);
    config.insert("LUA_MQTT_HOST".into(), host);
    config.insert("LUA_MQTT_PORT".into(), port.to_string());
    config.entry("LUA_NTP_SERVER".into()).or_insert_with(|| "pool.ntp.org".into());
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

/// Host and port of a `mqtt://` or `tcp://` URL (default port 1883).
fn broker(url: &str) -> (String, u16) {
    let Some(rest) = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")) else {
        panic!(
            "LUA_MQTT_URL={url}: this firmware speaks MQTT over plain TCP (mqtt:// or tcp://). \
             TLS (mqtts://, ssl://, wss://) is not implemented for the Pico W target yet; \
             use a broker or bridge reachable without TLS on a network you trust."
        );
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.parse().unwrap_or_else(|_| panic!("LUA_MQTT_URL={url}: bad port")),
        ),
        None => (authority.to_string(), 1883),
    }
}
