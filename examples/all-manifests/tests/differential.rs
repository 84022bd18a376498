//! Differential testing of the generated checks against the `jsonschema` crate: for every
//! payload type of every manifest, values generated from (and near) its schema must be accepted
//! by the generated check exactly when jsonschema accepts them. A disagreement is a generator
//! bug; its value is printed so it can be kept as a regression case.

mod values;

use all_manifests::{checks, Case};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use values::near;

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
        .run(
            &near(&schema, &schema, values::depth_for(&schema)),
            |value| {
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
                    // The chip's generated reader and writer make exactly what the serde derives
                    // make of it.
                    let chip = (case.chip_round_trip)(&value);
                    prop_assert_eq!(
                        chip.as_ref().ok(),
                        back.as_ref().ok(),
                        "{}::{}: the chip's reader/writer and serde differ on {}",
                        case.device,
                        case.ty,
                        value
                    );
                } else {
                    // Refused by the chip's reader with the host check's message.
                    let chip = (case.chip_round_trip)(&value);
                    prop_assert_eq!(
                        chip.err(),
                        ours.as_ref().err().map(|e| format!("read: {e}")),
                        "{}::{}",
                        case.device,
                        case.ty
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
            },
        )
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

/// The chip's readers and writers against serde on valid values the strategy above rarely or
/// never produces (every-shape's configure input: all of its constraints at once).
#[test]
fn chip_payloads_read_and_write_like_serde() {
    let by_type = |device: &str, ty: &str| {
        checks()
            .into_iter()
            .find(|c| c.device == device && c.ty == ty)
            .unwrap()
    };
    let fixtures = [
        (
            "shapes-device",
            "ConfigureInput",
            vec![
                json!({"enabled": true, "percent": 0}),
                json!({
                    "enabled": false, "percent": 100, "offset": -128, "port": 65535,
                    "count": 18446744073709551615u64, "delta": -9223372036854775808i64,
                    "step": 10, "ratio": 0.25, "temperature": -273.15, "name": "dev",
                    "when": "2025-01-15T10:30:00Z", "note": null, "level": "high",
                    "maybe_level": null, "priority": 3, "version": 2, "tags": ["a", "b"],
                    "labels": {"x": "1", "y": "2"}, "extra": {"any": [1, {"deep": null}]},
                    "anything": [true, 1.5, "s"],
                    "address": {"street": "Main St 1", "zip": "12345"},
                    "tree": {"label": "root", "children": [{"label": "leaf", "children": []}]},
                    "shipping": {"carrier": "dhl", "parcels": [{"weight": 0}, {"weight": 2.5}]},
                    "shape": {"kind": "square", "side": 3},
                    "value": ["p", "q"]
                }),
                json!({"enabled": true, "percent": 5.0, "note": "n", "maybe_level": "low",
                       "shape": {"kind": "circle", "radius": 1.5}, "value": 7, "step": -5.0}),
                json!({"enabled": true, "percent": 1, "value": "text", "anything": null,
                       "priority": 1.0, "ratio": 1}),
            ],
        ),
        (
            "label-printer",
            "PrintLabelInput",
            vec![
                json!({"labelData": {"tracking": "1Z999AA10123456784", "carrier": "ups",
                    "to": {"name": "A", "street": "B 1", "city": "C", "postalCode": "12345",
                           "country": "DE"}}}),
                json!({"labelData": {"tracking": "ABCDEFGH", "carrier": "dhl",
                    "to": {"name": "A", "street": "B", "city": "C", "postalCode": "SW1A 1AA",
                           "country": "GB"},
                    "from": {"name": "D", "street": "E", "city": "F", "postalCode": "999",
                             "country": "US"},
                    "weightGrams": 70000}, "copies": 10, "format": "2x1"}),
            ],
        ),
    ];
    for (device, ty, values) in fixtures {
        let case = by_type(device, ty);
        let schema: Value = serde_json::from_str(case.schema).unwrap();
        let validator = jsonschema::draft7::options()
            .should_validate_formats(false)
            .build(&schema)
            .unwrap();
        for value in values {
            assert!(
                validator.is_valid(&value),
                "{device}::{ty}: fixture {value} is invalid"
            );
            let serde = (case.round_trip)(&value).unwrap();
            let chip = (case.chip_round_trip)(&value).unwrap();
            assert_eq!(chip, serde, "{device}::{ty}: {value}");
            // What the chip wrote reads back to the same value.
            assert_eq!(
                (case.chip_round_trip)(&chip).unwrap(),
                chip,
                "{device}::{ty}"
            );
        }
    }
}

/// Integers JSON Schema accepts past the generated field's type (`i64` for an open integer,
/// `u64` when `minimum >= 0`): refused by the host's check and the chip's reader with one
/// message naming the field and the range the device supports (PROTOCOL.md), never by serde
/// without a field. The ends of each type are taken.
#[test]
fn integers_past_the_field_type_are_refused_alike() {
    let case = checks()
        .into_iter()
        .find(|c| c.device == "shapes-device" && c.ty == "ConfigureInput")
        .unwrap();
    let schema: Value = serde_json::from_str(case.schema).unwrap();
    let validator = jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(&schema)
        .unwrap();
    let with = |field: &str, n: Value| {
        let mut value = json!({"enabled": true, "percent": 1});
        value[field] = n;
        value
    };
    let i64_range = "must be from -9223372036854775808 to 9223372036854775807, the range this \
                     device supports";
    let u64_range = "must be from 0 to 18446744073709551615, the range this device supports";
    for (field, n, rule) in [
        ("delta", json!(9223372036854775808u64), i64_range),
        ("delta", json!(-9.3e18), i64_range),
        ("delta", json!(1e300), i64_range),
        ("step", json!(1e20), i64_range),
        ("count", json!(5.4e37), u64_range),
        ("count", json!(18446744073709551616.0), u64_range),
    ] {
        let value = with(field, n);
        assert!(validator.is_valid(&value), "{value}");
        let error = format!("{field}: {rule}");
        assert_eq!(
            (case.check)(&value).map_err(|e| e.to_string()),
            Err(error.clone()),
            "{value}"
        );
        assert_eq!(
            (case.chip_round_trip)(&value),
            Err(format!("read: {error}")),
            "{value}"
        );
    }
    for (field, n) in [
        ("delta", json!(i64::MIN)),
        ("delta", json!(i64::MAX)),
        ("delta", json!(-9.2e18)),
        ("count", json!(u64::MAX)),
        ("count", json!(1.8e19)),
    ] {
        let value = with(field, n);
        let serde = (case.round_trip)(&value);
        assert!(serde.is_ok(), "{value}: {serde:?}");
        assert_eq!((case.chip_round_trip)(&value), serde, "{value}");
    }
}
