//! Memory per suspended sleeper: a fresh executor's VmRSS at rest and with many
//! workers suspended in one-hour sleeps, once it holds none of them in memory.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use revenant_nats::Nats;

use super::super::BenchArgs;
use super::super::client::Client;
use super::super::env::{ChildExecutor, Env, deploy};
use super::super::report::{Report, per_item};
use super::{REMINDER, S, START, executor, wait_suspended, worker};

/// The sleep of the sleepers: long enough never to fire during a run.
const LONG_SLEEP_MS: u64 = 3_600_000;
/// The target for memory held per suspended sleeper, bytes.
const TARGET_BYTES_PER_SLEEPER: f64 = 2048.0;

pub(super) async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
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
        "memory per sleeper = (VmRSS of the child executor with the sleepers suspended and none in memory − at rest) / sleepers; it includes freed heap not yet trimmed: the executor trims after every 1,000 workers that leave memory and when a wave of them ends (counted at heartbeats)",
    );
    Ok(())
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
