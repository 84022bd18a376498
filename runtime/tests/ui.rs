//! Compile errors of `#[lua_device]`, pinned: each names the command and shows the signature
//! the manifest expects, at the span the user must change.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
