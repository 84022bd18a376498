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

/// The shape of a Markdown page, line by line: blank, heading level, fence, anchor, list
/// item, table row with its cell count (pipes not escaped), code-block line, or text. A
/// manifest string that broke out of its place would change it.
fn markdown_skeleton(page: &str) -> Vec<String> {
    let mut fenced = false;
    page.lines()
        .map(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return format!("fence {line}");
            }
            if fenced {
                return "code".into();
            }
            let bytes = line.as_bytes();
            let pipes = (0..bytes.len())
                .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
                .count();
            if line.is_empty() {
                "blank".into()
            } else if line.starts_with('#') {
                line.split(' ').next().unwrap().to_string()
            } else if line.starts_with("<a id=") || line.starts_with("<!--") {
                "html".into()
            } else if line.starts_with("- ") {
                "item".into()
            } else if line.starts_with('|') {
                format!("row {pipes}")
            } else {
                "text".into()
            }
        })
        .collect()
}

#[test]
fn docs_page_is_inert() {
    let (dir, device) = manifest("docs");
    let hostile = luagen::emit::docs::docs(&device);
    let quoted = serde_json::to_string(PAYLOAD).unwrap();
    let plain = luagen::load_str(
        "plain.yaml",
        &manifest_text().replace(&quoted, "plain words"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let benign = luagen::emit::docs::docs(&plain);
    assert_eq!(
        markdown_skeleton(&hostile),
        markdown_skeleton(&benign),
        "the manifest's strings changed the page's structure:\n{hostile}"
    );
    // Outside the JSON examples (where a fence cannot close: every line of pretty JSON starts
    // with a space or a bracket), no line is live Markdown made from the payload.
    let mut fenced = false;
    let prose: Vec<&str> = hostile
        .lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            !fenced
        })
        .collect();
    assert!(prose.iter().any(|l| l.contains("injected")), "{hostile}");
    assert_markdown_inert("docs page", &prose.join("\n"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every `description` of the document outside payload schemas (those are the manifest's
/// own, sent as the device registers them): the Markdown the document composes.
fn composed_descriptions<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match value {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("payload", _) => {}
                    ("description", serde_json::Value::String(s)) => out.push(s),
                    _ => composed_descriptions(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                composed_descriptions(item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn asyncapi_document_is_inert() {
    use luagen::emit::asyncapi::{document, to_yaml, Options};
    use serde_json::Value;
    let (dir, device) = manifest("asyncapi");
    let doc = document(&device, &Options::default());
    // The manifest's strings stay strings: both forms read back as the same value.
    let json = serde_json::to_string_pretty(&doc).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), doc);
    let yaml = to_yaml(&doc);
    let back = yaml_rust2::YamlLoader::load_from_str(&yaml).unwrap_or_else(|e| panic!("{e}"));
    fn to_json(y: &yaml_rust2::Yaml) -> Value {
        use yaml_rust2::Yaml;
        match y {
            Yaml::Null => Value::Null,
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Integer(i) => Value::from(*i),
            Yaml::String(s) => Value::from(s.as_str()),
            Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
            Yaml::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().expect("string keys").to_string(), to_json(v)))
                    .collect(),
            ),
            other => panic!("unexpected YAML {other:?}"),
        }
    }
    assert_eq!(back.len(), 1);
    assert_eq!(
        to_json(&back[0]),
        doc,
        "the YAML reads back differently:\n{yaml}"
    );
    assert!(
        yaml.lines()
            .all(|l| !l.trim_start().starts_with("injected")),
        "a manifest string became a YAML key:\n{yaml}"
    );
    let mut descriptions = Vec::new();
    composed_descriptions(&doc, &mut descriptions);
    assert!(descriptions.iter().any(|d| d.contains("injected")));
    for d in descriptions {
        assert_markdown_inert("AsyncAPI description", d);
    }
    // And the official parser still reads one document with the operations it should have.
    if lua_testkit::node::available("the hostile AsyncAPI document's check by @asyncapi/parser") {
        let out = lua_testkit::node::scratch("injection-asyncapi").unwrap();
        std::fs::write(out.join("doc.yaml"), &yaml).unwrap();
        std::fs::write(
            out.join("parse.cjs"),
            r#"const { Parser } = require("@asyncapi/parser");
(async () => {
  const { document, diagnostics } = await new Parser().parse(require("fs").readFileSync("doc.yaml", "utf8"));
  const bad = diagnostics.filter((d) => d.severity === 0).map((d) => d.code + ": " + d.message);
  if (!document) bad.push("no document");
  else bad.push(...document.operations().all().map((o) => "operation " + o.id()));
  process.stdout.write(bad.join("\n"));
})();"#,
        )
        .unwrap();
        let result = lua_testkit::node::node(Path::new("parse.cjs"), &out)
            .unwrap()
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&result.stdout);
        let lines: Vec<&str> = report.lines().collect();
        assert!(
            lines.iter().all(|l| l.starts_with("operation ")),
            "{report}"
        );
        assert!(lines.contains(&"operation command.do_it"), "{report}");
        assert!(lines.contains(&"operation trigger.went_off"), "{report}");
        std::fs::remove_dir_all(out).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}
