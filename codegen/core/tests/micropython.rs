//! The MicroPython project as a reviewer reads it: the conformance fixture's generated files
//! are snapshots; regeneration appends stubs to a user's handlers; patterns MicroPython's `re`
//! cannot run are refused, never skipped.

use std::path::{Path, PathBuf};

use luagen::emit::micropython::{MicroPythonProject, Options, RUNTIME_MODULES};
use luagen::emit::project::Ownership;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(manifest: &str) -> luagen::Device {
    luagen::load_file(root().join(manifest)).unwrap()
}

fn text(project: &luagen::emit::project::Project, path: &str) -> String {
    String::from_utf8(project.file(path).unwrap().contents.clone()).unwrap()
}

#[test]
fn conformance_device_project_files() {
    let device = load("manifests/conformance-device.yaml");
    let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
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
            "lua_connect.py",
            "lua_events.py",
            "lua_oversize.py",
            "lua_ws.py",
            "lua_trigger.py",
            "lua_ntp.py",
            "lua_background.py",
            "lua_cdn.py",
            "device_spec.py",
            "device_registration.py",
            "validators.py",
            "triggers.py",
            "handlers.py",
            "config.py",
            "secrets.py.example",
            ".gitignore",
            "README.md",
            "roots.der",
        ]
    );
    for file in &project.files {
        let name = file.path.display().to_string();
        if name == luagen::trust::FILE {
            // Binary, and the same for every device: see `same_default_trust_store_on_both_targets`.
            assert_eq!(file.contents, luagen::trust::roots_der());
            continue;
        }
        if let Some((_, source)) = RUNTIME_MODULES.iter().find(|(n, _)| *n == name) {
            // The same for every device; reviewed as the templates they are.
            assert_eq!(file.contents, source.as_bytes());
            continue;
        }
        let owner = match file.ownership {
            Ownership::Generated => "generated",
            Ownership::User => "user",
        };
        insta::assert_snapshot!(
            format!("conformance-device__{}", name.trim_start_matches('.')),
            format!(
                "# {owner}\n{}",
                String::from_utf8(file.contents.clone()).unwrap()
            )
        );
    }
}

/// One store, one rendering: the MicroPython and the Pico W projects carry the same bytes, the
/// named roots, each a whole DER certificate.
#[test]
fn same_default_trust_store_on_both_targets() {
    let device = load("manifests/greenhouse-sensor.yaml");
    let micropython = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    let pico_w = luagen::emit::pico_w::PicoWProject::new(&device)
        .project()
        .unwrap();
    let mpy = &micropython.file("roots.der").unwrap().contents;
    assert_eq!(mpy, &pico_w.file("roots.der").unwrap().contents);
    let names: Vec<String> = luagen::trust::split(mpy)
        .unwrap()
        .into_iter()
        .map(|c| luagen::trust::subject_common_name(c).unwrap())
        .collect();
    assert_eq!(names, luagen::trust::ROOTS);
    // Copied to the board with the rest.
    assert!(text(&micropython, "README.md").contains(" secrets.py roots.der "));
}

#[test]
fn label_printer_validators() {
    let device = load("manifests/label-printer.yaml");
    let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    insta::assert_snapshot!(text(&project, "validators.py"));
}

#[test]
fn regeneration_appends_stubs_for_new_commands_only() {
    let device = load("manifests/conformance-device.yaml");
    let edited = "import triggers\n\ndef echo(payload):\n    return payload\n\ndef count(payload):\n    return {\"count\": 1}\n";
    let options = Options {
        existing_handlers: Some(edited.into()),
        mpy: false,
        ..Options::default()
    };
    let project = MicroPythonProject::generate(&device, &options).unwrap();
    let handlers = project.file("handlers.py").unwrap();
    let text = String::from_utf8(handlers.contents.clone()).unwrap();
    assert!(text.starts_with(edited));
    let added = &text[edited.len()..];
    for missing in ["fail", "no_output", "fire_trigger", "slow"] {
        assert!(
            added.contains(&format!("\ndef {missing}(payload")),
            "{added}"
        );
    }
    assert!(!added.contains("def echo("));
    assert!(!added.contains("def count("));
    // Complete already: the user's file is left to the writer's "keep" rule.
    let complete = Options {
        existing_handlers: Some(text.clone()),
        mpy: false,
        ..Options::default()
    };
    let again = MicroPythonProject::generate(&device, &complete).unwrap();
    let handlers = again.file("handlers.py").unwrap();
    assert_eq!(handlers.ownership, Ownership::User);
    assert_eq!(handlers.contents, text.as_bytes());
}

#[test]
fn patterns_micropython_cannot_run_are_refused_where_the_manifest_writes_them() {
    let manifest = r#"
name: refusing-device
definitions:
  Word: { type: string, pattern: '\bcat\b' }
commands:
  - name: set_word
    description: A word on its own
    inputSchema:
      type: object
      properties:
        word: { $ref: '#/definitions/Word' }
        again: { $ref: '#/definitions/Word' }
        digits: { type: string, pattern: '^\d+$' }
"#;
    let device = luagen::load_str("refusing.yaml", manifest).unwrap();
    let refused = MicroPythonProject::generate(&device, &Options::default()).unwrap_err();
    // One place for the definition, however often it is used; the pattern MicroPython can
    // run is not mentioned.
    assert_eq!(refused.len(), 1, "{refused}");
    let text = refused.to_string();
    assert!(
        text.starts_with("refusing.yaml:4:34: error: MicroPython cannot check pattern `\\bcat\\b`"),
        "{text}"
    );
    assert!(text.contains("word boundaries"), "{text}");
}

#[test]
fn manifest_strings_never_leave_their_literal_or_docstring() {
    let device = load("codegen/core/tests/corpus/valid/tricky-names.yaml");
    let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    for file in &project.files {
        if file.path.ends_with(luagen::trust::FILE) {
            continue; // DER, not text, and no manifest string gets there
        }
        let text = String::from_utf8(file.contents.clone()).unwrap();
        assert!(!text.contains('\0'), "{}", file.path.display());
        assert!(!text.contains("{{ x }}\n") || file.path.ends_with("README.md"));
    }
    let handlers = text(&project, "handlers.py");
    assert!(handlers.contains(r#"triple \"\"\" quotes"#), "{handlers}");
    let registration = text(&project, "device_registration.py");
    assert!(
        registration.contains(r#"COMMANDS_JSON = "[{\"name\":\"type\""#),
        "{registration}"
    );
    let triggers = text(&project, "triggers.py");
    assert!(triggers.contains("def async_("), "{triggers}");
}

#[test]
fn the_board_names_its_micropython_build_and_limits() {
    use luagen::board::PICO_2_W;
    let device = load("manifests/greenhouse-sensor.yaml");
    let options = Options {
        board: &PICO_2_W,
        ..Options::default()
    };
    let project = MicroPythonProject::generate(&device, &options).unwrap();
    let readme = text(&project, "README.md");
    assert!(
        readme.contains("https://micropython.org/download/RPI_PICO2_W/"),
        "{readme}"
    );
    assert!(readme.contains("a drive named `RP2350`"), "{readme}");
    assert!(
        readme.contains("a Raspberry Pi Pico 2 W takes at most 16777"),
        "{readme}"
    );
    let config = text(&project, "config.py");
    assert!(
        config.contains("A Raspberry Pi Pico 2 W takes at most 16777."),
        "{config}"
    );
    // Only the words about the board change: the code is the same on every board.
    let pico_w = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    for (a, b) in pico_w.files.iter().zip(&project.files) {
        if a.path.extension().is_some_and(|e| e == "py") && a.path != Path::new("config.py") {
            assert_eq!(a.contents, b.contents, "{}", a.path.display());
        }
    }
}
