//! The conformance session derived from a manifest (`lua_testkit::plan`), on the examples:
//! the greenhouse (`#[lua_device]`) and the label printer (`luagen::Builder` in build.rs) run
//! it, the official CPython client runs it on the same manifest as the reference, and the two
//! transcripts must agree at the protocol level (answers compared by shape, not by reading).

use lua_testkit::conformance::{assert_plan_indistinguishable, names_field_in_error};
use lua_testkit::deps::workspace_root;
use lua_testkit::device::DeviceLauncher;
use lua_testkit::fixtures::{self, Profile};
use lua_testkit::plan::Plan;
use lua_testkit::session;
use lua_testkit::transcript::Transcript;
use serde_json::json;

fn plan(manifest: &str) -> Plan {
    let path = workspace_root().join("manifests").join(manifest);
    Plan::from_manifest(&path).unwrap_or_else(|e| panic!("{e:?}"))
}

fn run(launcher: &DeviceLauncher, plan: &Plan) -> Transcript {
    session::run_plan(launcher, plan).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Run `plan` on `example` and on the official client; they must be indistinguishable, and
/// the example must refuse the invalid payload naming the field, which the official client
/// hands to its handler.
fn assert_example_passes(example: &DeviceLauncher, plan: &Plan) {
    let candidate = run(example, plan);
    let official = run(
        &fixtures::official_generic_device(plan).expect("official client venv"),
        plan,
    );
    assert_plan_indistinguishable(&official, &candidate, plan);
    let invalid = plan
        .invalid
        .as_ref()
        .expect("the manifest has a typed required field");
    assert!(
        names_field_in_error(&candidate, plan),
        "{} must refuse {} naming `{}`:\n{}",
        candidate.device,
        invalid.call.payload,
        invalid.field,
        candidate.render()
    );
    assert_eq!(
        official.responses_to(&invalid.call.id)[0]["success"],
        true,
        "the official client checks no payload: its handler ran"
    );
}

#[test]
fn the_greenhouse_passes_the_session_of_its_manifest() {
    let plan = plan("greenhouse-sensor.yaml");
    let example = fixtures::example_device("greenhouse", "greenhouse", Profile::Dev)
        .expect("building the greenhouse example");
    assert_example_passes(&example, &plan);
}

#[test]
fn the_label_printer_passes_the_session_of_its_manifest() {
    let plan = plan("label-printer.yaml");
    // cancel_job succeeds only for a queued job: the printer names its jobs
    // `job-{n}-{tracking}`, and the plan prints one label (job 1) before cancelling.
    let tracking = plan.calls[0].payload["labelData"]["tracking"]
        .as_str()
        .expect("print_label is planned first")
        .to_string();
    let plan = plan
        .with_payload(
            "cancel_job",
            json!({ "jobId": format!("job-1-{tracking}") }),
        )
        .unwrap();
    let example = fixtures::example_device("label-printer", "label-printer", Profile::Dev)
        .expect("building the label-printer example");
    assert_example_passes(&example, &plan);
}

/// The typed conformance fixture under the plan of its own manifest: `fire_trigger` fires a
/// trigger from its handler, so the duplicate check sees a real effect (it must not repeat),
/// and the fixture's `fail` handler answers with its own error, which a plan accepts as a
/// well-formed failure. Its answers are not the generic reference's, so only the protocol
/// facts are asserted here; `tests/conformance.rs` holds this fixture to the official client.
#[test]
fn a_handler_effect_shows_once_although_its_command_is_sent_twice() {
    let plan = plan("conformance-device.yaml");
    let typed = fixtures::typed_device(Profile::Dev).expect("building conformance-typed");
    let t = run(&typed, &plan);
    lua_testkit::conformance::assert_plan_conforms(&t, &plan);
    assert_eq!(t.publishes_on("trigger").len(), 1, "{}", t.render());
    let fired = t.responses_to("cmd-run-fire_trigger");
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[0], fired[1]);
    assert_eq!(fired[0]["data"]["triggerId"], "trig-auto-1");
}

/// The comparison can fail: a reference whose answer has another shape (a string where the
/// schema wants a number) breaks the outputSchema and differs from a good device.
#[test]
fn an_answer_of_another_shape_is_told_apart() {
    let plan = plan("greenhouse-sensor.yaml");
    let good = run(
        &fixtures::official_generic_device(&plan).expect("official client venv"),
        &plan,
    );
    let mut wrong = plan.clone();
    let output = wrong.commands[0].reference_output.as_mut().unwrap();
    output["temperature"] = json!("warm");
    let bad = run(
        &fixtures::official_generic_device(&wrong).expect("official client venv"),
        &plan,
    );
    let broken = lua_testkit::plan_facts::violations(&bad, &plan);
    assert!(
        broken
            .iter()
            .any(|v| v.starts_with("cmd-run-read_environment: data")),
        "{broken:?}"
    );
    let differences = lua_testkit::compare::differences(
        &lua_testkit::plan_facts::comparable(&good, &plan),
        &lua_testkit::plan_facts::comparable(&bad, &plan),
    );
    let facts: Vec<&str> = differences.iter().map(|d| d.fact.as_str()).collect();
    assert!(
        facts.contains(&"#0 response cmd-run-read_environment [0]"),
        "{facts:?}"
    );
}

/// Every manifest in the repository: the session derived from it runs on the official client
/// and the transcript meets PROTOCOL.md under the plan, so the plan asks nothing of a device
/// that the reference itself does not do.
#[test]
fn the_official_client_meets_the_session_of_every_repository_manifest() {
    let mut manifests: Vec<_> = std::fs::read_dir(workspace_root().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 5, "{manifests:?}");
    for path in manifests {
        let plan = Plan::from_manifest(&path).unwrap_or_else(|e| panic!("{e:?}"));
        let official = run(
            &fixtures::official_generic_device(&plan).expect("official client venv"),
            &plan,
        );
        lua_testkit::conformance::assert_plan_conforms(&official, &plan);
    }
}

/// `luagen mock` of every repository manifest runs the session of that manifest as a device
/// does: indistinguishable from the official client's transcript, and refusing the invalid
/// payload naming its field (the mock checks inputs as generated devices do).
#[test]
fn luagen_mock_passes_the_session_of_every_repository_manifest() {
    let luagen = lua_testkit::micropython::luagen().expect("building luagen");
    let mut manifests: Vec<_> = std::fs::read_dir(workspace_root().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 5);
    for manifest in manifests {
        let plan = Plan::from_manifest(&manifest).unwrap_or_else(|e| panic!("{e:?}"));
        let mock = DeviceLauncher::new(
            "luagen mock",
            &luagen,
            &["mock", manifest.to_str().unwrap(), "--latency", "5..40"],
        );
        if plan.invalid.is_some() {
            assert_example_passes(&mock, &plan);
        } else {
            let official = run(
                &fixtures::official_generic_device(&plan).expect("official client venv"),
                &plan,
            );
            assert_plan_indistinguishable(&official, &run(&mock, &plan), &plan);
        }
    }
}
