//! The CPython target: a typed device project on the official client (`lua-device-client` from
//! PyPI), for a computer rather than a board.
//!
//! The official client does the wire work; the project adds what PROTOCOL.md asks of a
//! generated device on top of it: every payload's type (`payloads.py`, `TypedDict`s from the
//! type IR), the checks of every input, result and trigger payload (`validators.py`, written by
//! the MicroPython target's [`ValidatorWriter`] and template, so both targets refuse with the
//! same words), typed trigger functions and handler stubs the user owns. `mypy --strict` checks
//! the whole project against a stub of the client's API (`stubs/lua_device/__init__.pyi`): the
//! client ships no type information of its own.

pub mod handlers;
pub mod payloads;

use minijinja::Environment;
use serde::Serialize;

use self::payloads::PayloadWriter;
use crate::diagnostic::Diagnostics;
use crate::emit::markdown::md_inline;
use crate::emit::micropython::escape::{doc_inline, doc_lines, py_str};
use crate::emit::micropython::pattern;
use crate::emit::micropython::validators::ValidatorWriter;
use crate::emit::micropython::{collapse_blank_lines, describe_fields, Helpers, PyTypes};
use crate::emit::project::{GeneratedFile, Project};
use crate::emit::refusal;
use crate::ident::{self, Namer};
use crate::ir::{Shape, TypeDefKind};
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
        let ctx = Context::new(device)
            .map_err(|refused| refusal::patterns(device, "CPython", &refused))?;
        let env = environment();
        let render = |name: &str| -> String {
            env.get_template(name)
                .and_then(|t| t.render(&ctx))
                .unwrap_or_else(|e| panic!("template {name} is broken: {e:#}"))
        };
        let handlers = match &options.existing_handlers {
            None => GeneratedFile::user("handlers.py", render("handlers.py.j2")),
            Some(existing) => match handlers::missing_stubs(&env, existing, &ctx.commands) {
                // Stubs appended to the user's file: their text first, untouched.
                Some(added) => {
                    GeneratedFile::generated("handlers.py", format!("{existing}{added}"))
                }
                None => GeneratedFile::user("handlers.py", existing.clone()),
            },
        };
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

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name} does not parse: {e:#}"));
    }
    env
}

/// Everything the templates see, already escaped for where it goes.
#[derive(Serialize)]
struct Context {
    manifest_doc: String,
    title: String,
    description: Vec<String>,
    /// The device name as it is (the manifest's rule keeps it to `a-z`, `0-9` and `-`).
    device_name: String,
    name: String,
    group: String,
    registration: String,
    commands: Vec<CommandCtx>,
    triggers: Vec<TriggerCtx>,
    /// `payloads.py` after its imports.
    types: String,
    /// The validator functions; `helpers` and `multiple_of_tolerance` are what the shared
    /// validators template needs beside them.
    code: String,
    helpers: Helpers,
    multiple_of_tolerance: String,
    client: &'static str,
}

#[derive(Serialize)]
pub(crate) struct CommandCtx {
    wire: String,
    wire_doc: String,
    summary: String,
    /// The handler in `handlers.py`.
    pub(crate) function: String,
    validator: Option<String>,
    output_validator: Option<String>,
    input_type: String,
    output_type: String,
    /// `output_type` as `device.py` writes it (`payloads.` before a payload type).
    result_type: String,
    doc: Vec<String>,
    input_doc: Vec<String>,
    output_doc: Vec<String>,
    not_implemented: String,
}

#[derive(Serialize)]
struct TriggerCtx {
    wire: String,
    wire_doc: String,
    function: String,
    signature: String,
    kind: &'static str,
    validator: Option<String>,
    doc: Vec<String>,
    params: Vec<ParamCtx>,
}

#[derive(Serialize)]
struct ParamCtx {
    name: String,
    wire: String,
    required: bool,
    doc: String,
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

impl Context {
    fn new(device: &Device) -> Result<Self, Vec<refusal::PatternRefusal>> {
        let types = &PyTypes::new(&device.types);
        // MicroPython's checks, but for where CPython's `re` reads `$` differently.
        let mut writer = ValidatorWriter::for_engine(types, pattern::Engine::CPython);
        let mut annotations = PayloadWriter::new(types);
        let mut validator_names = Namer::new();
        let mut handler_names = Namer::new();
        for n in MODULE_NAMES {
            validator_names.claim((*n).to_string());
            handler_names.claim((*n).to_string());
        }
        for n in CALLBACKS {
            handler_names.claim((*n).to_string());
        }
        let mut commands = Vec::new();
        for c in &device.commands {
            let function = handler_names.claim(ident::python_snake(&c.name));
            let validator = c.input.map(|id| {
                let name =
                    validator_names.claim(format!("command_{}", ident::python_snake(&c.name)));
                writer.entry(&name, &Shape::Named { id });
                name
            });
            let output_validator = c.output.map(|id| {
                let name =
                    validator_names.claim(format!("result_{}", ident::python_snake(&c.name)));
                writer.entry(&name, &Shape::Named { id });
                name
            });
            let input_shape = c.input.map(|id| Shape::Named { id });
            let output_shape = c.output.map(|id| Shape::Named { id });
            let payload_type = |annotations: &mut PayloadWriter, shape: &Option<Shape>, none| {
                shape.as_ref().map_or_else(
                    || String::from(none),
                    |s| annotations.annotation(s, "payloads."),
                )
            };
            // No inputSchema: whatever JSON arrived. No outputSchema: any JSON-able value.
            let input_type = payload_type(&mut annotations, &input_shape, "_t.Any");
            let output_type = payload_type(&mut annotations, &output_shape, "object");
            commands.push(CommandCtx {
                wire: py_str(&c.name),
                // Inside a Markdown code span; the manifest checks keep command names to
                // snake_case.
                wire_doc: c.name.clone(),
                summary: md_inline(&c.description),
                validator,
                output_validator,
                result_type: output_type.clone(),
                input_type,
                output_type,
                doc: doc_lines(&c.description),
                input_doc: input_shape
                    .as_ref()
                    .map(|s| describe_fields(types, s))
                    .unwrap_or_default(),
                output_doc: output_shape
                    .as_ref()
                    .map(|s| describe_fields(types, s))
                    .unwrap_or_default(),
                not_implemented: py_str(&format!("{} is not implemented yet", c.name)),
                function,
            });
        }
        let mut trigger_names = Namer::new();
        for n in MODULE_NAMES {
            trigger_names.claim((*n).to_string());
        }
        let mut triggers = Vec::new();
        for t in &device.triggers {
            let function = trigger_names.claim(ident::python_snake(&t.name));
            let validator = t.payload.map(|id| {
                let name =
                    validator_names.claim(format!("trigger_{}", ident::python_snake(&t.name)));
                writer.entry(&name, &Shape::Named { id });
                name
            });
            let fields = t.payload.and_then(|id| match &types.get(id).kind {
                TypeDefKind::Struct(s) => Some(s),
                _ => None,
            });
            let (kind, params, signature) = match (t.payload, fields) {
                (None, _) => ("none", Vec::new(), String::new()),
                (Some(id), Some(s)) => {
                    let mut params: Vec<(ParamCtx, String)> = s
                        .fields
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let name = types.names.member(id, i);
                            let ann = annotations.annotation(&f.shape, "payloads.");
                            let decl = if f.required {
                                format!("{name}: {ann}")
                            } else {
                                format!("{name}: _t.Optional[{ann}] = None")
                            };
                            let param = ParamCtx {
                                name: name.to_string(),
                                wire: py_str(&f.wire_name),
                                required: f.required,
                                doc: crate::emit::micropython::field_line(types, f),
                            };
                            (param, decl)
                        })
                        .collect();
                    // Keyword-only, required first; the payload keeps the manifest's order
                    // because each key is set by name.
                    params.sort_by_key(|(p, _)| !p.required);
                    let decls: Vec<String> = params.iter().map(|(_, d)| d.clone()).collect();
                    let signature = if decls.is_empty() {
                        String::new()
                    } else {
                        format!("*, {}", decls.join(", "))
                    };
                    (
                        "object",
                        params.into_iter().map(|(p, _)| p).collect(),
                        signature,
                    )
                }
                (Some(id), None) => (
                    "value",
                    Vec::new(),
                    format!(
                        "payload: {}",
                        annotations.annotation(&Shape::Named { id }, "payloads.")
                    ),
                ),
            };
            triggers.push(TriggerCtx {
                wire: py_str(&t.name),
                wire_doc: t.name.clone(),
                function,
                signature,
                kind,
                validator,
                doc: doc_lines(&t.description),
                params,
            });
        }
        let generated = writer.finish();
        if !generated.unsupported.is_empty() {
            return Err(generated.unsupported);
        }
        let registration = serde_json::to_string(&device.registration_commands())
            .expect("JSON values always serialize");
        Ok(Self {
            manifest_doc: doc_inline(&format!("the manifest of `{}`", device.name)),
            title: md_inline(&device.name),
            description: device
                .description
                .as_deref()
                .map(|d| vec![md_inline(d)])
                .unwrap_or_default(),
            device_name: device.name.clone(),
            name: py_str(&device.name),
            group: device.group.as_deref().map_or("None".into(), py_str),
            registration: py_str(&registration),
            commands,
            triggers,
            types: annotations.module(),
            helpers: Helpers::used_by(&generated),
            multiple_of_tolerance: format!("{:?}", lua_device_core::rule::MULTIPLE_OF_TOLERANCE),
            code: generated.code,
            client: CLIENT_REQUIREMENT,
        })
    }
}
