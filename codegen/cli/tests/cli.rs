//! The `luagen` binary as a user runs it: output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn luagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_luagen"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the luagen binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_one_ok_line_per_valid_manifest() {
    let out = luagen(&[
        "check",
        "manifests/greenhouse-sensor.yaml",
        "manifests/label-printer.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("manifests/greenhouse-sensor.yaml: ok"));
    assert!(lines[1].starts_with("manifests/label-printer.yaml: ok"));
    assert!(out.stderr.is_empty());
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let out = luagen(&[
        "check",
        "manifests/greenhouse-sensor.yaml",
        "codegen/core/tests/corpus/invalid/unknown-keys.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    insta::assert_snapshot!(stderr);
    assert!(text(&out.stdout).contains("greenhouse-sensor.yaml: ok"));
}

#[test]
fn unreadable_files_and_bad_usage_exit_2() {
    let out = luagen(&["check", "no/such/device.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/device.yaml: cannot read"));

    let out = luagen(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let out = luagen(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_prints_the_committed_manifest_schema() {
    let out = luagen(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("manifests/device.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

#[test]
fn tools_lists_what_the_agent_sees() {
    let out = luagen(&["tools", "manifests/greenhouse-sensor.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!(tools);
}
