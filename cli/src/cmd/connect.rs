//! `revenant connect <component>/<worker>`: follows a worker live — its stdout,
//! stderr and `wasi:logging` lines, invocations starting and finishing, suspends,
//! resumes, recoveries — one timestamped line per event, coloured on a terminal.
//! Events are core NATS messages on the worker's events subject, published by
//! whichever executor holds the worker: the subscription outlives any executor, so a
//! failover shows up as a change of holder (watched through the shard's lease), not
//! as a broken stream. The NATS client reconnects to the server by itself.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use revenant_types::WorkerId;
use revenant_types::config::LeaseOptions;
use revenant_types::names::ExecutorId;
use serde_json::Value;

use crate::NatsArgs;

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// <component>/<worker>
    pub worker: String,
    /// Print each event's JSON as published, one per line.
    #[arg(long)]
    pub json: bool,
    /// No colours (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Stop after this many events (default: follow until Ctrl-C).
    #[arg(long)]
    pub count: Option<usize>,
}

/// How often the worker's holder is looked up.
const HOLDER_POLL: Duration = Duration::from_secs(1);

pub async fn run(nats_args: NatsArgs, args: ConnectArgs) -> anyhow::Result<()> {
    let id = WorkerId::parse_path(&args.worker)
        .with_context(|| format!("{:?} is not <component>/<worker>", args.worker))?;
    let nats = super::connect(&nats_args).await?;
    let mut events = Box::pin(nats.subscribe_events(&id).await?);
    nats.flush().await?;
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let leases = nats.leases(
        ExecutorId::new("revenant-connect")?,
        LeaseOptions::default(),
    );
    let shard = nats.shard_of(&id);
    let mut holder: Option<Option<String>> = None;
    let mut poll = tokio::time::interval(HOLDER_POLL);
    let mut seen = 0usize;
    let mut out = std::io::stdout();
    eprintln!("connected to {id} (shard {shard}); Ctrl-C to stop");
    let mut stop = std::pin::pin!(super::shutdown_signal());
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(payload) = ev else { anyhow::bail!("the events subscription ended") };
                if args.json {
                    writeln!(out, "{}", String::from_utf8_lossy(&payload))?;
                } else {
                    let line = match serde_json::from_slice::<Value>(&payload) {
                        Ok(v) => render(&v, color),
                        Err(_) => String::from_utf8_lossy(&payload).into_owned(),
                    };
                    writeln!(out, "{line}")?;
                }
                out.flush()?;
                seen += 1;
                if args.count.is_some_and(|n| seen >= n) {
                    return Ok(());
                }
            }
            _ = poll.tick(), if !args.json => {
                let now = revenant_nats::lease::now_ms();
                let current = match leases.holder(shard).await {
                    Ok(h) => h.filter(|(r, _)| r.expires_at > now).map(|(r, _)| r.owner.to_string()),
                    Err(_) => continue,
                };
                if holder.as_ref() != Some(&current) {
                    if holder.is_some() || current.is_none() {
                        writeln!(out, "{}", holder_line(current.as_deref(), revenant_types::now_ms(), color))?;
                        out.flush()?;
                    } else if let Some(h) = &current {
                        eprintln!("held by executor {h}");
                    }
                    holder = Some(current);
                }
            }
            _ = &mut stop => return Ok(()),
        }
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in ms.
fn clock(at_ms: u64) -> String {
    let ms = at_ms % 1000;
    let s = at_ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

const RESET: &str = "\x1b[0m";

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// The line shown when the executor holding the worker changes.
fn holder_line(holder: Option<&str>, at_ms: u64, color: bool) -> String {
    let what = match holder {
        Some(h) => format!("── worker now held by executor {h}"),
        None => "── no executor holds the worker (failover in progress)".to_owned(),
    };
    format!(
        "{} {}",
        paint(&clock(at_ms), "2", color),
        paint(&what, "1;35", color)
    )
}

/// One event as a line: time, kind, what it says.
pub fn render(ev: &Value, color: bool) -> String {
    let at = ev["at"].as_u64().unwrap_or_else(revenant_types::now_ms);
    let kind = ev["kind"].as_str().unwrap_or("event");
    let str_of = |k: &str| ev[k].as_str().unwrap_or_default().to_owned();
    let (label, code, text) = match kind {
        "stdout" => (
            "stdout",
            "0",
            str_of("data").trim_end_matches('\n').to_owned(),
        ),
        "stderr" => (
            "stderr",
            "31",
            str_of("data").trim_end_matches('\n').to_owned(),
        ),
        "log" => {
            let level = ev["level"].as_str().unwrap_or("info");
            let code = match level {
                "trace" | "debug" => "2",
                "info" => "34",
                "warn" => "33",
                _ => "1;31",
            };
            let context = str_of("context");
            let text = if context.is_empty() {
                str_of("message")
            } else {
                format!("[{context}] {}", str_of("message"))
            };
            return format!(
                "{} {} {text}",
                paint(&clock(at), "2", color),
                paint(&format!("{:<9}", level.to_uppercase()), code, color)
            );
        }
        "invocation-started" => (
            "started",
            "36",
            format!("{} (key {})", str_of("function"), str_of("idempotency-key")),
        ),
        "invocation-finished" => {
            let ok = ev["ok"].as_bool().unwrap_or(false);
            let text = format!(
                "{} {} (key {})",
                str_of("function"),
                if ok { "ok" } else { "failed" },
                str_of("idempotency-key")
            );
            ("finished", if ok { "32" } else { "1;31" }, text)
        }
        "suspended" => {
            let waiting: Vec<String> = ev["waiting"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|w| w.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (
                "suspended",
                "33",
                format!("waiting for {}", waiting.join(", ")),
            )
        }
        "resumed" => ("resumed", "33", str_of("by")),
        "recovered" => {
            let ms = ev["recovered-ms"].as_f64().unwrap_or_default();
            ("recovered", "35", format!("by replay in {ms:.1} ms"))
        }
        other => {
            let mut rest = ev.clone();
            if let Some(o) = rest.as_object_mut() {
                o.remove("kind");
                o.remove("at");
            }
            let text = if rest.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                rest.to_string()
            };
            return format!(
                "{} {} {text}",
                paint(&clock(at), "2", color),
                paint(&format!("{other:<9}"), "35", color)
            )
            .trim_end()
            .to_owned();
        }
    };
    format!(
        "{} {} {text}",
        paint(&clock(at), "2", color),
        paint(&format!("{label:<9}"), code, color)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // 2026-11-30T20:45:01.007Z
    const AT: u64 = 1_796_071_501_007;

    #[test]
    fn events_are_one_timestamped_line_each() {
        let cases = [
            (
                json!({"kind": "stdout", "at": AT, "data": "total: 5\n"}),
                "20:45:01.007 stdout    total: 5",
            ),
            (
                json!({"kind": "stderr", "at": AT, "data": "oops"}),
                "20:45:01.007 stderr    oops",
            ),
            (
                json!({"kind": "log", "at": AT, "level": "warn", "context": "payment", "message": "retrying"}),
                "20:45:01.007 WARN      [payment] retrying",
            ),
            (
                json!({"kind": "invocation-started", "at": AT, "function": "add", "idempotency-key": "k1"}),
                "20:45:01.007 started   add (key k1)",
            ),
            (
                json!({"kind": "invocation-finished", "at": AT, "function": "add", "idempotency-key": "k1", "ok": false}),
                "20:45:01.007 finished  add failed (key k1)",
            ),
            (
                json!({"kind": "suspended", "at": AT, "waiting": ["timer:4"]}),
                "20:45:01.007 suspended waiting for timer:4",
            ),
            (
                json!({"kind": "recovered", "at": AT, "recovered-ms": 3.4}),
                "20:45:01.007 recovered by replay in 3.4 ms",
            ),
            (
                json!({"kind": "interrupted", "at": AT}),
                "20:45:01.007 interrupted",
            ),
            (
                json!({"kind": "snapshot", "at": AT, "index": 7}),
                "20:45:01.007 snapshot  {\"index\":7}",
            ),
        ];
        for (ev, line) in cases {
            assert_eq!(render(&ev, false), line);
        }
    }

    #[test]
    fn colours_only_when_asked_and_failovers_are_announced() {
        let ev = json!({"kind": "stderr", "at": AT, "data": "x"});
        assert!(render(&ev, true).contains("\x1b[31mstderr"));
        assert!(!render(&ev, false).contains('\x1b'));
        assert_eq!(
            holder_line(Some("exec-b"), AT, false),
            "20:45:01.007 ── worker now held by executor exec-b"
        );
        assert!(holder_line(None, AT, false).contains("failover in progress"));
    }
}
