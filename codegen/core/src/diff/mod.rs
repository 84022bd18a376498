//! What changed between two versions of a manifest, and whom each change breaks.
//!
//! A manifest is an API agents depend on. [`diff`] compares two validated devices on the type
//! IR (so a schema moved into `definitions` is no change) and classifies every difference by
//! the direction its data flows:
//!
//! - command inputs flow agent -> device: the device reads them. A change that makes the
//!   device refuse what it accepted before (a new required field, a tightened bound, an enum
//!   value removed) breaks agents written for the old manifest;
//! - command outputs and trigger payloads flow device -> agent: the agent reads them. A
//!   change that lets the device send what it did not promise before (a field no longer
//!   required, a widened bound, an enum value added) breaks those agents.
//!
//! The reverse of each direction is listed as breaking *devices*: a device still running the
//! old manifest, talking to agents built from the new one (an input loosened: new agents may
//! send what the old device refuses; an output narrowed: new agents may refuse what the old
//! device sends). That is a rollout-order fact (update devices first), not a break of the
//! published contract, so such a finding stays `compatible`: [`Severity::Breaking`] means
//! "breaks agents", and [`Finding::breaks`] says exactly who.

mod device;
mod locate;
mod render;
mod shape;

use serde::Serialize;
use serde_json::Value;

use crate::model::Device;

/// How much a change matters to agents written for the old manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Agents written for the old manifest can fail against a device on the new one.
    Breaking,
    /// They keep working (devices still on the old manifest may not: see `breaks`).
    Compatible,
    /// Nothing on the wire changes (descriptions, annotations).
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Compatible => "compatible",
            Self::Info => "info",
        }
    }
}

/// Who a change breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Agents written for the old manifest, talking to a device on the new one.
    Agents,
    /// Devices still running the old manifest, talking to agents built from the new one.
    Devices,
}

/// What kind of change a finding is: a stable name for tests and CI filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DeviceRenamed,
    GroupChanged,
    DescriptionChanged,
    CommandRemoved,
    CommandAdded,
    TriggerRemoved,
    TriggerAdded,
    TimeoutChanged,
    RetryChanged,
    OutputAdded,
    OutputRemoved,
    TypeChanged,
    NullableChanged,
    ValueAdded,
    ValueRemoved,
    ConstChanged,
    ValuesOpened,
    ValuesRestricted,
    BoundTightened,
    BoundLoosened,
    MultipleOfChanged,
    PatternChanged,
    UniqueItemsChanged,
    FormatChanged,
    DefaultChanged,
    FieldAdded,
    RequiredFieldAdded,
    FieldRemoved,
    FieldNowRequired,
    FieldNowOptional,
    AdditionalPropertiesChanged,
    VariantAdded,
    VariantRemoved,
    DiscriminantChanged,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 34] = [
        Self::DeviceRenamed,
        Self::GroupChanged,
        Self::DescriptionChanged,
        Self::CommandRemoved,
        Self::CommandAdded,
        Self::TriggerRemoved,
        Self::TriggerAdded,
        Self::TimeoutChanged,
        Self::RetryChanged,
        Self::OutputAdded,
        Self::OutputRemoved,
        Self::TypeChanged,
        Self::NullableChanged,
        Self::ValueAdded,
        Self::ValueRemoved,
        Self::ConstChanged,
        Self::ValuesOpened,
        Self::ValuesRestricted,
        Self::BoundTightened,
        Self::BoundLoosened,
        Self::MultipleOfChanged,
        Self::PatternChanged,
        Self::UniqueItemsChanged,
        Self::FormatChanged,
        Self::DefaultChanged,
        Self::FieldAdded,
        Self::RequiredFieldAdded,
        Self::FieldRemoved,
        Self::FieldNowRequired,
        Self::FieldNowOptional,
        Self::AdditionalPropertiesChanged,
        Self::VariantAdded,
        Self::VariantRemoved,
        Self::DiscriminantChanged,
    ];

    /// The kebab-case name, as JSON writes it: `bound-tightened`.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

/// A file position (1-based line and character column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Position {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One change between the two manifests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Who the change breaks; empty when nobody.
    pub breaks: Vec<Party>,
    pub kind: Kind,
    /// Where, JSON-pointer-like, commands and triggers by name:
    /// `commands/set_level/inputSchema/properties/level/maximum`.
    pub location: String,
    /// The value before (`null` when it did not exist or is not a single value).
    pub old: Value,
    /// The value after.
    pub new: Value,
    /// What changed and what it means, in one sentence.
    pub message: String,
    /// A likely explanation (a rename) or what to do.
    pub hint: Option<String>,
    /// Where the change is in the new manifest, or in the old one for what was removed.
    pub at: Option<Position>,
}

/// Every change between two manifests, most severe first.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The old manifest, as it was named (a path or `REV:path`).
    pub old: String,
    pub new: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether any change breaks agents written for the old manifest.
    pub fn has_breaking(&self) -> bool {
        self.count(Severity::Breaking) > 0
    }
}

/// Compare two validated manifests.
pub fn diff(old: &Device, new: &Device) -> Report {
    let mut raw = device::compare(old, new);
    // Stable: within a severity, findings keep the order of the manifests.
    raw.sort_by_key(|f| f.severity);
    let locator = locate::Locator::new(old, new);
    let findings = raw.into_iter().map(|f| f.finish(&locator)).collect();
    Report {
        old: old.source.path().display().to_string(),
        new: new.source.path().display().to_string(),
        findings,
    }
}

/// A finding before its position is looked up: the manifest pointers (with indices) of the
/// change in each file.
#[derive(Clone, Debug)]
struct Raw {
    severity: Severity,
    breaks: Vec<Party>,
    kind: Kind,
    location: String,
    old: Value,
    new: Value,
    message: String,
    hint: Option<String>,
    old_ptr: Option<String>,
    new_ptr: Option<String>,
}

impl Raw {
    fn finish(self, locator: &locate::Locator) -> Finding {
        let at = locator.position(self.new_ptr.as_deref(), self.old_ptr.as_deref());
        Finding {
            severity: self.severity,
            breaks: self.breaks,
            kind: self.kind,
            location: self.location,
            old: self.old,
            new: self.new,
            message: self.message,
            hint: self.hint,
            at,
        }
    }
}

/// Which way a schema's values flow, and so who reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Flow {
    /// A command's input: agents send, the device reads.
    ToDevice,
    /// A command's output or a trigger's payload: the device sends, agents read.
    ToAgent,
}

/// What a schema change does to the set of values the schema accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// The new schema accepts less.
    Narrowed,
    /// The new schema accepts more.
    Widened,
    /// Some values are refused now, others accepted that were not.
    Changed,
    /// Values keep their meaning (an undeclared member of an open object declared or
    /// dropped, a default): nobody breaks.
    Benign,
    /// An annotation: nothing on the wire changes.
    Annotation,
}

impl Effect {
    /// The severity and who breaks, for values flowing `flow`.
    fn classify(self, flow: Flow) -> (Severity, Vec<Party>) {
        use {Effect::*, Flow::*};
        match (self, flow) {
            (Narrowed, ToDevice) | (Widened, ToAgent) => (Severity::Breaking, vec![Party::Agents]),
            (Widened, ToDevice) | (Narrowed, ToAgent) => {
                (Severity::Compatible, vec![Party::Devices])
            }
            (Changed, _) => (Severity::Breaking, vec![Party::Agents, Party::Devices]),
            (Benign, _) => (Severity::Compatible, Vec::new()),
            (Annotation, _) => (Severity::Info, Vec::new()),
        }
    }

    /// What the change means for the data flowing `flow`, after the change itself is said.
    fn consequence(self, flow: Flow) -> &'static str {
        use {Effect::*, Flow::*};
        match (self, flow) {
            (Narrowed, ToDevice) => "the device refuses some inputs agents could send before",
            (Widened, ToDevice) => {
                "the device accepts more; a device still on the old manifest refuses some inputs \
                 of agents built for the new one"
            }
            (Changed, ToDevice) => {
                "the device refuses some inputs agents could send before, and a device still on \
                 the old manifest refuses some new ones"
            }
            (Widened, ToAgent) => "the device may send values agents were not promised before",
            (Narrowed, ToAgent) => {
                "the device promises less; agents built for the new manifest may refuse what a \
                 device still on the old one sends"
            }
            (Changed, ToAgent) => {
                "the device may send values agents were not promised before, and agents built for \
                 the new manifest may refuse what a device still on the old one sends"
            }
            (Benign, _) => "no value changes meaning",
            (Annotation, _) => "nothing on the wire changes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_listed_once_each() {
        let mut names: Vec<String> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names[0], "device-renamed");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn each_direction_breaks_its_reader() {
        assert_eq!(
            Effect::Narrowed.classify(Flow::ToDevice),
            (Severity::Breaking, vec![Party::Agents])
        );
        assert_eq!(
            Effect::Narrowed.classify(Flow::ToAgent),
            (Severity::Compatible, vec![Party::Devices])
        );
        assert_eq!(
            Effect::Widened.classify(Flow::ToAgent),
            (Severity::Breaking, vec![Party::Agents])
        );
        assert_eq!(
            Effect::Widened.classify(Flow::ToDevice),
            (Severity::Compatible, vec![Party::Devices])
        );
    }
}
