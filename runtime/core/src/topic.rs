//! Topic names and MQTT identities of a device.

use alloc::string::String;

use crate::text::concat;

/// The last segment of a device topic: `lua/devices/{agentId}/{deviceName}/{suffix}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// Retained online/offline status, and the non-retained registration.
    Status,
    /// Empty QoS 0 keepalive from the device.
    Heartbeat,
    /// Command results from the device.
    Response,
    /// Device-to-agent events.
    Trigger,
    /// Commands from the agent.
    Command,
    /// The gateway's connection confirmation.
    Connected,
    /// The gateway's receipt of a trigger.
    TriggerAck,
    /// What the agent did with a trigger.
    TriggerResult,
    /// Server-side errors.
    Error,
    /// The gateway's answer to a heartbeat.
    Pong,
}

impl Suffix {
    /// Every suffix, in the order of the transport guide's table.
    pub const ALL: [Suffix; 10] = [
        Suffix::Status,
        Suffix::Heartbeat,
        Suffix::Response,
        Suffix::Trigger,
        Suffix::Command,
        Suffix::Connected,
        Suffix::TriggerAck,
        Suffix::TriggerResult,
        Suffix::Error,
        Suffix::Pong,
    ];

    /// The topic segment, e.g. `trigger_ack`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Suffix::Status => "status",
            Suffix::Heartbeat => "heartbeat",
            Suffix::Response => "response",
            Suffix::Trigger => "trigger",
            Suffix::Command => "command",
            Suffix::Connected => "connected",
            Suffix::TriggerAck => "trigger_ack",
            Suffix::TriggerResult => "trigger_result",
            Suffix::Error => "error",
            Suffix::Pong => "pong",
        }
    }

    /// The suffix named by a topic segment.
    pub fn parse(segment: &str) -> Option<Suffix> {
        Suffix::ALL.into_iter().find(|s| s.as_str() == segment)
    }
}

/// The topic root every device lives under.
pub const ROOT: &str = "lua/devices/";

/// The topics of one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics of `device_name` under agent `agent_id`.
    pub fn new(agent_id: &str, device_name: &str) -> Self {
        Self {
            prefix: concat(&[ROOT, agent_id, "/", device_name, "/"]),
        }
    }

    /// `lua/devices/{agentId}/{deviceName}/`, with the trailing slash.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full topic for `suffix`.
    pub fn topic(&self, suffix: Suffix) -> String {
        concat(&[&self.prefix, suffix.as_str()])
    }

    /// The suffix of `topic` when it belongs to this device.
    pub fn suffix_of(&self, topic: &str) -> Option<Suffix> {
        topic
            .strip_prefix(self.prefix.as_str())
            .and_then(Suffix::parse)
    }
}

/// A device topic split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceTopic<'a> {
    /// The agent the device belongs to.
    pub agent_id: &'a str,
    /// The device name.
    pub device_name: &'a str,
    /// What the topic carries.
    pub suffix: Suffix,
}

/// Split `lua/devices/{agentId}/{deviceName}/{suffix}`; `None` for any other topic.
pub fn parse(topic: &str) -> Option<DeviceTopic<'_>> {
    let rest = topic.strip_prefix(ROOT)?;
    let mut parts = rest.split('/');
    let agent_id = parts.next()?;
    let device_name = parts.next()?;
    let suffix = Suffix::parse(parts.next()?)?;
    if parts.next().is_some() || agent_id.is_empty() || device_name.is_empty() {
        return None;
    }
    Some(DeviceTopic {
        agent_id,
        device_name,
        suffix,
    })
}

/// MQTT client id: `lua-{agentId}-{deviceName}`.
pub fn client_id(agent_id: &str, device_name: &str) -> String {
    concat(&["lua-", agent_id, "-", device_name])
}

/// MQTT username: `{agentId}:{deviceName}`.
pub fn username(agent_id: &str, device_name: &str) -> String {
    concat(&[agent_id, ":", device_name])
}

/// Whether `name` can stand in a topic segment: not empty, no `/`, `+`, `#` or NUL.
pub fn is_valid_segment(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_protocol() {
        let t = Topics::new("agent-1", "pico-sensor-01");
        assert_eq!(
            t.topic(Suffix::TriggerAck),
            "lua/devices/agent-1/pico-sensor-01/trigger_ack"
        );
        assert_eq!(client_id("agent-1", "pico"), "lua-agent-1-pico");
        assert_eq!(username("agent-1", "pico"), "agent-1:pico");
    }

    #[test]
    fn topics_round_trip() {
        let t = Topics::new("a", "d");
        for s in Suffix::ALL {
            assert_eq!(t.suffix_of(&t.topic(s)), Some(s));
            let full = t.topic(s);
            let parsed = parse(&full).unwrap();
            assert_eq!((parsed.agent_id, parsed.device_name), ("a", "d"));
        }
        assert_eq!(t.suffix_of("lua/devices/a/other/command"), None);
        assert_eq!(t.suffix_of("lua/devices/a/d/commands"), None);
        assert_eq!(parse("lua/devices/a/d/command/x"), None);
        assert!(!is_valid_segment("a/b") && !is_valid_segment("") && is_valid_segment("ok-1"));
    }
}
