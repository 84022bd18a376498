//! The verdicts of the conformance suites, shared by every target: a transcript meets
//! PROTOCOL.md, and it differs from the official client's only by PROTOCOL.md's improvements.

use crate::compare::{differences, Difference};
use crate::plan::Plan;
use crate::protocol_facts::violations;
use crate::transcript::{side_by_side, Transcript};

/// Panic with the broken PROTOCOL.md facts and the transcript, if there are any.
pub fn assert_conforms(t: &Transcript) {
    let v = violations(t);
    assert!(
        v.is_empty(),
        "{} breaks PROTOCOL.md:\n  - {}\n\n{}",
        t.device,
        v.join("\n  - "),
        t.render()
    );
}

/// Whether `d` is one of the differences PROTOCOL.md asks for. `invalid_payload_error` is
/// text the candidate's error for the session's invalid payload (`slow {"ms":"fast"}`) must
/// contain: each suite pins its own target's wording.
pub fn is_improvement(d: &Difference, invalid_payload_error: &str) -> bool {
    match d.fact.as_str() {
        // PROTOCOL.md, "do better": generated devices check the payload against inputSchema
        // before the handler runs, with an error naming the field and the rule. The official
        // client runs the handler, which fails on its own terms: only the error text may
        // differ; still one response, still success:false.
        "#0 response cmd-invalid-payload [0]" => {
            let failed = |v: &Option<String>| {
                v.as_deref()
                    .is_some_and(|s| s.contains(r#""success":false"#))
            };
            failed(&d.reference)
                && failed(&d.candidate)
                && d.candidate
                    .as_deref()
                    .is_some_and(|s| s.contains(invalid_payload_error))
        }
        // Not in the "do better" list but sanctioned by PROTOCOL.md step 1 and the transport
        // page's topic table: a device may also subscribe to `{prefix}pong` at QoS 0, as the
        // official MicroPython client does. Exactly that one extra filter, after the five.
        "#0 subscriptions" | "#1 subscriptions" => match (&d.reference, &d.candidate) {
            (Some(reference), Some(candidate)) => *candidate == format!("{reference} pong@q0"),
            _ => false,
        },
        _ => false,
    }
}

/// Both transcripts meet PROTOCOL.md, and `candidate` differs from the official client's
/// only by [`is_improvement`]s; otherwise panic with both side by side.
pub fn assert_indistinguishable(
    official: &Transcript,
    candidate: &Transcript,
    invalid_payload_error: &str,
) {
    assert_conforms(official);
    assert_conforms(candidate);
    let unexplained: Vec<Difference> = differences(official, candidate)
        .into_iter()
        .filter(|d| !is_improvement(d, invalid_payload_error))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} differs from the official client beyond PROTOCOL.md's improvements:\n{}\n\n{}",
        candidate.device,
        unexplained
            .iter()
            .map(|d| format!("  - {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        side_by_side(official, candidate)
    );
}

/// [`assert_conforms`] for a manifest-derived session ([`crate::plan`]).
pub fn assert_plan_conforms(t: &Transcript, plan: &Plan) {
    let v = crate::plan_facts::violations(t, plan);
    assert!(
        v.is_empty(),
        "{} breaks PROTOCOL.md in the session of {}:\n  - {}\n\n{}",
        t.device,
        plan.manifest.display(),
        v.join("\n  - "),
        t.render()
    );
}

/// [`is_improvement`] for a manifest-derived session: the plan's invalid payload may be
/// refused before the handler runs (one response, `success:false`, the error naming the field
/// whose type was broken) where the official client runs the handler; and the same extra
/// `pong` subscription.
pub fn is_plan_improvement(
    d: &Difference,
    plan: &Plan,
    official: &Transcript,
    candidate: &Transcript,
) -> bool {
    if let Some(invalid) = &plan.invalid {
        if d.fact == format!("#0 response {} [0]", invalid.call.id) {
            let reference = official.responses_to(&invalid.call.id);
            return reference.len() == 1 && names_field_in_error(candidate, plan);
        }
    }
    matches!(d.fact.as_str(), "#0 subscriptions" | "#1 subscriptions") && is_improvement(d, "")
}

/// Whether `t` answered the plan's invalid payload once, with an error naming the field.
pub fn names_field_in_error(t: &Transcript, plan: &Plan) -> bool {
    let Some(invalid) = &plan.invalid else {
        return false;
    };
    let answers = t.responses_to(&invalid.call.id);
    answers.len() == 1
        && answers[0]["success"] == false
        && answers[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains(&invalid.field))
}

/// Both transcripts of `plan`'s session meet PROTOCOL.md, and compared as
/// [`crate::plan_facts::comparable`] (answers by shape, triggers checked on their own) the
/// candidate differs from the official client only by [`is_plan_improvement`]s.
pub fn assert_plan_indistinguishable(official: &Transcript, candidate: &Transcript, plan: &Plan) {
    assert_plan_conforms(official, plan);
    assert_plan_conforms(candidate, plan);
    let a = crate::plan_facts::comparable(official, plan);
    let b = crate::plan_facts::comparable(candidate, plan);
    let unexplained: Vec<Difference> = differences(&a, &b)
        .into_iter()
        .filter(|d| !is_plan_improvement(d, plan, official, candidate))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} differs from the official client on {} beyond PROTOCOL.md's improvements:\n{}\n\n{}",
        candidate.device,
        plan.manifest.display(),
        unexplained
            .iter()
            .map(|d| format!("  - {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        side_by_side(&a, &b)
    );
}
