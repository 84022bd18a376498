//! Instances of JSON Schemas for manifest-derived sessions: a valid value (luagen's own
//! [`luagen::example`], held here to the `jsonschema` crate's verdict, a validator luagen does
//! not share), a value breaking one rule, and the shape of a value, which is what two devices
//! with different handlers can be compared on.

use anyhow::{anyhow, bail, Result};
use luagen::example::{resolve, types_of};
use serde_json::{json, Map, Value};

/// How deep nesting may go before a shape stops looking inside.
const MAX_DEPTH: usize = 24;

/// A draft 7 validator for `schema` (self-contained: its `definitions` travel inside it).
/// Formats are not asserted, as in luagen's own checks (draft 7 makes them optional).
pub fn validator(schema: &Value) -> Result<jsonschema::Validator> {
    jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| anyhow!("not a valid draft 7 schema: {e}"))
}

/// The jsonschema errors of `value` against `schema`, empty when it is valid.
pub fn errors(schema: &Value, value: &Value) -> Result<Vec<String>> {
    let v = validator(schema)?;
    Ok(v.iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// A valid instance of the self-contained `schema`: luagen's example, checked by jsonschema.
pub fn valid_instance(schema: &Value) -> Result<Value> {
    let value = luagen::example::example(schema).map_err(|e| anyhow!("{e}"))?;
    let errors = errors(schema, &value)?;
    if !errors.is_empty() {
        bail!(
            "luagen's example {value} does not satisfy the schema for jsonschema ({})",
            errors.join("; ")
        );
    }
    Ok(value)
}

/// The top-level required field of `valid` that can be given a value of the wrong type, and
/// the payload with that one field broken (checked to be rejected by jsonschema). `None` when
/// no required field declares a type.
pub fn wrong_type_for_required_field(
    schema: &Value,
    valid: &Value,
) -> Result<Option<(String, Value)>> {
    let object = resolve(schema, schema).map_err(|e| anyhow!("{e}"))?;
    let Some(required) = object.get("required").and_then(Value::as_array) else {
        return Ok(None);
    };
    let properties = object.get("properties").and_then(Value::as_object);
    for field in required.iter().filter_map(Value::as_str) {
        let Some(property) = properties.and_then(|p| p.get(field)) else {
            continue;
        };
        let property = resolve(schema, property).map_err(|e| anyhow!("{e}"))?;
        let types = types_of(property);
        if types.is_empty() {
            continue;
        }
        let wrong = [
            json!(7),
            json!("wrong"),
            json!(true),
            json!({}),
            json!([]),
            Value::Null,
        ]
        .into_iter()
        .find(|candidate| !types.iter().any(|t| json_type_allows(t, candidate)));
        let (Some(wrong), Some(object)) = (wrong, valid.as_object()) else {
            continue;
        };
        let mut broken = object.clone();
        broken.insert(field.to_string(), wrong);
        let broken = Value::Object(broken);
        if errors(schema, &broken)?.is_empty() {
            bail!("a wrong type for required field `{field}` still validates: {broken}");
        }
        return Ok(Some((field.to_string(), broken)));
    }
    Ok(None)
}

/// The shape of `value` under `schema`: scalars become their JSON type, objects keep only the
/// properties the schema requires, arrays are only arrays, and where the schema allows several
/// types the shape names them all. Devices answering with their own readings compare equal
/// when their answers have one shape; whether an answer is valid is checked separately.
pub fn shape(schema: Option<&Value>, value: &Value) -> Value {
    let root = schema.cloned().unwrap_or(json!({}));
    Shapes { root: &root }.shape(&root, value, 0)
}

fn json_type_allows(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "<boolean>",
        Value::Number(_) => "<number>",
        Value::String(_) => "<string>",
        Value::Array(_) => "<array>",
        Value::Object(_) => "<object>",
    }
}

/// Shapes of values under parts of one root schema (whose definitions they may refer to).
struct Shapes<'a> {
    root: &'a Value,
}

impl Shapes<'_> {
    fn shape(&self, schema: &Value, value: &Value, depth: usize) -> Value {
        let Some(schema) = self
            .resolve_loose(schema, depth)
            .filter(|_| depth <= MAX_DEPTH)
        else {
            return json!(type_name(value));
        };
        let several = ["anyOf", "oneOf"].iter().any(|k| schema.get(k).is_some())
            || types_of(schema).len() > 1;
        if several {
            let mut types = types_of(schema);
            types.sort_unstable();
            return json!(format!("<one of {}>", types.join("|")));
        }
        match value {
            Value::Object(map) => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let properties = schema.get("properties");
                // Without a schema for it, an object's shape is every key's.
                let keep = |k: &str| schema.get("properties").is_none() || required.contains(&k);
                let out: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, v)| {
                        let sub = properties
                            .and_then(|p| p.get(k))
                            .unwrap_or(&Value::Bool(true));
                        (k.clone(), self.shape(sub, v, depth + 1))
                    })
                    .collect();
                if schema.get("properties").is_none() && map.is_empty() {
                    return json!("<object>");
                }
                Value::Object(out)
            }
            other => json!(type_name(other)),
        }
    }

    fn resolve_loose<'b>(&'b self, schema: &'b Value, _depth: usize) -> Option<&'b Value> {
        resolve(self.root, schema).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_required_field_gets_a_value_of_another_type() {
        let schema = json!({"type": "object",
            "properties": {"label": {"type": "string"}, "on": {"type": "boolean"}},
            "required": ["label", "on"]});
        let valid = valid_instance(&schema).unwrap();
        let (field, broken) = wrong_type_for_required_field(&schema, &valid)
            .unwrap()
            .unwrap();
        assert_eq!(field, "label");
        assert_eq!(broken, json!({"label": 7, "on": true}));
        let untyped = json!({"type": "object", "required": ["x"], "properties": {"x": {}}});
        assert_eq!(
            wrong_type_for_required_field(&untyped, &json!({"x": {}})).unwrap(),
            None
        );
    }

    #[test]
    fn shapes_keep_required_keys_and_types_not_values() {
        let schema = json!({"type": "object",
            "properties": {"t": {"type": "number"}, "opt": {"type": "string"},
                           "e": {"type": ["string", "null"]}},
            "required": ["t", "e"]});
        let a = shape(Some(&schema), &json!({"t": 28.3, "opt": "x", "e": null}));
        let b = shape(Some(&schema), &json!({"t": 0, "e": "boom"}));
        assert_eq!(a, b);
        assert_eq!(a, json!({"t": "<number>", "e": "<one of null|string>"}));
        assert_ne!(shape(Some(&schema), &json!({"t": "hot", "e": null})), a);
        assert_eq!(shape(None, &json!({"x": 1})), json!({"x": "<number>"}));
    }
}
