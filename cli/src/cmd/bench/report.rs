//! The bench report: rows of figures per section, the machine they were
//! measured on, and the failures (lost or wrong work) that make the run fail.
//! Printed as a table, or as JSON with `--json`. Also the small statistics
//! helpers every section uses. No IO besides printing.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub section: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    /// E.g. "1.42× floor".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<String>,
    /// The target, e.g. "≤ 1.3× floor".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the target is met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meets: Option<bool>,
}

/// Everything one `revenant bench` run measured (`--json`, `--save`; read back by
/// `--compare`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub machine: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// Lost or wrong work: any entry makes the run fail.
    pub failures: Vec<String>,
}

impl Report {
    /// Adds a row and returns it for the optional fields.
    pub fn row(&mut self, section: &str, metric: &str, value: f64, unit: &str) -> &mut Row {
        self.rows.push(Row {
            section: section.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            compare: None,
            target: None,
            meets: None,
        });
        self.rows.last_mut().expect("just pushed")
    }

    pub fn note(&mut self, section: &str, text: impl AsRef<str>) {
        self.notes.push(format!("[{section}] {}", text.as_ref()));
    }

    pub fn fail(&mut self, section: &str, text: impl AsRef<str>) {
        let line = format!("[{section}] {}", text.as_ref());
        eprintln!("FAILURE {line}");
        self.failures.push(line);
    }

    /// The value of a row measured earlier in this run.
    pub fn value(&self, section: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.section == section && r.metric == metric)
            .map(|r| r.value)
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let headers = ["section", "metric", "value", "unit", "vs floor", "target"];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                let target = match (&r.target, r.meets) {
                    (Some(t), Some(true)) => format!("{t}  ok"),
                    (Some(t), Some(false)) => format!("{t}  MISSED"),
                    (Some(t), None) => t.clone(),
                    (None, _) => String::new(),
                };
                [
                    r.section.clone(),
                    r.metric.clone(),
                    fmt_value(r.value),
                    r.unit.clone(),
                    r.compare.clone().unwrap_or_default(),
                    target,
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            for (i, (c, w)) in row.iter().zip(widths).enumerate() {
                // Numbers right-aligned, text left-aligned.
                let pad = w - c.chars().count();
                if i == 2 {
                    let _ = write!(out, "{}{c}  ", " ".repeat(pad));
                } else {
                    let _ = write!(out, "{c}{}  ", " ".repeat(pad));
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        };
        line(&mut out, &headers.map(String::from)[..]);
        line(&mut out, &widths.map(|w| "-".repeat(w))[..]);
        let mut last = String::new();
        for row in &cells {
            if !last.is_empty() && row[0] != last {
                out.push('\n');
            }
            last.clone_from(&row[0]);
            line(&mut out, row);
        }
        if !self.machine.is_empty() {
            out.push_str("\nmachine: ");
            let m: Vec<String> = self
                .machine
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&m.join(", "));
            out.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(out, "note {n}");
        }
        for f in &self.failures {
            let _ = writeln!(out, "FAILED {f}");
        }
        out
    }
}

impl Row {
    /// Sets "<ratio>× floor" (or the given comparison text).
    pub fn compare(&mut self, text: impl Into<String>) -> &mut Self {
        self.compare = Some(text.into());
        self
    }

    /// Sets the target and whether it is met.
    pub fn target(&mut self, text: &str, meets: bool) -> &mut Self {
        self.target = Some(text.into());
        self.meets = Some(meets);
        self
    }
}

fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; zero when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The median.
pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// The growth from `from` to `to` per one of `n` items (zero when it shrank).
pub fn per_item(from: u64, to: u64, n: usize) -> f64 {
    to.saturating_sub(from) as f64 / n.max(1) as f64
}

/// `a / b` formatted as "1.42×", or "n/a" when there is no baseline.
pub fn ratio(a: f64, b: Option<f64>) -> (Option<f64>, String) {
    match b {
        Some(b) if b > 0.0 => (Some(a / b), format!("{:.2}× floor", a / b)),
        _ => (None, "no floor in this run".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn growth_per_item_divides_and_never_goes_negative() {
        assert_eq!(per_item(1_000, 21_480, 10), 2_048.0);
        assert_eq!(per_item(5_000, 4_000, 10), 0.0);
        assert_eq!(per_item(0, 7, 0), 7.0);
    }

    #[test]
    fn the_table_lists_every_row_and_marks_missed_targets() {
        let mut r = Report::default();
        r.row("latency", "p50", 1.25, "ms")
            .target("≤ 1.3× floor", false);
        r.fail("throughput", "lost 3 invocations");
        let t = r.table();
        assert!(t.contains("latency") && t.contains("1.250") && t.contains("MISSED"));
        assert!(t.contains("FAILED [throughput] lost 3 invocations"));
    }
}
