//! luagen's own JSON Schema validator against the `jsonschema` crate, which it replaced on the
//! library's dependency path: on random schemas and instances the two must give the same
//! verdict, for each of the three checks luagen makes (the draft 7 meta-schema, a `default`
//! against its schema, a manifest against the manifest schema). A disagreement prints the
//! schema and instance so it can be kept as a regression case.

use std::cell::Cell;

use luagen::manifest::{manifest_schema, structure};
use luagen::validator::{meta_errors, Dialect, Validator};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Patterns both engines read the same way (JSON Schema's are ECMA 262; luagen's IR reports
/// the constructs the targets cannot check).
const PATTERNS: &[&str] = &["^a", "b$", "^[a-c]+$", "[0-9]", "^$", "é"];
const KEYS: &[&str] = &["a", "b", "c", "a/b", "~"];

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..=3).prop_map(Value::from),
        prop_oneof![Just(-1.5), Just(0.5), Just(2.0), Just(2.5), Just(1e300)].prop_map(Value::from),
        prop::sample::select(vec!["", "a", "ab", "abc", "b", "1", "é", "aé9"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// Well-formed draft 7 schemas over the whole validation vocabulary but `format`.
fn schema() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        Just(json!({})),
        prop::sample::select(vec![
            "null", "boolean", "integer", "number", "string", "array", "object"
        ])
        .prop_map(|t| json!({ "type": t })),
        prop::sample::subsequence(vec!["null", "integer", "string", "object"], 1..3)
            .prop_map(|ts| json!({ "type": ts })),
        (-2i64..=2, -2i64..=2).prop_map(|(a, b)| json!({ "minimum": a, "exclusiveMaximum": b })),
        (-2i64..=2, -2.5f64..2.5).prop_map(|(a, b)| json!({ "exclusiveMinimum": a, "maximum": b })),
        (1u64..4).prop_map(|m| json!({ "multipleOf": m })),
        (0u64..3, 0u64..4).prop_map(|(a, b)| json!({ "minLength": a, "maxLength": b })),
        prop::sample::select(PATTERNS).prop_map(|p| json!({ "pattern": p })),
        (0u64..3, 0u64..4).prop_map(|(a, b)| json!({ "minItems": a, "maxItems": b })),
        Just(json!({ "uniqueItems": true })),
        (0u64..3, 0u64..3).prop_map(|(a, b)| json!({ "minProperties": a, "maxProperties": b })),
        prop::sample::subsequence(KEYS.to_vec(), 0..3).prop_map(|r| json!({ "required": r })),
        prop::collection::vec(any_value(), 1..4).prop_map(|e| json!({ "enum": e })),
        any_value().prop_map(|c| json!({ "const": c })),
        Just(json!({ "$ref": "#/definitions/positive" })),
    ];
    leaf.prop_recursive(3, 32, 3, |inner| {
        let keyed = |inner: BoxedStrategy<Value>| {
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..3).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            })
        };
        let inner = inner.boxed();
        prop_oneof![
            (
                keyed(inner.clone()),
                prop_oneof![
                    Just(None),
                    any::<bool>().prop_map(|b| Some(json!(b))),
                    inner.clone().prop_map(Some)
                ]
            )
                .prop_map(|(props, additional)| {
                    let mut m = Map::new();
                    m.insert("properties".into(), props);
                    if let Some(a) = additional {
                        m.insert("additionalProperties".into(), a);
                    }
                    Value::Object(m)
                }),
            (prop::sample::select(PATTERNS), inner.clone())
                .prop_map(|(p, s)| json!({ "patternProperties": { p: s } })),
            inner.clone().prop_map(|s| json!({ "items": s })),
            (
                prop::collection::vec(inner.clone(), 1..3),
                prop_oneof![Just(json!(false)), inner.clone()]
            )
                .prop_map(|(t, a)| json!({ "items": t, "additionalItems": a })),
            inner.clone().prop_map(|s| json!({ "contains": s })),
            inner.clone().prop_map(|s| json!({ "propertyNames": s })),
            (
                prop::sample::select(KEYS),
                prop_oneof![inner.clone(), Just(json!(["b", "c"]))]
            )
                .prop_map(|(k, d)| json!({ "dependencies": { k: d } })),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|s| json!({ "allOf": s })),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|s| json!({ "anyOf": s })),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|s| json!({ "oneOf": s })),
            inner.clone().prop_map(|s| json!({ "not": s })),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(i, t, e)| json!({ "if": i, "then": t, "else": e })),
            // Draft 7 ignores the siblings of `$ref`.
            inner.prop_map(|s| json!({ "$ref": "#/definitions/positive", "not": s })),
        ]
    })
}

fn with_definitions(schema: Value) -> Value {
    match schema {
        Value::Object(mut m) => {
            m.insert(
                "definitions".into(),
                json!({ "positive": { "type": "integer", "minimum": 1 } }),
            );
            Value::Object(m)
        }
        other => other,
    }
}

#[test]
fn instance_verdicts_match_jsonschema() {
    let (valid, invalid) = (Cell::new(0u32), Cell::new(0u32));
    runner(3000)
        .run(&(schema(), any_value()), |(schema, instance)| {
            let schema = with_definitions(schema);
            let theirs = jsonschema::draft7::options()
                .should_validate_formats(false)
                .build(&schema)
                .unwrap()
                .is_valid(&instance);
            let ours = Validator::new(&schema, Dialect::Draft7).errors(&instance);
            let counter = if theirs { &valid } else { &invalid };
            counter.set(counter.get() + 1);
            prop_assert_eq!(
                ours.is_empty(),
                theirs,
                "schema {} instance {}: ours {:?}",
                schema,
                instance,
                ours
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // A strategy that only ever produced one verdict would prove nothing.
    let (valid, invalid) = (valid.get(), invalid.get());
    assert!(
        valid > 300 && invalid > 300,
        "valid {valid}, invalid {invalid}"
    );
}

/// Values in the shape of schemas, with keywords given the right or a wrong type.
fn schema_like() -> impl Strategy<Value = Value> {
    const KEYWORDS: &[&str] = &[
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "additionalItems",
        "minItems",
        "uniqueItems",
        "contains",
        "required",
        "properties",
        "additionalProperties",
        "patternProperties",
        "dependencies",
        "propertyNames",
        "definitions",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "$comment",
        "$ref",
        "x-vendor",
    ];
    let value = prop_oneof![
        any_value(),
        prop::sample::select(vec!["integer", "string", "strin", "null"]).prop_map(Value::from),
        Just(json!(["integer", "null"])),
        Just(json!(["integer", "integer"])),
        Just(json!([])),
        Just(json!(["a", "b"])),
        Just(json!(["a", "a"])),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!("#")),
    ];
    let leaf = prop::collection::vec((prop::sample::select(KEYWORDS), value), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec!["properties", "definitions", "dependencies"]),
                prop::sample::select(KEYS),
                inner.clone()
            )
                .prop_map(|(k, key, s)| json!({ k: { key: s } })),
            (
                prop::sample::select(vec![
                    "items",
                    "not",
                    "additionalProperties",
                    "if",
                    "contains"
                ]),
                inner.clone()
            )
                .prop_map(|(k, s)| json!({ k: s })),
            (
                prop::sample::select(vec!["allOf", "anyOf", "oneOf", "items"]),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(k, s)| json!({ k: s })),
        ]
    })
}

#[test]
fn meta_schema_verdicts_match_jsonschema() {
    let invalid = Cell::new(0u32);
    runner(3000)
        .run(&schema_like(), |schema| {
            let theirs = jsonschema::draft7::meta::is_valid(&schema);
            let ours = meta_errors(&schema);
            invalid.set(invalid.get() + u32::from(!theirs));
            prop_assert_eq!(
                ours.is_empty(),
                theirs,
                "schema {}: ours {:?}",
                schema,
                ours
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        invalid.get() > 300,
        "only {} invalid schemas generated",
        invalid.get()
    );
}

fn manifests() -> Vec<(std::path::PathBuf, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs = [
        root.join("manifests"),
        root.join("codegen/core/tests/corpus/valid"),
        root.join("codegen/core/tests/corpus/invalid"),
    ];
    let mut out = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Ok((root, _)) = luagen::yaml::parse(&text) {
                    out.push((path, root.to_json()));
                }
            }
        }
    }
    assert!(out.len() > 15, "found only {} manifests", out.len());
    out
}

fn structure_agrees(json: &Value, what: &str) -> Result<(), TestCaseError> {
    let schema = manifest_schema();
    let theirs = jsonschema::draft202012::new(&schema)
        .unwrap()
        .is_valid(json);
    let text = serde_json::to_string_pretty(json).unwrap();
    let (root, _) = luagen::yaml::parse(&text).unwrap();
    let ours = structure::check(&root, json);
    prop_assert_eq!(ours.is_empty(), theirs, "{}: ours {:?}", what, ours);
    Ok(())
}

#[test]
fn manifest_structure_verdicts_match_jsonschema() {
    for (path, json) in manifests() {
        structure_agrees(&json, &path.display().to_string()).unwrap();
    }
}

/// A manifest with one value replaced somewhere: a wrong type, a bad name, a bound crossed.
#[test]
fn mutated_manifest_structure_verdicts_match_jsonschema() {
    let good: Vec<Value> = manifests()
        .into_iter()
        .map(|(_, json)| json)
        .filter(|json| {
            structure::check(
                &luagen::yaml::parse(&serde_json::to_string(json).unwrap())
                    .unwrap()
                    .0,
                json,
            )
            .is_empty()
        })
        .collect();
    let replacement = prop_oneof![
        any_value(),
        prop::sample::select(vec!["Bad Name", "ok-name", "ok_name", "", "x"]).prop_map(Value::from),
        prop::sample::select(vec![0i64, 1, 10, 11, 3_600_000, 3_600_001, -1]).prop_map(Value::from),
    ];
    let rejected = Cell::new(0u32);
    runner(1500)
        .run(
            &(0..good.len(), any::<prop::sample::Index>(), replacement),
            |(which, at, value)| {
                let mut json = good[which].clone();
                let mut pointers = Vec::new();
                collect_pointers(&json, String::new(), &mut pointers);
                let pointer = at.get(&pointers).clone();
                *json.pointer_mut(&pointer).unwrap() = value;
                let valid = jsonschema::draft202012::is_valid(&manifest_schema(), &json);
                rejected.set(rejected.get() + u32::from(!valid));
                structure_agrees(&json, &format!("{pointer} in {json}"))
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rejected.get() > 100,
        "only {} mutations were invalid",
        rejected.get()
    );
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                collect_pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                collect_pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}
