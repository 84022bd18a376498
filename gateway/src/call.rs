//! `luagen call`: validate a payload against the command's registered `inputSchema`, send it
//! with a fresh commandId, resend the same id per the command's retry policy, and report.

use std::time::Duration;

use anyhow::Result;
use lua_device::message::Response;
use lua_device::topic::{self, Suffix, Topics};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::directory::{directory_filters, DeviceRecord, Directory};
use crate::link::{AgentLink, AgentLogin, Message};

/// The protocol's default command timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Room for what `call_device` adds to a command: `"commandId"` and `"timeout"` with values.
const ENVELOPE: usize = 128;
/// How long retained directory messages get to arrive after subscribing.
const SETTLE: Duration = Duration::from_millis(300);

/// Whom to call.
#[derive(Clone, Debug)]
pub enum Target {
    /// One device by name.
    Device(String),
    /// Every online device of a group.
    Group(String),
}

/// Overrides of the registered policy.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// Per-attempt timeout instead of the command's `timeoutMs`.
    pub timeout: Option<Duration>,
    /// Attempts in all instead of the command's `retry.maxAttempts`.
    pub attempts: Option<u32>,
    /// The manifest to validate against when the broker has no gateway directory (e.g. a
    /// plain mosquitto): its registration commands stand in for the registered ones.
    pub manifest_commands: Option<Vec<Value>>,
}

/// Why nothing was sent.
#[derive(Debug)]
pub enum Refusal {
    /// The payload does not match the command's `inputSchema`.
    InvalidPayload {
        device: String,
        problems: Vec<String>,
    },
    /// The device never registered this command.
    UnknownCommand { device: String, known: Vec<String> },
    /// No such device, or no online device in the group.
    NoTarget(String),
    /// The command would be a packet larger than devices accept (and `luagen dev` relays).
    TooLarge {
        device: String,
        bytes: usize,
        limit: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::InvalidPayload { device, problems } => write!(
                f,
                "payload refused for {device} (nothing sent): {}",
                problems.join("; ")
            ),
            Refusal::UnknownCommand { device, known } => write!(
                f,
                "{device} has no such command (nothing sent); it registered: {}",
                known.join(", ")
            ),
            Refusal::NoTarget(why) => write!(f, "{why} (nothing sent)"),
            Refusal::TooLarge {
                device,
                bytes,
                limit,
            } => write!(
                f,
                "the command for {device} would be a packet of about {bytes} bytes; devices accept at most {} (nothing sent)",
                crate::limits::size(*limit)
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// One command ready to go to one device.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The device.
    pub device: String,
    /// The command.
    pub command: String,
    /// The validated payload.
    pub payload: Value,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts in all (the first send included).
    pub attempts: u32,
    /// Pause between a timeout and the resend.
    pub backoff: Duration,
    /// The device is known to be offline: the command waits in its persistent session.
    pub offline: bool,
}

/// What became of one call.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The device called.
    pub device: String,
    /// The id every attempt carried.
    pub command_id: String,
    /// How many times the command was published.
    pub sent: u32,
    /// The response, or `None` after the last attempt timed out.
    pub response: Option<Response>,
}

impl Outcome {
    /// Whether the device answered with success.
    pub fn succeeded(&self) -> bool {
        self.response.as_ref().is_some_and(|r| r.success)
    }

    /// The report printed for this call.
    pub fn to_json(&self) -> Value {
        match &self.response {
            Some(r) => serde_json::to_value(r).expect("a Response always serializes"),
            None => json!({
                "commandId": self.command_id,
                "success": false,
                "error": format!(
                    "timeout: no response after {}",
                    crate::count(self.sent as usize, "attempt")
                ),
            }),
        }
    }
}

/// A connection for calling one agent's devices.
pub struct Caller {
    link: AgentLink,
    directory: Directory,
}

impl Caller {
    /// Connect, subscribe to the agent's responses, statuses and directory, and read what the
    /// broker has retained.
    pub async fn connect(login: &AgentLogin) -> Result<Self> {
        let mut filters = directory_filters(&login.agent_id);
        filters.push(format!(
            "{}{}/+/{}",
            topic::ROOT,
            login.agent_id,
            Suffix::Response.as_str()
        ));
        let (link, mut rx) = AgentLink::connect(login, &filters).await?;
        let directory = Directory::collect(&mut rx, SETTLE).await;
        Ok(Self { link, directory })
    }

    /// What the broker told about the agent's devices.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Check the call and work out its policy per target; nothing is sent.
    pub fn plan(
        &self,
        target: &Target,
        command: &str,
        payload: &Value,
        options: &CallOptions,
    ) -> Result<Vec<Planned>, Refusal> {
        let devices: Vec<DeviceRecord> = match target {
            Target::Device(name) => match self.directory.get(name) {
                Some(record) => vec![record.clone()],
                None if options.manifest_commands.is_some() => {
                    vec![DeviceRecord::new(self.link.agent_id(), name)]
                }
                None => {
                    return Err(Refusal::NoTarget(format!(
                        "no device {name} of agent {} is known to the broker; pass --manifest to call it anyway",
                        self.link.agent_id()
                    )))
                }
            },
            Target::Group(group) => {
                let members: Vec<DeviceRecord> =
                    self.directory.online_in_group(group).into_iter().cloned().collect();
                if members.is_empty() {
                    return Err(Refusal::NoTarget(format!("no online device in group {group}")));
                }
                members
            }
        };
        devices
            .iter()
            .map(|record| plan_one(record, command, payload, options))
            .collect()
    }

    /// Send a planned call and wait for its response, resending the same commandId after each
    /// timeout until the attempts run out.
    pub async fn send(&self, planned: &Planned) -> Result<Outcome> {
        call_device(&self.link, planned).await
    }

    /// Send every planned call at once and wait for all.
    pub async fn send_all(&self, plans: &[Planned]) -> Result<Vec<Outcome>> {
        let mut running = tokio::task::JoinSet::new();
        for (i, planned) in plans.iter().cloned().enumerate() {
            let link = self.link.clone();
            running.spawn(async move { (i, call_device(&link, &planned).await) });
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; plans.len()];
        while let Some(joined) = running.join_next().await {
            let (i, outcome) = joined?;
            outcomes[i] = Some(outcome?);
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Disconnect from the broker.
    pub async fn close(self) {
        self.link.disconnect().await;
    }
}

fn plan_one(
    record: &DeviceRecord,
    command: &str,
    payload: &Value,
    options: &CallOptions,
) -> Result<Planned, Refusal> {
    let device = record.device_name.clone();
    let from_manifest;
    let definition = match (&options.manifest_commands, record.registered) {
        (Some(commands), false) => {
            from_manifest = commands
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(command))
                .cloned();
            from_manifest.as_ref()
        }
        _ => record.command(command),
    };
    let Some(definition) = definition else {
        let known = match (&options.manifest_commands, record.registered) {
            (Some(commands), false) => commands
                .iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect(),
            _ => record
                .command_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        if !record.registered && options.manifest_commands.is_none() {
            return Err(Refusal::NoTarget(format!(
                "{device} has no registered manifest here (the broker has no luagen gateway directory); pass --manifest to validate against it"
            )));
        }
        return Err(Refusal::UnknownCommand { device, known });
    };
    if let Some(schema) = definition.get("inputSchema") {
        let problems = validate(schema, payload);
        if !problems.is_empty() {
            return Err(Refusal::InvalidPayload { device, problems });
        }
    }
    // The packet as `call_device` builds it, with room for the id and the timeout it adds.
    let bytes = 2
        + Topics::new(&record.agent_id, &device)
            .topic(Suffix::Command)
            .len()
        + 2
        + json!({"command": command, "payload": payload})
            .to_string()
            .len()
        + ENVELOPE;
    let limit = crate::limits::relay_limit();
    if bytes > limit {
        return Err(Refusal::TooLarge {
            device,
            bytes,
            limit,
        });
    }
    let timeout_ms = definition
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let retry = definition.get("retry");
    let attempts = retry
        .and_then(|r| r.get("maxAttempts"))
        .and_then(Value::as_u64)
        .unwrap_or(1) as u32;
    let backoff_ms = retry
        .and_then(|r| r.get("backoffMs"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(Planned {
        device,
        command: command.to_string(),
        payload: payload.clone(),
        timeout: options.timeout.unwrap_or(Duration::from_millis(timeout_ms)),
        attempts: options.attempts.unwrap_or(attempts).max(1),
        backoff: Duration::from_millis(backoff_ms),
        offline: !record.online,
    })
}

/// Every way `payload` breaks `schema`, as `path: rule` lines (`/` is the payload itself).
pub fn validate(schema: &Value, payload: &Value) -> Vec<String> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![format!(
                "the registered inputSchema is not a valid JSON Schema: {e}"
            )]
        }
    };
    validator
        .iter_errors(payload)
        .map(|e| {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            format!("{path}: {e}")
        })
        .collect()
}

async fn call_device(link: &AgentLink, planned: &Planned) -> Result<Outcome> {
    let agent = link.agent_id().to_string();
    let command_id = link.fresh_id();
    let topics = Topics::new(&agent, &planned.device);
    let body = json!({
        "commandId": command_id,
        "command": planned.command,
        "payload": planned.payload,
        "timeout": planned.timeout.as_millis() as u64,
    })
    .to_string()
    .into_bytes();
    let mut rx = link.subscribe();
    if planned.offline {
        tracing::warn!(
            "{} is offline: the command is queued in its persistent session and delivered when it reconnects (waiting {:?} per attempt)",
            planned.device,
            planned.timeout
        );
    }
    let response_topic = topics.topic(Suffix::Response);
    for attempt in 1..=planned.attempts {
        if attempt == 1 {
            tracing::info!("→ {} {} {command_id}", planned.device, planned.command);
        } else {
            tracing::warn!(
                "no response from {} within {:?}; resending {command_id} (attempt {attempt}/{})",
                planned.device,
                planned.timeout,
                planned.attempts
            );
        }
        link.publish(topics.topic(Suffix::Command), body.clone())
            .await?;
        if let Some(response) =
            wait_response(&mut rx, &response_topic, &command_id, planned.timeout).await
        {
            return Ok(Outcome {
                device: planned.device.clone(),
                command_id,
                sent: attempt,
                response: Some(response),
            });
        }
        if attempt < planned.attempts && !planned.backoff.is_zero() {
            tokio::time::sleep(planned.backoff).await;
        }
    }
    Ok(Outcome {
        device: planned.device.clone(),
        command_id,
        sent: planned.attempts,
        response: None,
    })
}

async fn wait_response(
    rx: &mut broadcast::Receiver<Message>,
    topic: &str,
    command_id: &str,
    timeout: Duration,
) -> Option<Response> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return None,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Ok(Ok(m)) => m,
        };
        if message.topic != topic {
            continue;
        }
        if let Ok(response) = serde_json::from_slice::<Response>(&message.payload) {
            if response.command_id == command_id {
                return Some(response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field_and_the_rule() {
        let schema = json!({
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}},
            "required": ["enabled"]
        });
        assert!(validate(&schema, &json!({"enabled": true})).is_empty());
        let problems = validate(&schema, &json!({"enabled": "yes"}));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("/enabled: "), "{problems:?}");
        assert!(problems[0].contains("boolean"), "{problems:?}");
        let problems = validate(&schema, &json!({}));
        assert!(
            problems[0].starts_with("/: ") && problems[0].contains("enabled"),
            "{problems:?}"
        );
    }

    #[test]
    fn policy_comes_from_the_registration() {
        let mut record = DeviceRecord::new("a", "d");
        record.registered = true;
        record.online = true;
        record.commands = vec![json!({"name": "slow", "description": "", "timeoutMs": 500,
            "retry": {"maxAttempts": 3, "backoffMs": 10}})];
        let plan = plan_one(&record, "slow", &json!({}), &CallOptions::default()).unwrap();
        assert_eq!(
            (plan.timeout, plan.attempts, plan.backoff, plan.offline),
            (
                Duration::from_millis(500),
                3,
                Duration::from_millis(10),
                false
            )
        );
        assert!(matches!(
            plan_one(&record, "nope", &json!({}), &CallOptions::default()),
            Err(Refusal::UnknownCommand { .. })
        ));
    }

    #[test]
    fn a_command_larger_than_devices_accept_is_refused_before_sending() {
        let mut record = DeviceRecord::new("a", "d");
        record.registered = true;
        record.commands = vec![json!({"name": "print", "description": ""})];
        let pad = |n: usize| json!({"pad": "x".repeat(n)});
        let options = CallOptions::default();
        assert!(plan_one(&record, "print", &pad(1_000_000), &options).is_ok());
        let refusal = plan_one(&record, "print", &pad(3_000_000), &options).unwrap_err();
        assert!(matches!(refusal, Refusal::TooLarge { .. }), "{refusal}");
        let shown = refusal.to_string();
        assert!(
            shown.contains("2 MiB") && shown.contains("nothing sent"),
            "{shown}"
        );
    }
}
