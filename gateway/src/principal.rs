//! Who a connection is, from its CONNECT username, and which topics it may use.
//!
//! rumqttd 0.20 has no topic ACL (its only confinement is a `/tenants/{id}/` prefix derived
//! from TLS client certificates), so the gateway's front door applies these rules to every
//! packet: PUBLISH and SUBSCRIBE before the broker sees them, and every PUBLISH the broker
//! delivers, again, before the client sees it.
//!
//! - A device (`{agentId}:{deviceName}`) publishes and subscribes under its own prefix
//!   `lua/devices/{agentId}/{deviceName}/` only.
//! - An agent (`{agentId}`) subscribes under its own agent's devices `lua/devices/{agentId}/`
//!   and its directory `luagen/gateway/devices/{agentId}/` only, and publishes only what the
//!   agent's side of `PROTOCOL.md` publishes (`command`, `trigger_ack`, `trigger_result`) and
//!   the server's `error` (so a developer can try a device's error handling: `luagen send
//!   error`) to its own devices, never retained: the retained status of a device is the
//!   device's own (and its last will's), the directory the gateway's.
//! - Client ids live in one namespace per principal ([`Principal::upstream_client_id`]), so no
//!   client can take over another principal's session or the gateway's own.

use lua_device::topic::{self, is_valid_segment, Suffix, Topics};

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
    /// `monitor` play it. It commands and watches its own agent's devices; only the gateway
    /// itself writes the device directory.
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

    /// The client id a device must use (`lua-{agentId}-{deviceName}`, as `PROTOCOL.md` says).
    /// It is not what keeps sessions apart (hyphen-joined ids are ambiguous: `a:b-c` and `a-b:c`
    /// want the same one); [`Principal::upstream_client_id`] is.
    pub fn required_client_id(&self) -> Option<String> {
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => Some(topic::client_id(agent_id, device_name)),
            Principal::Agent { .. } => None,
        }
    }

    /// The client id the broker sees for `client_id` chosen by this principal: the principal's
    /// kind and names and the chosen id, each escaped and joined by `:`. Distinct (principal,
    /// id) pairs never share one, the same pair always gets the same one (so a persistent
    /// session comes back), and none equals an id of the gateway's own clients, which carry no
    /// `:`. The escapes also keep out the characters rumqttd refuses in a client id (`+$#/`).
    pub fn upstream_client_id(&self, client_id: &str) -> String {
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => format!(
                "device:{}:{}:{}",
                escape(agent_id),
                escape(device_name),
                escape(client_id)
            ),
            Principal::Agent { agent_id } => {
                format!("agent:{}:{}", escape(agent_id), escape(client_id))
            }
        }
    }

    /// Whether this client may publish to `topic` (with the RETAIN flag `retain`).
    pub fn may_publish(&self, topic: &str, retain: bool) -> bool {
        if topic.contains(['+', '#']) {
            return false;
        }
        match self {
            Principal::Device { .. } => self.under_own_prefix(topic),
            Principal::Agent { agent_id } => {
                !retain
                    && topic::parse(topic).is_some_and(|t| {
                        t.agent_id == agent_id
                            && matches!(
                                t.suffix,
                                Suffix::Command
                                    | Suffix::TriggerAck
                                    | Suffix::TriggerResult
                                    | Suffix::Error
                            )
                    })
            }
        }
    }

    /// Whether this client may subscribe to `filter`; also whether a message on the topic
    /// `filter` may be delivered to it.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        // Wildcards are fine after the client's own prefix, never in it.
        self.under_own_prefix(filter)
    }

    /// Whether `name` (a topic or a filter) lies strictly under one of the client's prefixes.
    fn under_own_prefix(&self, name: &str) -> bool {
        let below = |prefix: &str| name.strip_prefix(prefix).is_some_and(|s| !s.is_empty());
        match self {
            Principal::Device {
                agent_id,
                device_name,
            } => below(Topics::new(agent_id, device_name).prefix()),
            Principal::Agent { agent_id } => {
                below(&format!("{}{agent_id}/", topic::ROOT))
                    || below(&format!("{DIRECTORY_ROOT}{agent_id}/"))
            }
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

/// `name` with `%`, the separator `:` and rumqttd's forbidden `+$#/` percent-encoded.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '%' | ':' | '+' | '$' | '#' | '/') {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
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
        assert!(d.may_publish("lua/devices/agent-1/dev-a/response", false));
        assert!(d.may_publish("lua/devices/agent-1/dev-a/status", true));
        assert!(!d.may_publish("lua/devices/agent-1/dev-b/response", false));
        assert!(!d.may_publish("lua/devices/agent-1/dev-a", false));
        assert!(!d.may_publish("lua/devices/agent-1/dev-a/", false));
        assert!(!d.may_publish("lua/devices/agent-1/dev-ab/status", false));
        assert!(!d.may_publish("other/topic", false));
        assert!(d.may_subscribe("lua/devices/agent-1/dev-a/command"));
        assert!(d.may_subscribe("lua/devices/agent-1/dev-a/#"));
        assert!(!d.may_subscribe("lua/devices/agent-1/+/command"));
        assert!(!d.may_subscribe("lua/devices/agent-1/dev-b/command"));
        assert!(!d.may_subscribe("#"));
    }

    #[test]
    fn an_agent_is_confined_to_its_own_devices() {
        let a = Principal::from_username("agent-1").unwrap();
        assert!(a.may_publish("lua/devices/agent-1/dev-a/command", false));
        assert!(a.may_publish("lua/devices/agent-1/dev-a/trigger_result", false));
        assert!(a.may_publish("lua/devices/agent-1/dev-a/error", false));
        assert!(!a.may_publish("lua/devices/agent-1/dev-a/error", true));
        assert!(!a.may_publish("lua/devices/agent-2/dev-a/error", false));
        assert!(!a.may_publish("lua/devices/agent-1/dev-a/command", true));
        assert!(!a.may_publish("lua/devices/agent-2/dev-a/command", false));
        assert!(!a.may_publish("lua/devices/agent-1x/dev-a/command", false));
        for suffix in ["status", "response", "trigger", "connected", "pong"] {
            let topic = format!("lua/devices/agent-1/dev-a/{suffix}");
            assert!(!a.may_publish(&topic, false), "{topic}");
        }
        assert!(!a.may_publish("luagen/gateway/devices/agent-1/dev-a", false));
        assert!(!a.may_publish("other/topic", false));
        assert!(a.may_subscribe("lua/devices/agent-1/#"));
        assert!(a.may_subscribe("lua/devices/agent-1/+/response"));
        assert!(a.may_subscribe("luagen/gateway/devices/agent-1/+"));
        for foreign in [
            "#",
            "lua/#",
            "lua/devices/#",
            "lua/devices/+/dev-a/response",
            "lua/devices/agent-2/#",
            "lua/devices/agent-1x/#",
            "lua/devices/agent-1",
            "luagen/gateway/devices/#",
            "luagen/gateway/devices/agent-2/+",
            "$share/g/lua/devices/agent-1/#",
            "$SYS/#",
        ] {
            assert!(!a.may_subscribe(foreign), "{foreign}");
        }
    }

    #[test]
    fn client_ids_are_namespaced_by_principal() {
        let p = |u: &str| Principal::from_username(u).unwrap();
        // The ambiguous pair of the hyphen-joined form, and an agent choosing a device's id.
        let (b_victim, a_b_victim) = (p("agent-b:victim-sensor"), p("agent:b-victim-sensor"));
        assert_eq!(
            b_victim.required_client_id(),
            a_b_victim.required_client_id()
        );
        let id = "lua-agent-b-victim-sensor";
        let upstream = [
            b_victim.upstream_client_id(id),
            a_b_victim.upstream_client_id(id),
            p("agent-b").upstream_client_id(id),
            p("agent-a").upstream_client_id(id),
        ];
        for (i, x) in upstream.iter().enumerate() {
            for y in &upstream[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(b_victim.upstream_client_id(id), upstream[0]);
        // The separator and rumqttd's forbidden characters are escaped, so ids stay apart.
        assert_ne!(
            p("a").upstream_client_id("x:y"),
            p("a:x").upstream_client_id("y")
        );
        let odd = p("a$b").upstream_client_id("c/+#%");
        assert!(!odd.contains(['+', '$', '#', '/']), "{odd}");
        assert_ne!(
            p("a").upstream_client_id("luagen-gateway-emulator"),
            "luagen-gateway-emulator"
        );
    }
}
