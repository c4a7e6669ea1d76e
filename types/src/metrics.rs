//! A small Prometheus registry (counters, gauges, histograms with labels) and
//! its text exposition, shared by the executor's and the router's `/metrics`.
//! Pure and synchronous: recording takes one short mutex; serving it over
//! HTTP is the caller's business.
//!
//! ```
//! use revenant_types::metrics::{Registry, LATENCY_BUCKETS};
//! let m = Registry::default();
//! m.describe_counter("jobs_total", "Jobs done.");
//! m.inc("jobs_total", &[("outcome", "ok")], 1);
//! m.describe_histogram("job_seconds", "Job latency.", &LATENCY_BUCKETS);
//! m.observe("job_seconds", &[], 0.02);
//! assert!(m.render().contains("jobs_total{outcome=\"ok\"} 1"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Latency bucket bounds in seconds, from 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Series {
    /// Counter or gauge value; for a histogram, the sum of observations.
    value: f64,
    count: u64,
    /// Per-bucket (not cumulative) counts of a histogram.
    buckets: Vec<u64>,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    bounds: Vec<f64>,
    /// By rendered label set (`a="x",b="y"`).
    series: BTreeMap<String, Series>,
}

/// Metric families by name. A metric recorded before it is described is a counter,
/// gauge or histogram by the first call that touches it, with its name as help.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Family>>,
}

impl Registry {
    pub fn describe_counter(&self, name: &str, help: &str) {
        self.describe(name, help, Kind::Counter, &[]);
    }

    pub fn describe_gauge(&self, name: &str, help: &str) {
        self.describe(name, help, Kind::Gauge, &[]);
    }

    pub fn describe_histogram(&self, name: &str, help: &str, bounds: &[f64]) {
        self.describe(name, help, Kind::Histogram, bounds);
    }

    fn describe(&self, name: &str, help: &str, kind: Kind, bounds: &[f64]) {
        let mut families = self.lock();
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: String::new(),
            kind,
            bounds: bounds.to_vec(),
            series: BTreeMap::new(),
        });
        help.clone_into(&mut family.help);
    }

    /// Adds `by` to a counter.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)], by: u64) {
        self.with_series(name, labels, Kind::Counter, |s, _| s.value += by as f64);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.with_series(name, labels, Kind::Gauge, |s, _| s.value = value);
    }

    /// Records one observation of a histogram.
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.with_series(name, labels, Kind::Histogram, |s, bounds| {
            s.buckets.resize(bounds.len(), 0);
            s.value += value;
            s.count += 1;
            if let Some(i) = bounds.iter().position(|b| value <= *b) {
                s.buckets[i] += 1;
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Family>> {
        self.families.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_series(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        kind: Kind,
        f: impl FnOnce(&mut Series, &[f64]),
    ) {
        let key = render_labels(labels);
        let mut families = self.lock();
        // Recording is on hot paths: look up before allocating a name for a new family.
        if !families.contains_key(name) {
            families.insert(
                name.to_owned(),
                Family {
                    help: name.to_owned(),
                    kind,
                    bounds: if kind == Kind::Histogram {
                        LATENCY_BUCKETS.to_vec()
                    } else {
                        vec![]
                    },
                    series: BTreeMap::new(),
                },
            );
        }
        let family = families.get_mut(name).expect("inserted above");
        let series = family.series.entry(key).or_default();
        f(series, &family.bounds);
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn render(&self) -> String {
        let families = self.lock();
        let mut out = String::new();
        for (name, f) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
            for (labels, s) in &f.series {
                match f.kind {
                    Kind::Counter | Kind::Gauge => {
                        let _ = writeln!(out, "{name}{} {}", braces(labels), s.value);
                    }
                    Kind::Histogram => {
                        let sep = if labels.is_empty() { "" } else { "," };
                        let mut cumulative = 0;
                        for (bound, n) in f.bounds.iter().zip(&s.buckets) {
                            cumulative += n;
                            let _ = writeln!(
                                out,
                                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
                            );
                        }
                        let _ =
                            writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", s.count);
                        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), s.value);
                        let _ = writeln!(out, "{name}_count{} {}", braces(labels), s.count);
                    }
                }
            }
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{k}=\"{v}\"");
    }
    out
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_cumulative_buckets() {
        let m = Registry::default();
        m.describe_counter("req_total", "Requests.");
        m.inc("req_total", &[("route", "/a\"b"), ("status", "200")], 2);
        m.set("held", &[], 3.0);
        m.describe_histogram("lat_seconds", "Latency.", &[0.3, 1.0]);
        m.observe("lat_seconds", &[("route", "/a")], 0.25);
        m.observe("lat_seconds", &[("route", "/a")], 0.5);
        m.observe("lat_seconds", &[("route", "/a")], 4.0);
        let text = m.render();
        assert!(text.contains("# TYPE req_total counter\n"), "{text}");
        assert!(
            text.contains("req_total{route=\"/a\\\"b\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE held gauge\nheld 3\n"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{route=\"/a\",le=\"0.3\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_count{route=\"/a\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_sum{route=\"/a\"} 4.75\n"),
            "{text}"
        );
    }
}
