//! What PROTOCOL.md requires of a manifest-derived session's transcript ([`crate::plan`]),
//! and the transcript two such devices are compared on.
//!
//! The facts of every session ([`crate::session_facts`]) with the identity and commands taken
//! from the plan, a device allowed to fire triggers of its own accord. Answers are judged by their
//! schema rather than their values, which belong to each device's handlers: a success carries
//! data valid against the outputSchema, an unknown command gets the protocol's error, every
//! planned id is answered (twice for the duplicated ones), and triggers the device fired on
//! its own name a manifest trigger and carry a valid payload.

use serde_json::{json, Value};

use crate::plan::{ids, Plan};
use crate::recorder::{Direction, Event, Payload};
use crate::schema_instance::{errors, shape};
use crate::session_facts::{
    connections, responses_published, secrets_and_heartbeats, will, Expectations, Violations,
};
use crate::transcript::{render_payload, Transcript};

/// Every way `t` departs from PROTOCOL.md under `plan`; empty when it conforms.
pub fn violations(t: &Transcript, plan: &Plan) -> Vec<String> {
    let e = Expectations {
        device_name: &plan.device_name,
        group: plan.group.as_deref(),
        commands: &plan.registration,
        unprompted_triggers: true,
    };
    let prefix = e.prefix();
    if t.prefix != prefix {
        return vec![format!(
            "the session ran on {} instead of {prefix}",
            t.prefix
        )];
    }
    let mut v = Violations::default();
    connections(t, &e, &mut v);
    responses(t, plan, &mut v);
    triggers(t, plan, &mut v);
    secrets_and_heartbeats(t, &mut v);
    will(t, &e, &mut v);
    v.0
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

fn responses(t: &Transcript, plan: &Plan, v: &mut Violations) {
    let planned = plan.all_ids();
    for id in &planned {
        let got = t.responses_to(id);
        let want = if plan.calls.iter().any(|c| &c.id == id) {
            2
        } else {
            1
        };
        v.check(got.len() == want, || {
            format!("{id}: want {want} response(s), got {got:?}")
        });
        for response in got {
            well_formed(plan, id, response, v);
        }
    }
    let unknown = t.responses_to(ids::UNKNOWN);
    let want = json!({"commandId": ids::UNKNOWN, "success": false,
                      "error": format!("Unknown command: {}", plan.unknown.command)});
    v.check(unknown.iter().all(|r| **r == want), || {
        format!("an unknown command must be answered {want}, got {unknown:?}")
    });
    responses_published(t, |id| planned.iter().any(|p| p == id), v);
}

/// `{"commandId","success":true,"data"?}` with data valid against the outputSchema, or
/// `{"commandId","success":false,"error":"<non-empty>"}`.
fn well_formed(plan: &Plan, id: &str, response: &Value, v: &mut Violations) {
    let Some(body) = response.as_object() else {
        v.push(format!("{id}: the response is not an object: {response}"));
        return;
    };
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    match body.get("success") {
        Some(Value::Bool(true)) => {
            v.check(
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
            v.check(
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

fn triggers(t: &Transcript, plan: &Plan, v: &mut Violations) {
    for (n, p) in t.publishes_on("trigger") {
        v.check(p.qos == 1 && !p.retain, || {
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
        v.check(valid.is_empty() && payload.is_object(), || {
            format!("#{n} trigger {name} payload {payload}: {valid:?}")
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::recorder::{Entry, PublishRecord};
    use crate::session::AGENT_ID;

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
