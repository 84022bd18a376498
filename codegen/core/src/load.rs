//! The pipeline from manifest text to a validated [`Device`]: every problem, at once, with spans.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ident;
use crate::ir::build::{escape, IrBuilder, Problem};
use crate::manifest::{nesting, structure, ManifestDoc, DEFAULT_TIMEOUT_MS};
use crate::model::{Command, Device, Trigger};
use crate::source::{SourceFile, Span};
use crate::suggest::did_you_mean;
use crate::validator;
use crate::yaml::{self, Node, NodeKind};

/// Why a manifest could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// The manifest was read and has problems.
    Invalid(Diagnostics),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "{}: cannot read: {error}", path.display()),
            LoadError::Invalid(d) => write!(f, "{d}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Read and validate a manifest file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Device, LoadError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    load_str(path, &text).map_err(LoadError::Invalid)
}

/// Validate manifest text; `path` is only used in messages.
pub fn load_str(path: impl AsRef<Path>, text: &str) -> Result<Device, Diagnostics> {
    let source = SourceFile::new(path.as_ref(), text);
    let (root, mut problems) = match yaml::parse(text) {
        Ok(parsed) => parsed,
        Err(syntax) => return Err(Diagnostics::new(source, vec![syntax])),
    };
    // The document as JSON, built once: the structural check reads it, then it deserializes.
    let json = root.to_json();
    problems.extend(structure::check(&root, &json));
    problems.extend(duplicate_names(&source, &root, "commands", "command"));
    problems.extend(duplicate_names(&source, &root, "triggers", "trigger"));
    let (types, roots, schema_problems) = build_types(&root);
    problems.extend(schema_problems);
    if !problems.is_empty() {
        return Err(Diagnostics::new(source, problems));
    }
    let doc: ManifestDoc = match serde_json::from_value(json) {
        Ok(doc) => doc,
        // The structural check validates against the schema generated from ManifestDoc, so
        // this only fires if the two disagree: still a diagnostic, never a panic.
        Err(e) => {
            return Err(Diagnostics::new(
                source,
                vec![Diagnostic::error(
                    root.span,
                    format!("manifest does not deserialize: {e}"),
                )],
            ))
        }
    };
    let span_of = |ptr: &str| root.pointer(ptr).map_or(root.span, |n| n.span);
    let commands = doc
        .commands
        .into_iter()
        .enumerate()
        .map(|(i, c)| Command {
            span: span_of(&format!("/commands/{i}")),
            input: roots.get(&format!("/commands/{i}/inputSchema")).copied(),
            output: roots.get(&format!("/commands/{i}/outputSchema")).copied(),
            name: c.name,
            description: c.description,
            input_schema: c.input_schema,
            output_schema: c.output_schema,
            timeout_ms: c.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            retry: c.retry.map(Into::into),
        })
        .collect();
    let triggers = doc
        .triggers
        .into_iter()
        .enumerate()
        .map(|(i, t)| Trigger {
            span: span_of(&format!("/triggers/{i}")),
            payload: roots.get(&format!("/triggers/{i}/payloadSchema")).copied(),
            name: t.name,
            description: t.description,
            payload_schema: t.payload_schema,
        })
        .collect();
    Ok(Device {
        source,
        name: doc.name,
        group: doc.group,
        description: doc.description,
        definitions: doc.definitions,
        commands,
        triggers,
        types,
    })
}

fn duplicate_names(source: &SourceFile, root: &Node, list: &str, what: &str) -> Vec<Diagnostic> {
    let Some(Node {
        kind: NodeKind::Seq(items),
        ..
    }) = root.get(list)
    else {
        return Vec::new();
    };
    let mut first: HashMap<&str, &Node> = HashMap::new();
    let mut out = Vec::new();
    for item in items {
        let Some(name) = item.get("name") else {
            continue;
        };
        let Some(s) = name.as_str() else { continue };
        match first.get(s) {
            Some(prev) => out.push(
                Diagnostic::error(name.span, format!("duplicate {what} name `{s}`")).with_help(
                    format!(
                        "first defined on line {}",
                        source.line_col(prev.span.start).line
                    ),
                ),
            ),
            None => {
                first.insert(s, name);
            }
        }
    }
    out
}

/// Every schema in the manifest, by JSON pointer, with the root type name it gets.
fn schemas(root: &Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let named = |list: &str| -> Vec<(usize, String)> {
        match root.get(list).map(|n| &n.kind) {
            Some(NodeKind::Seq(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    (
                        i,
                        item.get("name")
                            .and_then(Node::as_str)
                            .unwrap_or("unnamed")
                            .to_string(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    for (i, name) in named("commands") {
        for (key, suffix) in [("inputSchema", "Input"), ("outputSchema", "Output")] {
            out.push((
                format!("/commands/{i}/{key}"),
                format!("{}{suffix}", ident::pascal(&name)),
            ));
        }
    }
    for (i, name) in named("triggers") {
        out.push((format!("/triggers/{i}/payloadSchema"), ident::pascal(&name)));
    }
    out
}

type Roots = HashMap<String, crate::ir::TypeId>;

fn build_types(root: &Node) -> (crate::ir::TypeSpace, Roots, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let definitions: IndexMap<String, Value> = match root.get("definitions").map(Node::to_json) {
        Some(Value::Object(m)) => m.into_iter().collect(),
        _ => IndexMap::new(),
    };
    let meta_valid = |ptr: &str, schema: &Value, problems: &mut Vec<Diagnostic>| -> bool {
        let before = problems.len();
        for e in validator::meta_errors(schema) {
            let at = format!("{ptr}{}", e.instance_path);
            problems.push(meta_diagnostic(
                root,
                &at,
                schema,
                &e.instance_path,
                &e.to_string(),
            ));
        }
        problems.len() == before
    };
    // The IR pass runs on meta-invalid schemas too (it ignores what it cannot read), so one
    // run reports a misspelled type and an unsupported keyword in the same schema.
    for (name, schema) in &definitions {
        if schema.is_object() {
            meta_valid(
                &format!("/definitions/{}", escape(name)),
                schema,
                &mut problems,
            );
        }
    }
    let mut nested_roots: Vec<(String, Value)> = definitions
        .iter()
        .map(|(name, schema)| (format!("/definitions/{}", escape(name)), schema.clone()))
        .collect();
    nested_roots.extend(schemas(root).into_iter().filter_map(|(ptr, _)| {
        let schema = root.pointer(&ptr)?.to_json();
        Some((ptr, schema))
    }));
    let too_deep = nesting::check(root, &definitions, &nested_roots);
    if !too_deep.is_empty() {
        // Building types this deep would be slow and only repeat the problem in other words;
        // the meta-schema checks still run, so every other problem is reported with it.
        problems.extend(too_deep);
        for (ptr, schema) in &nested_roots {
            if schema.is_object() && !ptr.starts_with("/definitions/") {
                meta_valid(ptr, schema, &mut problems);
            }
        }
        return (crate::ir::TypeSpace::default(), Roots::new(), problems);
    }
    let mut builder = IrBuilder::new(&definitions);
    builder.define_all();
    let mut roots = Roots::new();
    for (ptr, type_name) in schemas(root) {
        let Some(node) = root.pointer(&ptr) else {
            continue;
        };
        let schema = node.to_json();
        if !schema.is_object() {
            continue;
        }
        meta_valid(&ptr, &schema, &mut problems);
        roots.insert(ptr.clone(), builder.root(&schema, &ptr, &type_name));
    }
    let (types, ir_problems) = builder.finish();
    problems.extend(ir_problems.into_iter().map(|p| problem_diagnostic(root, p)));
    (types, roots, problems)
}

fn problem_diagnostic(root: &Node, p: Problem) -> Diagnostic {
    let span = root.key_span(&p.pointer).unwrap_or(root.span);
    let d = Diagnostic::error(span, p.message);
    match p.help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

/// A meta-schema violation, in words a manifest author recognises.
fn meta_diagnostic(
    root: &Node,
    at: &str,
    schema: &Value,
    inner: &str,
    fallback: &str,
) -> Diagnostic {
    let span: Span = root.pointer(at).map_or(root.span, |n| n.span);
    const TYPES: [&str; 7] = [
        "array", "boolean", "integer", "null", "number", "object", "string",
    ];
    if at.ends_with("/type") {
        let bad: Vec<String> = match schema.pointer(inner) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !TYPES.contains(s))
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if let Some(t) = bad.first() {
            let d = Diagnostic::error(span, format!("`{t}` is not a JSON Schema type"));
            return match did_you_mean(t, TYPES) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("expected one of: {}", TYPES.join(", "))),
            };
        }
    }
    let keyword = at.rsplit('/').next().unwrap_or_default();
    Diagnostic::error(
        span,
        format!("invalid JSON Schema at `{keyword}`: {fallback}"),
    )
}
