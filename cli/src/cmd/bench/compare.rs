//! `revenant bench --compare <saved.json>`: this run's figures against a saved run
//! (`revenant bench --json > saved.json`, or `--save saved.json`), row by row —
//! the ratio new/saved and whether that is better or worse, by the unit: rates
//! (`…/s`) are better higher, times and sizes better lower. A regression is one
//! command away. Pure; the caller reads the file and prints.

use std::fmt::Write as _;

use super::report::Report;

/// Which way is better for a figure in `unit`; `None`: neither (a share, a count).
pub fn higher_is_better(unit: &str) -> Option<bool> {
    if unit.ends_with("/s") {
        return Some(true);
    }
    let unit = unit.split('/').next().unwrap_or(unit);
    matches!(
        unit,
        "ns" | "µs" | "us" | "ms" | "s" | "B" | "KB" | "KiB" | "MB" | "MiB" | "GiB"
    )
    .then_some(false)
}

/// The comparison table; rows of either run the other lacks are listed after it.
pub fn compare(saved: &Report, new: &Report) -> String {
    let mut out = String::from("compared with the saved run (ratio = new / saved):\n");
    let mut worse = 0;
    for r in &new.rows {
        let Some(old) = saved
            .rows
            .iter()
            .find(|o| o.section == r.section && o.metric == r.metric && o.unit == r.unit)
        else {
            let _ = writeln!(
                out,
                "  {:<12} {:<40} new: {} {}",
                r.section, r.metric, r.value, r.unit
            );
            continue;
        };
        let ratio = if old.value != 0.0 {
            r.value / old.value
        } else {
            f64::NAN
        };
        let verdict = match (higher_is_better(&r.unit), ratio.is_finite()) {
            (Some(up), true) => {
                let better = if up { ratio >= 1.0 } else { ratio <= 1.0 };
                // Noise on a 2-core box: within 10 % is the same.
                if (ratio - 1.0).abs() < 0.10 {
                    "same"
                } else if better {
                    "better"
                } else {
                    worse += 1;
                    "WORSE"
                }
            }
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {:<12} {:<40} {:>12} → {:>12} {:<14} {:>6.2}×  {verdict}",
            r.section,
            r.metric,
            fmt(old.value),
            fmt(r.value),
            r.unit,
            ratio
        );
    }
    for o in &saved.rows {
        if !new
            .rows
            .iter()
            .any(|r| r.section == o.section && r.metric == o.metric && r.unit == o.unit)
        {
            let _ = writeln!(
                out,
                "  {:<12} {:<40} not measured now (saved: {} {})",
                o.section, o.metric, o.value, o.unit
            );
        }
    }
    let _ = writeln!(out, "{worse} figure(s) worse by 10 % or more");
    out
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direction_of_better_follows_the_unit() {
        assert_eq!(higher_is_better("inv/s"), Some(true));
        assert_eq!(higher_is_better("msg/s"), Some(true));
        assert_eq!(higher_is_better("ms"), Some(false));
        assert_eq!(higher_is_better("µs/call"), Some(false));
        assert_eq!(higher_is_better("MiB"), Some(false));
        assert_eq!(higher_is_better("%"), None);
    }

    #[test]
    fn rows_are_matched_by_section_metric_and_unit_and_judged() {
        let saved: Report = serde_json::from_value(serde_json::json!({"rows": [
            {"section": "throughput", "metric": "invocations", "value": 6000.0, "unit": "inv/s"},
            {"section": "latency", "metric": "p50", "value": 1.0, "unit": "ms"},
            {"section": "memory", "metric": "rss", "value": 100.0, "unit": "MiB"},
            {"section": "gone", "metric": "x", "value": 1.0, "unit": "ms"},
        ], "machine": [], "notes": [], "failures": []}))
        .unwrap();
        let mut new = Report::default();
        new.row("throughput", "invocations", 9000.0, "inv/s");
        new.row("latency", "p50", 1.5, "ms");
        new.row("memory", "rss", 104.0, "MiB");
        new.row("fresh", "y", 2.0, "ms");
        let text = compare(&saved, &new);
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .unwrap()
                .to_owned()
        };
        assert!(line("invocations").ends_with("1.50×  better"), "{text}");
        assert!(line("p50").ends_with("1.50×  WORSE"), "{text}");
        assert!(line("rss").ends_with("1.04×  same"), "{text}");
        assert!(line("fresh").contains("new: 2 ms"), "{text}");
        assert!(line("gone").contains("not measured now"), "{text}");
        assert!(
            text.ends_with("1 figure(s) worse by 10 % or more\n"),
            "{text}"
        );
        // What `--save` writes reads back as a report.
        let saved_now: Report =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert!(compare(&saved_now, &new).ends_with("0 figure(s) worse by 10 % or more\n"));
    }
}
