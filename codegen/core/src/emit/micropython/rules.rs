//! The wording of every validation failure, in one place. A message is `<path>: <rule>`,
//! e.g. `labelData.tracking: does not match ^[A-Z0-9]{8,20}$`; the Rust target uses the same
//! rule texts so an agent sees one vocabulary whatever the device runs.

use serde_json::Value;

use crate::ir::JsonType;

/// One rule a value broke.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule<'a> {
    /// The value has the wrong JSON type.
    Type(&'a [JsonType]),
    Required,
    /// A property `additionalProperties: false` forbids.
    NotAllowed,
    Minimum(String),
    Maximum(String),
    ExclusiveMinimum(String),
    ExclusiveMaximum(String),
    MultipleOf(String),
    MinLength(u64),
    MaxLength(u64),
    Pattern(&'a str),
    OneOf(&'a [Value]),
    Const(&'a Value),
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
}

impl Rule<'_> {
    /// The rule as the text after `<path>: `.
    pub fn message(&self) -> String {
        match self {
            Rule::Type(types) => format!("must be {}", type_list(types)),
            Rule::Required => "is required".into(),
            Rule::NotAllowed => "is not allowed".into(),
            Rule::Minimum(n) => format!("must be at least {n}"),
            Rule::Maximum(n) => format!("must be at most {n}"),
            Rule::ExclusiveMinimum(n) => format!("must be greater than {n}"),
            Rule::ExclusiveMaximum(n) => format!("must be less than {n}"),
            Rule::MultipleOf(n) => format!("must be a multiple of {n}"),
            Rule::MinLength(n) => format!("must have at least {n} characters"),
            Rule::MaxLength(n) => format!("must have at most {n} characters"),
            Rule::Pattern(p) => format!("does not match {p}"),
            // One allowed value reads as `must be X`, as the Rust target words it.
            Rule::OneOf([only]) => format!("must be {only}"),
            Rule::OneOf(values) => format!(
                "must be one of {}",
                values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Rule::Const(v) => format!("must be {v}"),
            Rule::MinItems(n) => format!("must have at least {n} items"),
            Rule::MaxItems(n) => format!("must have at most {n} items"),
            Rule::UniqueItems => "must not contain duplicate items".into(),
        }
    }
}

fn article(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

/// `a string`, `a string or null`, `a string, an integer or an array`.
fn type_list(types: &[JsonType]) -> String {
    let words: Vec<&str> = types.iter().map(|t| article(*t)).collect();
    match words.as_slice() {
        [] => "nothing".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Every rule with a sample, for documentation and the report of the wording.
pub fn catalogue() -> Vec<String> {
    let values = [Value::from("a"), Value::from("b")];
    let c = Value::from(2);
    [
        Rule::Type(&[JsonType::Integer]),
        Rule::Type(&[JsonType::String, JsonType::Null]),
        Rule::Required,
        Rule::NotAllowed,
        Rule::Minimum("N".into()),
        Rule::Maximum("N".into()),
        Rule::ExclusiveMinimum("N".into()),
        Rule::ExclusiveMaximum("N".into()),
        Rule::MultipleOf("N".into()),
        Rule::MinLength(8),
        Rule::MaxLength(20),
        Rule::Pattern("^[A-Z0-9]{8,20}$"),
        Rule::OneOf(&values),
        Rule::Const(&c),
        Rule::MinItems(1),
        Rule::MaxItems(8),
        Rule::UniqueItems,
    ]
    .iter()
    .map(Rule::message)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        assert_eq!(
            catalogue(),
            [
                "must be an integer",
                "must be a string or null",
                "is required",
                "is not allowed",
                "must be at least N",
                "must be at most N",
                "must be greater than N",
                "must be less than N",
                "must be a multiple of N",
                "must have at least 8 characters",
                "must have at most 20 characters",
                "does not match ^[A-Z0-9]{8,20}$",
                "must be one of \"a\", \"b\"",
                "must be 2",
                "must have at least 1 items",
                "must have at most 8 items",
                "must not contain duplicate items",
            ]
        );
        assert_eq!(
            Rule::Type(&[JsonType::String, JsonType::Integer, JsonType::Array]).message(),
            "must be a string, an integer or an array"
        );
    }
}
