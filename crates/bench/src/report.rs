//! Collects figures, prints the readable table and the progress line, and writes the flat
//! `summary.json`. Knows nothing about how a figure was measured.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::error::{BenchError, Result};

/// Whether a figure should be at least or at most its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Target {
    fn met(self, value: f64) -> Option<bool> {
        match self {
            Target::AtLeast(t) => Some(value >= t),
            Target::AtMost(t) => Some(value <= t),
            Target::None => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {}", format_value(t)),
            Target::AtMost(t) => format!("<= {}", format_value(t)),
            Target::None => String::new(),
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub target: Target,
    pub note: String,
}

/// Every figure of one run, in the order measured.
#[derive(Debug, Default)]
pub struct Summary {
    figures: Vec<Figure>,
}

impl Summary {
    /// Adds a figure; `note` says what it is (units, sizes) in the table.
    pub fn add(&mut self, name: &str, value: f64, target: Target, note: impl Into<String>) {
        self.figures.retain(|f| f.name != name);
        self.figures.push(Figure { name: name.to_string(), value, target, note: note.into() });
    }

    pub fn figures(&self) -> &[Figure] {
        &self.figures
    }

    /// The flat `"name": number` object of summary.json (non-finite values become null).
    pub fn to_json(&self) -> serde_json::Value {
        let map: BTreeMap<String, serde_json::Value> = self
            .figures
            .iter()
            .map(|f| {
                (f.name.clone(), serde_json::Number::from_f64(f.value).map_or(serde_json::Value::Null, Into::into))
            })
            .collect();
        serde_json::Value::Object(map.into_iter().collect())
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
        }
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| BenchError::Setup(format!("cannot serialise the summary: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| BenchError::io(format!("write {}", path.display()), e))
    }

    /// The readable table: name, value, target, whether it is met, and the note.
    pub fn table(&self) -> String {
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(4).max(6);
        let mut out = format!("{:<width$}  {:>14}  {:>12}  {:<4}  note\n", "figure", "value", "target", "met");
        out.push_str(&"-".repeat(width + 40));
        out.push('\n');
        for f in &self.figures {
            let met = match f.target.met(f.value) {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            out.push_str(&format!(
                "{:<width$}  {:>14}  {:>12}  {:<4}  {}\n",
                f.name,
                format_value(f.value),
                f.target.describe(),
                met,
                f.note
            ));
        }
        out
    }
}

/// Three significant decimals for small values, none for large ones.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    match v.abs() {
        a if a >= 1000.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.3}"),
    }
}

/// Overwrites the progress line on stderr (one line per message when stderr is not a terminal, so
/// that CI logs stay readable).
pub fn progress(message: &str) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2K[freshet-bench] {message}");
    } else {
        let _ = writeln!(err, "[freshet-bench] {message}");
    }
    let _ = err.flush();
}

/// Ends the progress line so that the next output starts on a fresh line.
pub fn progress_done() {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = writeln!(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_flat_name_number_pairs() {
        let mut s = Summary::default();
        s.add("ingest_ratio", 0.5, Target::AtLeast(0.9), "x");
        s.add("freshness_p99_ms", 12.25, Target::AtMost(50.0), "y");
        s.add("broken", f64::NAN, Target::None, "");
        let json = s.to_json();
        assert_eq!(json["ingest_ratio"], serde_json::json!(0.5));
        assert_eq!(json["freshness_p99_ms"], serde_json::json!(12.25));
        assert!(json["broken"].is_null());
        assert_eq!(json.as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn adding_a_name_twice_keeps_the_last_value() {
        let mut s = Summary::default();
        s.add("a", 1.0, Target::None, "");
        s.add("a", 2.0, Target::None, "");
        assert_eq!(s.figures().len(), 1);
        assert_eq!(s.figures()[0].value, 2.0);
    }

    #[test]
    fn table_marks_missed_targets() {
        let mut s = Summary::default();
        s.add("fast", 2.0, Target::AtLeast(1.0), "");
        s.add("slow", 200.0, Target::AtMost(10.0), "");
        let table = s.table();
        let fast = table.lines().find(|l| l.starts_with("fast")).unwrap_or_default();
        let slow = table.lines().find(|l| l.starts_with("slow")).unwrap_or_default();
        assert!(fast.contains("yes"), "{table}");
        assert!(slow.contains("NO"), "{table}");
    }

    #[test]
    fn values_are_formatted_by_magnitude() {
        assert_eq!(format_value(123456.7), "123457");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(0.12345), "0.123");
    }
}
