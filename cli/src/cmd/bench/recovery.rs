//! Section 6a, replay: how fast a worker comes back from a long oplog. For each
//! size it writes a valid synthetic oplog through the fenced oplog store — a
//! `Create` and then `add(1)` invocations (`InvocationStarted` +
//! `InvocationCompleted`, exactly what the executor writes) — and times the
//! first invocation, which recovers the worker by re-running every recorded
//! invocation. The breakdown times the oplog read and the replay plan from
//! here, and the recovered total is checked (a replay that loses work fails).

use std::time::{Duration, Instant};

use anyhow::Context;
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::{InvocationOutcome, OplogEntry};
use revenant_types::records::ComponentRecord;

use super::BenchArgs;
use super::env::{Env, counter, deploy_counter};
use super::report::{Report, ms};

const S: &str = "recovery";
/// Entries per appended message (well under the 1 MiB payload limit).
const CHUNK: usize = 1000;

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
        let oplog = client.nats.oplog();
        let t = Instant::now();
        let at = revenant_types::now_ms();
        let create = OplogEntry::Create {
            at,
            component_version: record.version,
            args: vec![],
            env: vec![],
        };
        let worker = w.worker.as_str().to_owned();
        let all = std::iter::once(create).chain(
            (0..invocations as u64).flat_map(|k| synthetic_invocation(&add, &worker, k, at)),
        );
        let (mut first, mut last_seq) = (1u64, 0u64);
        let mut batch = Vec::with_capacity(CHUNK);
        for e in all {
            batch.push(e);
            if batch.len() == CHUNK {
                let entries = std::mem::take(&mut batch);
                let n = entries.len() as u64;
                last_seq = oplog
                    .append(&w, last_seq, &OplogBatch { first, entries })
                    .await?;
                first += n;
            }
        }
        if !batch.is_empty() {
            oplog
                .append(
                    &w,
                    last_seq,
                    &OplogBatch {
                        first,
                        entries: batch,
                    },
                )
                .await?;
        }
        let write = t.elapsed();

        let t = Instant::now();
        let read = oplog.read(&w, 1).await?;
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

/// The two entries the executor writes for one successful `add(1)` invocation.
pub(super) fn synthetic_invocation(add: &str, worker: &str, k: u64, at: u64) -> [OplogEntry; 2] {
    let key = format!("synthetic-{worker}-{k}");
    [
        OplogEntry::InvocationStarted {
            at,
            idempotency_key: key.clone(),
            function: add.to_owned(),
            args: "[1]".into(),
            trace: Default::default(),
            reply_to: None,
            caller: None,
            schedule: None,
        },
        OplogEntry::InvocationCompleted {
            at,
            idempotency_key: key,
            outcome: InvocationOutcome::Ok((k + 1).to_string()),
            duration_us: 1,
        },
    ]
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

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
