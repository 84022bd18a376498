//! `payloads.py`: the device's payload types as `TypedDict`s and type aliases, rendered from
//! the neutral type IR with the Python naming pass. A checked payload is the dict that
//! arrived, so the types cost nothing at run time: they are for mypy and the reader.
//!
//! Every struct uses `TypedDict`'s functional form, since wire names need not be identifiers
//! (`"soil-moisture"`, `""`). Its value annotations are strings, so a type may name one defined
//! later (recursion through `$ref`); a string annotation holds only identifiers and brackets,
//! never a quote: literal values are hoisted into aliases (`_L1`) written before every type.

use serde_json::Value;

use crate::emit::micropython::escape::{doc_lines, py_str};
use crate::emit::micropython::{field_line, PyTypes};
use crate::ir::{Shape, TypeDefKind};

/// The module-level names `payloads.py` itself defines (types are PascalCase and never start
/// with an underscore, so none can clash with these).
pub(crate) const TYPING: &str = "_t";

/// Renders types and annotations, collecting the literal aliases they need.
pub(crate) struct PayloadWriter<'a> {
    types: &'a PyTypes<'a>,
    /// `(alias name, its Literal[...] expression)`, in order of first use.
    literals: Vec<(String, String)>,
}

impl<'a> PayloadWriter<'a> {
    pub(crate) fn new(types: &'a PyTypes<'a>) -> Self {
        Self {
            types,
            literals: Vec::new(),
        }
    }

    /// The annotation of a value of `shape`, with `module` (`""` or `"payloads."`) before the
    /// names `payloads.py` defines. Quote-free, so it can sit inside a string annotation.
    pub(crate) fn annotation(&mut self, shape: &Shape, module: &str) -> String {
        match shape {
            Shape::Any => format!("{TYPING}.Any"),
            Shape::Boolean => "bool".into(),
            Shape::Integer(_) => "int".into(),
            Shape::Number(_) => "float".into(),
            Shape::String(_) => "str".into(),
            Shape::Array(a) => format!("{TYPING}.List[{}]", self.annotation(&a.items, module)),
            Shape::Map { values, .. } => {
                format!("{TYPING}.Dict[str, {}]", self.annotation(values, module))
            }
            Shape::Nullable { inner } => {
                format!("{TYPING}.Optional[{}]", self.annotation(inner, module))
            }
            Shape::Const { value } => self.literal(std::slice::from_ref(value), module),
            Shape::Literals { values, .. } => self.literal(values, module),
            Shape::Named { id } => format!("{module}{}", self.types.names.ty(*id)),
        }
    }

    /// `Literal[...]` of `values` as a hoisted alias, or `Any` when one of them is a value
    /// `Literal` cannot hold (a fraction, an array, an object).
    fn literal(&mut self, values: &[Value], module: &str) -> String {
        let Some(items) = values.iter().map(literal_item).collect::<Option<Vec<_>>>() else {
            return format!("{TYPING}.Any");
        };
        let expr = format!("{TYPING}.Literal[{}]", items.join(", "));
        let name = match self.literals.iter().find(|(_, e)| *e == expr) {
            Some((name, _)) => name.clone(),
            None => {
                let name = format!("_L{}", self.literals.len() + 1);
                self.literals.push((name.clone(), expr));
                name
            }
        };
        format!("{module}{name}")
    }

    /// The body of `payloads.py` after its imports: the literal aliases, then every type in
    /// the IR's order, each with its description as a comment.
    pub(crate) fn module(mut self) -> String {
        let mut types = String::new();
        for (id, def) in self.types.iter() {
            let name = self.types.names.ty(id).to_string();
            types.push_str("\n\n");
            for line in def.doc.as_deref().map(doc_lines).unwrap_or_default() {
                types.push_str(&comment(&line));
            }
            match &def.kind {
                TypeDefKind::Struct(s) => {
                    types.push_str(&format!(
                        "{name} = {TYPING}.TypedDict({}, {{",
                        py_str(&name)
                    ));
                    if s.fields.is_empty() {
                        types.push_str("})\n");
                        continue;
                    }
                    types.push('\n');
                    for f in &s.fields {
                        types.push_str(&comment_at(4, &field_line(self.types, f)));
                        let ann = self.annotation(&f.shape, "");
                        let ann = if f.required {
                            ann
                        } else {
                            format!("{TYPING}.NotRequired[{ann}]")
                        };
                        types.push_str(&format!("    {}: \"{ann}\",\n", py_str(&f.wire_name)));
                    }
                    types.push_str("})\n");
                }
                TypeDefKind::Enum(e) => {
                    let items: Vec<String> = e.variants.iter().map(|v| py_str(&v.wire)).collect();
                    types.push_str(&format!(
                        "{name}: {TYPING}.TypeAlias = {TYPING}.Literal[{}]\n",
                        items.join(", ")
                    ));
                }
                TypeDefKind::Union(u) => {
                    let variants: Vec<String> = u
                        .variants
                        .iter()
                        .map(|v| self.annotation(&v.shape, ""))
                        .collect();
                    types.push_str(&format!(
                        "{name}: {TYPING}.TypeAlias = \"{TYPING}.Union[{}]\"\n",
                        variants.join(", ")
                    ));
                }
                TypeDefKind::Alias { shape } => {
                    let ann = self.annotation(shape, "");
                    types.push_str(&format!("{name}: {TYPING}.TypeAlias = \"{ann}\"\n"));
                }
            }
        }
        let mut out = String::new();
        if !self.literals.is_empty() {
            out.push_str("\n# Literal values the types below use.\n");
        }
        for (name, expr) in &self.literals {
            out.push_str(&format!("{name}: {TYPING}.TypeAlias = {expr}\n"));
        }
        out.push_str(&types);
        out
    }
}

/// A JSON value as an item of `typing.Literal`, if it can be one (strings, booleans, null and
/// whole numbers written without a fraction).
fn literal_item(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("None".into()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(s) => Some(py_str(s)),
        _ => None,
    }
}

fn comment(line: &str) -> String {
    comment_at(0, line)
}

fn comment_at(indent: usize, line: &str) -> String {
    let pad = " ".repeat(indent);
    if line.is_empty() {
        format!("{pad}#\n")
    } else {
        format!("{pad}# {line}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_values_literal_can_hold_become_literals() {
        assert_eq!(literal_item(&json!("a\"b")).unwrap(), r#""a\"b""#);
        assert_eq!(literal_item(&json!(3)).unwrap(), "3");
        assert_eq!(literal_item(&json!(null)).unwrap(), "None");
        assert!(literal_item(&json!(1.5)).is_none());
        assert!(literal_item(&json!([1])).is_none());
    }
}
