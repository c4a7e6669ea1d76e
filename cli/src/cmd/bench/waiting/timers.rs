//! Timer lateness: many durable sleeps at once, each woken by its JetStream
//! schedule after its worker was suspended; how late each woke, from the
//! journaled wall times the guest returns, and where the lateness comes from.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_nats::Nats;
use revenant_types::WorkerId;
use revenant_types::host;
use revenant_types::oplog::{HostValue, OplogEntry};
use serde::Deserialize;

use super::super::BenchArgs;
use super::super::client::{Client, Reply};
use super::super::report::{Report, median, ms, percentile};
use super::{REMINDER, S, START, worker};

/// What `reminder`'s `sleep-ms` returns: journaled wall-clock ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct Slept {
    started: u64,
    woke: u64,
}

/// How late a sleep of `sleep_ms` woke: `woke − (started + sleep_ms)`; `Err` with
/// how early, when it woke before its deadline.
fn lateness(s: Slept, sleep_ms: u64) -> Result<Duration, Duration> {
    let deadline = s.started.saturating_add(sleep_ms);
    if s.woke >= deadline {
        Ok(Duration::from_millis(s.woke - deadline))
    } else {
        Err(Duration::from_millis(deadline - s.woke))
    }
}

/// A wake-up in two parts: how long before the deadline `fire_at` its schedule fires
/// (1–2 s, at a whole second: [`revenant_nats::timers::wake_at`]; the rest is waited in
/// memory after the wake), then from the deadline to the wake `woke`.
fn lateness_parts(fire_at: u64, woke: u64) -> (Duration, Duration) {
    (
        Duration::from_millis(fire_at - revenant_nats::timers::wake_at(fire_at)),
        Duration::from_millis(woke.saturating_sub(fire_at)),
    )
}

fn slept(reply: &Reply) -> anyhow::Result<Slept> {
    if !reply.ok {
        bail!("sleep-ms failed: {}", reply.body);
    }
    serde_json::from_str(&reply.body).with_context(|| {
        format!(
            "expected sleep-ms to return {{\"started\": ms, \"woke\": ms}}, got {}",
            reply.body
        )
    })
}

pub(super) async fn measure(client: &Client, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let (n, sleep_ms) = (a.sleeps.max(1), a.sleep_ms);
    // Compiles the component before the clock matters.
    slept(
        &client
            .invoke(&worker(REMINDER, "late-warm")?, "sleep-ms", "[0]", START)
            .await?
            .0,
    )?;
    let workers = (0..n)
        .map(|i| worker(REMINDER, &format!("late-{i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "waiting: {n} concurrent sleeps of {sleep_ms} ms (suspended after {} ms)",
        a.suspend_after_ms
    );
    let timeout = Duration::from_millis(sleep_ms) + Duration::from_secs(a.timeout_secs);
    let args = format!("[{sleep_ms}]");
    let results: Vec<_> = futures::stream::iter(&workers)
        .map(|w| {
            let args = &args;
            async move {
                let answer = client.invoke(w, "sleep-ms", args, timeout).await;
                (w, answer.and_then(|(reply, _)| slept(&reply)))
            }
        })
        .buffer_unordered(n)
        .collect()
        .await;
    let (mut late, mut early, mut lost) = (Vec::with_capacity(n), Vec::new(), 0);
    let (mut rounding, mut after_second) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut suspended = 0;
    for (w, res) in results {
        let s = match res {
            Ok(s) => s,
            Err(e) => {
                if lost == 0 {
                    eprintln!("waiting: {e:#}");
                }
                lost += 1;
                continue;
            }
        };
        match lateness(s, sleep_ms) {
            Ok(d) => late.push(d),
            Err(d) => early.push(d),
        }
        // It must have been suspended and woken once by its schedule, not by a timer in memory.
        let h = timer_history(&client.nats, w).await?;
        if h.suspensions > 0 {
            suspended += 1;
            if h.fired != 1 {
                r.fail(
                    S,
                    format!("{w}: its timer fired {} times, expected once", h.fired),
                );
            }
        }
        if let Some(fire_at) = h.fire_at {
            let (to_second, rest) = lateness_parts(fire_at, s.woke);
            rounding.push(to_second);
            after_second.push(rest);
        }
    }
    if lost > 0 {
        r.fail(
            S,
            format!("{lost} of {n} sleeps did not answer with their times"),
        );
    }
    if let Some(max) = early.iter().max() {
        r.fail(
            S,
            format!(
                "{} of {n} sleeps woke before their deadline (by up to {:.0} ms)",
                early.len(),
                ms(*max)
            ),
        );
    }

    let label = format!("timer lateness ({n} × {sleep_ms} ms sleeps)");
    let max = late.iter().max().copied().unwrap_or_default();
    r.row(S, &format!("{label} p50"), ms(median(&late)), "ms");
    r.row(
        S,
        &format!("{label} p99"),
        ms(percentile(&late, 99.0)),
        "ms",
    )
    .compare(format!("max {:.0} ms", ms(max)));
    r.row(
        S,
        "… its schedule fired before the deadline by p50",
        ms(median(&rounding)),
        "ms",
    );
    r.row(S, "… deadline → woke p50", ms(median(&after_second)), "ms")
        .compare(format!("p99 {:.0} ms", ms(percentile(&after_second, 99.0))));
    r.row(
        S,
        "sleeps suspended and woken by their schedule",
        suspended as f64,
        "sleeps",
    )
    .target(&format!("all {n}"), suspended == n);
    r.note(
        S,
        "timer lateness = journaled wake time − (journaled start of the sleep + its length), as the guest saw them; schedules fire at a whole second 1–2 s before the deadline and the woken worker waits the rest in memory, so what remains is delivery, resumption by replay and the answer",
    );
    Ok(())
}

/// What a sleeper's oplog says of its timer.
struct TimerHistory {
    suspensions: usize,
    fired: usize,
    /// The deadline of its (first) timer: the journaled answer of `subscribe-duration`, wall ms.
    fire_at: Option<u64>,
}

async fn timer_history(nats: &Nats, w: &WorkerId) -> anyhow::Result<TimerHistory> {
    let entries = nats.oplog().read(w, 1).await?.entries;
    let count = |kind: &str| entries.iter().filter(|(_, e)| e.kind() == kind).count();
    Ok(TimerHistory {
        suspensions: count("suspended"),
        fired: count("timer-fired"),
        fire_at: entries.iter().find_map(|(_, e)| match e {
            OplogEntry::HostCall {
                function,
                response: HostValue::U64(fire_at),
                ..
            } if function == host::SUBSCRIBE_DURATION => Some(*fire_at),
            _ => None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(started: u64, woke: u64) -> Slept {
        Slept { started, woke }
    }

    #[test]
    fn a_sleep_that_woke_after_its_deadline_is_late_by_the_difference() {
        assert_eq!(
            lateness(s(1_000, 3_250), 2_000),
            Ok(Duration::from_millis(250))
        );
    }

    #[test]
    fn a_sleep_that_woke_at_its_deadline_is_not_late() {
        assert_eq!(lateness(s(1_000, 3_000), 2_000), Ok(Duration::ZERO));
    }

    #[test]
    fn a_sleep_that_woke_before_its_deadline_says_how_early() {
        assert_eq!(
            lateness(s(1_000, 2_900), 2_000),
            Err(Duration::from_millis(100))
        );
    }

    #[test]
    fn lateness_splits_into_how_early_the_schedule_fires_and_the_wake_after_the_deadline() {
        assert_eq!(
            lateness_parts(1_000_250, 1_000_290),
            (Duration::from_millis(1_250), Duration::from_millis(40))
        );
        // A deadline on a whole second: the schedule fires a second before; a wake before
        // the deadline counts zero.
        assert_eq!(
            lateness_parts(2_000, 1_999),
            (Duration::from_millis(1_000), Duration::ZERO)
        );
    }

    #[test]
    fn the_answer_of_sleep_ms_is_read_from_its_json() {
        let reply = Reply {
            ok: true,
            body: r#"{"started":1764500000000,"woke":1764500002011}"#.into(),
        };
        assert_eq!(
            slept(&reply).unwrap(),
            s(1_764_500_000_000, 1_764_500_002_011)
        );
        let failed = Reply {
            ok: false,
            body: "{}".into(),
        };
        assert!(slept(&failed).is_err());
    }
}
