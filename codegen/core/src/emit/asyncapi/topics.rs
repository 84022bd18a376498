//! The device's topics as facts: who publishes on each, at which QoS, whether retained, and
//! what it carries. The AsyncAPI document and the docs page's protocol table both read this;
//! the QoS of what a device subscribes to is the runtime core's own list.

use lua_device_core::session::{Qos, SUBSCRIPTIONS};
use lua_device_core::topic::Suffix;

/// Who sends on a topic, from the device's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The device publishes (AsyncAPI `send`).
    Publishes,
    /// The device subscribes (AsyncAPI `receive`).
    Subscribes,
}

/// Whether the broker keeps a topic's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retain {
    No,
    Yes,
    /// The status topic: the public status is retained, the registration is not.
    StatusOnly,
}

/// One topic of a device: `lua/devices/{agentId}/{deviceName}/{suffix}`.
#[derive(Clone, Copy, Debug)]
pub struct Topic {
    pub suffix: Suffix,
    pub direction: Direction,
    pub retain: Retain,
    /// What travels on it, in a few words (Markdown).
    pub summary: &'static str,
}

impl Topic {
    /// The MQTT QoS of its messages: the device's subscription QoS for what it receives,
    /// 0 for the heartbeat, 1 for everything else it publishes.
    pub fn qos(&self) -> u8 {
        let qos = match self.direction {
            Direction::Subscribes => SUBSCRIPTIONS
                .iter()
                .find(|(s, _)| *s == self.suffix)
                .map_or(Qos::AtLeastOnce, |&(_, q)| q),
            Direction::Publishes if self.suffix == Suffix::Heartbeat => Qos::AtMostOnce,
            Direction::Publishes => Qos::AtLeastOnce,
        };
        match qos {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
        }
    }

    /// The retained column of a table.
    pub fn retain_words(&self) -> &'static str {
        match self.retain {
            Retain::No => "no",
            Retain::Yes => "yes",
            Retain::StatusOnly => "the status yes, the registration no",
        }
    }

    /// The topic's address with its parameters: `lua/devices/{agentId}/{deviceName}/command`.
    pub fn address(&self) -> String {
        format!(
            "lua/devices/{{agentId}}/{{deviceName}}/{}",
            self.suffix.as_str()
        )
    }
}

/// Every topic, in the order of the transport guide's table.
pub const TOPICS: [Topic; 10] = [
    Topic {
        suffix: Suffix::Status,
        direction: Direction::Publishes,
        retain: Retain::StatusOnly,
        summary: "the public online/offline status (also the last will) and the registration \
                  with the API key and the commands",
    },
    Topic {
        suffix: Suffix::Heartbeat,
        direction: Direction::Publishes,
        retain: Retain::No,
        summary: "an empty message every 30 s",
    },
    Topic {
        suffix: Suffix::Response,
        direction: Direction::Publishes,
        retain: Retain::No,
        summary: "each command's result or error",
    },
    Topic {
        suffix: Suffix::Trigger,
        direction: Direction::Publishes,
        retain: Retain::No,
        summary: "the device's triggers",
    },
    Topic {
        suffix: Suffix::Command,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "the agent's commands (a retained one is never run)",
    },
    Topic {
        suffix: Suffix::Connected,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "the gateway's confirmation of the connection",
    },
    Topic {
        suffix: Suffix::TriggerAck,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "the gateway's receipt of a trigger",
    },
    Topic {
        suffix: Suffix::TriggerResult,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "what the agent's handler made of a trigger",
    },
    Topic {
        suffix: Suffix::Error,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "server-side errors",
    },
    Topic {
        suffix: Suffix::Pong,
        direction: Direction::Subscribes,
        retain: Retain::No,
        summary: "the answer to a heartbeat (may be ignored)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use lua_device_core::session;
    use lua_device_core::topic::Topics;

    #[test]
    fn every_topic_once_as_the_runtime_uses_it() {
        let suffixes: Vec<Suffix> = TOPICS.iter().map(|t| t.suffix).collect();
        assert_eq!(suffixes, Suffix::ALL);
        for (suffix, _) in SUBSCRIPTIONS {
            let topic = TOPICS.iter().find(|t| t.suffix == suffix).unwrap();
            assert_eq!(topic.direction, Direction::Subscribes, "{suffix:?}");
        }
        let topics = Topics::new("a", "d");
        let by = |s: Suffix| TOPICS.iter().find(|t| t.suffix == s).unwrap();
        let heartbeat = session::heartbeat(&topics);
        assert_eq!(by(Suffix::Heartbeat).qos(), 0);
        assert!(!heartbeat.retain && heartbeat.qos == Qos::AtMostOnce);
        let trigger = session::trigger(&topics, "t", None);
        assert_eq!(by(Suffix::Trigger).qos(), 1);
        assert!(!trigger.retain && trigger.qos == Qos::AtLeastOnce);
        let offline = session::offline_status(&topics, "now");
        assert!(offline.retain && offline.qos == Qos::AtLeastOnce);
        assert_eq!(by(Suffix::Pong).qos(), 0);
        assert_eq!(by(Suffix::Command).qos(), 1);
    }
}
