//! Tables the benchmarks print, and `BENCHMARKS.md`, which collects them with the machine
//! they ran on. Every number in it was measured in the same run as the peer it is compared to.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// One table: a title, column headers, rows of cells, and notes (ratios, goals, caveats).
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A row; missing cells are left blank, extra ones are kept (a failure's message).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// A line under the table: a ratio against the peer, a goal, a caveat.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The table as aligned text on stdout, as it is built.
    pub fn print(&self) {
        print!("{}", self.text());
    }

    fn widths(&self) -> Vec<usize> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .chain([&self.headers])
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    pub fn text(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                // First column reads as a label, the rest as numbers.
                if i == 0 {
                    let _ = write!(out, "{cell:<width$}");
                } else {
                    let _ = write!(out, "  {cell:>width$}");
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = format!("\n{}\n", self.title);
        out += &line(&self.headers);
        for row in &self.rows {
            out += &line(row);
        }
        for note in &self.notes {
            out += &format!("  {note}\n");
        }
        out
    }

    /// The table as JSON, to hand it from a child process to its parent.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "headers": self.headers,
            "rows": self.rows,
            "notes": self.notes,
        })
    }

    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let strings = |v: &serde_json::Value| -> Result<Vec<String>> {
            v.as_array()
                .context("a table field is not a list")?
                .iter()
                .map(|s| s.as_str().map(String::from).context("not a string"))
                .collect()
        };
        Ok(Self {
            title: value["title"].as_str().context("no title")?.to_string(),
            headers: strings(&value["headers"])?,
            rows: value["rows"]
                .as_array()
                .context("no rows")?
                .iter()
                .map(strings)
                .collect::<Result<_>>()?,
            notes: strings(&value["notes"])?,
        })
    }

    pub fn markdown(&self) -> String {
        let columns = self.widths().len();
        let escape = |s: &str| s.replace('|', "\\|");
        let line = |cells: &[String]| {
            let cells: Vec<String> = (0..columns)
                .map(|i| escape(cells.get(i).map(String::as_str).unwrap_or("")))
                .collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = format!("## {}\n\n", self.title);
        out += &line(&self.headers);
        out += &format!(
            "|{}\n",
            (0..columns)
                .map(|i| if i == 0 { " --- |" } else { " ---: |" })
                .collect::<String>()
        );
        for row in &self.rows {
            out += &line(row);
        }
        if !self.notes.is_empty() {
            out += "\n";
            for note in &self.notes {
                out += &format!("- {note}\n");
            }
        }
        out + "\n"
    }
}

/// Write `BENCHMARKS.md`: how it was made, the machine, then every table.
pub fn write_benchmarks(path: &Path, command: &str, tables: &[Table]) -> Result<()> {
    let mut out = String::from("# Benchmarks\n\n");
    out += &format!(
        "Generated by `{command}`; do not edit by hand. Every ratio compares rows measured \
         side by side in the same run, on the same broker and machine.\n\n"
    );
    out += "## Machine\n\n";
    for (label, value) in machine() {
        out += &format!("- {label}: {value}\n");
    }
    out += "\n";
    for table in tables {
        out += &table.markdown();
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Replace the tables of `path` that `tables` re-measured (matched by title) and append the
/// new ones, leaving the rest as the last full run wrote them; the machine block records
/// when which tables were re-run, since their ratios come from a later run than the others'.
pub fn update_benchmarks(path: &Path, tables: &[Table]) -> Result<()> {
    let old = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (run the full bench once first)", path.display()))?;
    let mut sections = split_sections(&old);
    // A table new to the file goes right after the one measured before it in this run, where
    // a full run would put it; the first of a run, at the end.
    let mut after: Option<usize> = None;
    for table in tables {
        let title = format!("## {}", table.title);
        let at = match sections
            .iter()
            .position(|s| s.lines().next() == Some(title.as_str()))
        {
            Some(at) => {
                sections[at] = table.markdown();
                at
            }
            None => {
                let at = after.map_or(sections.len(), |a| a + 1);
                sections.insert(at, table.markdown());
                at
            }
        };
        after = Some(at);
    }
    let when = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let titles: Vec<&str> = tables.iter().map(|t| t.title.as_str()).collect();
    let note = format!("- re-run {when}: {}\n", titles.join("; "));
    if let Some(machine) = sections.iter_mut().find(|s| s.starts_with("## Machine")) {
        // Earlier re-runs keep their line for the tables not measured again since.
        let mut kept: Vec<String> = Vec::new();
        for line in machine.lines() {
            match line
                .strip_prefix("- re-run ")
                .and_then(|l| l.split_once(": "))
            {
                Some((when, earlier)) => {
                    let left: Vec<&str> = earlier
                        .split("; ")
                        .filter(|t| !titles.contains(t))
                        .collect();
                    if !left.is_empty() {
                        kept.push(format!("- re-run {when}: {}", left.join("; ")));
                    }
                }
                None => kept.push(line.to_string()),
            }
        }
        while kept.last().is_some_and(|l| l.is_empty()) {
            kept.pop();
        }
        *machine = format!("{}\n{note}\n", kept.join("\n"));
    }
    std::fs::write(path, sections.concat()).with_context(|| format!("writing {}", path.display()))
}

/// `text` cut before every `## ` heading: the preamble, then one piece per section.
fn split_sections(text: &str) -> Vec<String> {
    let mut sections = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.starts_with("## ") {
            sections.push(String::new());
        }
        sections.last_mut().expect("never empty").push_str(line);
    }
    sections
}

fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    vec![
        ("CPU", format!("{cpu}, {cores} cores available")),
        ("memory", memory),
        ("kernel", output("uname", &["-srm"])),
        ("rustc", output("rustc", &["-V"])),
        ("date", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
    ]
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_has_one_column_per_header_and_escapes_pipes() {
        let mut t = Table::new("T", &["name", "a"]);
        t.row(["x|y", "1"]);
        t.row(["z"]);
        t.note("ratio 2x");
        let md = t.markdown();
        assert!(md.contains("| name | a |\n| --- | ---: |\n"));
        assert!(md.contains("| x\\|y | 1 |\n| z |  |\n"));
        assert!(md.ends_with("- ratio 2x\n\n"));
    }

    #[test]
    fn an_update_replaces_matching_tables_and_places_new_ones_after_the_one_before_them() {
        let dir = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("BENCHMARKS.md");
        let mut a = Table::new("A", &["x"]);
        a.row(["old"]);
        let b = Table::new("B", &["y"]);
        write_benchmarks(&path, "bench", &[a, b]).unwrap();
        let mut a = Table::new("A", &["x"]);
        a.row(["new"]);
        let c = Table::new("C", &["z"]);
        update_benchmarks(&path, &[a, c]).unwrap();
        update_benchmarks(&path, &[Table::new("C", &["z"])]).unwrap();
        // New and first of its run: at the end.
        update_benchmarks(&path, &[Table::new("D", &["w"])]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("| new |") && !text.contains("| old |"),
            "{text}"
        );
        let order: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        // C was measured after A: a full run would print it there.
        assert_eq!(order, ["## Machine", "## A", "## C", "## B", "## D"]);
        // A's and D's re-runs keep their lines; C's first one gave way to its second.
        assert_eq!(text.matches("- re-run ").count(), 3, "{text}");
        assert_eq!(text.matches(": C\n").count(), 1, "{text}");
        assert!(text.contains(": A\n"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_round_trips() {
        let mut t = Table::new("T", &["a", "b"]);
        t.row(["1", "2"]);
        t.note("n");
        let back = Table::from_json(&t.to_json()).unwrap();
        assert_eq!(back.markdown(), t.markdown());
    }

    #[test]
    fn text_aligns_columns() {
        let mut t = Table::new("T", &["device", "p50"]);
        t.row(["long name", "1.0"]);
        let text = t.text();
        assert!(text.contains("device     p50\nlong name  1.0\n"), "{text}");
    }
}
