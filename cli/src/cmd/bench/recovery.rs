//! Section 6a, replay: how fast a worker comes back from a long oplog. For each
//! size it writes a valid synthetic oplog through the fenced oplog store — a
//! `Create` and then `add(1)` invocations (`InvocationStarted` +
//! `InvocationCompleted`, exactly what the executor writes) — and times the
//! first invocation, which recovers the worker by re-running every recorded
//! invocation. The breakdown times the oplog read and the replay plan from
//! here, and the recovered total is checked (a replay that loses work fails).
//!
//! Bounded recovery ([`bounded`]): for each history length (invocations) two
//! workers — one whose oplog holds the whole history, one as a snapshot every
//! `--snapshot-every` invocations leaves it (the previous snapshot's entry and what
//! follows; the newest snapshot in `RVN_SNAPSHOTS`) — are recovered
//! `--recovery-runs` times each (an interrupt, then a timed resume, which reads the
//! oplog and rebuilds the instance), and the medians are compared in the same run.

use std::time::{Duration, Instant};

use anyhow::Context;
use revenant_nats::synthetic::write_counter_history;
use revenant_types::records::{ComponentRecord, ControlAction};

use super::BenchArgs;
use super::env::{Env, counter, deploy_counter};
use super::report::{Report, median, ms};

const S: &str = "recovery";

pub async fn replay(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let client = &env.client;
    let timeout = Duration::from_secs(a.timeout_secs.max(300));
    let record = deploy_counter(&client.nats).await?;
    let add = full_name(&record, "add")?;
    for &size in &a.replay_sizes {
        let size = size.max(2);
        let invocations = size / 2;
        let entries = 1 + 2 * invocations;
        let w = counter(&format!("replay-{size}-{}", uuid::Uuid::new_v4().simple()));
        eprintln!("recovery: writing {entries} oplog entries for {w}");
        let t = Instant::now();
        let n = invocations as u64;
        write_counter_history(&client.nats, &w, record.version, &add, n, 0).await?;
        let write = t.elapsed();

        let t = Instant::now();
        let read = client.nats.oplog().read(&w, 1).await?;
        let read_time = t.elapsed();
        if read.entries.len() != entries {
            r.fail(
                S,
                format!(
                    "{w}: wrote {entries} entries, read back {}",
                    read.entries.len()
                ),
            );
        }
        let t = Instant::now();
        let plan = revenant_executor::replay::plan(read.entries);
        let plan_time = t.elapsed();
        if plan.invocations.len() != invocations {
            r.fail(
                S,
                format!(
                    "{w}: plan has {} invocations, expected {invocations}",
                    plan.invocations.len()
                ),
            );
        }

        eprintln!("recovery: first invocation of {w} ({invocations} invocations to replay)");
        let (v, first_call) = client.invoke_u64(&w, "get", "[]", timeout).await?;
        let (_, warm) = client.invoke_u64(&w, "get", "[]", timeout).await?;
        if v != invocations as u64 {
            r.fail(S, format!("{w} recovered to {v}, expected {invocations}"));
        }
        let recovery = first_call.saturating_sub(warm);
        let label = human(entries);
        r.row(
            S,
            &format!("{label} entries: replay rate"),
            entries as f64 / recovery.as_secs_f64(),
            "entries/s",
        )
        .compare(format!("{:.0} ms to recover", ms(recovery)));
        r.row(
            S,
            &format!("{label} entries: read oplog"),
            entries as f64 / read_time.as_secs_f64(),
            "entries/s",
        )
        .compare(format!("{:.0} ms", ms(read_time)));
        r.row(
            S,
            &format!("{label} entries: replay plan"),
            entries as f64 / plan_time.as_secs_f64(),
            "entries/s",
        )
        .compare(format!("{:.1} ms", ms(plan_time)));
        r.row(
            S,
            &format!("{label} entries: write (bench)"),
            entries as f64 / write.as_secs_f64(),
            "entries/s",
        );
    }
    r.note(
        S,
        "replay rate = entries / (first invocation − warm invocation); each add entry pair is one re-run wasm call",
    );
    Ok(())
}

/// The full export name (`example:counter/api.{add}`) of a bare function name.
fn full_name(record: &ComponentRecord, bare: &str) -> anyhow::Result<String> {
    let suffix = format!(".{{{bare}}}");
    record
        .exports
        .iter()
        .map(|e| e.name.as_str())
        .find(|n| n.ends_with(&suffix) || *n == bare)
        .map(str::to_owned)
        .with_context(|| format!("the counter component exports no {bare}"))
}

/// `1k`, `100k`, `1M` for round numbers; other numbers as they are.
fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Bounded recovery: snapshot + tail beside full replay, by history length.
pub async fn bounded(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let client = &env.client;
    let timeout = Duration::from_secs(a.timeout_secs.max(300));
    let record = deploy_counter(&client.nats).await?;
    anyhow::ensure!(
        record.exports_snapshot(),
        "the counter component does not export revenant:api/snapshot; rebuild the examples"
    );
    let add = full_name(&record, "add")?;
    let every = a.snapshot_every;
    for &n in &a.recovery_invocations {
        let mut medians = Vec::new();
        for (mode, snapshot_every) in [("full replay", 0), ("snapshots", every)] {
            let tag = if snapshot_every == 0 { "full" } else { "snap" };
            let w = counter(&format!(
                "bounded-{tag}-{n}-{}",
                uuid::Uuid::new_v4().simple()
            ));
            eprintln!("recovery: writing a history of {n} invocations for {w} ({mode})");
            let written =
                write_counter_history(&client.nats, &w, record.version, &add, n, snapshot_every)
                    .await?;
            let (v, _) = client.invoke_u64(&w, "get", "[]", timeout).await?;
            if v != n {
                r.fail(S, format!("{w} recovered to {v}, expected {n}"));
            }
            let mut samples = Vec::new();
            for _ in 0..a.recovery_runs.max(1) {
                client
                    .nats
                    .control(&w, ControlAction::Interrupt, timeout)
                    .await?;
                let t = Instant::now();
                client
                    .nats
                    .control(&w, ControlAction::Resume, timeout)
                    .await?;
                samples.push(t.elapsed());
            }
            let p50 = median(&samples);
            let label = format!("{} invocations, {mode}", human(n as usize));
            r.row(S, &format!("{label}: recovery p50"), ms(p50), "ms")
                .compare(format!(
                    "reads {} entries, {} KiB; replays {} invocations",
                    written.entries,
                    written.bytes / 1024,
                    written.to_replay
                ));
            medians.push(p50);
        }
        if let [full, snap] = medians[..] {
            r.row(
                S,
                &format!("{} invocations: full replay / snapshots", human(n as usize)),
                full.as_secs_f64() / snap.as_secs_f64().max(1e-9),
                "x",
            );
        }
    }
    r.note(
        S,
        format!(
            "bounded recovery: median of {} interrupt+resume cycles per worker (resume = read the oplog, load the snapshot, replay the tail); snapshot every {every}",
            a.recovery_runs
        ),
    );
    Ok(())
}
