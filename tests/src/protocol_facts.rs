//! What PROTOCOL.md requires of any device's session transcript, checked fact by fact.
//!
//! Every implementation's transcript must pass these, the official client's included: that is
//! how the recorder and the session are themselves checked.

use serde_json::{json, Value};

use crate::recorder::{Event, Password, Payload, PublishRecord, MASKED_API_KEY, MASKED_TIMESTAMP};
use crate::session::{echo_payload, ids, prefix, AGENT_ID, DEVICE_NAME, TRIGGER_ID};
use crate::transcript::Transcript;

/// The registration's `commands` for `manifests/conformance-device.yaml`: `outputSchema` is
/// not sent, `timeoutMs` only when it is not 30000, `retry` in camelCase.
pub fn expected_registration_commands() -> Value {
    json!([
        {"name": "echo", "description": "Return the payload unchanged",
         "inputSchema": {"type": "object"}},
        {"name": "fail", "description": "Always fail with the message \"deliberate failure\""},
        {"name": "count", "description": "Count how many times this handler has run"},
        {"name": "no_output", "description": "Succeed without returning data"},
        {"name": "fire_trigger",
         "description": "Fire the alert trigger and return the gateway's acknowledgement",
         "inputSchema": {"type": "object",
                         "properties": {"level": {"type": "string", "enum": ["low", "high"]}},
                         "required": ["level"]}},
        {"name": "slow", "description": "Sleep for the given number of milliseconds, then answer",
         "inputSchema": {"type": "object",
                         "properties": {"ms": {"type": "integer", "minimum": 0, "maximum": 60000}},
                         "required": ["ms"]},
         "timeoutMs": 65000, "retry": {"maxAttempts": 2, "backoffMs": 500}}
    ])
}

/// Every way `t` departs from PROTOCOL.md; empty when it conforms.
pub fn violations(t: &Transcript) -> Vec<String> {
    let mut v = Violations(Vec::new());
    connections(t, &mut v);
    responses(t, &mut v);
    trigger(t, &mut v);
    secrets_and_heartbeats(t, &mut v);
    will(t, &mut v);
    v.0
}

struct Violations(Vec<String>);

impl Violations {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

fn offline() -> Payload {
    Payload::Json(json!({"status": "offline", "timestamp": MASKED_TIMESTAMP}))
}

fn connections(t: &Transcript, v: &mut Violations) {
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
        v.check(
            c.client_id == format!("lua-{AGENT_ID}-{DEVICE_NAME}"),
            || ctx(&format!("client id {:?}", c.client_id)),
        );
        v.check(
            c.username.as_deref() == Some(&format!("{AGENT_ID}:{DEVICE_NAME}")),
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
            w.topic == format!("{}status", prefix())
                && w.qos == 1
                && w.retain
                && w.payload == offline()
        });
        v.check(will_ok, || ctx(&format!("last will {:?}", c.will)));
        opening(t, n, v);
    }
    graceful_ending(t, v);
    let killed = t.connection(1);
    v.check(
        !killed.contains(&&Event::Disconnect) && killed.last() == Some(&&Event::Closed),
        || "connection #1 was killed: it must end without DISCONNECT".into(),
    );
}

/// Subscriptions, then the retained public status, then the registration.
fn opening(t: &Transcript, n: usize, v: &mut Violations) {
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
        let topic = format!("{}{suffix}", prefix());
        v.check(filters.contains(&(topic.clone(), 1)), || {
            format!(
                "connection #{n}: no QoS 1 subscription to {topic} before publishing: {filters:?}"
            )
        });
    }
    let allowed_extra = format!("{}pong", prefix());
    v.check(
        filters.len() == 5 + usize::from(filters.iter().any(|f| f.0 == allowed_extra)),
        || format!("connection #{n}: unexpected subscriptions {filters:?}"),
    );
    let status = format!("{}status", prefix());
    let publishes: Vec<&PublishRecord> = events[subscribe_end..]
        .iter()
        .filter_map(|e| match e {
            Event::Publish(p) => Some(p),
            _ => None,
        })
        .take(2)
        .collect();
    let public = json!({"status": "online", "timestamp": MASKED_TIMESTAMP, "group": "conformance"});
    v.check(
        publishes.first().is_some_and(|p| {
            p.topic == status && p.qos == 1 && p.retain && p.payload == Payload::Json(public.clone())
        }),
        || format!("connection #{n}: first publish must be the retained online status {public}, got {:?}", publishes.first()),
    );
    let registration = json!({
        "status": "online", "apiKey": MASKED_API_KEY, "group": "conformance",
        "commands": expected_registration_commands(),
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

/// SIGTERM: the retained offline status, then DISCONNECT, then the socket closes.
fn graceful_ending(t: &Transcript, v: &mut Violations) {
    let events = t.connection(0);
    let heartbeat = format!("{}heartbeat", prefix());
    let tail: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| !matches!(e, Event::Publish(p) if p.topic == heartbeat))
        .rev()
        .take(3)
        .collect();
    let offline_status = Event::Publish(PublishRecord {
        topic: format!("{}status", prefix()),
        qos: 1,
        retain: true,
        payload: offline(),
    });
    v.check(
        tail == [&Event::Closed, &Event::Disconnect, &offline_status],
        || format!("connection #0 must end with the retained offline status, DISCONNECT, close; ended with {tail:?} (newest first)"),
    );
}

fn responses(t: &Transcript, v: &mut Violations) {
    let ok = |id: &str, data: Value| json!({"commandId": id, "success": true, "data": data});
    let err = |id: &str, e: &str| json!({"commandId": id, "success": false, "error": e});
    let expected: Vec<(&str, Vec<Value>)> = vec![
        (ids::ECHO, vec![ok(ids::ECHO, echo_payload())]),
        // The duplicate gets the cached response again, and the handler ran once.
        (
            ids::COUNT_FIRST,
            vec![ok(ids::COUNT_FIRST, json!({"count": 1})); 2],
        ),
        (
            ids::COUNT_SECOND,
            vec![ok(ids::COUNT_SECOND, json!({"count": 2}))],
        ),
        (ids::FAIL, vec![err(ids::FAIL, "deliberate failure")]),
        (
            ids::NO_OUTPUT,
            vec![json!({"commandId": ids::NO_OUTPUT, "success": true})],
        ),
        (
            ids::UNKNOWN,
            vec![err(ids::UNKNOWN, "Unknown command: does_not_exist")],
        ),
        (
            ids::TRIGGER,
            vec![ok(
                ids::TRIGGER,
                json!({"triggerId": TRIGGER_ID, "received": true}),
            )],
        ),
        (
            ids::AFTER_ERROR,
            vec![ok(ids::AFTER_ERROR, json!({"after": "error"}))],
        ),
        (
            ids::AFTER_CONNECTED,
            vec![ok(ids::AFTER_CONNECTED, json!({"after": "connected"}))],
        ),
        (
            ids::AFTER_GARBAGE,
            vec![ok(ids::AFTER_GARBAGE, json!({"after": "garbage"}))],
        ),
        (ids::SLOW, vec![ok(ids::SLOW, json!({"slept": 300}))]),
        (ids::FAST, vec![ok(ids::FAST, json!({"slept": 0}))]),
        (
            ids::CONCURRENT_ECHO,
            vec![ok(ids::CONCURRENT_ECHO, json!({"concurrent": true}))],
        ),
    ];
    for (id, want) in &expected {
        let got: Vec<Value> = t.responses_to(id).into_iter().cloned().collect();
        v.check(&got == want, || {
            format!("responses to {id}: want {want:?}, got {got:?}")
        });
    }
    let invalid = t.responses_to(ids::INVALID_PAYLOAD);
    v.check(
        invalid.len() == 1 && invalid[0]["success"] == false && invalid[0]["error"].is_string(),
        || format!("an invalid payload must get one error response, got {invalid:?}"),
    );
    for (n, p) in t.publishes_on("response") {
        v.check(p.qos == 1 && !p.retain, || {
            format!("#{n} response not QoS 1 unretained: {p:?}")
        });
        let id = p.payload.json().map(|j| j["commandId"].clone());
        let known = expected
            .iter()
            .map(|(id, _)| *id)
            .chain([ids::INVALID_PAYLOAD]);
        let known: Vec<&str> = known.collect();
        v.check(
            id.as_ref()
                .and_then(Value::as_str)
                .is_some_and(|id| known.contains(&id)),
            || format!("#{n} response to a command the session never sent: {p:?}"),
        );
    }
}

fn trigger(t: &Transcript, v: &mut Violations) {
    let triggers = t.publishes_on("trigger");
    let want = Payload::Json(json!({"triggerName": "alert", "payload": {"level": "high"}}));
    v.check(
        triggers.len() == 1
            && triggers[0].1.qos == 1
            && !triggers[0].1.retain
            && triggers[0].1.payload == want,
        || format!("expected one QoS 1 trigger {want:?}, got {triggers:?}"),
    );
}

fn secrets_and_heartbeats(t: &Transcript, v: &mut Violations) {
    for e in t.device_events() {
        let retained = match &e.event {
            Event::Publish(p) if p.retain => Some(p),
            Event::Connect(c) => c.will.as_ref(),
            _ => None,
        };
        if let Some(p) = retained {
            let text = crate::transcript::render_payload(&p.payload);
            v.check(!text.contains(MASKED_API_KEY), || {
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

fn will(t: &Transcript, v: &mut Violations) {
    let Some(w) = &t.will else {
        v.0.push("the broker published no last will after SIGKILL".into());
        return;
    };
    v.check(
        w.delivered.topic == format!("{}status", prefix()) && w.delivered.payload == offline(),
        || format!("the will delivered after SIGKILL is {:?}", w.delivered),
    );
    v.check(w.retained_afterwards == Some(offline()), || {
        format!(
            "after SIGKILL the retained status is {:?}",
            w.retained_afterwards
        )
    });
}
