//! Proptest strategies for JSON values shaped by a JSON Schema and values near it (the wrong
//! type, one past a bound, a missing field, an extra one), shared by the differential tests of
//! the generated Rust and MicroPython checks.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// How deep [`near`] must go for `schema` to yield valid values: the depth of its shallowest
/// valid value (a required chain of objects 12 deep needs 13 levels; optional and possibly
/// empty levels need none), and never less than 4.
pub fn depth_for(schema: &Value) -> u32 {
    (shallowest(schema, schema, 0) + 1).max(4)
}

fn shallowest(schema: &Value, root: &Value, seen: u32) -> u32 {
    // A $ref cycle cannot require itself for ever in a satisfiable schema; stop regardless.
    if seen > 64 {
        return 0;
    }
    let schema = resolve(schema, root);
    let Some(map) = schema.as_object() else {
        return 1;
    };
    let each = |s: &Value| shallowest(s, root, seen + 1);
    if let Some(Value::Array(branches)) = map.get("anyOf").or_else(|| map.get("oneOf")) {
        return branches.iter().map(each).min().unwrap_or(1);
    }
    let all = match map.get("allOf") {
        Some(Value::Array(parts)) => parts.iter().map(each).max().unwrap_or(0),
        _ => 0,
    };
    let own = if let Some(Value::Array(required)) = map.get("required") {
        let properties = map.get("properties");
        1 + required
            .iter()
            .filter_map(|name| properties?.get(name.as_str()?))
            .map(each)
            .max()
            .unwrap_or(0)
    } else if map.get("minItems").and_then(Value::as_u64).unwrap_or(0) > 0 {
        1 + map.get("items").map(each).unwrap_or(0)
    } else {
        1
    };
    own.max(all)
}

/// Values shaped by `schema`, mixed with values of the wrong shape, so both verdicts occur.
/// Half of them put a wrong type nowhere but past a bound, a missing field or an extra one, so
/// that a schema with many fields still gets valid values.
pub fn near(schema: &Value, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    prop_oneof![
        shaped(schema, root, depth, 1),
        shaped(schema, root, depth, 0)
    ]
    .boxed()
}

/// Values shaped by `schema`; `wrong` weighs values of the wrong type against 4 for each type
/// the schema allows.
fn shaped(schema: &Value, root: &Value, depth: u32, wrong: u32) -> BoxedStrategy<Value> {
    let schema = resolve(schema, root);
    let wrong_weight = wrong;
    let wrong = wrong_value().boxed();
    if depth == 0 {
        return wrong;
    }
    let Some(map) = schema.as_object() else {
        return wrong;
    };
    if let Some(c) = map.get("const") {
        return with_wrong(Just(c.clone()).boxed(), wrong, wrong_weight);
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        let values = values.clone();
        return with_wrong(
            proptest::sample::select(values).boxed(),
            wrong,
            wrong_weight,
        );
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = map.get(key) {
            let strategies: Vec<BoxedStrategy<Value>> = variants
                .iter()
                .map(|v| shaped(v, root, depth - 1, wrong_weight))
                .collect();
            return proptest::strategy::Union::new(strategies).boxed();
        }
    }
    let types: Vec<&str> = match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        None if map.contains_key("properties") => vec!["object"],
        _ => vec![],
    };
    // Mostly the right type, so that deeply nested values are sometimes valid throughout.
    let mut options: Vec<(u32, BoxedStrategy<Value>)> = vec![(wrong_weight, wrong)];
    for t in types {
        options.push((
            4,
            match t {
                "null" => Just(Value::Null).boxed(),
                "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
                "integer" => integers(map).boxed(),
                "number" => numbers(map).boxed(),
                "string" => strings(map),
                "array" => {
                    let items = map.get("items").cloned().unwrap_or(json!({}));
                    let max = map
                        .get("maxItems")
                        .and_then(Value::as_u64)
                        .unwrap_or(4)
                        .min(6) as usize
                        + 1;
                    proptest::collection::vec(
                        shaped(&items, root, depth - 1, wrong_weight),
                        0..=max,
                    )
                    .prop_map(Value::Array)
                    .boxed()
                }
                "object" => objects(map, root, depth, wrong_weight),
                _ => continue,
            },
        ));
    }
    if options.len() == 1 {
        options.push((4, any_json().boxed()));
    }
    options.retain(|(weight, _)| *weight > 0);
    proptest::strategy::Union::new_weighted(options).boxed()
}

fn with_wrong(
    right: BoxedStrategy<Value>,
    wrong: BoxedStrategy<Value>,
    weight: u32,
) -> BoxedStrategy<Value> {
    if weight == 0 {
        return right;
    }
    prop_oneof![4 => right, weight => wrong].boxed()
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(pointer) => root.pointer(pointer).unwrap_or(schema),
        None => schema,
    }
}

fn bound(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

fn integers(map: &Map<String, Value>) -> impl Strategy<Value = Value> {
    let lo = bound(map, "minimum")
        .or(bound(map, "exclusiveMinimum"))
        .unwrap_or(-1000.0) as i64;
    let hi = bound(map, "maximum")
        .or(bound(map, "exclusiveMaximum"))
        .unwrap_or(1000.0) as i64;
    let (lo, hi) = (lo.saturating_sub(3), hi.saturating_add(3).max(lo));
    prop_oneof![
        (lo..=hi).prop_map(|i| json!(i)),
        (lo..=hi).prop_map(|i| json!(i as f64 + 0.5)),
        (lo..=hi).prop_map(|i| json!(i as f64)),
    ]
}

fn numbers(map: &Map<String, Value>) -> impl Strategy<Value = Value> {
    let lo = bound(map, "minimum")
        .or(bound(map, "exclusiveMinimum"))
        .unwrap_or(-1000.0);
    let hi = bound(map, "maximum")
        .or(bound(map, "exclusiveMaximum"))
        .unwrap_or(1000.0);
    let edges = vec![
        json!(lo),
        json!(hi),
        json!(lo - 1.0),
        json!(hi + 1.0),
        json!(0),
    ];
    prop_oneof![
        ((lo - 2.0)..(hi + 2.0)).prop_map(|f| json!(f)),
        proptest::sample::select(edges),
    ]
}

fn strings(map: &Map<String, Value>) -> BoxedStrategy<Value> {
    let max = map
        .get("maxLength")
        .and_then(Value::as_u64)
        .unwrap_or(12)
        .min(40) as usize;
    let arbitrary = proptest::string::string_regex(&format!("[a-zA-Z0-9 é_-]{{0,{}}}", max + 2))
        .expect("a plain class regex")
        .prop_map(Value::String)
        .boxed();
    match map.get("pattern").and_then(Value::as_str) {
        Some(p) => {
            match proptest::string::string_regex(p.trim_start_matches('^').trim_end_matches('$')) {
                Ok(matching) => prop_oneof![matching.prop_map(Value::String), arbitrary].boxed(),
                Err(_) => arbitrary,
            }
        }
        None => arbitrary,
    }
}

fn objects(map: &Map<String, Value>, root: &Value, depth: u32, wrong: u32) -> BoxedStrategy<Value> {
    let properties: Vec<(String, Value)> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let additional = match map.get("additionalProperties") {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => json!({}),
    };
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .into_iter()
        .map(|(k, s)| {
            proptest::option::weighted(
                if required.contains(&k.as_str()) {
                    0.95
                } else {
                    0.6
                },
                shaped(&s, root, depth - 1, wrong).prop_map(move |v| (k.clone(), v)),
            )
            .boxed()
        })
        .collect();
    let extra = proptest::option::weighted(
        0.2,
        ("[a-z]{1,3}", shaped(&additional, root, depth - 1, wrong)),
    );
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let mut obj: Map<String, Value> = fields.into_iter().flatten().collect();
            if let Some((k, v)) = extra {
                obj.insert(k, v);
            }
            Value::Object(obj)
        })
        .boxed()
}

fn wrong_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(|i| json!(i)),
        Just(json!(1.5)),
        "[a-z]{0,3}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    wrong_value().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
