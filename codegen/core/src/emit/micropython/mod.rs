//! The MicroPython target: a project a person copies to a Pico W running stock MicroPython.
//!
//! One data flow: the validated [`Device`] and its type IR become a context computed here,
//! every manifest string already escaped for Python by [`escape`]; the minijinja templates
//! under `templates/micropython/` (embedded at compile time) only lay it out. The runtime
//! modules (`lua_runtime.py` and the parts it loads only when needed) are ours and the same
//! for every device.

pub mod escape;
pub mod handlers;
pub mod mpy;
pub mod pattern;
pub mod validators;

use crate::board::{self, Board};
use crate::diagnostic::Diagnostics;
use crate::emit::refusal::{self, PatternRefusal};

use minijinja::Environment;
use serde::Serialize;

use self::escape::{doc_inline, doc_lines, py_str};
use self::validators::ValidatorWriter;
use crate::emit::markdown::md_inline;
use crate::emit::project::{GeneratedFile, Project};
use crate::ident::{self, Namer};
use crate::ir::{Shape, TypeDefKind, TypeSpace};
use crate::model::Device;
use crate::names::{self, Names};
use crate::trust;

/// The runtime module, the same for every device.
pub const RUNTIME: &str = include_str!("../../../../../templates/micropython/lua_runtime.py");

/// MQTT over WebSocket, imported by the runtime only for ws:// and wss:// URLs.
pub const WEBSOCKET: &str = include_str!("../../../../../templates/micropython/lua_ws.py");

/// Opening and closing a connection, imported by the runtime for each and dropped after.
pub const CONNECT: &str = include_str!("../../../../../templates/micropython/lua_connect.py");

/// The rare messages (the gateway's confirmation and errors, trigger results), imported by
/// the runtime for each and dropped after.
pub const EVENTS: &str = include_str!("../../../../../templates/micropython/lua_events.py");

/// Reading past a command larger than the device accepts, imported by the runtime for each.
pub const OVERSIZE: &str = include_str!("../../../../../templates/micropython/lua_oversize.py");

/// Sending a trigger and awaiting its ack, imported by `triggers.py` when there are triggers.
pub const TRIGGER: &str = include_str!("../../../../../templates/micropython/lua_trigger.py");

/// Setting the clock by NTP, imported by `lua_connect` and the runtime for each sync.
pub const NTP: &str = include_str!("../../../../../templates/micropython/lua_ntp.py");

/// Uploads to and downloads from the Lua CDN, imported only by the user's code that calls it.
pub const CDN: &str = include_str!("../../../../../templates/micropython/lua_cdn.py");

/// The runtime modules, the same for every device: (file name, source).
pub const RUNTIME_MODULES: &[(&str, &str)] = &[
    ("lua_runtime.py", RUNTIME),
    ("lua_connect.py", CONNECT),
    ("lua_events.py", EVENTS),
    ("lua_oversize.py", OVERSIZE),
    ("lua_ws.py", WEBSOCKET),
    ("lua_trigger.py", TRIGGER),
    ("lua_ntp.py", NTP),
    ("lua_cdn.py", CDN),
];

const TEMPLATES: &[(&str, &str)] = &[
    (
        "main.py.j2",
        include_str!("../../../../../templates/micropython/main.py.j2"),
    ),
    (
        "device_spec.py.j2",
        include_str!("../../../../../templates/micropython/device_spec.py.j2"),
    ),
    (
        "device_registration.py.j2",
        include_str!("../../../../../templates/micropython/device_registration.py.j2"),
    ),
    (
        "validators.py.j2",
        include_str!("../../../../../templates/micropython/validators.py.j2"),
    ),
    (
        "triggers.py.j2",
        include_str!("../../../../../templates/micropython/triggers.py.j2"),
    ),
    (
        "handler.py.j2",
        include_str!("../../../../../templates/micropython/handler.py.j2"),
    ),
    (
        "handlers.py.j2",
        include_str!("../../../../../templates/micropython/handlers.py.j2"),
    ),
    (
        "config.py.j2",
        include_str!("../../../../../templates/micropython/config.py.j2"),
    ),
    (
        "secrets.py.example.j2",
        include_str!("../../../../../templates/micropython/secrets.py.example.j2"),
    ),
    (
        "gitignore.j2",
        include_str!("../../../../../templates/micropython/gitignore.j2"),
    ),
    (
        "README.md.j2",
        include_str!("../../../../../templates/micropython/README.md.j2"),
    ),
];

/// The generated modules a board imports (what `--mpy` precompiles).
pub const MODULES: &[&str] = &[
    "lua_runtime.py",
    "lua_connect.py",
    "lua_events.py",
    "lua_oversize.py",
    "lua_ws.py",
    "lua_trigger.py",
    "lua_ntp.py",
    "lua_cdn.py",
    "device_spec.py",
    "device_registration.py",
    "validators.py",
    "triggers.py",
];

/// How to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `handlers.py` already in the output directory, if any: stubs for commands it
    /// lacks are appended to it, everything else in it is kept.
    pub existing_handlers: Option<String>,
    /// Deploy `.mpy` files instead of the `.py` modules (the README's copy command).
    pub mpy: bool,
    /// The board the project runs on (which MicroPython build to flash, its limits).
    pub board: &'static Board,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            existing_handlers: None,
            mpy: false,
            board: &board::PICO_W,
        }
    }
}

/// A MicroPython project for one device.
pub struct MicroPythonProject;

impl crate::emit::Target for Options {
    fn title(&self) -> String {
        format!("MicroPython on the {}", self.board.title)
    }

    fn names(&self, device: &Device) -> Names {
        names::python(&device.types)
    }

    fn project(&self, device: &Device) -> Result<Project, Diagnostics> {
        MicroPythonProject::generate(device, self)
    }
}

impl MicroPythonProject {
    /// Every file of the project for `device`; what MicroPython cannot check (a schema
    /// pattern its `re` cannot run) is refused at the manifest's spans, all at once.
    pub fn generate(device: &Device, options: &Options) -> Result<Project, Diagnostics> {
        let ctx = Context::new(device, options)
            .map_err(|refused| refusal::patterns(device, "MicroPython", &refused))?;
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
        let mut files = vec![GeneratedFile::generated("main.py", render("main.py.j2"))];
        for (name, source) in RUNTIME_MODULES {
            files.push(GeneratedFile::generated(name, *source));
        }
        files.extend([
            GeneratedFile::generated("device_spec.py", render("device_spec.py.j2")),
            GeneratedFile::generated(
                "device_registration.py",
                render("device_registration.py.j2"),
            ),
            GeneratedFile::generated(
                "validators.py",
                collapse_blank_lines(&render("validators.py.j2")),
            ),
            GeneratedFile::generated("triggers.py", render("triggers.py.j2")),
            handlers,
            GeneratedFile::user("config.py", render("config.py.j2")),
            GeneratedFile::generated("secrets.py.example", render("secrets.py.example.j2")),
            GeneratedFile::generated(".gitignore", render("gitignore.j2")),
            GeneratedFile::generated("README.md", render("README.md.j2")),
            // Trusted when there is no ca.der; lua_connect loads it root by root.
            GeneratedFile::generated(trust::FILE, trust::roots_der()),
        ]);
        Ok(Project { files })
    }
}

/// At most two blank lines in a row (helpers left out leave their spacing behind).
pub(crate) fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 2 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
    }
    out
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
    name: String,
    group: String,
    registration: String,
    commands: Vec<CommandCtx>,
    triggers: Vec<TriggerCtx>,
    code: String,
    helpers: Helpers,
    /// `lua_device_core::rule::MULTIPLE_OF_TOLERANCE` as a Python float.
    multiple_of_tolerance: String,
    deploy: String,
    /// [`MODULES`] as a Python tuple's items, for the README's frozen-firmware manifest.
    frozen: String,
    board: &'static Board,
    /// The hex digits of a unit's `{uid}` on this board.
    uid_digits: usize,
}

/// Which helper functions the generated checks call: only those are emitted, since every
/// function costs heap on the board.
#[derive(Serialize)]
pub(crate) struct Helpers {
    found: bool,
    at: bool,
    idx: bool,
    is_int: bool,
    chars: bool,
    is_num: bool,
    multiple: bool,
    same: bool,
    one_of: bool,
    unique: bool,
    #[serde(rename = "match")]
    match_: bool,
}

impl Helpers {
    /// The helpers `validators` recorded as it wrote its calls, with the helpers those call.
    pub(crate) fn used_by(validators: &validators::Validators) -> Self {
        use validators::Helper;
        let calls = |h: Helper| validators.helpers.contains(&h);
        let one_of = calls(Helper::OneOf);
        let unique = calls(Helper::Unique);
        // `_one_of` and `_unique` compare with `_same`, which compares numbers with `_is_num`.
        let same = calls(Helper::Same) || one_of || unique;
        Self {
            found: validators.found,
            at: calls(Helper::At),
            idx: calls(Helper::Idx),
            is_int: calls(Helper::IsInt),
            chars: calls(Helper::Chars),
            is_num: calls(Helper::IsNum) || same,
            multiple: calls(Helper::Multiple),
            same,
            one_of,
            unique,
            match_: calls(Helper::Search),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CommandCtx {
    wire: String,
    wire_doc: String,
    summary: String,
    pub(crate) function: String,
    handler_name: String,
    validator: Option<String>,
    /// The check of the handler's result, for a command with an outputSchema.
    output_validator: Option<String>,
    /// How long the gateway may resend the command, PROTOCOL.md's retry horizon.
    horizon_ms: u64,
    input_type: &'static str,
    output_type: &'static str,
    doc: Vec<String>,
    input_doc: Vec<String>,
    output_doc: Vec<String>,
    not_implemented: String,
}

#[derive(Serialize)]
struct TriggerCtx {
    wire: String,
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

/// Names the generated modules define or import, which command and trigger functions must
/// not take.
const MODULE_NAMES: &[&str] = &[
    "lua_runtime",
    "lua_trigger",
    "triggers",
    "validators",
    "TYPE_CHECKING",
    "Any",
    "Optional",
    "re",
];

impl Context {
    fn new(device: &Device, options: &Options) -> Result<Self, Vec<PatternRefusal>> {
        let types = &PyTypes::new(&device.types);
        let mut writer = ValidatorWriter::new(types);
        let mut validator_names = Namer::new();
        let mut handler_names = Namer::new();
        for n in MODULE_NAMES {
            validator_names.claim((*n).to_string());
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
            commands.push(CommandCtx {
                wire: py_str(&c.name),
                // Inside a Markdown code span, where escapes do not apply; the manifest
                // checks keep command names to snake_case.
                wire_doc: c.name.clone(),
                summary: md_inline(&c.description),
                handler_name: py_str(&function),
                validator,
                output_validator,
                horizon_ms: c
                    .retry
                    .map_or(0, |r| u64::from(r.max_attempts) * u64::from(r.backoff_ms))
                    + u64::from(c.timeout_ms),
                input_type: input_shape
                    .as_ref()
                    .map_or("\"Any\"", |s| annotation(types, s)),
                output_type: match &output_shape {
                    // No outputSchema: the manifest does not say; `data` is sent when the
                    // handler returns something.
                    None => "\"Any\"",
                    Some(s) => annotation(types, s),
                },
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
                (None, _) => ("none", Vec::new(), "_wait_ms: int = 10000".to_string()),
                (Some(id), Some(s)) => {
                    let mut params: Vec<(ParamCtx, String)> = s
                        .fields
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let name = types.names.member(id, i);
                            let ann = annotation(types, &f.shape);
                            let decl = if f.required {
                                format!("{name}: {ann}")
                            } else {
                                format!("{name}: \"Optional[{}]\" = None", ann.trim_matches('"'))
                            };
                            (
                                ParamCtx {
                                    name: name.to_string(),
                                    wire: py_str(&f.wire_name),
                                    required: f.required,
                                    doc: field_line(types, f),
                                },
                                decl,
                            )
                        })
                        .collect();
                    // Python wants parameters with defaults last; the payload keeps the
                    // manifest's order because each key is set by name.
                    params.sort_by_key(|(p, _)| !p.required);
                    let mut decls: Vec<String> = params.iter().map(|(_, d)| d.clone()).collect();
                    decls.push("_wait_ms: int = 10000".into());
                    (
                        "object",
                        params.into_iter().map(|(p, _)| p).collect(),
                        decls.join(", "),
                    )
                }
                (Some(id), None) => (
                    "value",
                    Vec::new(),
                    format!(
                        "payload: {}, _wait_ms: int = 10000",
                        annotation(types, &Shape::Named { id })
                    ),
                ),
            };
            triggers.push(TriggerCtx {
                wire: py_str(&t.name),
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
        let ext = if options.mpy { ".mpy" } else { ".py" };
        let mut deploy = format!("main.py handlers.py config.py secrets.py {}", trust::FILE);
        for module in MODULES {
            deploy.push(' ');
            deploy.push_str(&module.replace(".py", ext));
        }
        Ok(Self {
            manifest_doc: doc_inline(&format!("the manifest of `{}`", device.name)),
            title: md_inline(&device.name),
            description: device
                .description
                .as_deref()
                .map(|d| vec![md_inline(d)])
                .unwrap_or_default(),
            name: py_str(&device.name),
            group: device.group.as_deref().map_or("None".into(), py_str),
            registration: py_str(&registration),
            commands,
            triggers,
            helpers: Helpers::used_by(&generated),
            multiple_of_tolerance: format!("{:?}", lua_device_core::rule::MULTIPLE_OF_TOLERANCE),
            code: generated.code,
            deploy,
            frozen: MODULES
                .iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", "),
            board: options.board,
            uid_digits: options.board.chip.unique_id_bytes * 2,
        })
    }
}

/// The Python annotation for a value of `shape` (a string, so no runtime import is needed).
fn annotation(types: &PyTypes, shape: &Shape) -> &'static str {
    match shape {
        Shape::Boolean => "bool",
        Shape::Integer(_) => "int",
        Shape::Number(_) => "float",
        Shape::String(_) => "str",
        Shape::Array(_) => "list",
        Shape::Map { .. } => "dict",
        Shape::Named { id } => match &types.get(*id).kind {
            TypeDefKind::Struct(_) => "dict",
            TypeDefKind::Enum(_) => "str",
            TypeDefKind::Alias { shape } => annotation(types, shape),
            TypeDefKind::Union(_) => "\"Any\"",
        },
        _ => "\"Any\"",
    }
}

/// The device's payload types with their Python names (the naming pass).
pub(crate) struct PyTypes<'a> {
    space: &'a TypeSpace,
    pub(crate) names: Names,
}

impl<'a> PyTypes<'a> {
    pub(crate) fn new(space: &'a TypeSpace) -> Self {
        Self {
            space,
            names: names::python(space),
        }
    }
}

impl std::ops::Deref for PyTypes<'_> {
    type Target = TypeSpace;

    fn deref(&self) -> &TypeSpace {
        self.space
    }
}

/// A type and the rules of its check plan, in the words its checks fail with: `int, must be
/// at least 0, must be at most 100`.
fn with_plan(ty: &str, plan: &[crate::ir::Constraint]) -> String {
    let mut s = ty.to_string();
    for c in plan.iter().filter(|c| validators::checked(c)) {
        s.push_str(", ");
        s.push_str(&c.rule().text());
    }
    s
}

/// A short description of a value's type and constraints for docstrings.
fn describe(types: &PyTypes, shape: &Shape) -> String {
    match shape {
        Shape::Any => "any JSON value".into(),
        Shape::Boolean => "bool".into(),
        Shape::Integer(i) => with_plan("int", &i.constraints),
        Shape::Number(n) => with_plan("float", &n.constraints),
        Shape::String(st) => {
            let s = with_plan("str", &st.constraints);
            match &st.format {
                Some(f) => format!("{s}, {f}"),
                None => s,
            }
        }
        Shape::Array(a) => format!("list of {}", describe(types, &a.items)),
        Shape::Map {
            values,
            constraints,
        } => with_plan(&format!("dict of {}", describe(types, values)), constraints),
        Shape::Nullable { inner } => format!("{} or None", describe(types, inner)),
        Shape::Const { value } => format!("always {value}"),
        Shape::Literals { values, .. } => format!(
            "one of {}",
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Shape::Named { id } => {
            let def = types.get(*id);
            match &def.kind {
                TypeDefKind::Struct(_) => format!("{} (dict)", types.names.ty(*id)),
                TypeDefKind::Enum(e) => format!(
                    "one of {}",
                    e.variants
                        .iter()
                        .map(|v| serde_json::Value::from(v.wire.clone()).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                TypeDefKind::Union(u) => format!(
                    "{}: {}",
                    types.names.ty(*id),
                    (0..u.variants.len())
                        .map(|i| types.names.member(*id, i))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
                TypeDefKind::Alias { shape } => describe(types, shape),
            }
        }
    }
}

/// `wire (type, required): doc`, escaped for a docstring.
pub(crate) fn field_line(types: &PyTypes, f: &crate::ir::Field) -> String {
    let mut s = format!(
        "{} ({}, {}",
        f.wire_name,
        describe(types, &f.shape),
        if f.required { "required" } else { "optional" }
    );
    if let Some(d) = &f.default {
        s.push_str(&format!(", default {d}"));
    }
    s.push(')');
    if let Some(doc) = &f.doc {
        s.push_str(": ");
        s.push_str(doc);
    }
    doc_inline(&s)
}

/// Docstring lines for a payload: its fields (one level of nesting shown), or its type.
pub(crate) fn describe_fields(types: &PyTypes, shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    let Shape::Named { id } = shape else {
        return vec![doc_inline(&describe(types, shape))];
    };
    match &types.get(*id).kind {
        TypeDefKind::Struct(s) => {
            for f in &s.fields {
                out.push(field_line(types, f));
                if let Shape::Named { id: inner } = &f.shape {
                    if inner != id {
                        if let TypeDefKind::Struct(n) = &types.get(*inner).kind {
                            for g in &n.fields {
                                out.push(format!("    {}", field_line(types, g)));
                            }
                        }
                    }
                }
            }
            if out.is_empty() {
                out.push("{} (no fields)".into());
            }
        }
        _ => out.push(doc_inline(&describe(types, shape))),
    }
    out
}
