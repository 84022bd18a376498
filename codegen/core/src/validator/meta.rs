//! Draft 7's meta-schema: what makes a payload schema a JSON Schema at all.

use std::sync::OnceLock;

use serde_json::Value;

use super::{Dialect, Error, Validator};

/// The meta-schema as published at <http://json-schema.org/draft-07/schema>.
const DRAFT_07: &str = include_str!("draft-07-schema.json");

/// Every place `schema` breaks the draft 7 meta-schema; `instance_path` points into `schema`.
pub fn meta_errors(schema: &Value) -> Vec<Error> {
    static META: OnceLock<Value> = OnceLock::new();
    let meta = META.get_or_init(|| {
        serde_json::from_str(DRAFT_07).expect("the bundled draft 7 meta-schema is JSON")
    });
    Validator::new(meta, Dialect::Draft7).errors(schema)
}
