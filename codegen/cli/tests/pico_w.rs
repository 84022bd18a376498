//! `luagen firmware --target pico-w` end to end: files written, handlers kept, exit codes.

use std::path::Path;
use std::process::Command;

fn luagen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_luagen"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

#[test]
fn writes_the_project_and_keeps_handlers() {
    let out = std::env::temp_dir().join(format!("luagen-cli-picow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let dir = out.to_str().unwrap();
    let args = [
        "firmware",
        "--target",
        "pico-w",
        "manifests/greenhouse-sensor.yaml",
        "-o",
        dir,
    ];
    let first = luagen(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for file in [
        "Cargo.toml",
        "memory.x",
        "build.rs",
        ".cargo/config.toml",
        ".env.example",
        ".gitignore",
        "README.md",
        "src/main.rs",
        "src/handlers.rs",
        "src/payloads.rs",
        "lua-device/src/mqtt/codec.rs",
    ] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    std::fs::write(out.join("src/handlers.rs"), "// mine").unwrap();
    let second = luagen(&args);
    assert!(String::from_utf8_lossy(&second.stdout).contains("kept  "));
    assert_eq!(
        std::fs::read_to_string(out.join("src/handlers.rs")).unwrap(),
        "// mine"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_bad_manifest_is_an_error() {
    let out = luagen(&[
        "firmware",
        "--target",
        "pico-w",
        "no/such/device.yaml",
        "-o",
        "/tmp/x",
    ]);
    assert!(!out.status.success());
}
