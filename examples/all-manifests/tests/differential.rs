//! Differential testing of the generated checks against the `jsonschema` crate: for every
//! payload type of every manifest, values generated from (and near) its schema must be accepted
//! by the generated check exactly when jsonschema accepts them. A disagreement is a generator
//! bug; its value is printed so it can be kept as a regression case.

use all_manifests::{checks, Case};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

/// Values shaped by `schema`, mixed with values of the wrong shape, so both verdicts occur.
fn near(schema: &Value, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    let schema = resolve(schema, root);
    let wrong = wrong_value().boxed();
    if depth == 0 {
        return wrong;
    }
    let Some(map) = schema.as_object() else {
        return wrong;
    };
    if let Some(c) = map.get("const") {
        return prop_oneof![4 => Just(c.clone()), 1 => wrong].boxed();
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        let values = values.clone();
        return prop_oneof![4 => proptest::sample::select(values), 1 => wrong].boxed();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = map.get(key) {
            let strategies: Vec<BoxedStrategy<Value>> =
                variants.iter().map(|v| near(v, root, depth - 1)).collect();
            return proptest::strategy::Union::new(strategies).boxed();
        }
    }
    let types: Vec<&str> = match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        None if map.contains_key("properties") => vec!["object"],
        _ => vec![],
    };
    let mut options: Vec<BoxedStrategy<Value>> = vec![wrong];
    for t in types {
        options.push(match t {
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
                proptest::collection::vec(near(&items, root, depth - 1), 0..=max)
                    .prop_map(Value::Array)
                    .boxed()
            }
            "object" => objects(map, root, depth),
            _ => continue,
        });
    }
    if options.len() == 1 {
        options.push(any_json().boxed());
    }
    proptest::strategy::Union::new(options).boxed()
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

fn objects(map: &Map<String, Value>, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    let properties: Vec<(String, Value)> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let additional = match map.get("additionalProperties") {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => json!({}),
    };
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .into_iter()
        .map(|(k, s)| {
            proptest::option::weighted(
                0.85,
                near(&s, root, depth - 1).prop_map(move |v| (k.clone(), v)),
            )
            .boxed()
        })
        .collect();
    let extra = proptest::option::weighted(0.2, ("[a-z]{1,3}", near(&additional, root, depth - 1)));
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

fn agree(case: &Case) {
    let schema: Value = serde_json::from_str(case.schema).unwrap();
    // Formats are annotations in luagen's checks (draft 7 makes format validation optional).
    let validator = jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(&schema)
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let rejected = std::cell::Cell::new(0u32);
    runner
        .run(&near(&schema, &schema, 4), |value| {
            let ours = (case.check)(&value);
            let theirs = validator.is_valid(&value);
            if !theirs {
                rejected.set(rejected.get() + 1);
            }
            if theirs {
                // Accepted values become the generated type and come back still valid.
                let back = (case.round_trip)(&value);
                prop_assert!(
                    back.as_ref().is_ok_and(|b| validator.is_valid(b)),
                    "{}::{} does not round-trip {}: {:?}",
                    case.device,
                    case.ty,
                    value,
                    back
                );
            }
            prop_assert_eq!(
                ours.is_ok(),
                theirs,
                "{}::{} disagrees with jsonschema on {} (ours: {:?})",
                case.device,
                case.ty,
                value,
                ours
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // A strategy that only ever produced one verdict would prove little.
    assert!(
        rejected.get() > 0,
        "{}::{}: no invalid value generated",
        case.device,
        case.ty
    );
}

#[test]
fn generated_checks_accept_exactly_what_jsonschema_accepts() {
    let cases = checks();
    assert!(
        cases.len() > 20,
        "every manifest's payload types are covered"
    );
    for case in &cases {
        agree(case);
    }
}

#[test]
fn regressions() {
    // Values that once split the two verdicts stay here.
    let by_type = |ty: &str| checks().into_iter().find(|c| c.ty == ty).unwrap();
    let configure = by_type("ConfigureInput");
    let schema: Value = serde_json::from_str(configure.schema).unwrap();
    let validator = jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(&schema)
        .unwrap();
    for value in [
        json!({"enabled": true, "percent": 5.0}),
        json!({"enabled": true, "percent": 50, "shape": {"kind": "circle", "radius": 1}}),
        json!({"enabled": true, "percent": 50, "shape": {"kind": "triangle"}}),
        json!({"enabled": true, "percent": 50, "value": 1.5}),
        json!({"enabled": true, "percent": 50, "tags": ["a", "a"]}),
        json!({"enabled": true, "percent": 50, "note": null}),
        json!({"enabled": true, "percent": 50, "unknown": 1}),
    ] {
        assert_eq!(
            (configure.check)(&value).is_ok(),
            validator.is_valid(&value),
            "{value}"
        );
    }
}
