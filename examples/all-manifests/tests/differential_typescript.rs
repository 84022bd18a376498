//! Differential testing of the agent's lua-cli module against the `jsonschema` crate, on Node
//! with the real `zod` and `lua-cli` from npm: for every command input and trigger payload of
//! every manifest, the values the device-side differentials use (from and near each schema)
//! must be refused by the generated zod schema, reached through the `defineDevice` object as
//! lua-cli reaches it, exactly when jsonschema refuses them (and so exactly when the device's
//! checks do: the Rust, MicroPython and CPython differentials hold those to jsonschema on the
//! same values), naming a field inside a value jsonschema also faults.
//!
//! One Node process per manifest checks all its values. `LUAGEN_DIFF_CASES` sets the values per
//! schema (default 1000), `LUAGEN_DIFF_SEED` the seed.

mod values;
mod verdicts;

use std::path::{Path, PathBuf};

use lua_testkit::node;
use luagen::emit::typescript::{AgentModule, Options};
use serde_json::{json, Value};
use verdicts::{checked_of, parse_verdicts, values_file, Checked, Checks};

/// Loads the module as lua-cli's bundler would run it (TypeScript compiled by the pinned
/// `typescript`, `lua-cli` and `zod` from node_modules), then answers one verdict per value:
/// `ok`, or `invalid <field>: <message>` from zod's first issue.
const DRIVER: &str = r#""use strict";
const fs = require("fs");
const path = require("path");
const ts = require("typescript");
require.extensions[".ts"] = (module, filename) => {
  const source = fs.readFileSync(filename, "utf8");
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: filename,
  });
  module._compile(out.outputText, filename);
};
const [modulePath, targetsPath, valuesPath] = process.argv.slice(2);
const exported = require(path.resolve(modulePath));
const device = Object.values(exported).find((v) => v && v.commands && v.triggers && v.name);
const targets = JSON.parse(fs.readFileSync(targetsPath, "utf8")).map(([kind, name]) =>
  kind === "command" ? device.commands[name].inputSchema : device.triggers[name].payloadSchema,
);
function field(issuePath) {
  let out = "";
  for (const segment of issuePath) {
    if (typeof segment === "number") {
      out = (out || "payload") + "[" + segment + "]";
    } else {
      out = out ? out + "." + segment : String(segment);
    }
  }
  return out || "payload";
}
const lines = fs.readFileSync(valuesPath, "utf8").split("\n").filter((l) => l.length > 0);
const verdicts = [];
for (const line of lines) {
  const tab = line.indexOf("\t");
  const schema = targets[Number(line.slice(0, tab))];
  const result = schema.safeParse(JSON.parse(line.slice(tab + 1)));
  if (result.success) {
    verdicts.push("ok");
  } else {
    const issue = result.error.issues[0];
    verdicts.push("invalid " + field(issue.path) + ": " + issue.message.replace(/\n/g, "\\n"));
  }
}
fs.writeFileSync(1, verdicts.join("\n") + "\n");
"#;

/// A manifest's module in a scratch directory below the npm packages (removed when dropped),
/// with its schemas.
struct Module {
    manifest: PathBuf,
    dir: PathBuf,
    file: PathBuf,
    checked: Vec<Checked>,
}

fn module(manifest: &Path) -> Module {
    let device = luagen::load_file(manifest).unwrap();
    let stem = device.name.clone();
    let options = Options::for_paths(manifest, Path::new(&format!("{stem}.ts")));
    let generated = AgentModule::generate(&device, &options).unwrap();
    let dir = node::scratch("differential").unwrap();
    generated.write(&dir, true).unwrap();
    Module {
        manifest: manifest.to_path_buf(),
        file: dir.join(format!("{stem}.ts")),
        dir,
        checked: checked_of(&device),
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Checks for Module {
    fn checked(&self) -> &[Checked] {
        &self.checked
    }

    /// What the module's zod schemas say of each value, through `device.commands[name]
    /// .inputSchema` and `device.triggers[name].payloadSchema`.
    fn verdicts(&self, values: &[(usize, Value)]) -> Vec<Option<String>> {
        let driver = self.dir.join("driver.cjs");
        std::fs::write(&driver, DRIVER).unwrap();
        let targets: Vec<Value> = self
            .checked
            .iter()
            .map(|c| {
                let (kind, name) = c.label.split_once(' ').unwrap();
                json!([kind, name])
            })
            .collect();
        std::fs::write(
            self.dir.join("targets.json"),
            Value::from(targets).to_string(),
        )
        .unwrap();
        std::fs::write(self.dir.join("values.txt"), values_file(values)).unwrap();
        let out = node::node(&driver, &self.dir)
            .unwrap()
            .arg(&self.file)
            .args(["targets.json", "values.txt"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: node failed:\n{}",
            self.manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        parse_verdicts(&String::from_utf8(out.stdout).unwrap(), values.len())
    }

    fn comparable(&self, value: &Value) -> bool {
        exact_in_javascript(value)
    }
}

/// Whether a JavaScript number holds every number in `value` exactly. Past 2^53 JSON.parse
/// rounds integers to a double before any schema sees them: there the agent side can only
/// agree with the device up to that rounding, so such values are counted, not compared.
fn exact_in_javascript(value: &Value) -> bool {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.unsigned_abs() <= 1 << 53,
            (_, Some(u)) => u <= 1 << 53,
            _ => true,
        },
        Value::Array(items) => items.iter().all(exact_in_javascript),
        Value::Object(members) => members.values().all(exact_in_javascript),
        _ => true,
    }
}

#[test]
fn generated_zod_schemas_accept_exactly_what_jsonschema_accepts() {
    if !node::available("the lua-cli module's differential test (zod on Node)") {
        return;
    }
    let manifests = lua_testkit::corpus::valid_manifests().into_iter().chain(
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    verdicts::corpus_agrees("zod", manifests, module);
}

/// The values that once split a device target's verdicts, or that strategies rarely reach
/// (characters outside the BMP against a length, a trailing newline against `$`, negative
/// zero), on the module's schemas too.
#[test]
fn regressions() {
    if !node::available("the lua-cli module's regression values (zod on Node)") {
        return;
    }
    verdicts::regressions_agree(module, |_, _, _| None);
}
