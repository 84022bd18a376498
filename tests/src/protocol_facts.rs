//! What PROTOCOL.md requires of a transcript of the fixed conformance session
//! (`manifests/conformance-device.yaml`, [`crate::session::run`]), checked fact by fact: the
//! facts of every session ([`crate::session_facts`]) with this manifest's identity and
//! registration, and the exact answers and the one trigger its known handlers give.
//!
//! Every implementation's transcript must pass these, the official client's included: that is
//! how the recorder and the session are themselves checked.

use serde_json::{json, Value};

use crate::recorder::Payload;
use crate::session::{echo_payload, ids, DEVICE_NAME, TRIGGER_ID};
use crate::session_facts::{
    connections, responses_published, secrets_and_heartbeats, will, Expectations, Violations,
};
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
    let commands = expected_registration_commands();
    let e = Expectations {
        device_name: DEVICE_NAME,
        group: Some("conformance"),
        commands: &commands,
        unprompted_triggers: false,
    };
    let mut v = Violations::default();
    connections(t, &e, &mut v);
    responses(t, &mut v);
    trigger(t, &mut v);
    secrets_and_heartbeats(t, &mut v);
    will(t, &e, &mut v);
    v.0
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
    let sent: Vec<&str> = expected
        .iter()
        .map(|(id, _)| *id)
        .chain([ids::INVALID_PAYLOAD])
        .collect();
    responses_published(t, |id| sent.contains(&id), v);
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
