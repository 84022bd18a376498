//! `luagen monitor`: tail the traffic of one device or all of an agent's devices.

use anyhow::Result;
use lua_device::timestamp::iso8601;
use lua_device::topic;

use crate::keys::loggable_payload;
use crate::link::{AgentLink, AgentLogin, Message};

/// Print every message on the devices' topics through `out` until `limit` messages (or
/// forever), secrets masked.
pub async fn run(
    login: &AgentLogin,
    device: Option<&str>,
    limit: Option<usize>,
    mut out: impl FnMut(String),
) -> Result<()> {
    let filter = format!(
        "{}{}/{}/+",
        topic::ROOT,
        login.agent_id,
        device.unwrap_or("+")
    );
    let (link, mut rx) = AgentLink::connect(login, &[filter]).await?;
    let mut seen = 0;
    while limit.is_none_or(|l| seen < l) {
        match rx.recv().await {
            Ok(message) => {
                if let Some(line) = line(&message) {
                    out(line);
                    seen += 1;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => out(format!(
                "… {} skipped (output too slow)",
                crate::count(n as usize, "message")
            )),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
    link.disconnect().await;
    Ok(())
}

/// One message as a log line: time, device, topic suffix, payload.
pub fn line(message: &Message) -> Option<String> {
    let t = topic::parse(&message.topic)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let time = iso8601(now);
    let time = time.get(11..23).unwrap_or(&time);
    let retained = if message.retain { " (retained)" } else { "" };
    Some(format!(
        "{time} {:<24} {:<14} {}{retained}",
        t.device_name,
        t.suffix.as_str(),
        loggable_payload(&message.payload)
    ))
}
