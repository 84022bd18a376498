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
