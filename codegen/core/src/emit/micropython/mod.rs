//! The MicroPython target: a project a person copies to a Pico W running stock MicroPython.
//!
//! One data flow: the validated [`Device`] and its type IR become a context computed here,
//! every manifest string already escaped for Python by [`escape`]; the minijinja templates
//! under `templates/micropython/` (embedded at compile time) only lay it out. The runtime
//! modules (`lua_runtime.py` and the parts it loads only when needed) are ours and the same
//! for every device.

pub(crate) mod context;
pub mod escape;
pub mod handlers;
pub mod mpy;
pub mod pattern;
pub mod validators;

use crate::board::{self, Board};
use crate::diagnostic::Diagnostics;
use crate::emit::refusal::{self, PatternRefusal};

use serde::Serialize;

use self::context::{CommandCtx, DeviceCtx, Payload, Shared, Signature, TriggerCtx, With};
use self::escape::{doc_inline, py_str};
use self::validators::ValidatorWriter;
use crate::emit::project::{GeneratedFile, Project};
use crate::emit::templates;
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

/// Running `background()` of handlers.py, imported the first time it is due and kept.
pub const BACKGROUND: &str = include_str!("../../../../../templates/micropython/lua_background.py");

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
    ("lua_background.py", BACKGROUND),
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
    "lua_background.py",
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
        let types = PyTypes::new(&device.types);
        let ctx = Context::new(device, &types, options)
            .map_err(|refused| refusal::patterns(device, "MicroPython", &refused))?;
        let env = templates::environment(TEMPLATES);
        let render = |name: &str| templates::render(&env, name, &ctx);
        let existing = options.existing_handlers.as_deref();
        let handlers = handlers::file(&env, &ctx, existing, &ctx.commands);
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

/// Everything the templates see, already escaped for where it goes.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    device: DeviceCtx,
    commands: Vec<With<CommandCtx, HandlerCtx>>,
    triggers: Vec<With<TriggerCtx<'a>, Signature>>,
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

/// What this target adds to a command: its entry in the dispatch table and its handler's
/// annotations.
#[derive(Serialize)]
struct HandlerCtx {
    handler_name: String,
    /// How long the gateway may resend the command, PROTOCOL.md's retry horizon.
    horizon_ms: u64,
    input_type: &'static str,
    output_type: &'static str,
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

/// The last parameter of every trigger function: how long it waits for the gateway's ack.
const WAIT: &str = "_wait_ms: int = 10000";

impl<'a> Context<'a> {
    fn new(
        device: &Device,
        types: &'a PyTypes<'_>,
        options: &Options,
    ) -> Result<Self, Vec<PatternRefusal>> {
        let writer = ValidatorWriter::new(types);
        let shared = Shared::new(device, types, writer, MODULE_NAMES, &[])?;
        let commands = (device.commands.iter().zip(shared.commands))
            .map(|(c, shared)| {
                let own = HandlerCtx {
                    handler_name: py_str(&shared.function),
                    horizon_ms: c
                        .retry
                        .map_or(0, |r| u64::from(r.max_attempts) * u64::from(r.backoff_ms))
                        + u64::from(c.timeout_ms),
                    input_type: shared
                        .input
                        .as_ref()
                        .map_or("\"Any\"", |s| annotation(types, s)),
                    // No outputSchema: the manifest does not say; `data` is sent when the
                    // handler returns something.
                    output_type: shared
                        .output
                        .as_ref()
                        .map_or("\"Any\"", |s| annotation(types, s)),
                };
                With { shared, own }
            })
            .collect();
        let triggers = (shared.triggers.into_iter())
            .map(|shared| {
                let mut params = match shared.payload {
                    Payload::None => Vec::new(),
                    Payload::Object(_) => shared.param_decls(|name, f| {
                        let ann = annotation(types, &f.shape);
                        if f.required {
                            format!("{name}: {ann}")
                        } else {
                            format!("{name}: \"Optional[{}]\" = None", ann.trim_matches('"'))
                        }
                    }),
                    Payload::Value(id) => {
                        vec![format!(
                            "payload: {}",
                            annotation(types, &Shape::Named { id })
                        )]
                    }
                };
                params.push(WAIT.into());
                let own = Signature {
                    signature: params.join(", "),
                };
                With { shared, own }
            })
            .collect();
        let ext = if options.mpy { ".mpy" } else { ".py" };
        let mut deploy = format!("main.py handlers.py config.py secrets.py {}", trust::FILE);
        for module in MODULES {
            deploy.push(' ');
            deploy.push_str(&module.replace(".py", ext));
        }
        Ok(Self {
            device: shared.device,
            commands,
            triggers,
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
