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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use lua_testkit::node;
use luagen::emit::typescript::{AgentModule, Options};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use verdicts::{disagreement, hex, seed, validator, values_per_schema, REGRESSIONS};

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

/// One schema of a module: where the driver finds it, and the schema it came from.
struct Target {
    kind: &'static str,
    name: String,
    schema: Value,
}

/// A manifest's module in a scratch directory below the npm packages, with its schemas.
struct Module {
    manifest: PathBuf,
    dir: PathBuf,
    file: PathBuf,
    targets: Vec<Target>,
}

fn module(manifest: &Path) -> Module {
    let device = luagen::load_file(manifest).unwrap();
    let stem = device.name.clone();
    let options = Options::for_paths(manifest, Path::new(&format!("{stem}.ts")));
    let generated = AgentModule::generate(&device, &options).unwrap();
    let dir = node::scratch("differential").unwrap();
    generated.write(&dir, true).unwrap();
    let mut targets = Vec::new();
    for c in &device.commands {
        if let Some(schema) = &c.input_schema {
            targets.push(Target {
                kind: "command",
                name: c.name.clone(),
                schema: device.standalone_schema(schema),
            });
        }
    }
    for t in &device.triggers {
        if let Some(schema) = &t.payload_schema {
            targets.push(Target {
                kind: "trigger",
                name: t.name.clone(),
                schema: device.standalone_schema(schema),
            });
        }
    }
    Module {
        manifest: manifest.to_path_buf(),
        file: dir.join(format!("{stem}.ts")),
        dir,
        targets,
    }
}

/// What the module's zod schemas say of each `(target, value)`: `None` (valid) or the message.
fn run(module: &Module, values: &[(usize, Value)]) -> Vec<Option<String>> {
    let driver = module.dir.join("driver.cjs");
    std::fs::write(&driver, DRIVER).unwrap();
    let targets: Vec<Value> = module
        .targets
        .iter()
        .map(|t| json!([t.kind, t.name]))
        .collect();
    std::fs::write(
        module.dir.join("targets.json"),
        Value::from(targets).to_string(),
    )
    .unwrap();
    let mut lines = String::new();
    for (target, value) in values {
        writeln!(lines, "{target}\t{value}").unwrap();
    }
    std::fs::write(module.dir.join("values.txt"), lines).unwrap();
    let out = node::node(&driver, &module.dir)
        .unwrap()
        .arg(&module.file)
        .args(["targets.json", "values.txt"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}: node failed:\n{}",
        module.manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Option<String>> = stdout
        .lines()
        .map(|l| match l {
            "ok" => None,
            other => Some(
                other
                    .strip_prefix("invalid ")
                    .unwrap_or_else(|| panic!("not a verdict: {other}"))
                    .to_string(),
            ),
        })
        .collect();
    assert_eq!(verdicts.len(), values.len(), "{stdout}");
    verdicts
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
    let per_schema = values_per_schema();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed()),
    );
    let (mut schemas, mut total, mut inexact) = (0, 0, 0);
    let mut problems = Vec::new();
    let manifests = lua_testkit::corpus::valid_manifests().into_iter().chain(
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for manifest in manifests {
        let module = module(&manifest);
        let mut values = Vec::new();
        for (i, target) in module.targets.iter().enumerate() {
            let depth = values::depth_for(&target.schema);
            let strategy = values::near(&target.schema, &target.schema, depth);
            for _ in 0..per_schema {
                values.push((i, strategy.new_tree(&mut runner).unwrap().current()));
            }
        }
        let verdicts = run(&module, &values);
        let references: Vec<jsonschema::Validator> = module
            .targets
            .iter()
            .map(|t| validator(&t.schema))
            .collect();
        let mut refused = vec![0usize; module.targets.len()];
        for ((target, value), verdict) in values.iter().zip(&verdicts) {
            refused[*target] += usize::from(verdict.is_some());
            if !exact_in_javascript(value) {
                inexact += 1;
                continue;
            }
            if let Some(problem) = disagreement(&references[*target], value, verdict) {
                let t = &module.targets[*target];
                problems.push(format!(
                    "{} {} {}: {value}\n    {problem}",
                    manifest.file_name().unwrap().to_string_lossy(),
                    t.kind,
                    t.name,
                ));
            }
        }
        for (target, refused) in module.targets.iter().zip(&refused) {
            // A strategy that only ever produced one verdict would prove little.
            assert!(
                *refused > 0 && *refused < per_schema,
                "{} {} {}: {refused} of {per_schema} refused",
                manifest.display(),
                target.kind,
                target.name
            );
        }
        schemas += module.targets.len();
        total += values.len();
        std::fs::remove_dir_all(&module.dir).unwrap();
    }
    eprintln!(
        "{total} values over {schemas} schemas, {inexact} past JavaScript's exact integers, {} disagreements",
        problems.len()
    );
    assert!(schemas > 15, "every manifest's payload schemas are covered");
    assert!(
        inexact * 100 < total,
        "{inexact} of {total} values were not compared"
    );
    assert!(
        problems.is_empty(),
        "{} disagreements with jsonschema (seed {}):\n{}",
        problems.len(),
        hex(&seed()),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The values that once split a device target's verdicts, or that strategies rarely reach
/// (characters outside the BMP against a length, a trailing newline against `$`, negative
/// zero), on the module's schemas too.
#[test]
fn regressions() {
    if !node::available("the lua-cli module's regression values (zod on Node)") {
        return;
    }
    let root = lua_testkit::deps::workspace_root();
    let mut problems = Vec::new();
    let mut manifests: Vec<&str> = REGRESSIONS.iter().map(|(m, _, _)| *m).collect();
    manifests.dedup();
    for manifest in manifests {
        let module = module(&root.join(manifest));
        let mut values = Vec::new();
        for (_, label, cases) in REGRESSIONS.iter().filter(|(m, _, _)| *m == manifest) {
            let target = module
                .targets
                .iter()
                .position(|t| format!("{} {}", t.kind, t.name) == *label)
                .unwrap_or_else(|| panic!("{manifest} has no {label}"));
            for case in *cases {
                values.push((target, serde_json::from_str::<Value>(case).unwrap()));
            }
        }
        let verdicts = run(&module, &values);
        for ((target, value), verdict) in values.iter().zip(&verdicts) {
            let t = &module.targets[*target];
            if !exact_in_javascript(value) {
                continue;
            }
            if let Some(problem) = disagreement(&validator(&t.schema), value, verdict) {
                problems.push(format!(
                    "{manifest} {} {}: {value}\n    {problem}",
                    t.kind, t.name
                ));
            }
        }
        std::fs::remove_dir_all(&module.dir).unwrap();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
