//! The agent reads one message for one condition, whichever target answered: the MicroPython
//! runtime (a template luagen copies into every project) words its errors as this crate does.

use lua_device::CommandError;

fn micropython(file: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../templates/micropython/");
    std::fs::read_to_string(format!("{path}{file}")).unwrap()
}

#[test]
fn already_ran_is_worded_alike() {
    let line = format!("ALREADY_RAN = {:?}", lua_device::ledger::ALREADY_RAN);
    assert!(micropython("lua_runtime.py").contains(&line), "{line}");
}

#[test]
fn too_large_is_worded_alike() {
    // The MicroPython side builds it from pieces; rebuild the same sentence from them.
    let rust = CommandError::too_large(3_000_000, 24_288).to_string();
    assert_eq!(
        rust,
        "Command too large: 3000000 bytes; this device accepts at most 24288 bytes"
    );
    let source = micropython("lua_oversize.py");
    for piece in [
        "\"Command too large: \"",
        "\" bytes; this device \"",
        "\"accepts \"",
        "\"at most \"",
    ] {
        assert!(source.contains(piece), "lua_oversize.py lacks {piece}");
    }
}
