//! Manifest strings crafted to break out of where they land stay inert in every emitter:
//! the generated Rust (typed device and Pico W project), Python (MicroPython project), TOML
//! (the Pico W Cargo.toml), TypeScript (the agent's lua-cli module) and Markdown (both
//! READMEs). Each payload tries to define or call
//! something named `injected`; the generated files are parsed by the real parsers (syn,
//! CPython's `ast`, `tomllib`) and no `injected` may appear as code (identifiers derived from
//! names, like `x_injected_1`, are sanitised and fine), a TOML key, or Markdown structure.
//! TypeScript is parsed by the `typescript` package the suite installs from npm. The manifest's file name is hostile too: it is printed in generated headers.

use std::path::{Path, PathBuf};
use std::process::Command;

use luagen::emit::micropython::{MicroPythonProject, Options};
use luagen::emit::pico_w::PicoWProject;
use luagen::emit::project::Project;
use luagen::emit::rust::{RustEmitter, RustOptions};
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;

/// Breaks out of a `"` string, a `"""` docstring, a `#`/`//` comment line, a TOML table, a
/// Markdown line (heading, HTML, link, code fence) and a Jinja expression, each in turn.
const PAYLOAD: &str = concat!(
    "x\"); injected(\"\n",
    "\"\"\"\ninjected()\n\"\"\"\n",
    "*/ injected(); /*\n",
    "\r\ninjected = 1\n[injected]\ninjected = true\n",
    "\u{2028}injected()\u{2029}\n",
    "# injected heading\n<script>injected()</script>\n[injected](javascript:injected())\n```\ninjected\n```\n",
    "{{ injected }}{% injected %}"
);

fn manifest_text() -> String {
    let text = serde_json::to_string(PAYLOAD).unwrap();
    format!(
        r#"name: hostile-device
group: hostile
description: {text}
commands:
  - name: do_it
    description: {text}
    inputSchema:
      type: object
      description: {text}
      properties:
        field:
          type: string
          description: {text}
          enum: [{text}, plain]
        {text}: {{ type: integer, description: {text} }}
      required: [field]
    outputSchema:
      type: object
      properties:
        {text}: {{ type: string }}
triggers:
  - name: went_off
    description: {text}
    payloadSchema:
      type: object
      properties:
        {text}: {{ type: string, description: {text} }}
"#
    )
}

/// The manifest, written under a file name that would end a comment line.
fn manifest(label: &str) -> (PathBuf, luagen::Device) {
    let dir = std::env::temp_dir().join(format!(
        "luagen-injection-manifest-{label}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("device\ninjected()\n[injected]\n.yaml");
    std::fs::write(&path, manifest_text()).unwrap();
    let device = luagen::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, device)
}

/// Every identifier of a Rust file, outside literals and doc attributes.
fn idents(tokens: TokenStream, out: &mut Vec<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Group(g) => idents(g.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

fn assert_rust_inert(name: &str, source: &str) {
    let file = syn::parse_file(source).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let mut found = Vec::new();
    idents(file.into_token_stream(), &mut found);
    assert!(
        !found.iter().any(|i| i == "injected"),
        "{name}: the manifest became Rust code:\n{source}"
    );
}

fn python() -> PathBuf {
    lua_testkit::deps::python_venv().expect("the workspace venv (cargo xtask deps)")
}

/// Parse every `.py` with CPython's `ast` and list identifiers and TOML keys named `injected`.
const PY_CHECK: &str = r#"
import ast, sys, tomllib
bad = []
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    if path.endswith(".toml"):
        def keys(t, at):
            for k, v in t.items():
                if k == "injected":
                    bad.append(f"{path}: TOML key {at}{k}")
                if isinstance(v, dict):
                    keys(v, at + k + ".")
        keys(tomllib.loads(text), "")
        continue
    for node in ast.walk(ast.parse(text, path)):
        for field in ("id", "attr", "name", "arg"):
            value = getattr(node, field, None)
            if value == "injected":
                bad.append(f"{path}: {type(node).__name__} {value}")
print("\n".join(bad))
"#;

fn assert_python_and_toml_inert(dir: &Path, files: &[&str]) {
    let out = Command::new(python())
        .arg("-c")
        .arg(PY_CHECK)
        .args(files.iter().map(|f| dir.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a generated file does not parse:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = String::from_utf8_lossy(&out.stdout);
    assert!(bad.trim().is_empty(), "the manifest became code:\n{bad}");
}

/// No line of the README is Markdown structure made from the payload: a heading, raw HTML,
/// a link or a code fence that was not in the template.
fn assert_markdown_inert(name: &str, readme: &str) {
    for raw in readme.lines() {
        if !raw.contains("injected") {
            continue;
        }
        // A backslash-escaped character is text: blank out each escape before looking.
        let mut line = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                chars.next();
                line.push_str("__");
            } else {
                line.push(c);
            }
        }
        let line = line.as_str();
        let trimmed = line.trim_start();
        assert!(
            !trimmed.starts_with('#') && !trimmed.starts_with("```"),
            "{name}: a manifest string starts a Markdown block: {line}"
        );
        assert!(
            !line.contains("<script>") && !line.contains("](javascript:"),
            "{name}: a manifest string is live Markdown: {line}"
        );
        assert!(
            !line.contains("[injected]("),
            "{name}: a manifest string is a link: {line}"
        );
    }
}

fn write(project: &Project, label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luagen-injection-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    project.write(&dir, true).unwrap();
    dir
}

fn text<'p>(project: &'p Project, path: &str) -> &'p str {
    std::str::from_utf8(&project.file(path).unwrap().contents).unwrap()
}

#[test]
fn rust_device_code_is_inert() {
    let (dir, device) = manifest("rust");
    for options in [
        RustOptions {
            agent: true,
            ..RustOptions::default()
        },
        RustOptions {
            types_only: true,
            ..RustOptions::default()
        },
    ] {
        assert_rust_inert(
            "the Rust emitter",
            &RustEmitter::with_options(&device, options).source(),
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pico_w_rust_toml_and_readme_are_inert() {
    let (dir, device) = manifest("picow");
    let project = PicoWProject::new(&device).project().unwrap();
    for file in &project.files {
        let path = file.path.to_string_lossy();
        if path.ends_with(".rs") && !path.starts_with("lua-device/") {
            assert_rust_inert(&path, text(&project, &path));
        }
    }
    let out = write(&project, "picow");
    assert_python_and_toml_inert(&out, &["Cargo.toml", ".cargo/config.toml"]);
    assert_markdown_inert("Pico W README", text(&project, "README.md"));
    std::fs::remove_dir_all(out).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn micropython_python_and_readme_are_inert() {
    let (dir, device) = manifest("mpy");
    let project = MicroPythonProject::generate(&device, &Options::default()).unwrap();
    let out = write(&project, "mpy");
    let modules: Vec<String> = project
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".py"))
        .collect();
    assert!(modules.len() > 4, "{modules:?}");
    let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
    assert_python_and_toml_inert(&out, &modules);
    assert_markdown_inert("MicroPython README", text(&project, "README.md"));
    std::fs::remove_dir_all(out).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Parse each module with TypeScript's own parser: a syntax error, or an identifier named
/// `injected`, is listed.
const TS_CHECK: &str = r#"
const ts = require("typescript");
const fs = require("fs");
const bad = [];
for (const path of process.argv.slice(2)) {
  const file = ts.createSourceFile(path, fs.readFileSync(path, "utf8"), ts.ScriptTarget.ES2022, true);
  for (const d of file.parseDiagnostics) {
    bad.push(path + ": " + ts.flattenDiagnosticMessageText(d.messageText, " "));
  }
  (function walk(node) {
    if (ts.isIdentifier(node) && node.text === "injected") {
      bad.push(path + ": identifier injected at " + node.pos);
    }
    ts.forEachChild(node, walk);
  })(file);
}
process.stdout.write(bad.join("\n"));
"#;

#[test]
fn typescript_agent_module_is_inert() {
    use lua_testkit::node;
    use luagen::emit::typescript::{AgentModule, Options};
    if !node::available("the agent module's injection test (TypeScript's parser)") {
        return;
    }
    let (dir, device) = manifest("ts");
    let manifest = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // The module's own name is hostile too: it is imported by the triggers file and named
    // in both headers.
    let options = Options::for_paths(&manifest, Path::new("src/devices/host\"; injected();\n.ts"));
    let project = AgentModule::generate(&device, &options).unwrap();
    let out = node::scratch("injection").unwrap();
    project.write(&out, true).unwrap();
    std::fs::write(out.join("check.cjs"), TS_CHECK).unwrap();
    let files: Vec<PathBuf> = project.files.iter().map(|f| out.join(&f.path)).collect();
    assert_eq!(files.len(), 2, "the module and its triggers file");
    let result = node::node(Path::new("check.cjs"), &out)
        .unwrap()
        .args(&files)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let bad = String::from_utf8_lossy(&result.stdout);
    assert!(
        bad.trim().is_empty(),
        "the manifest became TypeScript:\n{bad}"
    );
    std::fs::remove_dir_all(out).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
