//! How deep a schema may nest.
//!
//! Every target turns a schema's nesting into nesting of its own, and each has a ceiling: Rust
//! nests types in types (rustc's trait solver overflows with E0275 between 32 and 64 levels),
//! the MicroPython checks nest loops (CPython refuses more than 20 statically nested blocks,
//! mpy-cross overflows its bytecode between 40 and 60). One limit well under all of them,
//! checked here, keeps every generated project compiling; `corpus/valid/deepest-nesting.yaml`
//! sits exactly at it and every target builds it.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::ir::build::escape;
use crate::yaml::Node;

/// Most levels a schema may nest below its root (a root's property is one level down). A
/// payload valid for it nests one level more, and the message around it one more again, well
/// within the Pico W parser's 64. The tightest bound is rustdoc's: documenting a generated type
/// walks its auto traits through every container, and maps nested 14 deep pass its default
/// recursion limit (13 do not), so a user's `cargo doc` works on anything luagen accepts.
pub const MAX_SCHEMA_DEPTH: usize = 12;

/// A diagnostic for every schema root (`(pointer, schema)`: command inputs and outputs,
/// trigger payloads, definitions) that nests past [`MAX_SCHEMA_DEPTH`], at the first schema
/// past the limit on its deepest path; `$ref`s are followed, since the targets nest through
/// them too, and a recursive reference ends a path (recursion goes through a named type).
pub fn check(
    root: &Node,
    definitions: &IndexMap<String, Value>,
    roots: &[(String, Value)],
) -> Vec<Diagnostic> {
    let mut heights = Heights {
        definitions,
        memo: HashMap::new(),
    };
    let mut reported = Vec::new();
    let mut problems = Vec::new();
    for (ptr, schema) in roots {
        if heights.of(schema) <= MAX_SCHEMA_DEPTH {
            continue;
        }
        let at = heights.deepest_path(ptr, schema);
        if reported.contains(&at) {
            continue;
        }
        let span = root
            .pointer(&at)
            .or_else(|| root.pointer(ptr))
            .map_or(root.span, |n| n.span);
        let through = if at.starts_with(ptr.as_str()) {
            String::new()
        } else {
            format!(" (reached from `{}` through `$ref`)", &ptr[1..])
        };
        problems.push(
            Diagnostic::error(
                span,
                format!(
                    "this schema is nested {} levels deep{through}; luagen allows \
                     {MAX_SCHEMA_DEPTH}, the deepest every target compiles",
                    MAX_SCHEMA_DEPTH + 1
                ),
            )
            .with_help("flatten the payload, e.g. an array of objects instead of arrays of arrays"),
        );
        reported.push(at);
    }
    problems
}

/// The subschemas of `schema`, each with the pointer segments that lead to it.
fn children(schema: &Value) -> Vec<(String, &Value)> {
    let Some(map) = schema.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, s) in props {
            out.push((format!("/properties/{}", escape(name)), s));
        }
    }
    for single in ["additionalProperties", "items"] {
        match map.get(single) {
            Some(s @ Value::Object(_)) => out.push((format!("/{single}"), s)),
            // Tuple `items` is refused elsewhere; its schemas still nest.
            Some(Value::Array(list)) => {
                for (i, s) in list.iter().enumerate() {
                    out.push((format!("/{single}/{i}"), s));
                }
            }
            _ => {}
        }
    }
    for list in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(variants)) = map.get(list) {
            for (i, s) in variants.iter().enumerate() {
                out.push((format!("/{list}/{i}"), s));
            }
        }
    }
    out
}

/// The definition a `$ref` names, if it is a local one.
fn reference(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
}

struct Heights<'a> {
    definitions: &'a IndexMap<String, Value>,
    /// Each definition's height once known; `None` while it is being measured, so a
    /// recursive reference counts as a path's end instead of looping.
    memo: HashMap<String, Option<usize>>,
}

impl Heights<'_> {
    /// Levels below `schema` on its deepest path. Memoised per definition, so shared
    /// definitions are measured once however often they are referenced.
    fn of(&mut self, schema: &Value) -> usize {
        let below = children(schema)
            .into_iter()
            .map(|(_, child)| 1 + self.of(child))
            .max()
            .unwrap_or(0);
        let through_ref = reference(schema).map_or(0, |name| self.definition(name));
        below.max(through_ref)
    }

    fn definition(&mut self, name: &str) -> usize {
        match self.memo.get(name) {
            Some(Some(h)) => return *h,
            Some(None) => return 0,
            None => {}
        }
        let Some(schema) = self.definitions.get(name) else {
            return 0;
        };
        self.memo.insert(name.to_string(), None);
        let h = self.of(schema);
        self.memo.insert(name.to_string(), Some(h));
        h
    }

    /// The pointer of the first schema past the limit on `schema`'s deepest path.
    fn deepest_path(&mut self, ptr: &str, schema: &Value) -> String {
        let mut ptr = ptr.to_string();
        let mut current = schema;
        let mut depth = 0;
        // A chain of bare `$ref`s visits each definition at most once before a level is added.
        let mut hops = 0;
        while depth <= MAX_SCHEMA_DEPTH && hops <= self.definitions.len() {
            let deepest_child = children(current)
                .into_iter()
                .map(|(segment, child)| (1 + self.of(child), segment, child))
                .max_by_key(|(h, ..)| *h);
            // A `$ref` adds no level of its own: the path continues in the definition.
            let referenced = reference(current)
                .and_then(|name| Some((name, self.definitions.get(name)?)))
                .map(|(name, def)| (self.definition(name), name, def));
            match (deepest_child, referenced) {
                (child, Some((h, name, def))) if child.as_ref().is_none_or(|c| c.0 < h) => {
                    ptr = format!("/definitions/{}", escape(name));
                    current = def;
                    hops += 1;
                }
                (Some((_, segment, child)), _) => {
                    ptr.push_str(&segment);
                    current = child;
                    depth += 1;
                    hops = 0;
                }
                (None, _) => break,
            }
        }
        ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested_arrays(levels: usize) -> Value {
        (0..levels).fold(
            json!({"type": "integer"}),
            |s, _| json!({"type": "array", "items": s}),
        )
    }

    fn height(schema: &Value, definitions: &IndexMap<String, Value>) -> usize {
        Heights {
            definitions,
            memo: HashMap::new(),
        }
        .of(schema)
    }

    #[test]
    fn every_subschema_keyword_is_one_level() {
        let none = IndexMap::new();
        assert_eq!(height(&nested_arrays(3), &none), 3);
        let s = json!({"type": "object", "properties": {"a": {"anyOf": [
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "null"}
        ]}}});
        assert_eq!(height(&s, &none), 3);
    }

    #[test]
    fn references_are_followed_and_recursion_ends_a_path() {
        let mut defs = IndexMap::new();
        defs.insert("deep".to_string(), nested_arrays(10));
        defs.insert(
            "tree".to_string(),
            json!({"type": "object", "properties": {"children": {
                "type": "array", "items": {"$ref": "#/definitions/tree"}}}}),
        );
        let via_ref = json!({"type": "array", "items": {"$ref": "#/definitions/deep"}});
        assert_eq!(height(&via_ref, &defs), 11);
        assert_eq!(height(&json!({"$ref": "#/definitions/tree"}), &defs), 2);
    }

    #[test]
    fn a_lattice_of_shared_definitions_is_measured_in_linear_time() {
        // Each definition refers to the next twice: 2^40 paths, 40 definitions.
        let mut defs = IndexMap::new();
        for i in 0..40 {
            let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
            defs.insert(
                format!("d{i}"),
                json!({"type": "object", "properties": {"a": next.clone(), "b": next}}),
            );
        }
        defs.insert("d40".to_string(), json!({"type": "string"}));
        assert_eq!(height(&json!({"$ref": "#/definitions/d0"}), &defs), 40);
    }

    #[test]
    fn the_report_points_at_the_first_schema_past_the_limit() {
        let defs = IndexMap::new();
        let mut h = Heights {
            definitions: &defs,
            memo: HashMap::new(),
        };
        let schema = nested_arrays(MAX_SCHEMA_DEPTH + 3);
        let at = h.deepest_path("/commands/0/inputSchema", &schema);
        let expected = format!(
            "/commands/0/inputSchema{}",
            "/items".repeat(MAX_SCHEMA_DEPTH + 1)
        );
        assert_eq!(at, expected);
    }
}
