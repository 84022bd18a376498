//! What PROTOCOL.md requires of every session's transcript whatever the manifest: the
//! connections and their opening, the graceful ending, the killed connection and its will,
//! how responses and heartbeats are published, and no API key in anything retained.
//!
//! The fixed conformance session (`protocol_facts.rs`) and the manifest-derived one
//! (`plan_facts.rs`) check these through one [`Expectations`] each, and add the facts about
//! answers and triggers that are theirs alone.

use serde_json::{json, Value};

use crate::recorder::{Event, Password, Payload, PublishRecord, MASKED_API_KEY, MASKED_TIMESTAMP};
use crate::session::AGENT_ID;
use crate::transcript::{render_payload, Transcript};

/// What a session expects of the device beyond the protocol itself.
pub struct Expectations<'a> {
    pub device_name: &'a str,
    /// The manifest's group: in the public status only when there is one, in the registration
    /// always (null without one).
    pub group: Option<&'a str>,
    /// The registration's `commands`.
    pub commands: &'a Value,
    /// Whether the device may fire triggers of its own accord (any time, so also around the
    /// graceful ending), rather than only when the session asks it to.
    pub unprompted_triggers: bool,
}

impl Expectations<'_> {
    /// `lua/devices/{AGENT_ID}/{device_name}/`.
    pub fn prefix(&self) -> String {
        format!("lua/devices/{AGENT_ID}/{}/", self.device_name)
    }

    fn topic(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix())
    }
}

/// The broken facts of one transcript, in the order they were checked.
#[derive(Default)]
pub struct Violations(pub Vec<String>);

impl Violations {
    /// Record `what` unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    pub fn push(&mut self, what: String) {
        self.0.push(what);
    }
}

/// The retained status the device leaves behind, by SIGTERM or by its will.
pub fn offline() -> Payload {
    Payload::Json(json!({"status": "offline", "timestamp": MASKED_TIMESTAMP}))
}

/// Two connections (graceful, then killed), each opened as `opening` says, with the
/// CONNECT's identity and will; the first ended gracefully, the second without DISCONNECT.
pub fn connections(t: &Transcript, e: &Expectations, v: &mut Violations) {
    let device = e.device_name;
    let connects = t.connects();
    v.check(connects.len() == 2, || {
        format!(
            "expected 2 connections (graceful, then killed), saw {}",
            connects.len()
        )
    });
    for (n, c) in connects {
        let ctx = |s: &str| format!("connection #{n}: {s}");
        v.check(c.protocol_v4, || ctx("CONNECT is not MQTT 3.1.1"));
        v.check(c.client_id == format!("lua-{AGENT_ID}-{device}"), || {
            ctx(&format!("client id {:?}", c.client_id))
        });
        v.check(
            c.username.as_deref() == Some(&format!("{AGENT_ID}:{device}")),
            || ctx(&format!("username {:?}", c.username)),
        );
        v.check(c.password == Password::ExpectedKey, || {
            ctx(&format!("password is {:?}, not the API key", c.password))
        });
        v.check(!c.clean_session, || ctx("clean session must be false"));
        v.check(c.keep_alive == 60, || {
            ctx(&format!("keep alive {}", c.keep_alive))
        });
        let will_ok = c.will.as_ref().is_some_and(|w| {
            w.topic == e.topic("status") && w.qos == 1 && w.retain && w.payload == offline()
        });
        v.check(will_ok, || ctx(&format!("last will {:?}", c.will)));
        opening(t, e, n, v);
    }
    graceful_ending(t, e, v);
    let killed = t.connection(1);
    v.check(
        !killed.contains(&&Event::Disconnect) && killed.last() == Some(&&Event::Closed),
        || "connection #1 was killed: it must end without DISCONNECT".into(),
    );
}

/// Subscriptions, then the retained public status, then the registration.
fn opening(t: &Transcript, e: &Expectations, n: usize, v: &mut Violations) {
    let events = t.connection(n);
    let subscribe_end = events
        .iter()
        .position(|e| !matches!(e, Event::Connect(_) | Event::Subscribe(_)))
        .unwrap_or(events.len());
    let filters: Vec<(String, u8)> = events[..subscribe_end]
        .iter()
        .filter_map(|e| match e {
            Event::Subscribe(f) => Some(f.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    for suffix in [
        "command",
        "connected",
        "trigger_ack",
        "trigger_result",
        "error",
    ] {
        let topic = e.topic(suffix);
        v.check(filters.contains(&(topic.clone(), 1)), || {
            format!(
                "connection #{n}: no QoS 1 subscription to {topic} before publishing: {filters:?}"
            )
        });
    }
    let allowed_extra = e.topic("pong");
    v.check(
        filters.len() == 5 + usize::from(filters.iter().any(|f| f.0 == allowed_extra)),
        || format!("connection #{n}: unexpected subscriptions {filters:?}"),
    );
    let status = e.topic("status");
    let publishes: Vec<&PublishRecord> = events[subscribe_end..]
        .iter()
        .filter_map(|e| match e {
            Event::Publish(p) => Some(p),
            _ => None,
        })
        .take(2)
        .collect();
    let mut public = json!({"status": "online", "timestamp": MASKED_TIMESTAMP});
    if let Some(group) = e.group {
        public["group"] = json!(group);
    }
    v.check(
        publishes.first().is_some_and(|p| {
            p.topic == status && p.qos == 1 && p.retain && p.payload == Payload::Json(public.clone())
        }),
        || format!("connection #{n}: first publish must be the retained online status {public}, got {:?}", publishes.first()),
    );
    let registration = json!({
        "status": "online", "apiKey": MASKED_API_KEY, "group": e.group,
        "commands": e.commands,
    });
    v.check(
        publishes.get(1).is_some_and(|p| {
            p.topic == status
                && p.qos == 1
                && !p.retain
                && p.payload == Payload::Json(registration.clone())
        }),
        || {
            format!(
                "connection #{n}: second publish must be the registration {registration}, got {:?}",
                publishes.get(1)
            )
        },
    );
}

/// SIGTERM: the retained offline status, then DISCONNECT, then the socket closes. Heartbeats
/// may fall anywhere; so may triggers, where the device fires them on its own.
fn graceful_ending(t: &Transcript, e: &Expectations, v: &mut Violations) {
    let heartbeat = e.topic("heartbeat");
    let trigger = e.topic("trigger");
    let aside =
        |p: &PublishRecord| p.topic == heartbeat || (e.unprompted_triggers && p.topic == trigger);
    let tail: Vec<&Event> = t
        .connection(0)
        .into_iter()
        .filter(|e| !matches!(e, Event::Publish(p) if aside(p)))
        .rev()
        .take(3)
        .collect();
    let offline_status = Event::Publish(PublishRecord {
        topic: e.topic("status"),
        qos: 1,
        retain: true,
        payload: offline(),
    });
    v.check(
        tail == [&Event::Closed, &Event::Disconnect, &offline_status],
        || format!("connection #0 must end with the retained offline status, DISCONNECT, close; ended with {tail:?} (newest first)"),
    );
}

/// Every response is QoS 1, not retained, and answers a command id for which `sent` holds.
pub fn responses_published(t: &Transcript, sent: impl Fn(&str) -> bool, v: &mut Violations) {
    for (n, p) in t.publishes_on("response") {
        v.check(p.qos == 1 && !p.retain, || {
            format!("#{n} response not QoS 1 unretained: {p:?}")
        });
        let id = p.payload.json().and_then(|j| j["commandId"].as_str());
        v.check(id.is_some_and(&sent), || {
            format!("#{n} response to a command the session never sent: {p:?}")
        });
    }
}

/// No retained message (will included) carries the API key; heartbeats are empty, QoS 0 and
/// not retained.
pub fn secrets_and_heartbeats(t: &Transcript, v: &mut Violations) {
    for e in t.device_events() {
        let retained = match &e.event {
            Event::Publish(p) if p.retain => Some(p),
            Event::Connect(c) => c.will.as_ref(),
            _ => None,
        };
        if let Some(p) = retained {
            v.check(!render_payload(&p.payload).contains(MASKED_API_KEY), || {
                format!(
                    "#{} the API key is in a retained message on {}",
                    e.connection, p.topic
                )
            });
        }
    }
    for (n, p) in t.publishes_on("heartbeat") {
        v.check(
            p.qos == 0 && !p.retain && p.payload == Payload::Empty,
            || format!("#{n} heartbeat must be empty, QoS 0, not retained: {p:?}"),
        );
    }
}

/// After SIGKILL the broker publishes the will, and the offline status stays retained.
pub fn will(t: &Transcript, e: &Expectations, v: &mut Violations) {
    let Some(w) = &t.will else {
        v.push("the broker published no last will after SIGKILL".into());
        return;
    };
    v.check(
        w.delivered.topic == e.topic("status") && w.delivered.payload == offline(),
        || format!("the will delivered after SIGKILL is {:?}", w.delivered),
    );
    v.check(w.retained_afterwards == Some(offline()), || {
        format!(
            "after SIGKILL the retained status is {:?}",
            w.retained_afterwards
        )
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::Plan;
    use crate::recorder::{ConnectRecord, Direction, Entry};
    use crate::session::{fixture_manifest, prefix, DEVICE_NAME};
    use crate::transcript::{Observed, WillObservation};

    fn status(retain: bool, body: Value) -> Event {
        Event::Publish(PublishRecord {
            topic: format!("{}status", prefix()),
            qos: 1,
            retain,
            payload: Payload::Json(body),
        })
    }

    /// Both connections of the conformance fixture's session as the shared facts want them:
    /// opened, the first ended by SIGTERM, the second killed, the will published and kept.
    /// (No commands: the answer facts are each session's own.)
    fn well_connected() -> Transcript {
        let prefix = prefix();
        let offline_status = || status(true, offline().json().unwrap().clone());
        let opening = || {
            let connect = ConnectRecord {
                protocol_v4: true,
                client_id: format!("lua-{AGENT_ID}-{DEVICE_NAME}"),
                username: Some(format!("{AGENT_ID}:{DEVICE_NAME}")),
                password: Password::ExpectedKey,
                clean_session: false,
                keep_alive: 60,
                will: Some(PublishRecord {
                    topic: format!("{prefix}status"),
                    qos: 1,
                    retain: true,
                    payload: offline(),
                }),
            };
            let filters = [
                "command",
                "connected",
                "trigger_ack",
                "trigger_result",
                "error",
            ]
            .map(|s| (format!("{prefix}{s}"), 1))
            .to_vec();
            vec![
                Event::Connect(connect),
                Event::Subscribe(filters),
                status(
                    true,
                    json!({"status": "online", "timestamp": MASKED_TIMESTAMP,
                           "group": "conformance"}),
                ),
                status(
                    false,
                    json!({"status": "online", "apiKey": MASKED_API_KEY, "group": "conformance",
                           "commands": crate::protocol_facts::expected_registration_commands()}),
                ),
            ]
        };
        let graceful =
            opening()
                .into_iter()
                .chain([offline_status(), Event::Disconnect, Event::Closed]);
        let killed = opening().into_iter().chain([Event::Closed]);
        let entry = |connection, event| Entry {
            at: Duration::ZERO,
            connection,
            direction: Direction::DeviceToBroker,
            event,
        };
        Transcript {
            device: "synthetic".into(),
            entries: graceful
                .map(|e| entry(0, e))
                .chain(killed.map(|e| entry(1, e)))
                .collect(),
            will: Some(WillObservation {
                delivered: Observed {
                    at: Duration::ZERO,
                    topic: format!("{prefix}status"),
                    retain: false,
                    payload: offline(),
                },
                retained_afterwards: Some(offline()),
            }),
            prefix,
            observed: Vec::new(),
        }
    }

    /// What each session's facts say of `t` beyond what they say of [`well_connected`] (which
    /// misses every answer): the conformance session's, then the plan's of the same manifest.
    fn new_violations(t: &Transcript) -> [Vec<String>; 2] {
        let plan = Plan::from_manifest(&fixture_manifest()).unwrap();
        let both = |t: &Transcript| {
            [
                crate::protocol_facts::violations(t),
                crate::plan_facts::violations(t, &plan),
            ]
        };
        let before = both(&well_connected());
        let mut after = both(t);
        for (after, before) in after.iter_mut().zip(&before) {
            after.retain(|v| !before.contains(v));
        }
        after
    }

    fn without(mut t: Transcript, connection: usize, unwanted: &Event) -> Transcript {
        t.entries
            .retain(|e| e.connection != connection || e.event != *unwanted);
        t
    }

    #[test]
    fn the_synthetic_connections_meet_both_sessions_shared_facts() {
        let plan = Plan::from_manifest(&fixture_manifest()).unwrap();
        let t = well_connected();
        for v in [
            crate::protocol_facts::violations(&t),
            crate::plan_facts::violations(&t, &plan),
        ] {
            assert!(!v.is_empty(), "no answers at all must be a violation");
            let shared = |s: &&String| {
                [
                    "connection #",
                    "expected 2 connections",
                    "the broker",
                    "the will",
                    "after SIGKILL",
                ]
                .iter()
                .any(|p| s.starts_with(p))
                    || s.contains("the API key")
                    || s.contains("heartbeat")
            };
            assert_eq!(v.iter().filter(shared).count(), 0, "{v:#?}");
        }
    }

    #[test]
    fn both_sessions_miss_the_retained_offline_status_and_the_will() {
        let ending = "connection #0 must end with the retained offline status, DISCONNECT, close";
        let t = without(
            well_connected(),
            0,
            &status(true, offline().json().unwrap().clone()),
        );
        for v in new_violations(&t) {
            assert!(v.len() == 1 && v[0].starts_with(ending), "{v:#?}");
        }
        let mut t = well_connected();
        t.will = None;
        for v in new_violations(&t) {
            assert_eq!(v, ["the broker published no last will after SIGKILL"]);
        }
        let mut t = well_connected();
        t.will.as_mut().unwrap().retained_afterwards = None;
        for v in new_violations(&t) {
            assert_eq!(v, ["after SIGKILL the retained status is None"]);
        }
    }

    #[test]
    fn both_sessions_refuse_a_retained_registration() {
        let mut t = well_connected();
        for e in &mut t.entries {
            if let Event::Publish(p) = &mut e.event {
                p.retain |= p.payload.json().is_some_and(|j| j.get("apiKey").is_some());
            }
        }
        for v in new_violations(&t) {
            for want in [
                "connection #0: second publish must be the registration",
                "connection #1: second publish must be the registration",
                "#0 the API key is in a retained message on",
                "#1 the API key is in a retained message on",
            ] {
                assert!(v.iter().any(|v| v.starts_with(want)), "{want}\n{v:#?}");
            }
        }
    }

    /// The one shared fact the sessions hold differently: only a device that fires triggers of
    /// its own accord may publish one between its offline status and DISCONNECT.
    #[test]
    fn only_the_plan_lets_a_trigger_fall_in_the_ending() {
        let mut t = well_connected();
        let disconnect = t
            .entries
            .iter()
            .position(|e| e.event == Event::Disconnect)
            .unwrap();
        let mut trigger = t.entries[disconnect].clone();
        trigger.event = Event::Publish(PublishRecord {
            topic: format!("{}trigger", prefix()),
            qos: 1,
            retain: false,
            payload: Payload::Json(json!({"triggerName": "alert", "payload": {"level": "high"}})),
        });
        t.entries.insert(disconnect, trigger);
        let [conformance, plan] = new_violations(&t);
        let ending = "connection #0 must end with the retained offline status";
        assert!(
            conformance.iter().any(|v| v.starts_with(ending)),
            "{conformance:#?}"
        );
        assert!(!plan.iter().any(|v| v.starts_with(ending)), "{plan:#?}");
    }
}
