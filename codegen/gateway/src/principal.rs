//! Who a connection is, from its CONNECT username, and which topics it may use.
//!
//! rumqttd 0.20 has no topic ACL (its only confinement is a `/tenants/{id}/` prefix derived
//! from TLS client certificates), so the gateway's front door applies these rules to every
//! PUBLISH and SUBSCRIBE before the broker sees it.

use lua_device::topic::{is_valid_segment, Topics};

/// The retained directory the emulator keeps for agent-side tools.
pub const DIRECTORY_ROOT: &str = "luagen/gateway/devices/";

/// An authenticated MQTT client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Username `{agentId}:{deviceName}`: confined to `lua/devices/{agentId}/{deviceName}/`.
    Device {
        /// The agent the device belongs to.
        agent_id: String,
        /// The device.
        device_name: String,
    },
    /// Username `{agentId}` (no colon): the agent's side, as `luagen call`, `devices` and
    /// `monitor` play it. It may command and watch devices; only the gateway itself writes the
    /// device directory.
    Agent {
        /// The agent.
        agent_id: String,
    },
}

impl Principal {
    /// The principal a CONNECT username names; `None` when it names none.
    pub fn from_username(username: &str) -> Option<Self> {
        match username.split_once(':') {
            Some((agent, device))
                if is_valid_segment(agent) && is_valid_segment(device) && !device.contains(':') =>
            {
                Some(Principal::Device {
                    agent_id: agent.to_string(),
                    device_name: device.to_string(),
                })
            }
            None if is_valid_segment(username) => Some(Principal::Agent {
                agent_id: username.to_string(),
            }),
            _ => None,
        }
    }

    /// The agent whose key must be presented.
    pub fn agent_id(&self) -> &str {
        match self {
            Principal::Device { agent_id, .. } | Principal::Agent { agent_id } => agent_id,
        }
    }

    /// The client id a device must use (`lua-{agentId}-{deviceName}`), so that no client can
    /// take over another device's persistent session.
    pub fn required_client_id(&self) -> Option<String> {
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => Some(format!("lua-{agent_id}-{device_name}")),
            Principal::Agent { .. } => None,
        }
    }

    /// Whether this client may publish to `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        if topic.contains(['+', '#']) {
            return false;
        }
        match self {
            Principal::Device { .. } => self.device_prefix().is_some_and(|p| {
                topic
                    .strip_prefix(p.as_str())
                    .is_some_and(|s| !s.is_empty())
            }),
            Principal::Agent { .. } => !topic.starts_with(DIRECTORY_ROOT),
        }
    }

    /// Whether this client may subscribe to `filter`.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        match self {
            // Wildcards are fine after the device's own prefix, never in it.
            Principal::Device { .. } => self.device_prefix().is_some_and(|p| {
                filter
                    .strip_prefix(p.as_str())
                    .is_some_and(|s| !s.is_empty())
            }),
            // The agent-side client watches `lua/devices/+/+/...`; the dev gateway does not
            // confine agents to one another (see the crate docs).
            Principal::Agent { .. } => true,
        }
    }

    fn device_prefix(&self) -> Option<String> {
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => Some(Topics::new(agent_id, device_name).prefix().to_string()),
            Principal::Agent { .. } => None,
        }
    }

    /// How the log names the client.
    pub fn label(&self) -> String {
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => format!("{agent_id}:{device_name}"),
            Principal::Agent { agent_id } => format!("agent {agent_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Principal {
        Principal::from_username("agent-1:dev-a").unwrap()
    }

    #[test]
    fn usernames_name_devices_or_agents() {
        assert_eq!(
            Principal::from_username("agent-1"),
            Some(Principal::Agent {
                agent_id: "agent-1".into()
            })
        );
        assert_eq!(device().agent_id(), "agent-1");
        assert_eq!(device().required_client_id().unwrap(), "lua-agent-1-dev-a");
        for bad in ["", "a:", ":b", "a/b:c", "a:b:c", "a:+"] {
            assert_eq!(Principal::from_username(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_device_is_confined_to_its_prefix() {
        let d = device();
        assert!(d.may_publish("lua/devices/agent-1/dev-a/response"));
        assert!(!d.may_publish("lua/devices/agent-1/dev-b/response"));
        assert!(!d.may_publish("lua/devices/agent-1/dev-a"));
        assert!(!d.may_publish("lua/devices/agent-1/dev-a/"));
        assert!(!d.may_publish("lua/devices/agent-1/dev-ab/status"));
        assert!(!d.may_publish("other/topic"));
        assert!(d.may_subscribe("lua/devices/agent-1/dev-a/command"));
        assert!(d.may_subscribe("lua/devices/agent-1/dev-a/#"));
        assert!(!d.may_subscribe("lua/devices/agent-1/+/command"));
        assert!(!d.may_subscribe("lua/devices/agent-1/dev-b/command"));
        assert!(!d.may_subscribe("#"));
    }

    #[test]
    fn agents_cannot_forge_the_directory() {
        let a = Principal::from_username("agent-1").unwrap();
        assert!(a.may_publish("lua/devices/agent-1/dev-a/command"));
        assert!(!a.may_publish("luagen/gateway/devices/agent-1/dev-a"));
        assert!(a.may_subscribe("luagen/gateway/devices/agent-1/+"));
    }
}
