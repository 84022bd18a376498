//! The agent's lua-cli module: every repository manifest's module is a snapshot; every valid
//! manifest's module (and some written to break it) type-checks with `tsc --strict` against
//! lua-cli's own declarations from npm, in a project set up as lua-cli's template sets one up;
//! regeneration keeps the user's trigger handlers.

use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::node;
use luagen::emit::project::{Ownership, Project};
use luagen::emit::typescript::{AgentModule, Options};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn options(stem: &str) -> Options {
    Options {
        stem: stem.to_string(),
        manifest: format!("{stem}.yaml"),
        out: format!("src/devices/{stem}.ts"),
        existing_triggers: None,
    }
}

fn text(project: &Project, path: &str) -> String {
    String::from_utf8(project.file(path).unwrap().contents.clone()).unwrap()
}

#[test]
fn repository_manifests_modules() {
    for entry in std::fs::read_dir(root().join("manifests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let device = luagen::load_file(&path).unwrap();
        let project = AgentModule::generate(&device, &options(&stem)).unwrap();
        insta::assert_snapshot!(format!("{stem}.ts"), text(&project, &format!("{stem}.ts")));
        if !device.triggers.is_empty() {
            let triggers = format!("{stem}.triggers.ts");
            assert_eq!(project.file(&triggers).unwrap().ownership, Ownership::User);
            insta::assert_snapshot!(triggers.clone(), text(&project, &triggers));
        } else {
            assert_eq!(project.files.len(), 1, "no triggers, no triggers file");
        }
    }
}

/// Manifests written to trip the module: recursion with defaults (so input and output types
/// differ), strings that would end a literal or a comment, names that are keywords or
/// `__proto__`, every helper.
const HOSTILE: &str = r##"
name: class
description: "ends */ a comment `${x}` \" \\ and\u2028a line"
definitions:
  Tree:
    type: object
    description: "*/ export const x = 1; /*"
    properties:
      label: { type: string, default: "x\"`${y}`" }
      kids: { type: array, items: { $ref: "#/definitions/Forest" } }
      meta: { type: object, additionalProperties: { type: integer }, maxProperties: 3 }
      tag: { const: { a: [1, 2.5] } }
      any: {}
    required: [any]
  Forest:
    type: object
    properties:
      trees: { type: array, items: { $ref: "#/definitions/Tree" } }
      mode: { type: string, enum: [a, "b\"", "*/"], default: a }
commands:
  - name: delete
    description: "weird */ desc `${x}` \" \\ "
    inputSchema: { $ref: "#/definitions/Tree" }
  - name: z
    description: a command named like the zod import
    inputSchema:
      type: object
      properties:
        Promise: { type: string, pattern: "^\\w+\\b.$" }
        Record: { type: number, multipleOf: 0.01, exclusiveMaximum: 10 }
        maybe: { enum: [1, 2.5, null] }
triggers:
  - name: execute
    description: "*/"
    payloadSchema:
      type: object
      properties:
        __proto__: { type: string }
        "a-b": { type: number, multipleOf: 0.1 }
        u: { type: array, uniqueItems: true, items: {} }
        n: { enum: [1, 2.5] }
      minProperties: 1
      additionalProperties: false
  - name: device
    description: no payload
"##;

#[test]
fn every_module_type_checks_against_lua_cli() {
    if !node::available("tsc --strict on generated lua-cli modules") {
        return;
    }
    let dir = node::scratch("tsc").unwrap();
    let mut manifests: Vec<(String, luagen::Device)> = lua_testkit::corpus::valid_manifests()
        .into_iter()
        .chain(
            std::fs::read_dir(root().join("examples/all-manifests/manifests"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        )
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, luagen::load_file(&path).unwrap())
        })
        .collect();
    manifests.push((
        "hostile".into(),
        luagen::load_str("hostile.yaml", HOSTILE).unwrap(),
    ));
    // A lua-cli project as `lua init` makes it: its template's tsconfig (strict, and
    // skipLibCheck: lua-cli's declarations import its private workspace packages, which npm
    // does not have), each module in `src/devices/`, and the agent declaring one device.
    let template = node::packages()
        .unwrap()
        .join("node_modules/lua-cli/template");
    std::fs::copy(template.join("tsconfig.json"), dir.join("tsconfig.json")).unwrap();
    for (stem, device) in &manifests {
        let project = AgentModule::generate(device, &options(stem)).unwrap();
        project
            .write(&dir.join("src/devices").join(stem), true)
            .unwrap();
    }
    std::fs::write(
        dir.join("src/index.ts"),
        r#"import { LuaAgent } from "lua-cli";
import { greenhouseSensor } from "./devices/greenhouse-sensor/greenhouse-sensor";

export const agent = new LuaAgent({
  name: "greenhouse-agent",
  persona: "Keeps the greenhouse",
  skills: [],
  devices: [greenhouseSensor],
});
"#,
    )
    .unwrap();
    let out = Command::new(node::bin("tsc").unwrap())
        .args(["-p", "tsconfig.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc --strict:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{} modules type-check", manifests.len());
    assert!(manifests.len() > 10);
    // A mistake in a handler is tsc's to find: a wrong payload field.
    let broken = dir.join("src/devices/greenhouse-sensor/greenhouse-sensor.triggers.ts");
    let source = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        source.replacen("JSON.stringify(payload)", "payload.humidty.toFixed()", 1),
    )
    .unwrap();
    let out = Command::new(node::bin("tsc").unwrap())
        .args(["-p", "tsconfig.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && stdout.contains("humidty"),
        "tsc misses a misspelt payload field:\n{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn regeneration_keeps_trigger_handlers_and_appends_new_ones() {
    let device = luagen::load_file(root().join("manifests/greenhouse-sensor.yaml")).unwrap();
    let mut opts = options("greenhouse-sensor");
    let mine = "import type * as device from \"./greenhouse-sensor\";\n\nexport async function humidityAlert(payload: device.HumidityAlert, context: device.TriggerContext): Promise<unknown> {\n  return payload.humidity;\n}\n";
    opts.existing_triggers = Some(mine.into());
    let project = AgentModule::generate(&device, &opts).unwrap();
    let file = project.file("greenhouse-sensor.triggers.ts").unwrap();
    assert_eq!(file.ownership, Ownership::User, "nothing to add: kept");
    assert_eq!(file.contents, mine.as_bytes());

    // The manifest gains a trigger: its stub is appended, the user's text is untouched.
    let grown = std::fs::read_to_string(root().join("manifests/greenhouse-sensor.yaml")).unwrap()
        + "  - name: door_opened\n    description: The door opened\n";
    let device = luagen::load_str("greenhouse-sensor.yaml", &grown).unwrap();
    let project = AgentModule::generate(&device, &opts).unwrap();
    let file = project.file("greenhouse-sensor.triggers.ts").unwrap();
    let text = String::from_utf8(file.contents.clone()).unwrap();
    assert_eq!(file.ownership, Ownership::Generated);
    assert!(text.starts_with(mine), "{text}");
    assert!(text.contains("export async function doorOpened(context: device.TriggerContext)"));
    assert_eq!(text.matches("function humidityAlert").count(), 1);
}

#[test]
fn patterns_javascript_cannot_run_as_the_device_does_are_refused_at_their_place() {
    let device = luagen::load_str(
        "crlf.yaml",
        "name: crlf\ncommands:\n  - name: go\n    description: d\n    inputSchema:\n      type: object\n      properties:\n        line: { type: string, pattern: \"(?mR)^a$\" }\n",
    )
    .unwrap();
    let refused = AgentModule::generate(&device, &options("crlf")).unwrap_err();
    let shown = refused.to_string();
    assert!(shown.contains("crlf.yaml:8:"), "{shown}");
    assert!(shown.contains("TypeScript cannot check pattern"), "{shown}");
}
