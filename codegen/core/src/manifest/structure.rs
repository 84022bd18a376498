//! The structural check: a manifest against the manifest's own JSON Schema, with every
//! violation turned into a diagnostic at the offending key or value.

use std::sync::OnceLock;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::manifest::manifest_schema;
use crate::suggest::did_you_mean;
use crate::validator::{Dialect, Error, Kind, Validator};
use crate::yaml::{pointer_segments, Node, NodeKind};

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(manifest_schema)
}

/// Made once, so its patterns compile once per process rather than once per manifest.
fn validator() -> &'static Validator<'static> {
    static VALIDATOR: OnceLock<Validator<'static>> = OnceLock::new();
    VALIDATOR.get_or_init(|| Validator::new(schema(), Dialect::Draft2020))
}

/// Every structural problem of the manifest document (`json` is `root` as JSON), each at its
/// node.
pub fn check(root: &Node, json: &Value) -> Vec<Diagnostic> {
    let schema = schema();
    validator()
        .errors(json)
        .iter()
        .flat_map(|error| describe(root, schema, error))
        .collect()
}

fn describe(root: &Node, schema: &Value, error: &Error) -> Vec<Diagnostic> {
    let path = error.instance_path.as_str();
    let fallback = error.to_string();
    let node = root.pointer(path);
    let value_span = node.map_or(root.span, |n| n.span);
    let what = describe_path(path);
    match &error.kind {
        Kind::AdditionalProperties { unexpected } => {
            let allowed = allowed_keys(schema, path);
            unexpected
                .iter()
                .map(|key| {
                    let span = node
                        .and_then(|n| n.entry(key))
                        .map_or(value_span, |(k, _)| k.span);
                    let d = Diagnostic::error(span, format!("unknown key `{key}` in {what}"));
                    match did_you_mean(key, allowed.iter().map(String::as_str)) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("expected one of: {}", allowed.join(", "))),
                    }
                })
                .collect()
        }
        Kind::Required { property } => {
            let key = property;
            // An empty document has no node to point into; the start of the file is clearest.
            let span = match node.map(|n| &n.kind) {
                Some(NodeKind::Map(_)) => {
                    crate::source::Span::new(value_span.start, value_span.start + 1)
                }
                _ => value_span,
            };
            vec![Diagnostic::error(
                span,
                format!("missing required key `{key}` in {what}"),
            )]
        }
        Kind::Pattern { .. } => {
            let value = node.and_then(Node::as_str).unwrap_or_default();
            let message = match last_segment(path).as_deref() {
                Some("name") if path == "/name" => format!(
                    "device name `{value}` must be lowercase letters and digits in words joined by hyphens, e.g. `greenhouse-sensor`"
                ),
                Some("group") => format!(
                    "group `{value}` must be lowercase letters and digits in words joined by hyphens, e.g. `greenhouse-sensors`"
                ),
                Some("name") => format!(
                    "{what} name `{value}` is not a snake_case identifier (lowercase letters, digits and single underscores, starting with a letter), e.g. `read_environment`",
                    what = if path.starts_with("/triggers") { "trigger" } else { "command" }
                ),
                _ => fallback,
            };
            vec![Diagnostic::error(value_span, message)]
        }
        Kind::Type { expected } => {
            // `Option<T>` fields also allow null; saying so would only distract.
            let names: Vec<&str> = expected
                .iter()
                .map(String::as_str)
                .filter(|t| expected.len() == 1 || *t != "null")
                .collect();
            let expected = names.join(" or ");
            vec![Diagnostic::error(
                value_span,
                format!(
                    "{what} must be {}, found {}",
                    article(&expected),
                    found(node)
                ),
            )]
        }
        Kind::Minimum { limit } | Kind::ExclusiveMinimum { limit } => {
            vec![Diagnostic::error(
                value_span,
                format!("{what} must be at least {limit}, found {}", found(node)),
            )]
        }
        Kind::Maximum { limit } | Kind::ExclusiveMaximum { limit } => {
            vec![Diagnostic::error(
                value_span,
                format!("{what} must be at most {limit}, found {}", found(node)),
            )]
        }
        Kind::MinLength { .. } => {
            vec![Diagnostic::error(
                value_span,
                format!("{what} must not be empty"),
            )]
        }
        Kind::MaxLength { limit } => {
            vec![Diagnostic::error(
                value_span,
                format!("{what} must be at most {limit} characters long"),
            )]
        }
        // `Option<Struct>` fields are `anyOf: [Struct, null]`: the useful errors are the
        // ones of the branch that is not a bare type mismatch.
        Kind::AnyOf { context } => {
            let is_null_branch = |errors: &Vec<Error>| {
                errors
                    .iter()
                    .any(|e| matches!(&e.kind, Kind::Type { expected } if expected == &["null"]))
            };
            let branch = context
                .iter()
                .find(|errors| !errors.iter().all(|e| matches!(e.kind, Kind::Type { .. })))
                .or_else(|| context.iter().find(|errors| !is_null_branch(errors)));
            match branch {
                Some(errors) => errors
                    .iter()
                    .flat_map(|e| describe(root, schema, e))
                    .collect(),
                None => vec![Diagnostic::error(value_span, format!("{what}: {fallback}"))],
            }
        }
        _ => vec![Diagnostic::error(value_span, format!("{what}: {fallback}"))],
    }
}

/// A human name for the node at `path`: "`commands[1].timeoutMs`", or "the manifest" at the root.
pub fn describe_path(path: &str) -> String {
    if path.is_empty() {
        return "the manifest".to_string();
    }
    let mut out = String::new();
    for seg in pointer_segments(path) {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    format!("`{out}`")
}

fn last_segment(path: &str) -> Option<String> {
    pointer_segments(path).last()
}

fn article(t: &str) -> String {
    match t.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn found(node: Option<&Node>) -> String {
    match node.map(|n| &n.kind) {
        None | Some(NodeKind::Null) => "nothing (null)".into(),
        Some(NodeKind::Bool(b)) => format!("`{b}`"),
        Some(NodeKind::Number(n)) => format!("`{n}`"),
        Some(NodeKind::String(s)) => format!("the string `{s}`"),
        Some(NodeKind::Seq(_)) => "a list".into(),
        Some(NodeKind::Map(_)) => "a mapping".into(),
    }
}

/// The keys the manifest schema allows in the object at `path`, read from the schema itself.
fn allowed_keys(schema: &Value, path: &str) -> Vec<String> {
    let mut current = schema;
    for seg in pointer_segments(path) {
        current = resolve(schema, current);
        current = if seg.parse::<usize>().is_ok() && current.get("items").is_some() {
            &current["items"]
        } else {
            match current.get("properties").and_then(|p| p.get(&seg)) {
                Some(s) => s,
                None => return Vec::new(),
            }
        };
        current = first_non_null(schema, current);
    }
    let current = resolve(schema, current);
    current
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(schema),
        None => schema,
    }
}

/// `Option<T>` fields come out of schemars as `anyOf: [T, null]`.
fn first_non_null<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("anyOf").and_then(Value::as_array) {
        Some(variants) => variants
            .iter()
            .find(|v| v.get("type").and_then(Value::as_str) != Some("null"))
            .map_or(schema, |v| resolve(root, v)),
        None => schema,
    }
}
