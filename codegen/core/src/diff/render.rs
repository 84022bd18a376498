//! A report as people read it in a CI log, and as JSON for tools.

use std::fmt::Write;

use serde_json::{json, Value};

use super::{Finding, Party, Report, Severity};

/// The version of the JSON layout [`Report::to_json`] writes; a field is never renamed or
/// removed without raising it.
pub const JSON_VERSION: u32 = 1;

impl Report {
    /// Grouped by severity, most severe first; each finding its location, who it breaks, its
    /// sentence, its place in a file and a hint.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{} -> {}: ", self.old, self.new);
        if self.findings.is_empty() {
            out.push_str("no changes\n");
            return out;
        }
        let _ = writeln!(
            out,
            "{} breaking, {} compatible, {} info",
            self.count(Severity::Breaking),
            self.count(Severity::Compatible),
            self.count(Severity::Info)
        );
        for severity in [Severity::Breaking, Severity::Compatible, Severity::Info] {
            let group: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} ({}):", severity.name(), group.len());
            for f in group {
                let _ = write!(out, "  {}", f.location);
                if !f.breaks.is_empty() {
                    let _ = write!(out, "  [breaks {}]", parties(&f.breaks));
                }
                let _ = writeln!(out, "\n    {}", f.message);
                if let Some(at) = &f.at {
                    let _ = writeln!(out, "    at {at}");
                }
                if let Some(hint) = &f.hint {
                    let _ = writeln!(out, "    hint: {hint}");
                }
            }
        }
        out
    }

    /// The report as JSON: `version`, `old`, `new`, `summary` (`breaking`, `compatible`,
    /// `info` counts) and `findings`, each with `severity`, `breaks`, `kind`, `location`,
    /// `old`, `new`, `message`, `hint` and `at` (`file`, `line`, `col`, or null).
    pub fn to_json(&self) -> Value {
        json!({
            "version": JSON_VERSION,
            "old": self.old,
            "new": self.new,
            "summary": {
                "breaking": self.count(Severity::Breaking),
                "compatible": self.count(Severity::Compatible),
                "info": self.count(Severity::Info),
            },
            "findings": self.findings,
        })
    }
}

fn parties(breaks: &[Party]) -> String {
    breaks
        .iter()
        .map(|p| match p {
            Party::Agents => "agents",
            Party::Devices => "devices",
        })
        .collect::<Vec<_>>()
        .join(", ")
}
