//! The Pico W target: a self-contained embassy firmware project for the RP2040 + CYW43439.
//!
//! The project vendors `lua-device-core`, the runtime's no_std core (embedded here from
//! `runtime/core/src` at compile time, so there is one definition) and the payload types from
//! the Rust emitter; templates under `templates/pico-w` hold the layout. `handlers.rs` is the
//! only user file.

pub mod lockfile;
mod patterns;
pub mod uf2;

use minijinja::{context, Environment};
use quote::quote;
use serde::Serialize;

use crate::board::{self, Board, Family};
use crate::diagnostic::Diagnostics;
use crate::emit::markdown::md_inline;
use crate::emit::project::{GeneratedFile, Project};
use crate::emit::refusal;
use crate::emit::rust::{format_source, Codec, RustEmitter, RustOptions};
use crate::emit::templates;
use crate::ident;
use crate::model::Device;
use crate::names::Names;

/// The files of the runtime core, `lua-device-core`, vendored verbatim into `lua-device/src/`.
const RUNTIME: &[(&str, &str)] = &[
    (
        "lib.rs",
        include_str!("../../../../../runtime/core/src/lib.rs"),
    ),
    (
        "backoff.rs",
        include_str!("../../../../../runtime/core/src/backoff.rs"),
    ),
    (
        "dedup.rs",
        include_str!("../../../../../runtime/core/src/dedup.rs"),
    ),
    (
        "dispatch.rs",
        include_str!("../../../../../runtime/core/src/dispatch.rs"),
    ),
    (
        "json.rs",
        include_str!("../../../../../runtime/core/src/json.rs"),
    ),
    (
        "ledger.rs",
        include_str!("../../../../../runtime/core/src/ledger.rs"),
    ),
    (
        "message.rs",
        include_str!("../../../../../runtime/core/src/message.rs"),
    ),
    (
        "rule.rs",
        include_str!("../../../../../runtime/core/src/rule.rs"),
    ),
    (
        "session.rs",
        include_str!("../../../../../runtime/core/src/session.rs"),
    ),
    (
        "text.rs",
        include_str!("../../../../../runtime/core/src/text.rs"),
    ),
    (
        "timestamp.rs",
        include_str!("../../../../../runtime/core/src/timestamp.rs"),
    ),
    (
        "scan.rs",
        include_str!("../../../../../runtime/core/src/scan.rs"),
    ),
    (
        "topic.rs",
        include_str!("../../../../../runtime/core/src/topic.rs"),
    ),
    (
        "typed.rs",
        include_str!("../../../../../runtime/core/src/typed.rs"),
    ),
    (
        "value.rs",
        include_str!("../../../../../runtime/core/src/value.rs"),
    ),
    (
        "ws.rs",
        include_str!("../../../../../runtime/core/src/ws.rs"),
    ),
    (
        "mqtt/mod.rs",
        include_str!("../../../../../runtime/core/src/mqtt/mod.rs"),
    ),
    (
        "mqtt/client.rs",
        include_str!("../../../../../runtime/core/src/mqtt/client.rs"),
    ),
    (
        "mqtt/codec.rs",
        include_str!("../../../../../runtime/core/src/mqtt/codec.rs"),
    ),
    (
        "mqtt/device.rs",
        include_str!("../../../../../runtime/core/src/mqtt/device.rs"),
    ),
    (
        "mqtt/oversized.rs",
        include_str!("../../../../../runtime/core/src/mqtt/oversized.rs"),
    ),
];

/// Files copied as they are: (path in the project, contents).
const STATIC: &[(&str, &str)] = &[
    (
        "build.rs",
        include_str!("../../../../../templates/pico-w/build.rs"),
    ),
    (
        ".gitignore",
        include_str!("../../../../../templates/pico-w/gitignore"),
    ),
    (
        "src/main.rs",
        include_str!("../../../../../templates/pico-w/src/main.rs"),
    ),
    (
        "src/cdn.rs",
        include_str!("../../../../../templates/pico-w/src/cdn.rs"),
    ),
    (
        "src/cdn/http.rs",
        include_str!("../../../../../templates/pico-w/src/cdn/http.rs"),
    ),
    (
        "src/clock.rs",
        include_str!("../../../../../templates/pico-w/src/clock.rs"),
    ),
    (
        "src/connection.rs",
        include_str!("../../../../../templates/pico-w/src/connection.rs"),
    ),
    (
        "src/identity.rs",
        include_str!("../../../../../templates/pico-w/src/identity.rs"),
    ),
    (
        "src/pki.rs",
        include_str!("../../../../../templates/pico-w/src/pki.rs"),
    ),
    (
        "src/sntp.rs",
        include_str!("../../../../../templates/pico-w/src/sntp.rs"),
    ),
    (
        "src/tls.rs",
        include_str!("../../../../../templates/pico-w/src/tls.rs"),
    ),
    (
        "src/tls12.rs",
        include_str!("../../../../../templates/pico-w/src/tls12.rs"),
    ),
    (
        "src/trigger_queue.rs",
        include_str!("../../../../../templates/pico-w/src/trigger_queue.rs"),
    ),
    (
        "src/watchdog.rs",
        include_str!("../../../../../templates/pico-w/src/watchdog.rs"),
    ),
    (
        "src/worker.rs",
        include_str!("../../../../../templates/pico-w/src/worker.rs"),
    ),
    (
        "src/ws.rs",
        include_str!("../../../../../templates/pico-w/src/ws.rs"),
    ),
    (
        "lua-device/Cargo.toml",
        include_str!("../../../../../templates/pico-w/lua-device/Cargo.toml"),
    ),
];

/// The chip module, `src/chip.rs`, of each chip family: the code that truly differs.
fn chip_module(family: Family) -> &'static str {
    match family {
        Family::Rp2040 => include_str!("../../../../../templates/pico-w/src/chip/rp2040.rs"),
        Family::Rp235x => include_str!("../../../../../templates/pico-w/src/chip/rp235x.rs"),
    }
}

/// Templates rendered with the device's and the board's context: (template name, path in the
/// project).
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "memory.x.j2",
        "memory.x",
        include_str!("../../../../../templates/pico-w/memory.x.j2"),
    ),
    (
        "config.toml.j2",
        ".cargo/config.toml",
        include_str!("../../../../../templates/pico-w/cargo/config.toml.j2"),
    ),
    (
        "Cargo.toml.j2",
        "Cargo.toml",
        include_str!("../../../../../templates/pico-w/Cargo.toml.j2"),
    ),
    (
        "README.md.j2",
        "README.md",
        include_str!("../../../../../templates/pico-w/README.md.j2"),
    ),
    (
        "env.example.j2",
        ".env.example",
        include_str!("../../../../../templates/pico-w/env.example.j2"),
    ),
    (
        "config.rs.j2",
        "src/config.rs",
        include_str!("../../../../../templates/pico-w/config.rs.j2"),
    ),
    (
        "device.rs.j2",
        "src/device.rs",
        include_str!("../../../../../templates/pico-w/device.rs.j2"),
    ),
    (
        "handlers.rs.j2",
        "src/handlers.rs",
        include_str!("../../../../../templates/pico-w/handlers.rs.j2"),
    ),
];

/// The no_std Rust target: embassy firmware for a board.
#[derive(Clone, Copy, Debug)]
pub struct Embassy {
    pub board: &'static Board,
}

impl crate::emit::Target for Embassy {
    fn title(&self) -> String {
        format!("no_std Rust on embassy for the {}", self.board.title)
    }

    /// The Rust emitter's: its payload code is that emitter's output.
    fn names(&self, device: &Device) -> Names {
        crate::names::rust(device)
    }

    fn project(&self, device: &Device) -> Result<Project, Diagnostics> {
        PicoWProject::new(device).board(self.board).project()
    }
}

/// An embassy firmware project for one device on one board (the Pico W unless
/// [`PicoWProject::board`] says otherwise).
pub struct PicoWProject<'a> {
    device: &'a Device,
    board: &'static Board,
    /// The payload types' Rust names, as the Rust emitter gives them.
    types: Names,
}

#[derive(Serialize)]
struct CommandCtx {
    name: String,
    /// The handler's stub in `handlers.rs`, laid out as rustfmt would.
    stub: String,
    doc: String,
    /// `(timeoutMs, retry)` as Rust, for the idempotency cache's time to live.
    horizon: String,
}

#[derive(Serialize)]
struct TriggerCtx {
    name_lit: String,
    method: String,
    doc: String,
    payload: Option<String>,
}

impl<'a> PicoWProject<'a> {
    pub fn new(device: &'a Device) -> Self {
        Self {
            device,
            board: &board::PICO_W,
            types: crate::names::rust(device),
        }
    }

    /// The same project for `board`.
    pub fn board(mut self, board: &'static Board) -> Self {
        self.board = board;
        self
    }

    /// The cargo package (and binary, and ELF) name: `{device}-{board}`, e.g.
    /// `greenhouse-sensor-pico-w`.
    pub fn crate_name(&self) -> String {
        format!("{}-{}", self.device.name, self.board.name)
    }

    /// Every file of the project; a schema `pattern` the chip cannot check is refused at the
    /// manifest's spans, every one at once.
    pub fn project(&self) -> Result<Project, Diagnostics> {
        let mut files = Vec::new();
        for (path, text) in STATIC {
            files.push(GeneratedFile::generated(*path, *text));
        }
        for (path, text) in RUNTIME {
            files.push(GeneratedFile::generated(
                format!("lua-device/src/{path}"),
                *text,
            ));
        }
        files.push(GeneratedFile::generated(
            "src/chip.rs",
            chip_module(self.board.chip.family),
        ));
        let payloads = self.payloads()?;
        let rules = rule_features(&payloads);
        files.push(GeneratedFile::generated("src/payloads.rs", payloads));
        files.push(GeneratedFile::generated(
            "Cargo.lock",
            lockfile::for_crate(&self.crate_name()),
        ));
        // build.rs embeds it when LUA_MQTT_CA names no CA of the user's.
        files.push(GeneratedFile::generated(
            crate::trust::FILE,
            crate::trust::roots_der(),
        ));
        let env = environment();
        let ctx = self.context(&rules);
        for (name, path, _) in TEMPLATES {
            let text = env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .unwrap_or_else(|e| panic!("template {name} failed: {e:#}"));
            files.push(if *path == "src/handlers.rs" {
                GeneratedFile::user(*path, text)
            } else {
                GeneratedFile::generated(*path, text)
            });
        }
        Ok(Project { files })
    }

    /// The payload types, their checks and their JSON readers and writers, from the Rust
    /// emitter (types only, [`Codec::CoreJson`]), and the schema patterns as DFA tables in a
    /// `patterns` module (see `patterns`); an error names a pattern the chip cannot check.
    pub fn payloads(&self) -> Result<String, Diagnostics> {
        let patterns = patterns::collect(&self.device.types);
        let tables = patterns::module(&patterns).map_err(|refused| {
            refusal::patterns(self.device, &format!("the {}", self.board.title), &refused)
        })?;
        let options = RustOptions {
            types_only: true,
            pattern_tables: Some(patterns),
            codec: Codec::CoreJson,
            ..RustOptions::default()
        };
        let tokens = RustEmitter::with_options(self.device, options).tokens();
        let code = format_source(tokens, &self.manifest());
        Ok(format!(
            "{code}
{tables}"
        ))
    }

    /// The dispatch over `handlers.rs` for `device.rs`: the Rust emitter's, the host adapter's
    /// arms with each handler reached as `handlers::method(&mut state, input)`.
    fn dispatch(&self) -> String {
        let options = RustOptions {
            codec: Codec::CoreJson,
            ..RustOptions::default()
        };
        let tokens = RustEmitter::with_options(self.device, options)
            .chip_dispatch(&quote!(crate::handlers), &quote!(crate::device::Shared));
        let file: syn::File =
            syn::parse2(tokens).expect("the Rust emitter produces valid Rust items");
        prettyplease::unparse(&file)
    }

    /// The manifest's file name, for the header comments and the README's code span: a
    /// line break (legal in a file name) would end the comment and start code or TOML, and a
    /// backtick would end the code span.
    fn manifest(&self) -> String {
        self.device.source.path().file_name().map_or_else(
            || "device.yaml".into(),
            |n| {
                n.to_string_lossy()
                    .chars()
                    .map(|c| match c {
                        '`' => '\'',
                        c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => ' ',
                        c => c,
                    })
                    .collect()
            },
        )
    }

    fn type_name(&self, id: Option<crate::ir::TypeId>) -> Option<String> {
        id.map(|id| self.types.ty(id).to_string())
    }

    fn context(&self, rule_features: &[&str]) -> minijinja::Value {
        let d = self.device;
        let commands: Vec<CommandCtx> = d
            .commands
            .iter()
            .map(|c| CommandCtx {
                name: c.name.clone(),
                stub: handler_stub(
                    &ident::rust_snake(&c.name),
                    self.type_name(c.input).as_deref(),
                    self.type_name(c.output).as_deref(),
                    &rust_str(&format!(
                        "{} is not implemented yet: edit src/handlers.rs",
                        c.name
                    )),
                ),
                doc: doc_line(&c.description),
                horizon: format!(
                    "({}, {})",
                    c.timeout_ms,
                    c.retry.map_or_else(
                        || "None".to_string(),
                        |r| format!(
                            "Some(lua_device::dispatch::Retry {{ max_attempts: {}, backoff_ms: {} }})",
                            r.max_attempts, r.backoff_ms
                        )
                    )
                ),
            })
            .collect();
        let triggers: Vec<TriggerCtx> = d
            .triggers
            .iter()
            .map(|t| TriggerCtx {
                name_lit: rust_str(&t.name),
                method: ident::rust_snake(&t.name),
                doc: doc_line(&t.description),
                payload: self.type_name(t.payload),
            })
            .collect();
        let registration = serde_json::to_string(&d.registration_commands())
            .expect("a JSON value always serializes");
        let chip = &self.board.chip;
        context! {
            board => self.board,
            linker_env => format!("CARGO_TARGET_{}_LINKER", chip.triple.to_uppercase().replace(['-', '.'], "_")),
            uf2_family => format!("{:#x}", chip.uf2_family),
            flash_kib => chip.memory.flash_bytes / 1024,
            ram_kib => chip.memory.ram_bytes / 1024,
            manifest => self.manifest(),
            crate_name => self.crate_name(),
            rust_version => lockfile::RUST_VERSION,
            tls_rust_version => lockfile::TLS_RUST_VERSION,
            device_name => d.name,
            device_name_lit => rust_str(&d.name),
            group_lit => d.group.as_deref().map_or_else(|| "None".to_string(), |g| format!("Some({})", rust_str(g))),
            description => d.description.as_deref().map(doc_line),
            commands_json => rust_str(&registration),
            rule_features => rule_features,
            dispatch => self.dispatch(),
            commands => commands,
            triggers => triggers,
        }
    }
}

/// The lua-device features (see its Cargo.toml) of the payload rules `payloads` (the generated
/// checks) name. Read from the code that is compiled, so the two cannot disagree.
fn rule_features(payloads: &str) -> Vec<&'static str> {
    const RULES: [(&str, &[&str]); 9] = [
        ("multiple-of", &["Constraint::MultipleOf"]),
        ("int-range", &["Constraint::Range"]),
        (
            "lengths",
            &["Constraint::MinLength", "Constraint::MaxLength"],
        ),
        ("pattern", &["Constraint::Pattern"]),
        (
            "item-counts",
            &["Constraint::MinItems", "Constraint::MaxItems"],
        ),
        ("unique-items", &["Constraint::UniqueItems"]),
        (
            "property-counts",
            &["Constraint::MinProperties", "Constraint::MaxProperties"],
        ),
        ("one-of-strings", &["typed::one_of_strings(", "typed::tag("]),
        ("one-of-values", &["typed::one_of_values("]),
    ];
    RULES
        .iter()
        .filter(|(_, uses)| uses.iter().any(|u| payloads.contains(u)))
        .map(|(feature, _)| *feature)
        .collect()
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // Rust and Markdown, not HTML: the context is escaped for Rust before it gets here.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // Addresses as a linker script writes them.
    env.add_function("hex", |n: u32| format!("{n:#x}"));
    templates::add(
        &mut env,
        TEMPLATES.iter().map(|(name, _, text)| (*name, *text)),
    );
    env
}

/// A Rust string literal for `s` (`Debug` escapes quotes, backslashes and control characters).
fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

/// Text for a `///` line: newlines would end the comment.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A description on one line of Markdown: the README's lists and the `///` comments (rustdoc
/// is Markdown too), so it cannot open a heading, a code block, a link or raw HTML.
fn doc_line(s: &str) -> String {
    md_inline(&one_line(s))
}

/// A handler stub as rustfmt lays it out (the file is the user's, and `cargo fmt` should
/// find nothing to change): the signature on one line when it fits in 100 columns, else one
/// parameter per line.
fn handler_stub(name: &str, input: Option<&str>, output: Option<&str>, todo: &str) -> String {
    const WIDTH: usize = 100;
    let mut params = vec!["state: &mut State".to_string()];
    params.extend(input.map(|t| format!("input: {t}")));
    let ret = format!("Result<{}, CommandError>", output.unwrap_or("()"));
    let one_line = format!("pub async fn {name}({}) -> {ret} {{", params.join(", "));
    let signature = if one_line.chars().count() <= WIDTH {
        one_line
    } else {
        let params: String = params.iter().map(|p| format!("    {p},\n")).collect();
        format!("pub async fn {name}(\n{params}) -> {ret} {{")
    };
    // `Err`'s argument is always wider than rustfmt's 60-column call width, so the message
    // goes on its own line.
    format!("{signature}\n    Err(CommandError::handler(\n        {todo},\n    ))\n}}")
}
