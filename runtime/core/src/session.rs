//! What a device publishes and subscribes to, as plain data, so every driver (tokio,
//! embassy) sends the same packets in the same order.

use alloc::string::String;

use alloc::vec::Vec;

#[cfg(feature = "serde")]
use crate::dispatch::CommandSpec;
use crate::message::{registration_head, Presence, PublicStatus, Response, Trigger};
use crate::topic::{Suffix, Topics};
use crate::value::{self, Value};

/// MQTT delivery guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    /// Fire and forget (heartbeats, pong).
    AtMostOnce,
    /// Acknowledged (everything else).
    AtLeastOnce,
}

/// A subscription request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Full topic.
    pub topic: String,
    /// Maximum QoS asked for.
    pub qos: Qos,
}

/// A message to publish.
#[derive(Clone, PartialEq, Eq)]
pub struct Publication {
    /// Full topic.
    pub topic: String,
    /// Exact payload bytes.
    pub payload: Vec<u8>,
    /// Delivery guarantee.
    pub qos: Qos,
    /// Whether the broker keeps it for later subscribers.
    pub retain: bool,
}

// Payloads may hold the API key (the registration): never print them.
impl core::fmt::Debug for Publication {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Publication")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .finish()
    }
}

/// One step of the post-CONNACK sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Subscribe to all of these in one SUBSCRIBE packet.
    Subscribe(Vec<Subscription>),
    /// Publish this.
    Publish(Publication),
}

/// Who the device is, as the session needs it.
#[derive(Clone)]
pub struct Identity<'a> {
    /// Topic names.
    pub topics: &'a Topics,
    /// Sent in the registration only.
    pub api_key: &'a str,
    /// Optional device group.
    pub group: Option<&'a str>,
}

/// The topics a device subscribes to and at which QoS.
pub const SUBSCRIPTIONS: [(Suffix, Qos); 6] = [
    (Suffix::Command, Qos::AtLeastOnce),
    (Suffix::Connected, Qos::AtLeastOnce),
    (Suffix::TriggerAck, Qos::AtLeastOnce),
    (Suffix::TriggerResult, Qos::AtLeastOnce),
    (Suffix::Error, Qos::AtLeastOnce),
    (Suffix::Pong, Qos::AtMostOnce),
];

/// Everything to do after each CONNACK (first connection and every reconnection), in order:
/// subscribe, publish the retained public status, publish the registration. The heartbeat
/// starts after these. `timestamp` is ISO-8601 UTC ([`crate::timestamp::iso8601`]).
#[cfg(feature = "serde")]
pub fn after_connack(id: &Identity<'_>, commands: Vec<CommandSpec>, timestamp: &str) -> [Step; 3] {
    let commands = serde_json::to_string(&commands).expect("command specs always serialize");
    after_connack_json(id, &commands, timestamp)
}

/// `after_connack` (with the `serde` feature) for a device that carries its command list as JSON text, as firmware
/// does (luagen writes the list it computed): the text goes into the registration verbatim,
/// so the chip holds no code to parse and re-serialize command specs.
pub fn after_connack_json(id: &Identity<'_>, commands_json: &str, timestamp: &str) -> [Step; 3] {
    let mut registration = registration_head(id.api_key, id.group);
    registration.push_str(commands_json);
    registration.push('}');
    steps(id, timestamp, registration.into_bytes())
}

fn steps(id: &Identity<'_>, timestamp: &str, registration: Vec<u8>) -> [Step; 3] {
    let subscriptions = SUBSCRIPTIONS
        .iter()
        .map(|&(suffix, qos)| Subscription {
            topic: id.topics.topic(suffix),
            qos,
        })
        .collect();
    let status = PublicStatus {
        status: Presence::Online,
        timestamp: timestamp.into(),
        group: id.group.map(Into::into),
    };
    [
        Step::Subscribe(subscriptions),
        Step::Publish(publication(
            id.topics,
            Suffix::Status,
            status.to_json(),
            true,
        )),
        Step::Publish(Publication {
            topic: id.topics.topic(Suffix::Status),
            payload: registration,
            qos: Qos::AtLeastOnce,
            retain: false,
        }),
    ]
}

/// The retained offline status: the last will, and the graceful goodbye.
pub fn offline_status(topics: &Topics, timestamp: &str) -> Publication {
    let status = PublicStatus {
        status: Presence::Offline,
        timestamp: timestamp.into(),
        group: None,
    };
    publication(topics, Suffix::Status, status.to_json(), true)
}

/// The empty QoS 0 heartbeat.
pub fn heartbeat(topics: &Topics) -> Publication {
    Publication {
        topic: topics.topic(Suffix::Heartbeat),
        payload: Vec::new(),
        qos: Qos::AtMostOnce,
        retain: false,
    }
}

/// A command's response, from its exact JSON (as cached by the ledger).
pub fn response_json(topics: &Topics, json: String) -> Publication {
    Publication {
        topic: topics.topic(Suffix::Response),
        payload: json.into_bytes(),
        qos: Qos::AtLeastOnce,
        retain: false,
    }
}

/// A command's response.
pub fn response(topics: &Topics, response: &Response) -> Publication {
    response_json(topics, response.to_json())
}

/// A trigger; `payload` `None` becomes `{}`.
pub fn trigger(topics: &Topics, name: &str, payload: Option<Value>) -> Publication {
    let trigger = Trigger {
        trigger_name: name.into(),
        payload: payload.unwrap_or_else(value::empty_object),
    };
    publication(topics, Suffix::Trigger, trigger.to_json(), false)
}

fn publication(topics: &Topics, suffix: Suffix, body: String, retain: bool) -> Publication {
    Publication {
        topic: topics.topic(suffix),
        payload: body.into_bytes(),
        qos: Qos::AtLeastOnce,
        retain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "serde")]
    use alloc::vec;

    #[cfg(feature = "serde")]
    #[test]
    fn connack_sequence_subscribes_then_status_then_registration() {
        let topics = Topics::new("a", "d");
        let id = Identity {
            topics: &topics,
            api_key: "k3y",
            group: Some("g"),
        };
        let steps = after_connack(&id, vec![CommandSpec::new("echo", "Echo")], "T");
        let Step::Subscribe(subs) = &steps[0] else {
            panic!("first step must subscribe")
        };
        assert_eq!(subs.len(), 6);
        assert_eq!(subs[0].topic, "lua/devices/a/d/command");
        assert!(subs[..5].iter().all(|s| s.qos == Qos::AtLeastOnce));
        let Step::Publish(status) = &steps[1] else {
            panic!()
        };
        assert!(status.retain && status.qos == Qos::AtLeastOnce);
        assert_eq!(
            serde_json::from_slice::<Value>(&status.payload).unwrap(),
            serde_json::json!({"status":"online","timestamp":"T","group":"g"})
        );
        let Step::Publish(reg) = &steps[2] else {
            panic!()
        };
        assert!(!reg.retain && reg.topic == "lua/devices/a/d/status");
        assert_eq!(
            serde_json::from_slice::<Value>(&reg.payload).unwrap(),
            serde_json::json!({"status":"online","apiKey":"k3y","group":"g","commands":[{"name":"echo","description":"Echo"}]})
        );
        assert!(!alloc::format!("{reg:?}").contains("k3y"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn a_json_command_list_registers_byte_for_byte_like_the_specs() {
        let topics = Topics::new("a", "d");
        let specs = vec![
            CommandSpec::new("echo", "Echo \"quoted\""),
            CommandSpec::new("print", "Print")
                .with_input_schema_json(r#"{"type":"object","required":["z","a"]}"#)
                .unwrap()
                .with_timeout_ms(5000)
                .with_retry(3, 1000),
        ];
        let json = serde_json::to_string(&specs).unwrap();
        for group in [None, Some("g")] {
            let id = Identity {
                topics: &topics,
                api_key: "k\"3y",
                group,
            };
            // The hand-written registration is byte for byte what serde writes for it.
            let Step::Publish(from_json) = &after_connack_json(&id, &json, "T")[2] else {
                panic!("the third step publishes the registration")
            };
            let serde_text = serde_json::to_string(&crate::message::Registration {
                status: Presence::Online,
                api_key: id.api_key.into(),
                group: group.map(Into::into),
                commands: specs.clone(),
            })
            .unwrap();
            assert_eq!(
                core::str::from_utf8(&from_json.payload).unwrap(),
                serde_text
            );
            assert_eq!(from_json.topic, "lua/devices/a/d/status");
            assert!(!from_json.retain);
        }
    }

    #[test]
    fn offline_heartbeat_and_trigger() {
        let topics = Topics::new("a", "d");
        let off = offline_status(&topics, "T");
        assert!(off.retain);
        assert_eq!(off.payload, br#"{"status":"offline","timestamp":"T"}"#);
        let hb = heartbeat(&topics);
        assert!(hb.payload.is_empty() && hb.qos == Qos::AtMostOnce && !hb.retain);
        let t = trigger(&topics, "alert", None);
        assert_eq!(t.payload, br#"{"triggerName":"alert","payload":{}}"#);
    }
}
