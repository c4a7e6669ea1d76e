//! The schedules section (ARCHITECTURE.md "Scheduled invocations and cron"),
//! through a child `revenant executor` on a namespace of its own, with the
//! counter example:
//!
//! - Firing lateness: `--schedule-firings` one-off schedules (on as many
//!   workers, `add(1)`) are created due in the same whole second, far enough
//!   ahead that creating them ends before it. Each firing's lateness is its
//!   journaled `InvocationStarted` time − that second (server fire, delivery,
//!   recovery of the worker, the start). Each must have fired once.
//! - Pending schedules: `--pending-schedules` one-offs an hour ahead (one per
//!   worker): the time to create them, to list them, the stream's growth per
//!   holder, and the executor's resident memory before and after (pending
//!   schedules live in `RVN_INVOKE`, not in an executor). They are cancelled at
//!   the end (timed too).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use revenant_nats::Nats;
use revenant_nats::schedules;
use revenant_types::oplog::OplogEntry;
use revenant_types::schedule::{Overlap, ScheduleSpec, When, rfc3339_second};
use revenant_types::{WorkerId, now_ms};

use super::BenchArgs;
use super::env::{ChildExecutor, Env, deploy_counter};
use super::report::{Report, median, ms, percentile};

const S: &str = "schedules";
const START: Duration = Duration::from_secs(60);
/// Schedules created concurrently.
const IN_FLIGHT: usize = 256;

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let ns = format!("{}-sched", env.namespace);
    let nats = env.connect(&ns).await?;
    deploy_counter(&nats).await?;
    let mut exec = ChildExecutor::spawn(env, &ns, "bench-sched", &[])?;
    exec.wait_started(START).await?;
    let result = async {
        lateness(&nats, a, r).await?;
        pending(&nats, &exec, a, r).await
    }
    .await;
    let _ = exec.kill().await;
    result
}

fn one_off(w: WorkerId, id: String, at: u64) -> anyhow::Result<ScheduleSpec> {
    Ok(ScheduleSpec {
        idempotency_key: Some(format!("{id}@{}", rfc3339_second(at)?)),
        worker: w,
        id,
        when: When::At(at),
        function: "add".into(),
        args: "[1]".into(),
        content_type: None,
        overlap: Overlap::Queue,
        catchup_secs: None,
        trace: Default::default(),
    })
}

/// Creates `specs` (IN_FLIGHT at a time); the time it took.
async fn create(nats: &Nats, specs: &[ScheduleSpec]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let failed = futures::stream::iter(specs)
        .map(|s| schedules::put(nats, s))
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    if let Some(e) = failed.first() {
        anyhow::bail!(
            "{} of {} schedules were not created: {e}",
            failed.len(),
            specs.len()
        );
    }
    Ok(started.elapsed())
}

/// The journaled starts of the worker's invocations.
async fn starts(nats: &Nats, w: &WorkerId) -> anyhow::Result<Vec<u64>> {
    Ok(nats
        .oplog()
        .read(w, 1)
        .await?
        .entries
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::InvocationStarted { at, .. } => Some(at),
            _ => None,
        })
        .collect())
}

async fn lateness(nats: &Nats, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let n = a.schedule_firings.max(1);
    // Far enough ahead to create them all first (measured on this machine: well under 5 s).
    let due = (now_ms() + 8_000).div_ceil(1_000) * 1_000;
    let workers: Vec<WorkerId> = (0..n)
        .map(|i| WorkerId::parse("counter", &format!("due-{i}")))
        .collect::<Result<_, _>>()?;
    let specs = workers
        .iter()
        .map(|w| one_off(w.clone(), "i-due".into(), due))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("schedules: {n} one-offs due at {}", rfc3339_second(due)?);
    let took = create(nats, &specs).await?;
    if now_ms() >= due {
        r.fail(
            S,
            format!("creating {n} schedules took {took:?}, past their time"),
        );
        return Ok(());
    }
    r.row(S, &format!("create {n} one-off schedules"), ms(took), "ms");
    let deadline = Instant::now()
        + Duration::from_millis(due - now_ms())
        + Duration::from_secs(a.timeout_secs);
    let mut late = Vec::with_capacity(n);
    let (mut early, mut twice, mut missing) = (0, 0, 0);
    let wait_all = async {
        loop {
            let fired = futures::stream::iter(&workers)
                .map(|w| starts(nats, w))
                .buffer_unordered(64)
                .filter(|s| std::future::ready(matches!(s, Ok(s) if !s.is_empty())))
                .count()
                .await;
            if fired == n || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    wait_all.await;
    for w in &workers {
        let s = starts(nats, w)
            .await
            .with_context(|| format!("oplog of {w}"))?;
        match s.as_slice() {
            [] => missing += 1,
            [at, rest @ ..] => {
                if !rest.is_empty() {
                    twice += 1;
                }
                if *at < due {
                    early += 1;
                }
                late.push(Duration::from_millis(at.saturating_sub(due)));
            }
        }
    }
    if missing > 0 {
        r.fail(
            S,
            format!(
                "{missing} of {n} schedules did not fire within {}s of their time",
                a.timeout_secs
            ),
        );
    }
    if twice > 0 {
        r.fail(
            S,
            format!("{twice} of {n} one-off schedules started more than once"),
        );
    }
    if early > 0 {
        r.fail(
            S,
            format!("{early} of {n} schedules fired before their time"),
        );
    }
    let label = format!("firing lateness ({n} one-offs due in one second)");
    r.row(S, &format!("{label} p50"), ms(median(&late)), "ms");
    r.row(
        S,
        &format!("{label} p99"),
        ms(percentile(&late, 99.0)),
        "ms",
    )
    .compare(format!(
        "max {:.0} ms",
        ms(late.iter().max().copied().unwrap_or_default())
    ));
    r.note(
        S,
        "firing lateness = the journaled start of the fired invocation − its scheduled second; it includes the server firing a thousand holders at once, delivery to the shard consumers and the recovery of each (new) worker",
    );
    Ok(())
}

async fn stream_bytes(nats: &Nats) -> anyhow::Result<u64> {
    let mut stream = nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await?;
    Ok(stream.info().await?.state.bytes)
}

async fn pending(
    nats: &Nats,
    exec: &ChildExecutor,
    a: &BenchArgs,
    r: &mut Report,
) -> anyhow::Result<()> {
    let n = a.pending_schedules.max(1);
    let at = (now_ms() + 3_600_000).div_ceil(1_000) * 1_000;
    let workers: Vec<WorkerId> = (0..n)
        .map(|i| WorkerId::parse("counter", &format!("pending-{i}")))
        .collect::<Result<_, _>>()?;
    let specs = workers
        .iter()
        .map(|w| one_off(w.clone(), "i-later".into(), at))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (bytes_before, rss_before) = (stream_bytes(nats).await?, exec.rss_bytes()?);
    eprintln!("schedules: {n} pending one-offs an hour ahead");
    let took = create(nats, &specs).await?;
    let (bytes_after, rss_after) = (stream_bytes(nats).await?, exec.rss_bytes()?);
    r.row(
        S,
        &format!("create {n} pending schedules"),
        took.as_secs_f64(),
        "s",
    )
    .compare(format!("{:.0} /s", n as f64 / took.as_secs_f64().max(1e-9)));
    let listed = Instant::now();
    let found = schedules::list(nats, None)
        .await?
        .into_iter()
        .filter(|s| s.pending)
        .count();
    r.row(
        S,
        &format!("list {n} pending schedules"),
        listed.elapsed().as_secs_f64(),
        "s",
    );
    if found != n {
        r.fail(S, format!("{found} of {n} pending schedules were listed"));
    }
    let grew = bytes_after.saturating_sub(bytes_before);
    r.row(
        S,
        "RVN_INVOKE growth per pending schedule",
        grew as f64 / n as f64,
        "bytes",
    )
    .compare(format!("{:.1} MiB for {n}", grew as f64 / (1 << 20) as f64));
    let rss_grew = rss_after as i64 - rss_before as i64;
    r.row(
        S,
        "executor memory growth for all pending schedules",
        rss_grew as f64 / (1 << 20) as f64,
        "MiB",
    )
    .target("none (they live in the stream)", rss_grew < 8 << 20);
    let cancelled = Instant::now();
    futures::stream::iter(&workers)
        .map(|w| schedules::cancel(nats, w, "i-later"))
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    r.row(
        S,
        &format!("cancel {n} pending schedules"),
        cancelled.elapsed().as_secs_f64(),
        "s",
    );
    Ok(())
}
