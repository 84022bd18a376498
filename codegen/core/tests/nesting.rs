//! The nesting limit holds for CPython too: the generated MicroPython modules of every valid
//! manifest (the corpus holds one at exactly the limit) compile with `python3`, whose compiler
//! refuses more than 20 statically nested blocks. rustc builds the same manifests in
//! `examples/all-manifests`, and mpy-cross in `tests/tests/micropython.rs`.

use std::process::Command;

use luagen::emit::micropython::{MicroPythonProject, Options};

#[test]
fn every_valid_manifest_compiles_with_cpython() {
    let dir = std::env::temp_dir().join(format!("luagen-nesting-{}", std::process::id()));
    for manifest in lua_testkit::corpus::valid_manifests() {
        let device = luagen::load_file(&manifest).unwrap();
        let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
        let name = manifest.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.join(&name);
        project.write(&out, true).unwrap();
        let modules: Vec<String> = project
            .files
            .iter()
            .filter(|f| f.path.extension().is_some_and(|e| e == "py"))
            .map(|f| f.path.display().to_string())
            .collect();
        assert!(!modules.is_empty(), "{name}");
        // `compile` only: the modules import MicroPython-only names, so they are not run.
        let compiled = Command::new("python3")
            .current_dir(&out)
            .args([
                "-c",
                "import sys\nfor m in sys.argv[1:]:\n    compile(open(m).read(), m, 'exec')",
            ])
            .args(&modules)
            .output()
            .expect("python3 runs");
        assert!(
            compiled.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&compiled.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
