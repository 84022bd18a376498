//! The CPython project as a reviewer reads it: the greenhouse's generated files are snapshots;
//! regeneration appends stubs to a user's handlers; manifest strings stay inside their
//! literals and comments; what Python's `re` cannot run is refused, never skipped.

use std::path::{Path, PathBuf};

use luagen::emit::cpython::{CPythonProject, Options, CLIENT_STUB, RUNTIME};
use luagen::emit::project::{Ownership, Project};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(manifest: &str) -> luagen::Device {
    luagen::load_file(root().join(manifest)).unwrap()
}

fn text(project: &Project, path: &str) -> String {
    String::from_utf8(project.file(path).unwrap().contents.clone()).unwrap()
}

#[test]
fn greenhouse_project_files() {
    let device = load("manifests/greenhouse-sensor.yaml");
    let project = CPythonProject::generate(&device, &Options::default()).unwrap();
    let paths: Vec<String> = project
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "main.py",
            "lua_runtime.py",
            "device.py",
            "payloads.py",
            "validators.py",
            "triggers.py",
            "handlers.py",
            "config.py",
            "pyproject.toml",
            "stubs/lua_device/__init__.pyi",
            ".gitignore",
            "README.md",
        ]
    );
    for file in &project.files {
        let name = file.path.display().to_string();
        // The same for every device; reviewed as the templates they are.
        if name == "lua_runtime.py" {
            assert_eq!(file.contents, RUNTIME.as_bytes());
            continue;
        }
        if name.ends_with(".pyi") {
            assert_eq!(file.contents, CLIENT_STUB.as_bytes());
            continue;
        }
        let owner = match file.ownership {
            Ownership::Generated => "generated",
            Ownership::User => "user",
        };
        insta::assert_snapshot!(
            format!("greenhouse-sensor__{}", name.trim_start_matches('.')),
            format!(
                "# {owner}\n{}",
                String::from_utf8(file.contents.clone()).unwrap()
            )
        );
    }
}

/// One validator generator: the CPython project's checks are the MicroPython project's, their
/// patterns read by CPython's `re`.
#[test]
fn the_validators_are_micropythons() {
    for manifest in [
        "manifests/label-printer.yaml",
        "codegen/core/tests/corpus/valid/every-shape.yaml",
    ] {
        let device = load(manifest);
        let cpython = CPythonProject::generate(&device, &Options::default()).unwrap();
        let micropython = luagen::emit::micropython::MicroPythonProject::generate(
            &device,
            &luagen::emit::micropython::Options::default(),
        )
        .unwrap();
        // Line for line, but for the end anchor: CPython's `$` also matches before a final
        // newline, so its patterns end at `\Z`.
        assert_eq!(
            text(&cpython, "validators.py"),
            text(&micropython, "validators.py").replace("$\", x", "\\\\Z\", x"),
            "{manifest}"
        );
    }
}

#[test]
fn regeneration_appends_stubs_for_new_commands_only() {
    let device = load("manifests/conformance-device.yaml");
    let edited = "import payloads\n\nasync def echo(payload: payloads.EchoInput) -> payloads.EchoOutput:\n    return payload\n\nasync def count(payload: payloads.CountInput) -> payloads.CountOutput:\n    return {\"count\": 1}\n";
    let options = Options {
        existing_handlers: Some(edited.into()),
    };
    let project = CPythonProject::generate(&device, &options).unwrap();
    let handlers = project.file("handlers.py").unwrap();
    let text = String::from_utf8(handlers.contents.clone()).unwrap();
    assert!(text.starts_with(edited));
    let added = &text[edited.len()..];
    for missing in ["fail", "no_output", "fire_trigger", "slow"] {
        assert!(
            added.contains(&format!("\nasync def {missing}(payload")),
            "{added}"
        );
    }
    assert!(!added.contains("def echo("));
    assert!(!added.contains("def count("));
    // Complete already: the user's file is left to the writer's "keep" rule.
    let complete = Options {
        existing_handlers: Some(text.clone()),
    };
    let again = CPythonProject::generate(&device, &complete).unwrap();
    let handlers = again.file("handlers.py").unwrap();
    assert_eq!(handlers.ownership, Ownership::User);
    assert_eq!(handlers.contents, text.as_bytes());
    assert_eq!(again.file("config.py").unwrap().ownership, Ownership::User);
}

#[test]
fn manifest_strings_never_leave_their_literal_or_comment() {
    let device = load("codegen/core/tests/corpus/valid/tricky-names.yaml");
    let project = CPythonProject::generate(&device, &Options::default()).unwrap();
    for file in &project.files {
        let text = String::from_utf8(file.contents.clone()).unwrap();
        assert!(!text.contains('\0'), "{}", file.path.display());
    }
    let handlers = text(&project, "handlers.py");
    assert!(handlers.contains(r#"triple \"\"\" quotes"#), "{handlers}");
    let payloads = text(&project, "payloads.py");
    // Wire names that are no identifiers are keys of the functional TypedDict form.
    assert!(payloads.contains(r#"    "soil-moisture": "#), "{payloads}");
    assert!(payloads.contains(r#"    "": "#), "{payloads}");
    assert!(payloads.contains(r#""temp\xe9rature""#), "{payloads}");
    assert!(payloads.contains(r#""quote\"d""#), "{payloads}");
    let device_py = text(&project, "device.py");
    assert!(device_py.contains(r#""[{\"name\":\"type\""#), "{device_py}");
    let triggers = text(&project, "triggers.py");
    assert!(triggers.contains("async def async_("), "{triggers}");
    // A command named like a handlers.py callback keeps the callback's name free.
    assert!(!handlers
        .lines()
        .any(|l| l.starts_with("async def background(")));
}

#[test]
fn patterns_python_cannot_run_are_refused_where_the_manifest_writes_them() {
    let manifest = r#"
name: refusing-device
commands:
  - name: set_word
    description: A word on its own
    inputSchema:
      type: object
      properties:
        word: { type: string, pattern: '\bcat\b' }
"#;
    let device = luagen::load_str("refusing.yaml", manifest).unwrap();
    let refused = CPythonProject::generate(&device, &Options::default()).unwrap_err();
    // The checks are MicroPython's, so are the patterns they can run.
    assert_eq!(refused.len(), 1, "{refused}");
    let text = refused.to_string();
    assert!(
        text.starts_with("refusing.yaml:9:40: error: CPython cannot check pattern `\\bcat\\b`"),
        "{text}"
    );
}
