//! The CPython target (`luagen firmware --target python`) under test: every generated project
//! passes `mypy --strict` as generated, its stub of the official client matches the installed
//! client (mypy's stubtest), its checks answer what PROTOCOL.md asks (real python3, no
//! broker), and the generated device runs the session derived from every repository manifest
//! on a real broker, indistinguishable from the official client's transcript except for the
//! improvements PROTOCOL.md lists.

use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::conformance::{assert_plan_indistinguishable, names_field_in_error};
use lua_testkit::deps::{python_venv, workspace_root};
use lua_testkit::device::DeviceLauncher;
use lua_testkit::fixtures;
use lua_testkit::micropython::{luagen, scratch_dir, venv_tool};
use lua_testkit::plan::Plan;
use lua_testkit::session;

/// Run `luagen firmware --target python manifest -o out`.
fn generate(manifest: &Path, out: &Path) {
    let output = Command::new(luagen().expect("building luagen"))
        .args(["firmware", "--target", "python"])
        .arg(manifest)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "luagen firmware --target python {}:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The generated project as a device process (`python -u main.py`, which puts the project
/// first on `sys.path`).
fn device(dir: &Path) -> DeviceLauncher {
    DeviceLauncher::new(
        "generated CPython device",
        python_venv().expect("the venv with the official client"),
        &["-u", dir.join("main.py").to_str().unwrap()],
    )
}

/// The handler functions of a generated `handlers.py`, in the order of the manifest's commands.
fn handler_functions(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("handlers.py"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("async def "))
        .map(|rest| rest.split('(').next().unwrap().to_string())
        .collect()
}

/// A `handlers.py` answering every command with the plan's reference output (written beside it
/// as `reference_outputs.json`), as the official client's generic device does
/// (`tests/python/generic_device.py`).
fn reference_handlers(dir: &Path, plan: &Plan) -> String {
    let functions = handler_functions(dir);
    assert_eq!(functions.len(), plan.commands.len(), "{functions:?}");
    let outputs: serde_json::Map<String, serde_json::Value> = functions
        .into_iter()
        .zip(&plan.commands)
        .map(|(f, c)| (f, c.reference_output.clone().unwrap_or_default()))
        .collect();
    std::fs::write(
        dir.join("reference_outputs.json"),
        serde_json::Value::Object(outputs).to_string(),
    )
    .unwrap();
    "import json, os\n\
     with open(os.path.join(os.path.dirname(__file__), \"reference_outputs.json\")) as f:\n    \
         _OUTPUTS = json.load(f)\n\n\
     def __getattr__(name):\n    \
         if name not in _OUTPUTS:\n        \
             raise AttributeError(name)\n    \
         output = _OUTPUTS[name]\n\n    \
         async def handler(payload):\n        \
             return output\n    \
         return handler\n"
        .to_string()
}

fn repository_manifests() -> Vec<PathBuf> {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 5, "{manifests:?}");
    manifests
}

fn mypy_strict(dir: &Path) -> std::process::Output {
    Command::new(venv_tool("mypy").unwrap())
        .args(["--strict", "."])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn every_generated_project_passes_mypy_strict_as_generated() {
    let mut checked = 0;
    for manifest in lua_testkit::corpus::valid_manifests() {
        let dir = scratch_dir("cpython-mypy").unwrap();
        generate(&manifest, &dir);
        let output = mypy_strict(&dir);
        assert!(
            output.status.success(),
            "mypy --strict on the project of {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stdout)
        );
        checked += 1;
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("{checked} generated projects pass mypy --strict");
    assert!(checked >= 8);
}

/// The check can fail: a handler that returns the wrong type is caught by mypy, through the
/// typed adapter in device.py.
#[test]
fn mypy_strict_refuses_a_handler_of_the_wrong_type() {
    let dir = scratch_dir("cpython-mypy-wrong").unwrap();
    generate(
        &workspace_root().join("manifests/greenhouse-sensor.yaml"),
        &dir,
    );
    let handlers = std::fs::read_to_string(dir.join("handlers.py")).unwrap();
    let wrong = handlers.replacen(
        "    raise NotImplementedError(\"read_environment is not implemented yet\")",
        "    return {\"temperature\": \"warm\"}",
        1,
    );
    assert_ne!(wrong, handlers);
    std::fs::write(dir.join("handlers.py"), wrong).unwrap();
    let output = mypy_strict(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("handlers.py"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The generated stub says what the installed official client has (mypy's stubtest imports
/// the real package and compares).
#[test]
fn the_client_stub_matches_the_official_client() {
    let dir = scratch_dir("cpython-stubtest").unwrap();
    generate(
        &workspace_root().join("manifests/greenhouse-sensor.yaml"),
        &dir,
    );
    let output = Command::new(python_venv().unwrap())
        .args(["-m", "mypy.stubtest", "lua_device", "--ignore-missing-stub"])
        .env("MYPYPATH", dir.join("stubs"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stubtest:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the runtime answers, on real python3 without a broker: a stub says it is not
/// implemented, an invalid payload is refused naming the field (MicroPython's words), a
/// result of the wrong shape is refused before it is sent, and a trigger checks its payload
/// before it needs a connection.
#[test]
fn the_checks_around_handlers_and_triggers_answer_as_protocol_md_asks() {
    let dir = scratch_dir("cpython-checks").unwrap();
    generate(
        &workspace_root().join("manifests/greenhouse-sensor.yaml"),
        &dir,
    );
    let script = r#"
import asyncio, lua_runtime, device, handlers, triggers

async def answer(command, payload):
    try:
        return "ok " + repr(await lua_runtime._answering(device.COMMANDS[command])(payload))
    except Exception as e:
        return "error " + str(e)

async def main():
    print(await answer("read_environment", {}))
    print(await answer("toggle_irrigation", {"enabled": "yes"}))
    async def wrong(payload):
        return {"temperature": "warm", "humidity": 40}
    handlers.read_environment = wrong
    print(await answer("read_environment", {}))
    async def nan(payload):
        return {"irrigationOn": True, "x": float("nan")}
    handlers.toggle_irrigation = nan
    print(await answer("toggle_irrigation", {"enabled": True}))
    try:
        await triggers.humidity_alert(humidity="high", threshold=80)
    except ValueError as e:
        print("trigger " + str(e))

asyncio.run(main())
"#;
    std::fs::write(dir.join("probe.py"), script).unwrap();
    let output = Command::new(python_venv().unwrap())
        .arg("probe.py")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "error read_environment is not implemented yet",
            "error enabled: must be a boolean, found string",
            "error the result does not match the outputSchema: temperature: must be a number, \
             found string",
            "error the result is not JSON: Out of range float values are not JSON compliant",
            "trigger humidity: must be an integer, found string",
        ],
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every repository manifest: the generated device (its handlers answering with the plan's
/// reference outputs) and the official client run the session derived from the manifest
/// through a real mosquitto; the transcripts must agree but for PROTOCOL.md's improvements,
/// and the generated device refuses the invalid payload naming the field, which the official
/// client hands to its handler.
#[test]
fn the_generated_device_is_indistinguishable_from_the_official_client_on_every_manifest() {
    let mut passed = Vec::new();
    for manifest in repository_manifests() {
        let plan = Plan::from_manifest(&manifest).unwrap_or_else(|e| panic!("{e:?}"));
        let dir = scratch_dir("cpython-session").unwrap();
        generate(&manifest, &dir);
        std::fs::write(dir.join("handlers.py"), reference_handlers(&dir, &plan)).unwrap();
        let candidate = session::run_plan(&device(&dir), &plan).unwrap_or_else(|e| panic!("{e:?}"));
        let official = session::run_plan(
            &fixtures::official_generic_device(&plan).expect("official client venv"),
            &plan,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_plan_indistinguishable(&official, &candidate, &plan);
        if let Some(invalid) = &plan.invalid {
            assert!(
                names_field_in_error(&candidate, &plan),
                "{} must refuse {} naming `{}`:\n{}",
                manifest.display(),
                invalid.call.payload,
                invalid.field,
                candidate.render()
            );
        }
        passed.push(manifest.file_name().unwrap().to_string_lossy().into_owned());
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!(
        "{} manifests through the session: {}",
        passed.len(),
        passed.join(", ")
    );
}

/// `handlers.py` of the conformance fixture on the generated CPython project: the handler
/// semantics of `tests/python/official_device.py`, written the way a user fills in the typed
/// stubs (and checked by mypy --strict as they are).
const CONFORMANCE_HANDLERS: &str = r#"import asyncio
import typing as _t

import payloads
import triggers

_executions = [0]


async def echo(payload: payloads.EchoInput) -> payloads.EchoOutput:
    return payload


async def fail(payload: _t.Any) -> object:
    raise RuntimeError("deliberate failure")


async def count(payload: _t.Any) -> payloads.CountOutput:
    _executions[0] += 1
    return {"count": _executions[0]}


async def no_output(payload: _t.Any) -> object:
    return None


async def fire_trigger(payload: payloads.FireTriggerInput) -> payloads.FireTriggerOutput:
    ack = await triggers.alert(level=payload["level"])
    return {"triggerId": ack.trigger_id, "received": ack.received}


async def slow(payload: payloads.SlowInput) -> payloads.SlowOutput:
    await asyncio.sleep(payload["ms"] / 1000)
    return {"slept": payload["ms"]}
"#;

/// The strict session of the conformance fixture (typed trigger round trip, duplicates,
/// concurrent commands, graceful disconnect, last will): the generated device with the
/// fixture's handlers against the official client's own fixture device.
#[test]
fn the_generated_conformance_device_is_indistinguishable_from_the_official_client() {
    let dir = scratch_dir("cpython-conformance").unwrap();
    generate(&session::fixture_manifest(), &dir);
    std::fs::write(dir.join("handlers.py"), CONFORMANCE_HANDLERS).unwrap();
    let output = mypy_strict(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let generated = session::run(&device(&dir)).unwrap_or_else(|e| panic!("{e:?}"));
    let official = session::run(&fixtures::official_device().expect("official client venv"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let first = generated.responses_to(session::ids::COUNT_FIRST);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], first[1]);
    lua_testkit::conformance::assert_indistinguishable(
        &official,
        &generated,
        "ms: must be an integer, found string",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
