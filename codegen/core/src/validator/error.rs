//! What a failed keyword reports. The wording follows the `jsonschema` crate's, which the
//! manifest diagnostics quoted before this validator replaced it, so messages stay familiar.

use std::fmt;

use serde_json::Value;

/// One keyword an instance fails, at `instance_path` (a JSON pointer into the instance).
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub instance_path: String,
    /// The failing value, for the message.
    pub instance: Value,
    pub kind: Kind,
}

/// Which keyword failed, with what the message needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `type`: the names of the allowed types, in the schema's order.
    Type {
        expected: Vec<String>,
    },
    /// The schema is `false`.
    FalseSchema,
    Enum {
        options: Vec<Value>,
    },
    Const {
        expected: Value,
    },
    Minimum {
        limit: Value,
    },
    Maximum {
        limit: Value,
    },
    ExclusiveMinimum {
        limit: Value,
    },
    ExclusiveMaximum {
        limit: Value,
    },
    MultipleOf {
        multiple_of: Value,
    },
    MinLength {
        limit: u64,
    },
    MaxLength {
        limit: u64,
    },
    Pattern {
        pattern: String,
    },
    MinItems {
        limit: u64,
    },
    MaxItems {
        limit: u64,
    },
    UniqueItems,
    Contains,
    /// `additionalItems: false` after `limit` tuple items.
    AdditionalItems {
        limit: usize,
    },
    MinProperties {
        limit: u64,
    },
    MaxProperties {
        limit: u64,
    },
    Required {
        property: String,
    },
    AdditionalProperties {
        unexpected: Vec<String>,
    },
    /// No branch matched; each branch's own errors, in order.
    AnyOf {
        context: Vec<Vec<Error>>,
    },
    OneOfNotValid {
        context: Vec<Vec<Error>>,
    },
    OneOfMultipleValid,
    Not {
        schema: Value,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.instance;
        let plural =
            |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        match &self.kind {
            Kind::Type { expected } if expected.len() == 1 => {
                write!(f, r#"{v} is not of type "{}""#, expected[0])
            }
            Kind::Type { expected } => {
                let quoted: Vec<String> = expected.iter().map(|t| format!("\"{t}\"")).collect();
                write!(f, "{v} is not of types {}", quoted.join(", "))
            }
            Kind::FalseSchema => write!(f, "False schema does not allow {v}"),
            Kind::Enum { options } => {
                write!(f, "{v} is not one of ")?;
                let shown: Vec<String> = options.iter().take(3).map(Value::to_string).collect();
                match shown.as_slice() {
                    [] => f.write_str("nothing"),
                    [one] => f.write_str(one),
                    [rest @ .., last] if options.len() <= 3 => {
                        write!(f, "{} or {last}", rest.join(", "))
                    }
                    all => write!(
                        f,
                        "{} or {} other candidates",
                        all.join(", "),
                        options.len() - all.len()
                    ),
                }
            }
            Kind::Const { expected } => write!(f, "{expected} was expected"),
            Kind::Minimum { limit } => write!(f, "{v} is less than the minimum of {limit}"),
            Kind::Maximum { limit } => write!(f, "{v} is greater than the maximum of {limit}"),
            Kind::ExclusiveMinimum { limit } => {
                write!(f, "{v} is less than or equal to the minimum of {limit}")
            }
            Kind::ExclusiveMaximum { limit } => {
                write!(f, "{v} is greater than or equal to the maximum of {limit}")
            }
            Kind::MultipleOf { multiple_of } => write!(f, "{v} is not a multiple of {multiple_of}"),
            Kind::MinLength { limit } => write!(
                f,
                "{v} is shorter than {limit} {}",
                plural(*limit, "character", "characters")
            ),
            Kind::MaxLength { limit } => write!(
                f,
                "{v} is longer than {limit} {}",
                plural(*limit, "character", "characters")
            ),
            Kind::Pattern { pattern } => write!(f, r#"{v} does not match "{pattern}""#),
            Kind::MinItems { limit } => {
                write!(
                    f,
                    "{v} has less than {limit} {}",
                    plural(*limit, "item", "items")
                )
            }
            Kind::MaxItems { limit } => {
                write!(
                    f,
                    "{v} has more than {limit} {}",
                    plural(*limit, "item", "items")
                )
            }
            Kind::UniqueItems => write!(f, "{v} has non-unique elements"),
            Kind::Contains => write!(f, "None of {v} are valid under the given schema"),
            Kind::AdditionalItems { limit } => {
                let extra = v.as_array().map_or(0, |a| a.len().saturating_sub(*limit));
                write!(
                    f,
                    "Additional items are not allowed ({extra} {} unexpected)",
                    plural(extra as u64, "item was", "items were")
                )
            }
            Kind::MinProperties { limit } => write!(
                f,
                "{v} has less than {limit} {}",
                plural(*limit, "property", "properties")
            ),
            Kind::MaxProperties { limit } => write!(
                f,
                "{v} has more than {limit} {}",
                plural(*limit, "property", "properties")
            ),
            Kind::Required { property } => write!(f, "\"{property}\" is a required property"),
            Kind::AdditionalProperties { unexpected } => {
                let quoted: Vec<String> = unexpected.iter().map(|k| format!("'{k}'")).collect();
                write!(
                    f,
                    "Additional properties are not allowed ({} {} unexpected)",
                    quoted.join(", "),
                    plural(unexpected.len() as u64, "was", "were")
                )
            }
            Kind::AnyOf { .. } => write!(
                f,
                "{v} is not valid under any of the schemas listed in the 'anyOf' keyword"
            ),
            Kind::OneOfNotValid { .. } => write!(
                f,
                "{v} is not valid under any of the schemas listed in the 'oneOf' keyword"
            ),
            Kind::OneOfMultipleValid => write!(
                f,
                "{v} is valid under more than one of the schemas listed in the 'oneOf' keyword"
            ),
            Kind::Not { schema } => write!(f, "{schema} is not allowed for {v}"),
        }
    }
}
