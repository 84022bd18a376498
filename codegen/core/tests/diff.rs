//! `luagen::diff`: one pair of manifests per rule under `tests/diff/<rule>/`, each beside the
//! exact findings it must give (`expected.txt`: severity, who it breaks, kind, location and
//! position, one line each, most severe first).
//!
//! `LUAGEN_BLESS=1 cargo test -p luagen --test diff` rewrites the expected files; review
//! them like code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use luagen::diff::{diff, Finding, Kind, Party, Report};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff")
}

fn load(path: &Path) -> luagen::Device {
    let text = std::fs::read_to_string(path).expect("corpus files are readable");
    // Named by the file's name only, so positions read the same on every machine.
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    luagen::load_str(name, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pair(rule: &str) -> Report {
    let dir = corpus().join(rule);
    diff(&load(&dir.join("old.yaml")), &load(&dir.join("new.yaml")))
}

/// `breaking [agents] bound-tightened commands/x/inputSchema/properties/level/maximum @new.yaml:5:9`
fn line(f: &Finding) -> String {
    let breaks: Vec<&str> = f
        .breaks
        .iter()
        .map(|p| match p {
            Party::Agents => "agents",
            Party::Devices => "devices",
        })
        .collect();
    let at = f.at.as_ref().map_or("-".to_string(), |p| p.to_string());
    format!(
        "{} [{}] {} {} @{at}",
        f.severity.name(),
        breaks.join(","),
        f.kind.name(),
        f.location
    )
}

fn rules() -> Vec<String> {
    let mut rules: Vec<String> = std::fs::read_dir(corpus())
        .expect("tests/diff exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    rules.sort();
    rules
}

#[test]
fn every_pair_gives_exactly_its_expected_findings() {
    let bless = std::env::var_os("LUAGEN_BLESS").is_some();
    let mut problems = Vec::new();
    for rule in rules() {
        let report = pair(&rule);
        let actual: String = report.findings.iter().map(|f| line(f) + "\n").collect();
        let path = corpus().join(&rule).join("expected.txt");
        if bless {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            problems.push(format!(
                "{rule}:\n--- expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_kind_has_its_own_pair_that_reports_it() {
    let mut seen = BTreeSet::new();
    for rule in rules() {
        let kinds: BTreeSet<Kind> = pair(&rule).findings.iter().map(|f| f.kind).collect();
        if let Some(kind) = Kind::ALL.iter().find(|k| k.name() == rule) {
            assert!(kinds.contains(kind), "{rule}: no {rule} finding: {kinds:?}");
        }
        seen.extend(kinds);
    }
    let named: BTreeSet<String> = rules().into_iter().collect();
    for kind in Kind::ALL {
        assert!(
            named.contains(&kind.name()),
            "no tests/diff/{}/",
            kind.name()
        );
        assert!(seen.contains(&kind), "{} is never reported", kind.name());
    }
}

#[test]
fn a_schema_moved_into_definitions_is_no_change() {
    assert_eq!(pair("moved-into-definitions").findings, vec![]);
}

#[test]
fn a_change_in_a_recursive_definition_is_reported_once_where_it_is_written() {
    let report = pair("recursive-definition");
    let lines: Vec<String> = report.findings.iter().map(line).collect();
    assert_eq!(
        lines,
        ["breaking [agents] bound-tightened commands/set_tree/inputSchema/properties/tree/properties/label/maxLength @new.yaml:7:30"]
    );
}

#[test]
fn swapping_old_and_new_turns_each_narrowing_into_a_widening() {
    // The same bound, read the other way: tightened becomes loosened and the breaking side
    // moves from agents to devices.
    let dir = corpus().join("bound-tightened");
    let (old, new) = (load(&dir.join("old.yaml")), load(&dir.join("new.yaml")));
    let forward = diff(&old, &new);
    let back = diff(&new, &old);
    assert_eq!(forward.findings.len(), back.findings.len());
    // Matched by the bounded value (the keyword may differ: `exclusiveMinimum` one way,
    // `minimum` the other).
    let value = |l: &str| l.rsplit_once('/').unwrap().0.to_string();
    for f in &forward.findings {
        let b = back
            .findings
            .iter()
            .find(|b| value(&b.location) == value(&f.location))
            .unwrap_or_else(|| panic!("{} not found backwards", f.location));
        assert_eq!(f.kind, Kind::BoundTightened, "{}", f.location);
        assert_eq!(b.kind, Kind::BoundLoosened, "{}", b.location);
        assert_eq!((&f.old, &f.new), (&b.new, &b.old));
        assert_ne!(f.breaks, b.breaks, "{}", f.location);
    }
}

#[test]
fn the_text_report_reads_in_a_ci_log() {
    insta::assert_snapshot!("text_field_removed", pair("field-removed").to_text());
    insta::assert_snapshot!("text_command_removed", pair("command-removed").to_text());
    insta::assert_snapshot!("text_retry_changed", pair("retry-changed").to_text());
    assert_eq!(
        pair("moved-into-definitions").to_text(),
        "old.yaml -> new.yaml: no changes\n"
    );
}

#[test]
fn the_json_report_has_its_documented_fields() {
    let json = pair("bound-tightened").to_json();
    insta::assert_snapshot!(
        "json_bound_tightened",
        serde_json::to_string_pretty(&json).unwrap()
    );
    assert_eq!(json["version"], 1);
    assert_eq!(json["summary"]["breaking"], 2);
    for f in json["findings"].as_array().unwrap() {
        let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["severity", "breaks", "kind", "location", "old", "new", "message", "hint", "at"]
        );
    }
}

/// Every valid manifest of the repository.
fn repository_manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("../../manifests"),
        root.join("tests/corpus/valid"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_pair_of_repository_manifests_compares_and_each_equals_itself() {
    let devices: Vec<(PathBuf, luagen::Device)> = repository_manifests()
        .into_iter()
        .map(|p| {
            let d = luagen::load_file(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, d)
        })
        .collect();
    assert!(devices.len() >= 8, "{}", devices.len());
    for (p, old) in &devices {
        for (q, new) in &devices {
            let report = diff(old, new);
            if p == q {
                assert_eq!(report.findings, vec![], "{} with itself", p.display());
            } else {
                // A different device: at least its name or its commands differ.
                assert!(
                    !report.findings.is_empty(),
                    "{} vs {}",
                    p.display(),
                    q.display()
                );
            }
            // Both renderings hold for any pair.
            assert!(report.to_text().contains(" -> "));
            assert!(report.to_json()["findings"].is_array());
        }
    }
}
