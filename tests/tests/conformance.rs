//! The wire conformance suite: the official CPython client and the Rust runtime run the same
//! scripted gateway session; both must meet PROTOCOL.md, and the Rust device must be
//! indistinguishable from the official one except for the improvements PROTOCOL.md lists.

use lua_testkit::conformance::{assert_conforms, assert_indistinguishable};
use lua_testkit::fixtures::{self, Profile};
use lua_testkit::session::{self, ids};
use lua_testkit::transcript::Transcript;

fn run(launcher: &lua_testkit::device::DeviceLauncher) -> Transcript {
    session::run(launcher).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_official_client_meets_the_protocol_as_recorded() {
    let official = run(&fixtures::official_device().expect("official client venv"));
    // Visible with --nocapture: the reference transcript other implementations are held to.
    eprintln!("{}", official.render());
    assert_conforms(&official);
    // The harness must see the session's edge cases, or it proves nothing.
    assert_eq!(official.responses_to(ids::COUNT_FIRST).len(), 2);
    assert!(official.will.is_some());
}

/// Run the session on `candidate` and on the official client and compare them. The Rust
/// devices' errors for the invalid payload must name the field `ms`.
fn assert_indistinguishable_from_official(candidate: &lua_testkit::device::DeviceLauncher) {
    let rust = run(candidate);
    let official = run(&fixtures::official_device().expect("official client venv"));
    assert_indistinguishable(&official, &rust, "ms: must be");
}

#[test]
fn the_rust_runtime_is_indistinguishable_from_the_official_client() {
    let launcher = fixtures::rust_device(Profile::Dev).expect("building conformance-device");
    assert_indistinguishable_from_official(&launcher);
}

#[test]
fn a_typed_lua_device_is_indistinguishable_from_the_official_client() {
    let launcher = fixtures::typed_device(Profile::Dev).expect("building conformance-typed");
    assert_indistinguishable_from_official(&launcher);
}

#[test]
fn a_device_that_skips_registration_fails_the_session() {
    // The raw echo answers commands but never publishes a status: the harness must notice.
    let raw = fixtures::raw_echo_device(Profile::Dev).expect("building raw-echo");
    let err = session::run(&raw).expect_err("raw-echo must not pass the session");
    let message = format!("{err:?}");
    assert!(message.contains("the public online status"), "{message}");
    assert!(message.contains("transcript so far"), "{message}");
}

/// What JSON allows but no device value holds, and too deep a payload, are answered naming the
/// field by both Rust devices (the std runtime, dynamic and generated), with the same text as
/// the Pico W core (`lua-device`'s `mqtt_broker` test): the official client stays silent.
#[test]
fn rust_devices_answer_values_no_device_can_hold() {
    use lua_testkit::device::DeviceEnv;
    use lua_testkit::gateway::Gateway;
    use lua_testkit::Mosquitto;
    use serde_json::json;

    let float = "is a number beyond the range of a 64-bit float (about ±1.8e308)";
    let surrogate = r"has a lone UTF-16 surrogate escape (\ud800-\udfff), not a character";
    let deep = "payload: nests arrays and objects deeper than a command may (64 levels, the \
                command's own object included)";
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    let cases = [
        (
            "u1",
            r#"{"commandId":"u1","command":"echo","payload":{"x":1e400}}"#.to_string(),
            format!("x: {float}"),
        ),
        (
            "u2",
            r#"{"commandId":"u2","command":"echo","payload":{"label":"\ud800"}}"#.into(),
            format!("label: {surrogate}"),
        ),
        (
            "u3",
            format!(
                r#"{{"commandId":"u3","command":"echo","payload":{{"a":{}}}}}"#,
                nested(99)
            ),
            deep.into(),
        ),
        (
            "u4",
            r#"{"commandId":"u4","command":"slow","payload":{"ms":1e400}}"#.into(),
            format!("ms: {float}"),
        ),
    ];
    let launchers = [
        fixtures::rust_device(Profile::Dev).expect("building conformance-device"),
        fixtures::typed_device(Profile::Dev).expect("building conformance-typed"),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for launcher in launchers {
        let broker = Mosquitto::start().unwrap();
        let mut device = launcher
            .spawn(&DeviceEnv {
                agent_id: session::AGENT_ID.into(),
                api_key: session::API_KEY.into(),
                mqtt_url: broker.url(),
                manifest: Some(session::fixture_manifest()),
            })
            .unwrap();
        device.wait_ready(session::STEP_TIMEOUT).unwrap();
        runtime.block_on(async {
            let prefix = session::prefix();
            let mut gw = Gateway::connect(broker.port(), "gw", &[format!("{prefix}#")])
                .await
                .unwrap();
            for (id, command, error) in &cases {
                gw.publish(&format!("{prefix}command"), command.clone())
                    .await
                    .unwrap();
                let response = gw
                    .expect("response", session::STEP_TIMEOUT, |d| {
                        d.topic.ends_with("/response") && d.json()["commandId"] == *id
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{}: no answer to {id}: {e:?}", launcher.name));
                assert_eq!(
                    response.json(),
                    json!({"commandId": id, "success": false, "error": error}),
                    "{}",
                    launcher.name
                );
            }
        });
        device.terminate(session::STEP_TIMEOUT).unwrap();
    }
}
