//! Raw bytes through the core's own JSON reader (the one the Pico W firmware parses every
//! message with), against serde_json: never a panic; it accepts exactly what serde_json
//! accepts (but for its shallower nesting limit and floats within a few ulps of `f64::MAX`),
//! reads the same value, and what it writes reads back as that value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lua_device::json::{self, Value};

/// The same JSON value: floats may differ by a few ulps outside the range the reader and
/// writer are exact in (see `lua_device::json`).
fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
    match (ours, theirs) {
        (Value::Null, serde_json::Value::Null) => true,
        (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
        (Value::String(a), serde_json::Value::String(b)) => a == b,
        (Value::Number(a), serde_json::Value::Number(b)) => match (a.as_u64(), a.as_i64()) {
            (Some(u), _) => b.as_u64() == Some(u),
            (None, Some(i)) => b.as_i64() == Some(i),
            _ => {
                let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                (x.to_bits() as i64).abs_diff(y.to_bits() as i64) <= 8 || (x == 0.0 && y == 0.0)
            }
        },
        (Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), serde_json::Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let ours = json::from_slice(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => {
            assert!(
                same(ours, theirs),
                "read differently: {ours:?} vs {theirs:?}"
            );
            let text = json::to_string(ours);
            let back: serde_json::Value =
                serde_json::from_str(&text).expect("what the writer writes is JSON");
            assert!(same(ours, &back), "{text} does not read back");
        }
        (Err(e), Ok(_)) => assert!(
            matches!(e.what, "nested too deeply" | "number out of range"),
            "refused JSON serde_json reads: {e}"
        ),
        (Ok(v), Err(e)) => panic!("accepted what serde_json refuses ({e}): {v:?}"),
        (Err(_), Err(_)) => {}
    }
});
