//! What PROTOCOL.md requires of a manifest-derived session's transcript ([`crate::plan`]),
//! and the transcript two such devices are compared on.
//!
//! The same rules as `protocol_facts.rs` for the connection, the registration, the ending and
//! the will, with the identity and commands taken from the plan. Answers are judged by their
//! schema rather than their values, which belong to each device's handlers: a success carries
//! data valid against the outputSchema, an unknown command gets the protocol's error, every
//! planned id is answered (twice for the duplicated ones), and triggers the device fired on
//! its own name a manifest trigger and carry a valid payload.

use serde_json::{json, Value};

use crate::plan::{ids, Plan};
use crate::recorder::{
    Direction, Event, Password, Payload, PublishRecord, MASKED_API_KEY, MASKED_TIMESTAMP,
};
use crate::schema_instance::{errors, shape};
use crate::session::AGENT_ID;
use crate::transcript::{render_payload, Transcript};

/// Every way `t` departs from PROTOCOL.md under `plan`; empty when it conforms.
pub fn violations(t: &Transcript, plan: &Plan) -> Vec<String> {
    let mut v = Vec::new();
    let prefix = format!("lua/devices/{AGENT_ID}/{}/", plan.device_name);
    if t.prefix != prefix {
        v.push(format!(
            "the session ran on {} instead of {prefix}",
            t.prefix
        ));
        return v;
    }
    connections(t, plan, &mut v);
    responses(t, plan, &mut v);
    triggers(t, plan, &mut v);
    secrets_and_heartbeats(t, &mut v);
    will(t, &mut v);
    v
}

/// `t` as it is compared with another implementation of the same manifest: triggers are left
/// out (only a device's own handlers fire them; [`violations`] checks each), and every
/// response's `data` is replaced by its [`shape`] under the command's outputSchema. Everything
/// else stays as recorded.
pub fn comparable(t: &Transcript, plan: &Plan) -> Transcript {
    let trigger = format!("{}trigger", t.prefix);
    let response = format!("{}response", t.prefix);
    let mut out = t.clone();
    out.entries
        .retain(|e| !matches!(&e.event, Event::Publish(p) if p.topic == trigger));
    for entry in &mut out.entries {
        let Event::Publish(p) = &mut entry.event else {
            continue;
        };
        if p.topic != response || entry.direction != Direction::DeviceToBroker {
            continue;
        }
        if let Payload::Json(body) = &mut p.payload {
            let schema = command_of(plan, &body["commandId"])
                .and_then(|c| plan.command(&c))
                .and_then(|c| c.output_schema.clone());
            if let Some(data) = body.get_mut("data") {
                *data = shape(schema.as_ref(), data);
            }
        }
    }
    out
}

/// The command a planned id was sent to.
fn command_of(plan: &Plan, id: &Value) -> Option<String> {
    let id = id.as_str()?;
    if let Some(call) = plan.calls.iter().find(|c| c.id == id) {
        return Some(call.command.clone());
    }
    if let Some(invalid) = plan.invalid.as_ref().filter(|i| i.call.id == id) {
        return Some(invalid.call.command.clone());
    }
    [ids::AFTER_ERROR, ids::AFTER_CONNECTED, ids::AFTER_GARBAGE]
        .contains(&id)
        .then(|| plan.probe.0.clone())
}

fn offline() -> Payload {
    Payload::Json(json!({"status": "offline", "timestamp": MASKED_TIMESTAMP}))
}

fn check(v: &mut Vec<String>, ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        v.push(what());
    }
}

fn connections(t: &Transcript, plan: &Plan, v: &mut Vec<String>) {
    let device = &plan.device_name;
    let connects = t.connects();
    check(v, connects.len() == 2, || {
        format!(
            "expected 2 connections (graceful, then killed), saw {}",
            connects.len()
        )
    });
    for (n, c) in connects {
        let ctx = |s: String| format!("connection #{n}: {s}");
        check(v, c.protocol_v4, || ctx("CONNECT is not MQTT 3.1.1".into()));
        check(v, c.client_id == format!("lua-{AGENT_ID}-{device}"), || {
            ctx(format!("client id {:?}", c.client_id))
        });
        check(
            v,
            c.username.as_deref() == Some(&format!("{AGENT_ID}:{device}")),
            || ctx(format!("username {:?}", c.username)),
        );
        check(v, c.password == Password::ExpectedKey, || {
            ctx(format!("password is {:?}, not the API key", c.password))
        });
        check(v, !c.clean_session, || {
            ctx("clean session must be false".into())
        });
        check(v, c.keep_alive == 60, || {
            ctx(format!("keep alive {}", c.keep_alive))
        });
        let will_ok = c.will.as_ref().is_some_and(|w| {
            w.topic == format!("{}status", t.prefix)
                && w.qos == 1
                && w.retain
                && w.payload == offline()
        });
        check(v, will_ok, || ctx(format!("last will {:?}", c.will)));
        opening(t, plan, n, v);
    }
    graceful_ending(t, v);
    let killed = t.connection(1);
    check(
        v,
        !killed.contains(&&Event::Disconnect) && killed.last() == Some(&&Event::Closed),
        || "connection #1 was killed: it must end without DISCONNECT".into(),
    );
}

/// Subscriptions, then the retained public status, then the registration of the manifest's
/// commands.
fn opening(t: &Transcript, plan: &Plan, n: usize, v: &mut Vec<String>) {
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
        let topic = format!("{}{suffix}", t.prefix);
        check(v, filters.contains(&(topic.clone(), 1)), || {
            format!(
                "connection #{n}: no QoS 1 subscription to {topic} before publishing: {filters:?}"
            )
        });
    }
    let pong = format!("{}pong", t.prefix);
    check(
        v,
        filters.len() == 5 + usize::from(filters.iter().any(|f| f.0 == pong)),
        || format!("connection #{n}: unexpected subscriptions {filters:?}"),
    );
    let status = format!("{}status", t.prefix);
    let publishes: Vec<&PublishRecord> = events[subscribe_end..]
        .iter()
        .filter_map(|e| match e {
            Event::Publish(p) => Some(p),
            _ => None,
        })
        .take(2)
        .collect();
    let mut public = json!({"status": "online", "timestamp": MASKED_TIMESTAMP});
    if let Some(group) = &plan.group {
        public["group"] = json!(group);
    }
    check(
        v,
        publishes.first().is_some_and(|p| {
            p.topic == status
                && p.qos == 1
                && p.retain
                && p.payload == Payload::Json(public.clone())
        }),
        || {
            format!("connection #{n}: first publish must be the retained online status {public}, got {:?}", publishes.first())
        },
    );
    let registration = json!({
        "status": "online", "apiKey": MASKED_API_KEY, "group": plan.group,
        "commands": plan.registration,
    });
    check(
        v,
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

/// SIGTERM: the retained offline status, then DISCONNECT, then the socket closes (heartbeats
/// and triggers the device fired on its own aside).
fn graceful_ending(t: &Transcript, v: &mut Vec<String>) {
    let heartbeat = format!("{}heartbeat", t.prefix);
    let trigger = format!("{}trigger", t.prefix);
    let tail: Vec<&Event> = t
        .connection(0)
        .into_iter()
        .filter(|e| !matches!(e, Event::Publish(p) if p.topic == heartbeat || p.topic == trigger))
        .rev()
        .take(3)
        .collect();
    let offline_status = Event::Publish(PublishRecord {
        topic: format!("{}status", t.prefix),
        qos: 1,
        retain: true,
        payload: offline(),
    });
    check(
        v,
        tail == [&Event::Closed, &Event::Disconnect, &offline_status],
        || {
            format!("connection #0 must end with the retained offline status, DISCONNECT, close; ended with {tail:?} (newest first)")
        },
    );
}

fn responses(t: &Transcript, plan: &Plan, v: &mut Vec<String>) {
    let planned = plan.all_ids();
    for id in &planned {
        let got = t.responses_to(id);
        let want = if plan.calls.iter().any(|c| &c.id == id) {
            2
        } else {
            1
        };
        check(v, got.len() == want, || {
            format!("{id}: want {want} response(s), got {got:?}")
        });
        for response in got {
            well_formed(plan, id, response, v);
        }
    }
    let unknown = t.responses_to(ids::UNKNOWN);
    let want = json!({"commandId": ids::UNKNOWN, "success": false,
                      "error": format!("Unknown command: {}", plan.unknown.command)});
    check(v, unknown.iter().all(|r| **r == want), || {
        format!("an unknown command must be answered {want}, got {unknown:?}")
    });
    for (n, p) in t.publishes_on("response") {
        check(v, p.qos == 1 && !p.retain, || {
            format!("#{n} response not QoS 1 unretained: {p:?}")
        });
        let id = p
            .payload
            .json()
            .and_then(|j| j["commandId"].as_str().map(str::to_string));
        check(
            v,
            id.as_ref().is_some_and(|id| planned.contains(id)),
            || format!("#{n} response to a command the session never sent: {p:?}"),
        );
    }
}

/// `{"commandId","success":true,"data"?}` with data valid against the outputSchema, or
/// `{"commandId","success":false,"error":"<non-empty>"}`.
fn well_formed(plan: &Plan, id: &str, response: &Value, v: &mut Vec<String>) {
    let Some(body) = response.as_object() else {
        v.push(format!("{id}: the response is not an object: {response}"));
        return;
    };
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    match body.get("success") {
        Some(Value::Bool(true)) => {
            check(
                v,
                keys.iter()
                    .all(|k| ["commandId", "success", "data"].contains(k)),
                || format!("{id}: a success carries only commandId and data: {response}"),
            );
            let schema = command_of(plan, &json!(id))
                .and_then(|c| plan.command(&c))
                .and_then(|c| c.output_schema.as_ref());
            if let (Some(schema), Some(data)) = (schema, body.get("data")) {
                match errors(schema, data) {
                    Ok(e) if e.is_empty() => {}
                    Ok(e) => v.push(format!("{id}: data {data} breaks the outputSchema: {e:?}")),
                    Err(e) => v.push(format!("{id}: outputSchema: {e}")),
                }
            }
        }
        Some(Value::Bool(false)) => {
            check(
                v,
                keys.iter()
                    .all(|k| ["commandId", "success", "error"].contains(k))
                    && body
                        .get("error")
                        .and_then(Value::as_str)
                        .is_some_and(|e| !e.is_empty()),
                || format!("{id}: a failure carries commandId and a non-empty error: {response}"),
            );
        }
        _ => v.push(format!("{id}: `success` is not a boolean: {response}")),
    }
}

fn triggers(t: &Transcript, plan: &Plan, v: &mut Vec<String>) {
    for (n, p) in t.publishes_on("trigger") {
        check(v, p.qos == 1 && !p.retain, || {
            format!("#{n} trigger not QoS 1 unretained: {p:?}")
        });
        let body = p.payload.json().cloned().unwrap_or(Value::Null);
        let name = body["triggerName"].as_str().unwrap_or_default();
        let Some(schema) = plan.triggers.get(name) else {
            v.push(format!(
                "#{n} trigger {} is not in the manifest",
                render_payload(&p.payload)
            ));
            continue;
        };
        let payload = &body["payload"];
        let valid = match schema {
            Some(schema) => errors(schema, payload).unwrap_or_else(|e| vec![e.to_string()]),
            None if *payload == json!({}) => Vec::new(),
            None => vec!["a trigger without payloadSchema sends {}".into()],
        };
        check(v, valid.is_empty() && payload.is_object(), || {
            format!("#{n} trigger {name} payload {payload}: {valid:?}")
        });
    }
}

fn secrets_and_heartbeats(t: &Transcript, v: &mut Vec<String>) {
    for e in t.device_events() {
        let retained = match &e.event {
            Event::Publish(p) if p.retain => Some(p),
            Event::Connect(c) => c.will.as_ref(),
            _ => None,
        };
        if let Some(p) = retained {
            check(
                v,
                !render_payload(&p.payload).contains(MASKED_API_KEY),
                || {
                    format!(
                        "#{} the API key is in a retained message on {}",
                        e.connection, p.topic
                    )
                },
            );
        }
    }
    for (n, p) in t.publishes_on("heartbeat") {
        check(
            v,
            p.qos == 0 && !p.retain && p.payload == Payload::Empty,
            || format!("#{n} heartbeat must be empty, QoS 0, not retained: {p:?}"),
        );
    }
}

fn will(t: &Transcript, v: &mut Vec<String>) {
    let Some(w) = &t.will else {
        v.push("the broker published no last will after SIGKILL".into());
        return;
    };
    check(
        v,
        w.delivered.topic == format!("{}status", t.prefix) && w.delivered.payload == offline(),
        || format!("the will delivered after SIGKILL is {:?}", w.delivered),
    );
    check(v, w.retained_afterwards == Some(offline()), || {
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
    use crate::recorder::Entry;

    fn plan() -> Plan {
        let manifest = json!({"name": "probe", "commands": [
            {"name": "read", "description": "r", "outputSchema": {"type": "object",
                "properties": {"t": {"type": "number"}, "note": {"type": "string"}},
                "required": ["t"]}}],
            "triggers": [{"name": "alert", "description": "a", "payloadSchema": {
                "type": "object", "properties": {"level": {"type": "integer"}},
                "required": ["level"]}}]});
        Plan::from_json(std::path::Path::new("probe.yaml"), &manifest).unwrap()
    }

    fn transcript(publishes: &[(&str, Value)]) -> Transcript {
        let prefix = format!("lua/devices/{AGENT_ID}/probe/");
        Transcript {
            device: "synthetic".into(),
            entries: publishes
                .iter()
                .map(|(suffix, body)| Entry {
                    at: Duration::ZERO,
                    connection: 0,
                    direction: Direction::DeviceToBroker,
                    event: Event::Publish(PublishRecord {
                        topic: format!("{prefix}{suffix}"),
                        qos: 1,
                        retain: false,
                        payload: Payload::Json(body.clone()),
                    }),
                })
                .collect(),
            prefix,
            observed: Vec::new(),
            will: None,
        }
    }

    #[test]
    fn readings_compare_by_shape_and_triggers_are_left_to_the_facts() {
        let plan = plan();
        let answer = |data: Value| {
            (
                "response",
                json!({"commandId": "cmd-run-read", "success": true, "data": data}),
            )
        };
        let a = transcript(&[answer(json!({"t": 0}))]);
        let b = transcript(&[
            (
                "trigger",
                json!({"triggerName": "alert", "payload": {"level": 3}}),
            ),
            answer(json!({"t": 21.5, "note": "warm"})),
        ]);
        let differences =
            crate::compare::differences(&comparable(&a, &plan), &comparable(&b, &plan));
        assert_eq!(differences, vec![]);
        let c = transcript(&[answer(json!({"t": "warm"}))]);
        let differences =
            crate::compare::differences(&comparable(&a, &plan), &comparable(&c, &plan));
        assert_eq!(differences.len(), 1, "{differences:?}");
    }

    #[test]
    fn bad_answers_and_triggers_are_violations() {
        let plan = plan();
        let t = transcript(&[
            ("trigger", json!({"triggerName": "nope", "payload": {}})),
            (
                "trigger",
                json!({"triggerName": "alert", "payload": {"level": "high"}}),
            ),
            (
                "response",
                json!({"commandId": "cmd-run-read", "success": true, "data": {}}),
            ),
            (
                "response",
                json!({"commandId": "cmd-run-read", "success": false}),
            ),
        ]);
        let v = violations(&t, &plan);
        for want in [
            "#0 trigger {\"payload\":{},\"triggerName\":\"nope\"} is not in the manifest",
            "#0 trigger alert payload",
            "cmd-run-read: data {} breaks the outputSchema",
            "cmd-run-read: a failure carries commandId and a non-empty error",
            "cmd-unknown: want 1 response(s), got []",
        ] {
            assert!(v.iter().any(|v| v.starts_with(want)), "{want}\n{v:#?}");
        }
    }
}
