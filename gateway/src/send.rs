//! `luagen send`: what the server side sends a device besides commands, sent by hand to try
//! the device's handlers: an `error` (`{"code","message"}`) or a `trigger_result`
//! (`{"triggerName","result"}`). The tool subscribes to the topic it publishes on, so it
//! knows the broker took the message (the echo comes back) rather than hoping so.

use std::time::Duration;

use anyhow::Result;
use lua_device::topic::{self, Suffix, Topics};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::directory::{directory_filters, Directory};
use crate::link::{AgentLink, AgentLogin, Message};

/// How long retained directory messages get to arrive after subscribing.
const SETTLE: Duration = Duration::from_millis(300);
/// How long the broker gets to deliver the message back.
const ECHO: Duration = Duration::from_secs(5);

/// What to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// On `error`.
    Error {
        /// Machine-readable code.
        code: String,
        /// Human-readable text.
        message: String,
    },
    /// On `trigger_result`.
    TriggerResult {
        /// The trigger answered.
        trigger_name: String,
        /// The result.
        result: Value,
    },
}

impl Notice {
    /// The device topic it goes to.
    pub fn suffix(&self) -> Suffix {
        match self {
            Notice::Error { .. } => Suffix::Error,
            Notice::TriggerResult { .. } => Suffix::TriggerResult,
        }
    }

    /// The message as the device receives it.
    pub fn body(&self) -> Value {
        match self {
            Notice::Error { code, message } => json!({"code": code, "message": message}),
            Notice::TriggerResult {
                trigger_name,
                result,
            } => json!({"triggerName": trigger_name, "result": result}),
        }
    }
}

/// Why nothing was sent.
#[derive(Debug)]
pub struct NotSent(pub String);

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (nothing sent)", self.0)
    }
}

impl std::error::Error for NotSent {}

/// Sent, but the broker never delivered it back: it refused or lost it.
#[derive(Debug)]
pub struct NotDelivered(pub String);

impl std::fmt::Display for NotDelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotDelivered {}

/// Send `notice` to `device` of the login's agent and wait until the broker delivers it back.
/// A device the broker's luagen directory does not list is refused ([`NotSent`]) unless
/// `unlisted` (a plain broker keeps no directory); no echo is [`NotDelivered`]; any other
/// error is the broker connection's.
pub async fn send(login: &AgentLogin, device: &str, notice: &Notice, unlisted: bool) -> Result<()> {
    if !topic::is_valid_segment(device) {
        return Err(NotSent(format!("`{device}` cannot be a device name")).into());
    }
    let body = notice.body().to_string().into_bytes();
    let limit = crate::limits::relay_limit();
    if body.len() + 256 > limit {
        return Err(NotSent(format!(
            "the message is {} bytes; devices accept at most {}",
            body.len(),
            crate::limits::size(limit)
        ))
        .into());
    }
    let topic = Topics::new(&login.agent_id, device).topic(notice.suffix());
    let mut filters = directory_filters(&login.agent_id);
    filters.push(topic.clone());
    let (link, mut rx) = AgentLink::connect(login, &filters).await?;
    let directory = Directory::collect(&mut rx, SETTLE).await;
    if directory.get(device).is_none() && !unlisted {
        link.disconnect().await;
        return Err(NotSent(format!(
            "no device {device} of agent {} is known to the broker; pass --unlisted to send anyway",
            login.agent_id
        ))
        .into());
    }
    link.publish(topic.clone(), body.clone()).await?;
    let echoed = wait_echo(&mut rx, &topic, &body).await;
    link.disconnect().await;
    if !echoed {
        return Err(NotDelivered(format!(
            "the broker did not deliver the message on {topic} back within {ECHO:?}: it refused or lost it"
        ))
        .into());
    }
    Ok(())
}

async fn wait_echo(rx: &mut broadcast::Receiver<Message>, topic: &str, body: &[u8]) -> bool {
    let deadline = tokio::time::Instant::now() + ECHO;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return false,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Ok(m)) if m.topic == topic && m.payload[..] == *body => return true,
            Ok(Ok(_)) => continue,
        }
    }
}
