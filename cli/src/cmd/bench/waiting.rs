//! The waiting section (ARCHITECTURE.md "Waiting: suspension, timers,
//! promises"): durable sleeps and promises, through child `revenant executor`
//! processes started with a short `--suspend-after-ms` (the bench's flag of that
//! name, 500 ms by default) so that every wait below really suspends its worker —
//! `Suspended` journaled, the instance dropped — and a JetStream message schedule
//! (a timer) or a completion message (a promise) wakes it. Each part has a
//! namespace of its own on the bench's server and uses only the bundled examples:
//! `reminder`'s `sleep-ms`, `approval`'s `request` and `counter`.
//!
//! - Timer lateness: `--sleeps` workers sleep `--sleep-ms` each, all at once. A
//!   sleep returns the journaled wall times it started and woke, so its lateness
//!   is exactly `woke − (started + sleep)`. Their oplogs are then read: each must
//!   have suspended, and its timer fired once.
//! - Promise completion → answer: `--promise-waiters` approval workers await a
//!   promise each, until their records say suspended; then, one at a time, the
//!   promise is completed with the promise store (`complete`, as the CLI, HTTP and
//!   the executor's service do) and the time to the invocation's answer is taken.
//!   Compared with a counter `get` round trip on the same executor.
//! - Memory per suspended sleeper: a fresh executor's VmRSS at rest (one sleeper
//!   suspended first, alone) and once `--sleepers` more are suspended in one-hour
//!   sleeps (their records say so, and the executor's heartbeat says it holds no
//!   worker in memory), the growth divided by their number. The executor trims the
//!   heap after every 1,000 workers that leave memory, so up to 999 workers' freed
//!   heap may still be counted.
//!   They never wake: their executor is killed, and their namespace goes with the
//!   bench's nats-server (with `--nats` their schedule holders stay in that
//!   server's namespace and fire, an hour later, into a namespace nobody serves).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_nats::Nats;
use revenant_types::host;
use revenant_types::oplog::{HostValue, OplogEntry};
use revenant_types::promise::PromiseState;
use revenant_types::records::WorkerStatus;
use revenant_types::{ComponentName, WorkerId};
use serde::Deserialize;

use super::BenchArgs;
use super::client::{Client, Reply};
use super::env::{ChildExecutor, Env, counter, deploy, deploy_counter};
use super::report::{Report, median, ms, per_item, percentile};

const S: &str = "waiting";
const REMINDER: &str = "reminder";
const APPROVAL: &str = "approval";
const START: Duration = Duration::from_secs(60);
/// The memory figure's sleep: long enough never to fire during a run.
const LONG_SLEEP_MS: u64 = 3_600_000;
/// Sequential counter `get`s of the round-trip baseline (after as many to warm up).
const BASELINE_CALLS: usize = 500;
/// The issue's target for memory held per suspended sleeper, bytes.
const TARGET_BYTES_PER_SLEEPER: f64 = 2048.0;

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    if let Err(e) = timers_and_promises(env, a, r).await {
        r.fail(
            S,
            format!("timer lateness and promises did not complete: {e:#}"),
        );
    }
    memory(env, a, r).await
}

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

/// A late wake-up in two parts: from the deadline `fire_at` to the whole second its
/// schedule fires at (timers are scheduled to the second, rounded up:
/// `revenant_nats::timers::at_schedule`), then from that second to the wake `woke`.
fn lateness_parts(fire_at: u64, woke: u64) -> (Duration, Duration) {
    let second = fire_at.div_ceil(1_000) * 1_000;
    (
        Duration::from_millis(second - fire_at),
        Duration::from_millis(woke.saturating_sub(second)),
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

fn worker(component: &str, name: &str) -> anyhow::Result<WorkerId> {
    Ok(WorkerId::parse(component, name)?)
}

/// A child executor on `ns` that suspends after the bench's `--suspend-after-ms`.
async fn executor(env: &Env, ns: &str, id: &str, a: &BenchArgs) -> anyhow::Result<ChildExecutor> {
    let extra = [
        "--suspend-after-ms".to_owned(),
        a.suspend_after_ms.to_string(),
    ];
    let mut exec = ChildExecutor::spawn(env, ns, id, &extra)?;
    exec.wait_started(START).await?;
    Ok(exec)
}

async fn timers_and_promises(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let ns = format!("{}-wait", env.namespace);
    let nats = env.connect(&ns).await?;
    deploy_counter(&nats).await?;
    deploy(&nats, REMINDER, revenant_examples::REMINDER).await?;
    deploy(&nats, APPROVAL, revenant_examples::APPROVAL).await?;
    let client = Client::new(nats).await?;
    let mut exec = executor(env, &ns, "bench-wait", a).await?;
    let result = async {
        let get = round_trip(&client, a, r).await?;
        timer_lateness(&client, a, r).await?;
        promise_resume(&client, a, r, &get).await
    }
    .await;
    let _ = exec.kill().await;
    result
}

/// The baseline: sequential counter `get`s on one warm worker of the same executor.
async fn round_trip(
    client: &Client,
    a: &BenchArgs,
    r: &mut Report,
) -> anyhow::Result<Vec<Duration>> {
    let (w, timeout) = (counter("wait-get"), Duration::from_secs(a.timeout_secs));
    client.invoke_u64(&w, "get", "[]", START).await?;
    let mut samples = Vec::with_capacity(BASELINE_CALLS);
    for i in 0..2 * BASELINE_CALLS {
        let (_, took) = client.invoke_u64(&w, "get", "[]", timeout).await?;
        if i >= BASELINE_CALLS {
            samples.push(took);
        }
    }
    r.row(
        S,
        "invoke round trip (counter get) p50",
        ms(median(&samples)),
        "ms",
    );
    r.row(
        S,
        "invoke round trip (counter get) p99",
        ms(percentile(&samples, 99.0)),
        "ms",
    );
    Ok(samples)
}

async fn timer_lateness(client: &Client, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
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
        "… of it: deadline → its whole second p50",
        ms(median(&rounding)),
        "ms",
    );
    r.row(
        S,
        "… of it: whole second → woke p50",
        ms(median(&after_second)),
        "ms",
    )
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
        "timer lateness = journaled wake time − (journaled start of the sleep + its length), as the guest saw them; schedules fire at whole seconds (rounded up), the rest is delivery, resumption by replay and the answer",
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

async fn promise_resume(
    client: &Client,
    a: &BenchArgs,
    r: &mut Report,
    get: &[Duration],
) -> anyhow::Result<()> {
    let n = a.promise_waiters.max(1);
    // One request alone first: concurrent first invocations of a component the executor
    // has not loaded yet would each load and compile it.
    await_and_complete(client, a, r, "warm-approval", 1).await?;
    eprintln!("waiting: {n} approval workers awaiting a promise each, completed one at a time");
    let samples = await_and_complete(client, a, r, "appr-", n).await?;
    let vs = |p: f64, base: Duration| format!("{:.2}× counter get", p / ms(base).max(f64::EPSILON));
    let (p50, p99) = (ms(median(&samples)), ms(percentile(&samples, 99.0)));
    r.row(S, "promise complete → answer p50", p50, "ms")
        .compare(vs(p50, median(get)));
    r.row(S, "promise complete → answer p99", p99, "ms")
        .compare(vs(p99, percentile(get, 99.0)));
    r.note(
        S,
        "promise complete → answer: from the store's complete call (CAS, then the wake message) to the answer of the suspended invocation, resumed by replay",
    );
    Ok(())
}

/// Sends `request` to approval workers `<prefix>0…<prefix>n-1`, waits until all are
/// suspended on their promise, then completes the promises one at a time; returns the
/// times from each completion to its answer.
async fn await_and_complete(
    client: &Client,
    a: &BenchArgs,
    r: &mut Report,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let timeout = Duration::from_secs(a.timeout_secs);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let waiting: Vec<_> = futures::stream::iter(&names)
        .map(|name| async move {
            let args = serde_json::json!([name]).to_string();
            let inbox = client
                .send(&worker(APPROVAL, name)?, "request", &args)
                .await?;
            anyhow::Ok((name, inbox))
        })
        .buffered(a.in_flight.max(1))
        .collect()
        .await;
    let waiting = waiting.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    wait_suspended(&client.nats, APPROVAL, prefix, n, timeout).await?;
    let ids: HashMap<String, _> = client
        .nats
        .promises()
        .list(Some(APPROVAL), None)
        .await?
        .into_iter()
        .filter(|(_, rec)| rec.state == PromiseState::Pending)
        .map(|(id, _)| (id.worker.worker.as_str().to_owned(), id))
        .collect();

    let payload = "\"approved\"";
    let (mut samples, mut wrong) = (Vec::with_capacity(n), 0usize);
    for (name, inbox) in waiting {
        let id = ids
            .get(name)
            .with_context(|| format!("approval/{name} is suspended but has no pending promise"))?;
        let started = Instant::now();
        if !client
            .nats
            .promises()
            .complete(id, payload.into())
            .await?
            .completed()
        {
            r.fail(S, format!("promise {id} was completed already"));
        }
        let reply = Client::wait(inbox, timeout, &format!("request on approval/{name}")).await?;
        let took = started.elapsed();
        let expected = format!("{name}: {payload}");
        if reply.ok && serde_json::from_str::<String>(&reply.body).ok() == Some(expected) {
            samples.push(took);
        } else {
            if wrong == 0 {
                eprintln!("waiting: approval/{name} answered {}", reply.body);
            }
            wrong += 1;
        }
    }
    if wrong > 0 {
        r.fail(
            S,
            format!("{wrong} of {n} resumed requests answered wrongly"),
        );
    }
    Ok(samples)
}

async fn memory(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let ns = format!("{}-sleep", env.namespace);
    let nats = env.connect(&ns).await?;
    deploy(&nats, REMINDER, revenant_examples::REMINDER).await?;
    let client = Client::new(nats).await?;
    let mut exec = executor(env, &ns, "bench-sleep", a).await?;
    let result = sleepers(&client, &exec, a, r).await;
    let _ = exec.kill().await;
    result
}

async fn sleepers(
    client: &Client,
    exec: &ChildExecutor,
    a: &BenchArgs,
    r: &mut Report,
) -> anyhow::Result<()> {
    let n = a.sleepers.max(1);
    let timeout = Duration::from_secs(a.timeout_secs);
    // One sleeper first, alone: the component loaded and compiled, the paths of a
    // suspension run once.
    client
        .send(
            &worker(REMINDER, "warm-sleeper")?,
            "sleep-ms",
            &format!("[{LONG_SLEEP_MS}]"),
        )
        .await?;
    wait_suspended(&client.nats, REMINDER, "warm-sleeper", 1, START).await?;
    wait_none_in_memory(&client.nats, &exec.id, timeout).await?;
    let rest = exec.rss_bytes()?;

    eprintln!("waiting: {n} workers going to sleep for an hour");
    let started = Instant::now();
    let args = format!("[{LONG_SLEEP_MS}]");
    let sent: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let args = &args;
            async move {
                let w = worker(REMINDER, &format!("sleeper-{i}"))?;
                // Never answered within the run: the inbox is dropped.
                client.send(&w, "sleep-ms", args).await.map(drop)
            }
        })
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    sent.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    wait_suspended(&client.nats, REMINDER, "sleeper-", n, timeout).await?;
    let took = started.elapsed();
    // Their records are written just before their mailboxes end.
    wait_none_in_memory(&client.nats, &exec.id, timeout).await?;
    let after = exec.rss_bytes()?;

    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let per = per_item(rest, after, n);
    r.row(S, "executor RSS at rest", mib(rest), "MiB");
    r.row(
        S,
        &format!("executor RSS with {n} suspended sleepers"),
        mib(after),
        "MiB",
    );
    r.row(S, "memory per suspended sleeper", per, "B")
        .target("< 2 KB", per < TARGET_BYTES_PER_SLEEPER);
    r.row(
        S,
        "sleepers started and suspended",
        n as f64 / took.as_secs_f64(),
        "workers/s",
    );
    r.note(
        S,
        "memory per sleeper = (VmRSS of the child executor with the sleepers suspended − at rest) / sleepers; it includes heap the allocator keeps after the instances were dropped",
    );
    Ok(())
}

/// Waits until `n` workers of `component` named `<prefix>…` are suspended by their
/// records; fails when that number stops growing for `stall`.
async fn wait_suspended(
    nats: &Nats,
    component: &str,
    prefix: &str,
    n: usize,
    stall: Duration,
) -> anyhow::Result<()> {
    let component = ComponentName::new(component)?;
    let (mut seen, mut progressed) = (0, Instant::now());
    loop {
        let suspended = nats
            .workers()
            .list(Some(&component))
            .await?
            .iter()
            .filter(|rec| {
                rec.status == WorkerStatus::Suspended && rec.id.worker.as_str().starts_with(prefix)
            })
            .count();
        if suspended >= n {
            return Ok(());
        }
        if suspended > seen {
            (seen, progressed) = (suspended, Instant::now());
        } else if progressed.elapsed() > stall {
            bail!(
                "{seen} of {n} {component}/{prefix}… workers are suspended, and no more were for {stall:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until executor `id`'s heartbeat says it holds no worker in memory.
async fn wait_none_in_memory(nats: &Nats, id: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let held = nats
            .executors()
            .live(u64::MAX)
            .await?
            .into_iter()
            .find(|rec| rec.id.as_str() == id)
            .map(|rec| rec.workers_in_memory);
        if held == Some(0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("executor {id} still held {held:?} workers in memory after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    fn lateness_splits_into_the_wait_for_the_whole_second_and_what_follows_it() {
        assert_eq!(
            lateness_parts(1_000_250, 1_001_040),
            (Duration::from_millis(750), Duration::from_millis(40))
        );
        // A deadline on a whole second waits for nothing; a wake before it counts zero.
        assert_eq!(
            lateness_parts(2_000, 1_999),
            (Duration::ZERO, Duration::ZERO)
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
