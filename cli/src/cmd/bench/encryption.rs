//! Section "encryption": the cost of encryption at rest, measured in the same
//! run against the same server: the journal and result writes an invocation
//! makes (an `InvocationStarted` with a 256-byte argument and an
//! `InvocationCompleted`, one fenced oplog append, then the result put in
//! `RVN_RESULTS`), and reading the journals back, once over a plain connection
//! and once over one with a keyring (AES-256-GCM), alternating twice so neither
//! gets a warmer server. The sealed namespace's raw stream is checked to hold
//! no plaintext of the argument (a run that finds one fails).

use std::time::{Duration, Instant};

use futures::future::join_all;
use revenant_nats::Nats;
use revenant_types::WorkerId;
use revenant_types::codec::OplogBatch;
use revenant_types::config::{EncryptionOptions, NatsOptions};
use revenant_types::oplog::{InvocationOutcome, OplogEntry};
use revenant_types::records::ResultRecord;

use super::BenchArgs;
use super::env::{Env, counter};
use super::report::Report;

const S: &str = "encryption";
/// Workers written in parallel, each its own fenced sequence of appends.
const WORKERS: usize = 50;
const MARKER: &str = "rvn-bench-plaintext-marker";

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let per_worker = (a.encryption_invocations / WORKERS).max(1);
    let key = revenant_nats::seal::new_key_line("bench")?;
    let mut best: [(f64, f64); 2] = [(0.0, 0.0); 2];
    for round in 0..2 {
        for (i, sealed) in [false, true].into_iter().enumerate() {
            let opts = NatsOptions {
                namespace: format!("{}e{}{round}", env.namespace, i),
                encryption: EncryptionOptions {
                    keys: sealed.then(|| key.clone()),
                    ..EncryptionOptions::default()
                },
                ..env.nats_options().clone()
            };
            let nats = Nats::connect(&opts).await?;
            nats.provision().await?;
            let (write, read) = measure(&nats, per_worker).await?;
            let n = (per_worker * WORKERS) as f64;
            best[i].0 = best[i].0.max(n / write.as_secs_f64());
            best[i].1 = best[i].1.max(n / read.as_secs_f64());
            if sealed && plaintext_found(&nats).await? {
                r.fail(
                    S,
                    "the sealed namespace's oplog stream holds the argument in plain text",
                );
            }
        }
    }
    let [(plain_w, plain_r), (sealed_w, sealed_r)] = best;
    let cost = |plain: f64, sealed: f64| 100.0 * (plain - sealed) / plain;
    r.row(
        S,
        "journal + result writes, plain",
        plain_w,
        "invocations/s",
    );
    r.row(
        S,
        "journal + result writes, AES-256-GCM",
        sealed_w,
        "invocations/s",
    );
    r.row(S, "write throughput cost", cost(plain_w, sealed_w), "%");
    r.row(S, "journal reads, plain", plain_r, "invocations/s");
    r.row(S, "journal reads, AES-256-GCM", sealed_r, "invocations/s");
    r.row(S, "read throughput cost", cost(plain_r, sealed_r), "%");
    r.note(
        S,
        format!("{WORKERS} workers x {per_worker} invocations each, best of 2 alternating rounds; the sealed stream held no plaintext argument"),
    );
    Ok(())
}

/// Writes `per_worker` invocations' journal and result for each of [`WORKERS`]
/// workers, then reads every journal back; returns both durations.
async fn measure(nats: &Nats, per_worker: usize) -> anyhow::Result<(Duration, Duration)> {
    let workers: Vec<WorkerId> = (0..WORKERS).map(|i| counter(&format!("enc-{i}"))).collect();
    let argument = format!("[\"{MARKER}{}\"]", "x".repeat(256 - MARKER.len()));
    let t = Instant::now();
    let writes = workers.iter().map(|w| {
        let argument = argument.clone();
        async move {
            let oplog = nats.oplog();
            let results = nats.results();
            let mut last = 0;
            for k in 0..per_worker as u64 {
                let key = format!("enc-{k}");
                // The executor's entries (one builder of them), with a longer argument.
                let mut entries = revenant_nats::synthetic::add_invocation("add", &key, k, 0);
                if let OplogEntry::InvocationStarted { args, .. } = &mut entries[0] {
                    args.clone_from(&argument);
                }
                let outcome = match &entries[1] {
                    OplogEntry::InvocationCompleted { outcome, .. } => outcome.clone(),
                    _ => InvocationOutcome::Ok(k.to_string()),
                };
                let key = match &entries[0] {
                    OplogEntry::InvocationStarted {
                        idempotency_key, ..
                    } => idempotency_key.clone(),
                    _ => key,
                };
                let entries = entries.to_vec();
                last = oplog
                    .append(
                        w,
                        last,
                        &OplogBatch {
                            first: 2 * k + 1,
                            entries,
                        },
                    )
                    .await?;
                let record = ResultRecord {
                    worker: w.clone(),
                    function: "add".into(),
                    outcome,
                    completed_at: 0,
                };
                results.put(w, &key, &record).await?;
            }
            anyhow::Ok(())
        }
    });
    join_all(writes)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    let write = t.elapsed();
    let t = Instant::now();
    let reads = workers.iter().map(|w| async move {
        let read = nats.oplog().read(w, 1).await?;
        anyhow::ensure!(
            read.entries.len() == 2 * per_worker,
            "{w}: read back {} entries",
            read.entries.len()
        );
        anyhow::Ok(())
    });
    join_all(reads)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    Ok((write, t.elapsed()))
}

/// Whether any raw message of the namespace's oplog stream contains the marker.
async fn plaintext_found(nats: &Nats) -> anyhow::Result<bool> {
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().oplog_stream())
        .await?;
    let last = stream.get_info().await?.state.last_sequence;
    for seq in (1..=last).step_by((last as usize / 200).max(1)) {
        let m = stream.get_raw_message(seq).await?;
        if m.payload
            .windows(MARKER.len())
            .any(|w| w == MARKER.as_bytes())
        {
            return Ok(true);
        }
    }
    Ok(false)
}
