//! The agent's side of the wire: the lua-cli module that declares a device to an agent
//! (`defineDevice` from npm's `lua-cli`, its schemas in zod), from the same manifest and the
//! same type IR as the device's code, so both ends accept and refuse the same payloads.
//!
//! Two files: `<stem>.ts`, luagen's (the schemas, their types, the tools and the
//! `defineDevice` call), and `<stem>.triggers.ts`, the user's (what each trigger does on the
//! agent's side), which regeneration keeps and only appends stubs to. Naming follows lua-cli:
//! a device's commands and triggers are keyed by their names as the device sends them
//! (`humidity_alert`; lua-cli's hyphenated names are for its standalone trigger primitive,
//! which this module does not declare).

pub mod escape;
pub mod layout;
pub mod pattern;
pub mod zod;

use minijinja::context;
use serde::Serialize;

use self::escape::{doc_inline, doc_lines, ts_str};
use self::zod::{Helper, ZodWriter};
use crate::diagnostic::Diagnostics;
use crate::emit::project::{GeneratedFile, Project};
use crate::emit::refusal;
use crate::emit::templates;
use crate::ident::{self, Namer};
use crate::model::Device;
use crate::names::{self, Names};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "device.ts.j2",
        include_str!("../../../../../templates/typescript/device.ts.j2"),
    ),
    (
        "triggers.ts.j2",
        include_str!("../../../../../templates/typescript/triggers.ts.j2"),
    ),
    (
        "trigger.ts.j2",
        include_str!("../../../../../templates/typescript/trigger.ts.j2"),
    ),
];

/// What the module declares beside the payload types (types are PascalCase, so only the
/// PascalCase ones could clash).
const MODULE_TYPES: &[&str] = &["Json", "TriggerContext"];

/// What the module declares or imports in lower case, which the device's constant and the
/// trigger functions must not take.
const MODULE_VALUES: &[&str] = &[
    "z",
    "defineDevice",
    "execute",
    "device",
    "json",
    "chars",
    "sameJson",
    "multipleOf",
    "uniqueItems",
];

/// How to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// The module's file name without `.ts` (`greenhouse-sensor`): the triggers file is
    /// `<stem>.triggers.ts` beside it.
    pub stem: String,
    /// How the header says to regenerate it: the manifest and the output as the user wrote
    /// them.
    pub manifest: String,
    pub out: String,
    /// The triggers file already in the output directory, if any: stubs for triggers it
    /// lacks are appended to it, everything else in it is kept.
    pub existing_triggers: Option<String>,
}

impl Options {
    /// Options for a module at `out` (a path ending in `.ts`), from `manifest`.
    pub fn for_paths(manifest: &std::path::Path, out: &std::path::Path) -> Self {
        let file = out
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = file.strip_suffix(".ts").unwrap_or(&file).to_string();
        Self {
            stem,
            manifest: manifest.display().to_string(),
            out: out.display().to_string(),
            existing_triggers: None,
        }
    }
}

impl crate::emit::Target for Options {
    fn title(&self) -> String {
        "the agent's lua-cli module (TypeScript, zod)".into()
    }

    fn names(&self, device: &Device) -> Names {
        names::typescript(&device.types, MODULE_TYPES.iter().map(|s| s.to_string()))
    }

    fn project(&self, device: &Device) -> Result<Project, Diagnostics> {
        AgentModule::generate(device, self)
    }
}

/// The lua-cli module of one device.
pub struct AgentModule;

impl AgentModule {
    /// The module and its triggers file; a pattern JavaScript cannot run as the device does
    /// is refused at the manifest's spans, every one at once.
    pub fn generate(device: &Device, options: &Options) -> Result<Project, Diagnostics> {
        use crate::emit::Target;
        let names = options.names(device);
        let ctx = Context::new(device, options, &names)
            .map_err(|refused| refusal::patterns(device, "TypeScript", &refused))?;
        let env = templates::environment(TEMPLATES);
        let render = |name: &str| templates::render(&env, name, &ctx);
        let mut files = vec![GeneratedFile::generated(
            format!("{}.ts", options.stem),
            render("device.ts.j2"),
        )];
        if !ctx.triggers.is_empty() {
            files.push(templates::user_file(
                format!("{}.triggers.ts", options.stem),
                options.existing_triggers.as_deref(),
                || render("triggers.ts.j2"),
                |existing| {
                    (ctx.triggers.iter())
                        .filter(|t| !exports(existing, &t.function))
                        .map(|t| templates::render(&env, "trigger.ts.j2", context! { t => t }))
                        .collect()
                },
            ));
        }
        Ok(Project { files })
    }
}

/// Whether `source` exports a function or constant `name` at the top level.
pub fn exports(source: &str, name: &str) -> bool {
    source.lines().any(|l| {
        let Some(rest) = l.strip_prefix("export ") else {
            return false;
        };
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        ["function ", "const ", "let "]
            .iter()
            .filter_map(|kw| rest.strip_prefix(kw))
            .filter_map(|r| r.strip_prefix(name))
            .any(|r| r.starts_with(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '$'))
    })
}

/// Everything the templates see, already escaped for where it goes.
#[derive(Serialize)]
struct Context {
    title: String,
    manifest: String,
    out: String,
    /// How each file imports the other, and how a comment names the triggers file.
    triggers_import: String,
    module_import: String,
    triggers_doc: String,
    helpers: Helpers,
    tolerance: String,
    types: Vec<TypeCtx>,
    device: String,
    name: String,
    description: Vec<String>,
    description_str: Option<String>,
    group: Option<String>,
    commands: Vec<CommandCtx>,
    triggers: Vec<TriggerCtx>,
}

#[derive(Serialize)]
struct Helpers {
    json: bool,
    chars: bool,
    same_json: bool,
    multiple_of: bool,
    unique: bool,
}

#[derive(Serialize)]
struct TypeCtx {
    name: String,
    doc: Vec<String>,
    expr: String,
    /// A recursive schema's types, written out (TypeScript cannot infer them through
    /// `z.lazy`): its output, and its input where a default makes it differ.
    recursive: Option<RecursiveCtx>,
}

#[derive(Serialize)]
struct RecursiveCtx {
    output: String,
    input: Option<(String, String)>,
    annotation: String,
}

#[derive(Serialize)]
struct CommandCtx {
    key: String,
    tool: String,
    tool_doc: String,
    description: String,
    input: Option<String>,
    timeout_ms: u32,
    retry: Option<crate::model::Retry>,
}

#[derive(Serialize)]
struct TriggerCtx {
    key: String,
    wire_doc: String,
    function: String,
    description: String,
    doc: Vec<String>,
    payload: Option<String>,
    chat: String,
}

impl Context {
    fn new(
        device: &Device,
        options: &Options,
        names: &Names,
    ) -> Result<Self, Vec<refusal::PatternRefusal>> {
        let mut writer = ZodWriter::new(&device.types, names);
        let mut types = Vec::new();
        for id in writer.declaration_order() {
            let def = device.types.get(id);
            let name = names.ty(id).to_string();
            // `export const Name = ` (a recursive one's annotation is on a line of its own
            // accord: its schema starts on the next line).
            let expr = layout::chain(&writer.definition(id), 0, name.len() + 16);
            let recursive = writer.is_recursive(id).then(|| {
                let input = writer
                    .input_name(id)
                    .map(|input| (input, writer.ts_definition(id, true)));
                RecursiveCtx {
                    output: writer.ts_definition(id, false),
                    annotation: match &input {
                        Some((input, _)) => format!("z.ZodType<{name}, z.ZodTypeDef, {input}>"),
                        None => format!("z.ZodType<{name}>"),
                    },
                    input,
                }
            });
            types.push(TypeCtx {
                name,
                doc: def.doc.as_deref().map(doc_lines).unwrap_or_default(),
                expr,
                recursive,
            });
        }
        if !writer.refused.is_empty() {
            return Err(writer.refused);
        }
        let mut values = Namer::new();
        for n in MODULE_VALUES {
            values.claim((*n).to_string());
        }
        let device_const = values.claim(ident::typescript_camel(&device.name));
        let commands = device
            .commands
            .iter()
            .map(|c| CommandCtx {
                key: zod::key(&c.name),
                tool: ts_str(&device.tool_name(c)),
                tool_doc: doc_inline(&device.tool_name(c)),
                description: ts_str(&c.description),
                input: c.input.map(|id| names.ty(id).to_string()),
                timeout_ms: c.timeout_ms,
                retry: c.retry,
            })
            .collect();
        let triggers = device
            .triggers
            .iter()
            .map(|t| TriggerCtx {
                key: zod::key(&t.name),
                wire_doc: doc_inline(&t.name),
                function: values.claim(ident::typescript_camel(&t.name)),
                description: ts_str(&t.description),
                doc: doc_lines(&t.description),
                payload: t.payload.map(|id| names.ty(id).to_string()),
                chat: template_text(&format!("{} fired {}", device.name, t.name)),
            })
            .collect();
        let helpers = &writer.helpers;
        Ok(Self {
            title: doc_inline(&device.name),
            manifest: doc_inline(&options.manifest),
            out: doc_inline(&options.out),
            triggers_import: ts_str(&format!("./{}.triggers", options.stem)),
            module_import: ts_str(&format!("./{}", options.stem)),
            triggers_doc: doc_inline(&format!("./{}.triggers.ts", options.stem)),
            helpers: Helpers {
                json: helpers.contains(&Helper::Json),
                chars: helpers.contains(&Helper::Chars),
                same_json: helpers.contains(&Helper::SameJson),
                multiple_of: helpers.contains(&Helper::MultipleOf),
                unique: helpers.contains(&Helper::Unique),
            },
            tolerance: format!("{:?}", lua_device_core::rule::MULTIPLE_OF_TOLERANCE),
            types,
            device: device_const,
            name: ts_str(&device.name),
            description: device
                .description
                .as_deref()
                .map(doc_lines)
                .unwrap_or_default(),
            description_str: device.description.as_deref().map(ts_str),
            group: device.group.as_deref().map(ts_str),
            commands,
            triggers,
        })
    }
}

/// Text inside a template literal: no backtick, `${` or backslash escape can end it.
fn template_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '`' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::exports;

    #[test]
    fn finds_exported_functions_only() {
        let src = "export async function humidityAlert(p) {}\n  export function inner() {}\nexport const lowBattery = 1;\n";
        assert!(exports(src, "humidityAlert"));
        assert!(exports(src, "lowBattery"));
        assert!(!exports(src, "inner"));
        assert!(!exports(src, "humidity"));
    }
}
