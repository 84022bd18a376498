//! The CPython target: a typed device project on the official client (`lua-device-client` from
//! PyPI), for a computer rather than a board.
//!
//! The official client does the wire work; the project adds what PROTOCOL.md asks of a
//! generated device on top of it: every payload's type (`payloads.py`, `TypedDict`s from the
//! type IR), the checks of every input, result and trigger payload (`validators.py`, written by
//! the MicroPython target's [`ValidatorWriter`] and template, so both targets refuse with the
//! same words), typed trigger functions and handler stubs the user owns (named and documented
//! as the MicroPython target's, from their shared `micropython::context`). `mypy --strict`
//! checks the whole project against a stub of the client's API (`stubs/lua_device/__init__.pyi`):
//! the client ships no type information of its own.

pub mod payloads;

use serde::Serialize;

use self::payloads::PayloadWriter;
use crate::diagnostic::Diagnostics;
use crate::emit::micropython::context::{
    CommandCtx, DeviceCtx, Payload, Shared, Signature, TriggerCtx, With,
};
use crate::emit::micropython::validators::ValidatorWriter;
use crate::emit::micropython::{collapse_blank_lines, handlers, pattern, PyTypes};
use crate::emit::project::{GeneratedFile, Project};
use crate::emit::refusal::{self, PatternRefusal};
use crate::emit::templates;
use crate::ir::Shape;
use crate::model::Device;
use crate::names::{self, Names};

/// The runtime module, the same for every device: configuration, the official client, the
/// checks around each handler.
pub const RUNTIME: &str = include_str!("../../../../../templates/cpython/lua_runtime.py");

/// The typed boundary to the official client: the part of its API the runtime uses.
pub const CLIENT_STUB: &str = include_str!("../../../../../templates/cpython/lua_device.pyi");

/// The version of the official client the stub describes and the project pins.
pub const CLIENT_REQUIREMENT: &str = "lua-device-client==1.3.0";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "main.py.j2",
        include_str!("../../../../../templates/cpython/main.py.j2"),
    ),
    (
        "device.py.j2",
        include_str!("../../../../../templates/cpython/device.py.j2"),
    ),
    (
        "payloads.py.j2",
        include_str!("../../../../../templates/cpython/payloads.py.j2"),
    ),
    (
        // The MicroPython target's own template: one validator generator, two targets.
        "validators.py.j2",
        include_str!("../../../../../templates/micropython/validators.py.j2"),
    ),
    (
        "triggers.py.j2",
        include_str!("../../../../../templates/cpython/triggers.py.j2"),
    ),
    (
        "handler.py.j2",
        include_str!("../../../../../templates/cpython/handler.py.j2"),
    ),
    (
        "handlers.py.j2",
        include_str!("../../../../../templates/cpython/handlers.py.j2"),
    ),
    (
        "config.py.j2",
        include_str!("../../../../../templates/cpython/config.py.j2"),
    ),
    (
        "pyproject.toml.j2",
        include_str!("../../../../../templates/cpython/pyproject.toml.j2"),
    ),
    (
        "gitignore.j2",
        include_str!("../../../../../templates/cpython/gitignore.j2"),
    ),
    (
        "README.md.j2",
        include_str!("../../../../../templates/cpython/README.md.j2"),
    ),
];

/// How to generate.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The `handlers.py` already in the output directory, if any: stubs for commands it
    /// lacks are appended to it, everything else in it is kept.
    pub existing_handlers: Option<String>,
}

/// A CPython project for one device.
pub struct CPythonProject;

impl crate::emit::Target for Options {
    fn title(&self) -> String {
        "CPython on the official lua-device-client".into()
    }

    fn names(&self, device: &Device) -> Names {
        names::python(&device.types)
    }

    fn project(&self, device: &Device) -> Result<Project, Diagnostics> {
        CPythonProject::generate(device, self)
    }
}

impl CPythonProject {
    /// Every file of the project for `device`; a schema pattern Python's `re` cannot run (the
    /// MicroPython target's refusals: the same checks run here) is refused at its spans.
    pub fn generate(device: &Device, options: &Options) -> Result<Project, Diagnostics> {
        let types = PyTypes::new(&device.types);
        let ctx = Context::new(device, &types)
            .map_err(|refused| refusal::patterns(device, "CPython", &refused))?;
        let env = templates::environment(TEMPLATES);
        let render = |name: &str| templates::render(&env, name, &ctx);
        let existing = options.existing_handlers.as_deref();
        let handlers = handlers::file(&env, &ctx, existing, &ctx.commands);
        let files = vec![
            GeneratedFile::generated("main.py", render("main.py.j2")),
            GeneratedFile::generated("lua_runtime.py", RUNTIME),
            GeneratedFile::generated("device.py", render("device.py.j2")),
            GeneratedFile::generated("payloads.py", render("payloads.py.j2")),
            GeneratedFile::generated(
                "validators.py",
                collapse_blank_lines(&render("validators.py.j2")),
            ),
            GeneratedFile::generated("triggers.py", render("triggers.py.j2")),
            handlers,
            GeneratedFile::user("config.py", render("config.py.j2")),
            GeneratedFile::user("pyproject.toml", render("pyproject.toml.j2")),
            GeneratedFile::generated("stubs/lua_device/__init__.pyi", CLIENT_STUB),
            GeneratedFile::generated(".gitignore", render("gitignore.j2")),
            GeneratedFile::generated("README.md", render("README.md.j2")),
        ];
        Ok(Project { files })
    }
}

/// Everything the templates see, already escaped for where it goes.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    device: DeviceCtx,
    /// The device name as it is (the manifest's rule keeps it to `a-z`, `0-9` and `-`).
    device_name: String,
    commands: Vec<With<CommandCtx, HandlerCtx>>,
    triggers: Vec<With<TriggerCtx<'a>, Signature>>,
    /// `payloads.py` after its imports.
    types: String,
    client: &'static str,
}

/// What this target adds to a command: its handler's annotations.
#[derive(Serialize)]
struct HandlerCtx {
    input_type: String,
    output_type: String,
    /// `output_type` as `device.py` writes it (`payloads.` before a payload type).
    result_type: String,
}

/// Names the generated modules define or import, which command, trigger and validator
/// functions must not take.
const MODULE_NAMES: &[&str] = &[
    "lua_runtime",
    "payloads",
    "triggers",
    "validators",
    "handlers",
    "device",
    "config",
    "json",
    "re",
    "TYPE_CHECKING",
    "Any",
    "Optional",
    payloads::TYPING,
];

/// The functions `handlers.py` may define beside its commands, found by name.
const CALLBACKS: &[&str] = &[
    "background",
    "on_connected",
    "on_reconnected",
    "on_disconnected",
    "on_error",
    "on_trigger_result",
];

impl<'a> Context<'a> {
    fn new(device: &Device, types: &'a PyTypes<'_>) -> Result<Self, Vec<PatternRefusal>> {
        // MicroPython's checks, but for where CPython's `re` reads `$` differently.
        let writer = ValidatorWriter::for_engine(types, pattern::Engine::CPython);
        let shared = Shared::new(device, types, writer, MODULE_NAMES, CALLBACKS)?;
        let mut annotations = PayloadWriter::new(types);
        let commands = (shared.commands.into_iter())
            .map(|shared| {
                let mut payload_type = |shape: &Option<Shape>, none: &str| {
                    shape.as_ref().map_or_else(
                        || String::from(none),
                        |s| annotations.annotation(s, "payloads."),
                    )
                };
                // No inputSchema: whatever JSON arrived. No outputSchema: any JSON-able value.
                let input_type = payload_type(&shared.input, "_t.Any");
                let output_type = payload_type(&shared.output, "object");
                let own = HandlerCtx {
                    input_type,
                    result_type: output_type.clone(),
                    output_type,
                };
                With { shared, own }
            })
            .collect();
        let triggers = (shared.triggers.into_iter())
            .map(|shared| {
                let signature = match shared.payload {
                    Payload::None => String::new(),
                    Payload::Object(_) => {
                        let decls = shared.param_decls(|name, f| {
                            let ann = annotations.annotation(&f.shape, "payloads.");
                            if f.required {
                                format!("{name}: {ann}")
                            } else {
                                format!("{name}: _t.Optional[{ann}] = None")
                            }
                        });
                        // Keyword-only, so a call names every field it sets.
                        match decls.is_empty() {
                            true => String::new(),
                            false => format!("*, {}", decls.join(", ")),
                        }
                    }
                    Payload::Value(id) => format!(
                        "payload: {}",
                        annotations.annotation(&Shape::Named { id }, "payloads.")
                    ),
                };
                With {
                    shared,
                    own: Signature { signature },
                }
            })
            .collect();
        Ok(Self {
            device: shared.device,
            device_name: device.name.clone(),
            commands,
            triggers,
            types: annotations.module(),
            client: CLIENT_REQUIREMENT,
        })
    }
}
