//! The part of the template context both Python targets compute alike (this one and CPython,
//! which runs the same checks on the official client): the device's header, each command's
//! handler, validators and docs, each trigger's function, validator and keyword parameters.
//! Each target adds only what differs: its annotations, its signatures and the values of its
//! own files.

use serde::Serialize;

use super::escape::{doc_inline, doc_lines, py_str};
use super::validators::ValidatorWriter;
use super::{describe_fields, field_line, Helpers, PyTypes};
use crate::emit::markdown::md_inline;
use crate::emit::refusal::PatternRefusal;
use crate::ident::{self, Namer};
use crate::ir::{Field, Shape, TypeDefKind, TypeId};
use crate::model::Device;

/// A command or trigger as one target's templates see it: the shared part and the target's
/// own, as one set of names.
#[derive(Serialize)]
pub(crate) struct With<S, T> {
    #[serde(flatten)]
    pub(crate) shared: S,
    #[serde(flatten)]
    pub(crate) own: T,
}

/// What both targets' templates see alike, already escaped for where it goes.
pub(crate) struct Shared<'a> {
    pub(crate) device: DeviceCtx,
    pub(crate) commands: Vec<CommandCtx>,
    pub(crate) triggers: Vec<TriggerCtx<'a>>,
}

#[derive(Serialize)]
pub(crate) struct DeviceCtx {
    manifest_doc: String,
    title: String,
    description: Vec<String>,
    name: String,
    group: String,
    registration: String,
    /// The validator functions; `helpers` and `multiple_of_tolerance` are what the validators
    /// template needs beside them.
    code: String,
    helpers: Helpers,
    /// `lua_device_core::rule::MULTIPLE_OF_TOLERANCE` as a Python float.
    multiple_of_tolerance: String,
}

#[derive(Serialize)]
pub(crate) struct CommandCtx {
    wire: String,
    wire_doc: String,
    summary: String,
    /// The handler in `handlers.py`.
    pub(crate) function: String,
    validator: Option<String>,
    /// The check of the handler's result, for a command with an outputSchema.
    output_validator: Option<String>,
    doc: Vec<String>,
    input_doc: Vec<String>,
    output_doc: Vec<String>,
    not_implemented: String,
    /// The payloads, which each target annotates in its own way.
    #[serde(skip)]
    pub(crate) input: Option<Shape>,
    #[serde(skip)]
    pub(crate) output: Option<Shape>,
}

#[derive(Serialize)]
pub(crate) struct TriggerCtx<'a> {
    wire: String,
    /// Inside a Markdown code span; the manifest checks keep trigger names to snake_case.
    wire_doc: String,
    function: String,
    /// `none`, `object` (a keyword parameter per field) or `value` (one `payload`).
    kind: &'static str,
    validator: Option<String>,
    doc: Vec<String>,
    /// Required first, as Python wants parameters with defaults last; the payload keeps the
    /// manifest's order because each key is set by name.
    params: Vec<ParamCtx>,
    /// The payload, for the target's signature.
    #[serde(skip)]
    pub(crate) payload: Payload<'a>,
}

/// What each target adds to a trigger: its function's parameters, in its own annotations.
#[derive(Serialize)]
pub(crate) struct Signature {
    pub(crate) signature: String,
}

/// A trigger's payload as its function takes it.
pub(crate) enum Payload<'a> {
    None,
    /// A struct's fields with their Python names, in the manifest's order.
    Object(Vec<(&'a str, &'a Field)>),
    /// Any other type, passed whole.
    Value(TypeId),
}

/// The value [`Payload::Object`] gives each keyword parameter: the function sets its key.
#[derive(Serialize)]
struct ParamCtx {
    name: String,
    wire: String,
    required: bool,
    doc: String,
}

impl<'a> Shared<'a> {
    /// The shared context of `device`, with `writer` holding an entry point for each
    /// command's input and result and each trigger's payload; what `writer` cannot check is
    /// refused. `reserved` are the names the generated modules define or import, which no
    /// command, trigger or validator function may take; `callbacks` the ones only handlers
    /// may not take.
    pub(crate) fn new(
        device: &Device,
        types: &'a PyTypes<'_>,
        mut writer: ValidatorWriter<'_>,
        reserved: &[&str],
        callbacks: &[&str],
    ) -> Result<Self, Vec<PatternRefusal>> {
        let claiming = |names: &[&[&str]]| {
            let mut namer = Namer::new();
            for n in names.iter().copied().flatten() {
                namer.claim((*n).to_string());
            }
            namer
        };
        let mut validator_names = claiming(&[reserved]);
        let mut handler_names = claiming(&[reserved, callbacks]);
        let mut trigger_names = claiming(&[reserved]);
        let mut entry = |prefix: &str, name: &str, id: TypeId| {
            let name = validator_names.claim(format!("{prefix}_{}", ident::python_snake(name)));
            writer.entry(&name, &Shape::Named { id });
            name
        };
        let mut commands = Vec::new();
        for c in &device.commands {
            let function = handler_names.claim(ident::python_snake(&c.name));
            let validator = c.input.map(|id| entry("command", &c.name, id));
            let output_validator = c.output.map(|id| entry("result", &c.name, id));
            let input = c.input.map(|id| Shape::Named { id });
            let output = c.output.map(|id| Shape::Named { id });
            let fields = |shape: &Option<Shape>| {
                shape
                    .as_ref()
                    .map(|s| describe_fields(types, s))
                    .unwrap_or_default()
            };
            commands.push(CommandCtx {
                wire: py_str(&c.name),
                // Inside a Markdown code span, where escapes do not apply; the manifest
                // checks keep command names to snake_case.
                wire_doc: c.name.clone(),
                summary: md_inline(&c.description),
                function,
                validator,
                output_validator,
                doc: doc_lines(&c.description),
                input_doc: fields(&input),
                output_doc: fields(&output),
                not_implemented: py_str(&format!("{} is not implemented yet", c.name)),
                input,
                output,
            });
        }
        let mut triggers = Vec::new();
        for t in &device.triggers {
            let function = trigger_names.claim(ident::python_snake(&t.name));
            let validator = t.payload.map(|id| entry("trigger", &t.name, id));
            let payload = match t.payload.map(|id| (id, &types.get(id).kind)) {
                None => Payload::None,
                Some((id, TypeDefKind::Struct(s))) => Payload::Object(
                    (s.fields.iter().enumerate())
                        .map(|(i, f)| (types.names.member(id, i), f))
                        .collect(),
                ),
                Some((id, _)) => Payload::Value(id),
            };
            let (kind, params) = match &payload {
                Payload::None => ("none", Vec::new()),
                Payload::Object(fields) => {
                    let mut params: Vec<ParamCtx> = fields
                        .iter()
                        .map(|(name, f)| ParamCtx {
                            name: name.to_string(),
                            wire: py_str(&f.wire_name),
                            required: f.required,
                            doc: field_line(types, f),
                        })
                        .collect();
                    params.sort_by_key(|p| !p.required);
                    ("object", params)
                }
                Payload::Value(_) => ("value", Vec::new()),
            };
            triggers.push(TriggerCtx {
                wire: py_str(&t.name),
                wire_doc: t.name.clone(),
                function,
                kind,
                validator,
                doc: doc_lines(&t.description),
                params,
                payload,
            });
        }
        let generated = writer.finish();
        if !generated.unsupported.is_empty() {
            return Err(generated.unsupported);
        }
        let registration = serde_json::to_string(&device.registration_commands())
            .expect("JSON values always serialize");
        let device = DeviceCtx {
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
            helpers: Helpers::used_by(&generated),
            multiple_of_tolerance: format!("{:?}", lua_device_core::rule::MULTIPLE_OF_TOLERANCE),
            code: generated.code,
        };
        Ok(Self {
            device,
            commands,
            triggers,
        })
    }
}

impl TriggerCtx<'_> {
    /// The keyword parameters' declarations in `params`' order, each written by `decl` from
    /// its Python name and field. `decl` is called in the manifest's order, so whatever it
    /// records (CPython's literal aliases, numbered by first use) follows that order.
    pub(crate) fn param_decls(&self, mut decl: impl FnMut(&str, &Field) -> String) -> Vec<String> {
        let Payload::Object(fields) = &self.payload else {
            return Vec::new();
        };
        let mut decls: Vec<(bool, String)> = fields
            .iter()
            .map(|(name, f)| (f.required, decl(name, f)))
            .collect();
        decls.sort_by_key(|(required, _)| !required);
        decls.into_iter().map(|(_, d)| d).collect()
    }
}
