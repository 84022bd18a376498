//! What the gateway's test files share: the `luagen` binary, run as a user runs it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use lua_testkit::fixtures::{self, Profile};

/// The `luagen` binary, built once per test process.
pub fn luagen_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        fixtures::cargo_build_binary("luagen-cli", "luagen", Profile::Dev).expect("luagen builds")
    })
    .clone()
}

/// Run `luagen args...` off the async runtime, with none of the agent's settings inherited.
pub async fn luagen(args: Vec<String>) -> Output {
    let bin = luagen_bin();
    tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(&args)
            .env_remove("LUA_API_KEY")
            .env_remove("LUA_AGENT_ID")
            .env_remove("LUA_MQTT_URL")
            .output()
            .expect("luagen runs")
    })
    .await
    .unwrap()
}
