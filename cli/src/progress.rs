//! Progress of long CLI work on stderr: on a terminal, one line redrawn in place
//! (at most every 100 ms) with the count, the share done, the rate and the time
//! left; elsewhere (CI logs, pipes) nothing until the summary line at the end, so
//! logs stay readable. stdout carries only results.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Progress {
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
    tty: bool,
}

impl Progress {
    /// Progress of `label` over `total` items (`None`: unknown).
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Self {
            label: label.into(),
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// `n` more items done.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        if self.tty && self.drawn.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.drawn = Some(Instant::now());
            let text = line(&self.label, self.done, self.total, self.started.elapsed());
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K{text}");
            let _ = err.flush();
        }
    }

    /// Ends the line with `summary` (e.g. what was done and how fast).
    pub fn finish(self, summary: &str) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{summary}");
    }
}

/// Announces a step of long work that has no count (an upload, a compile) on stderr
/// and returns when it started, for [`took`].
pub fn step(what: &str) -> Instant {
    eprintln!("{what}…");
    Instant::now()
}

/// `label: done/total (pct%), rate/s, ETA` — or `label: done, rate/s` without a total.
pub fn line(label: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    match total {
        Some(total) if total > 0 => {
            let pct = done as f64 * 100.0 / total as f64;
            let eta = if rate > 0.0 && done < total {
                format!(", {:.0} s left", (total - done) as f64 / rate)
            } else {
                String::new()
            };
            format!("{label}: {done}/{total} ({pct:.0}%), {rate:.0}/s{eta}")
        }
        _ => format!("{label}: {done}, {rate:.0}/s"),
    }
}

/// Megabytes, for sizes in step messages.
pub fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_count_share_rate_and_time_left() {
        assert_eq!(
            line(
                "publishing clicks",
                2_500,
                Some(10_000),
                Duration::from_secs(1)
            ),
            "publishing clicks: 2500/10000 (25%), 2500/s, 3 s left"
        );
        assert_eq!(
            line("updating workers", 4, Some(4), Duration::from_secs(2)),
            "updating workers: 4/4 (100%), 2/s"
        );
        assert_eq!(
            line("reading", 30, None, Duration::from_secs(3)),
            "reading: 30, 10/s"
        );
        assert_eq!(line("x", 0, Some(5), Duration::ZERO), "x: 0/5 (0%), 0/s");
        assert_eq!(megabytes(18_200_000), "18.2 MB");
    }
}
