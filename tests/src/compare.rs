//! Comparing two transcripts: each is reduced to named wire facts, and the facts that differ
//! are the differences a suite either explains (an allow-list) or fails on.

use std::collections::BTreeMap;

use crate::recorder::Event;
use crate::transcript::{render_payload, Transcript};

/// One fact on which two transcripts disagree (`None`: the fact is absent on that side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub fact: String,
    pub reference: Option<String>,
    pub candidate: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        write!(
            f,
            "{}\n    reference: {}\n    candidate: {}",
            self.fact,
            side(&self.reference),
            side(&self.candidate)
        )
    }
}

/// The facts on which `candidate` differs from `reference`, in fact-name order.
pub fn differences(reference: &Transcript, candidate: &Transcript) -> Vec<Difference> {
    let a = facts(reference);
    let b = facts(candidate);
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| Difference {
            fact: n.clone(),
            reference: a.get(n).cloned(),
            candidate: b.get(n).cloned(),
        })
        .collect()
}

/// The wire facts of a transcript, by name.
///
/// Per connection `#n`: the CONNECT fields; the subscribed filters (across SUBSCRIBE packets,
/// which leave the broker in the same state however they are grouped); the opening and
/// ending packet sequences; every publish per topic in order; responses keyed by command id,
/// because the order between concurrent commands is free. Heartbeats are left out: whether
/// one falls inside a session depends only on timing. JSON is compared as values, so key
/// order inside objects does not count.
pub fn facts(t: &Transcript) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    let connections: Vec<usize> = {
        let mut c: Vec<usize> = t.device_events().map(|e| e.connection).collect();
        c.dedup();
        c
    };
    for n in connections {
        let events = t.connection(n);
        connection_facts(t, n, &events, &mut facts);
    }
    let will = match &t.will {
        None => "none".to_string(),
        Some(w) => format!(
            "{} {}",
            w.delivered
                .topic
                .strip_prefix(&t.prefix)
                .unwrap_or(&w.delivered.topic),
            render_payload(&w.delivered.payload)
        ),
    };
    facts.insert("will delivered".into(), will);
    let retained = t
        .will
        .as_ref()
        .and_then(|w| w.retained_afterwards.as_ref())
        .map(render_payload)
        .unwrap_or_else(|| "nothing".into());
    facts.insert("will retained afterwards".into(), retained);
    facts
}

fn connection_facts(
    t: &Transcript,
    n: usize,
    events: &[&Event],
    facts: &mut BTreeMap<String, String>,
) {
    let mut filters = Vec::new();
    let mut per_topic: BTreeMap<String, usize> = BTreeMap::new();
    let mut tokens = Vec::new();
    for event in events {
        match event {
            Event::Connect(c) => {
                let fields = [
                    ("protocol 3.1.1", c.protocol_v4.to_string()),
                    ("client id", c.client_id.clone()),
                    ("username", format!("{:?}", c.username)),
                    ("password", format!("{:?}", c.password)),
                    ("clean session", c.clean_session.to_string()),
                    ("keep alive", c.keep_alive.to_string()),
                    (
                        "will",
                        c.will
                            .as_ref()
                            .map(|w| t.event_line(&Event::Publish(w.clone())))
                            .unwrap_or_else(|| "none".into()),
                    ),
                ];
                for (name, value) in fields {
                    facts.insert(format!("#{n} connect {name}"), value);
                }
            }
            Event::Subscribe(f) => filters.extend(f.iter().map(|(topic, qos)| {
                format!("{}@q{qos}", topic.strip_prefix(&t.prefix).unwrap_or(topic))
            })),
            Event::Publish(p) => {
                let suffix = p.topic.strip_prefix(&t.prefix).unwrap_or(&p.topic);
                if suffix == "heartbeat" {
                    continue;
                }
                let line = t.event_line(event);
                let key = match (suffix, p.payload.json().map(|v| &v["commandId"])) {
                    ("response", Some(serde_json::Value::String(id))) => format!("response {id}"),
                    _ => suffix.to_string(),
                };
                let index = per_topic.entry(key.clone()).or_default();
                facts.insert(format!("#{n} {key} [{index}]"), line);
                *index += 1;
            }
            _ => {}
        }
        let token = token(t, event);
        let repeated_subscribe = token == "SUBSCRIBE" && tokens.last() == Some(&token);
        if !token.is_empty() && !repeated_subscribe {
            tokens.push(token);
        }
    }
    facts.insert(format!("#{n} subscriptions"), filters.join(" "));
    facts.insert(
        format!("#{n} opening"),
        tokens
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    );
    let tail = tokens.len().saturating_sub(3);
    facts.insert(format!("#{n} ending"), tokens[tail..].join(", "));
}

/// The packet kind (and topic suffix for publishes): consecutive SUBSCRIBEs collapse into one.
fn token(t: &Transcript, event: &Event) -> String {
    match event {
        Event::Connect(_) => "CONNECT".into(),
        Event::Subscribe(_) => "SUBSCRIBE".into(),
        Event::Publish(p) => match p.topic.strip_prefix(&t.prefix) {
            Some("heartbeat") => String::new(),
            Some(suffix) => format!("PUBLISH {suffix}"),
            None => format!("PUBLISH {}", p.topic),
        },
        Event::Disconnect => "DISCONNECT".into(),
        Event::Closed => "(tcp closed)".into(),
        Event::Undecodable(e) => format!("(undecodable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::recorder::{ConnectRecord, Direction, Entry, Password, Payload, PublishRecord};

    const PREFIX: &str = "lua/devices/a/d/";

    fn transcript(events: Vec<Event>) -> Transcript {
        Transcript {
            device: "synthetic".into(),
            prefix: PREFIX.into(),
            entries: events
                .into_iter()
                .map(|event| Entry {
                    at: Duration::ZERO,
                    connection: 0,
                    direction: Direction::DeviceToBroker,
                    event,
                })
                .collect(),
            observed: Vec::new(),
            will: None,
        }
    }

    fn connect(clean_session: bool) -> Event {
        Event::Connect(ConnectRecord {
            protocol_v4: true,
            client_id: "lua-a-d".into(),
            username: Some("a:d".into()),
            password: Password::ExpectedKey,
            clean_session,
            keep_alive: 60,
            will: None,
        })
    }

    fn publish(suffix: &str, payload: serde_json::Value) -> Event {
        Event::Publish(PublishRecord {
            topic: format!("{PREFIX}{suffix}"),
            qos: 1,
            retain: false,
            payload: Payload::Json(payload),
        })
    }

    fn response(id: &str) -> Event {
        publish("response", json!({"commandId": id, "success": true}))
    }

    fn subscribe(suffixes: &[&str]) -> Event {
        Event::Subscribe(
            suffixes
                .iter()
                .map(|s| (format!("{PREFIX}{s}"), 1))
                .collect(),
        )
    }

    fn session(clean: bool, responses: &[&str], end: &[Event]) -> Transcript {
        let mut events = vec![connect(clean), subscribe(&["command", "error"])];
        events.extend(responses.iter().map(|id| response(id)));
        events.extend(end.iter().cloned());
        transcript(events)
    }

    #[test]
    fn identical_sessions_do_not_differ() {
        let a = session(false, &["x", "y"], &[Event::Disconnect, Event::Closed]);
        assert_eq!(differences(&a, &a.clone()), vec![]);
    }

    #[test]
    fn the_order_of_responses_to_different_commands_is_free() {
        let a = session(false, &["x", "y"], &[Event::Closed]);
        let b = session(false, &["y", "x"], &[Event::Closed]);
        assert_eq!(differences(&a, &b), vec![]);
    }

    #[test]
    fn how_subscriptions_are_split_into_packets_does_not_count() {
        let a = session(false, &[], &[Event::Closed]);
        let mut b = a.clone();
        b.entries[1].event = subscribe(&["command"]);
        b.entries.insert(
            2,
            Entry {
                event: subscribe(&["error"]),
                ..b.entries[1].clone()
            },
        );
        assert_eq!(differences(&a, &b), vec![]);
    }

    #[test]
    fn a_changed_connect_field_a_missing_response_and_a_missing_disconnect_are_reported() {
        let a = session(false, &["x", "y"], &[Event::Disconnect, Event::Closed]);
        let b = session(true, &["x"], &[Event::Closed]);
        let facts: Vec<String> = differences(&a, &b).into_iter().map(|d| d.fact).collect();
        // In so short a session the opening sequence reaches the end, so it differs too.
        assert_eq!(
            facts,
            [
                "#0 connect clean session",
                "#0 ending",
                "#0 opening",
                "#0 response y [0]"
            ]
        );
    }

    #[test]
    fn a_second_response_to_the_same_command_is_reported() {
        let a = session(false, &["x"], &[Event::Closed]);
        let b = session(false, &["x", "x"], &[Event::Closed]);
        let diffs = differences(&a, &b);
        let facts: Vec<&str> = diffs.iter().map(|d| d.fact.as_str()).collect();
        assert_eq!(facts, ["#0 ending", "#0 opening", "#0 response x [1]"]);
        assert_eq!(diffs[2].reference, None);
    }
}
