//! Section 6b, failover, and the memory figure — both with child `revenant
//! executor` processes, each in a namespace of its own on the same server (so
//! the in-process executor does not hold their shards).
//!
//! Failover: two executors sharing the shards. Per
//! run: invoke a new worker, SIGKILL the executor whose lease holds its shard,
//! time until the next invocation of that worker is answered (and check the
//! worker kept its state), then start a fresh executor and wait until the
//! shards are balanced again. Done with short lease settings and with the
//! defaults of `revenant executor`.
//!
//! Memory: one executor with a short idle timeout; VmRSS at rest, then twice
//! with N new live workers and after all of them were suspended.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_nats::LeaseManager;
use revenant_types::ExecutorId;
use revenant_types::config::LeaseOptions;
use revenant_types::records::WorkerStatus;

use super::BenchArgs;
use super::client::Client;
use super::env::{ChildExecutor, Env, counter, deploy_counter};
use super::report::{Report, median, ms, per_item};
use crate::cmd::executor::ExecutorArgs;

const START: Duration = Duration::from_secs(60);

pub async fn failover(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = "failover";
    let defaults = default_lease();
    let variants = [
        (
            "short lease",
            "short",
            Some((a.short_lease_ttl_ms, a.short_lease_renew_ms)),
        ),
        ("default lease", "default", None),
    ];
    for (label, tag, flags) in variants {
        let (ttl, renew) = flags.unwrap_or(defaults);
        let ns = format!("{}-fo-{tag}", env.namespace);
        let nats = env.connect(&ns).await?;
        deploy_counter(&nats).await?;
        let client = Client::new(nats.clone()).await?;
        let leases = nats.leases(ExecutorId::new("bench-observer")?, LeaseOptions::default());
        let extra: Vec<String> = match flags {
            Some((ttl, renew)) => vec![
                "--lease-ttl-ms".into(),
                ttl.to_string(),
                "--lease-renew-ms".into(),
                renew.to_string(),
            ],
            None => vec![],
        };
        let mut spawned = 0;
        let mut spawn = || {
            spawned += 1;
            ChildExecutor::spawn(env, &ns, &format!("bench-fo-{tag}-{spawned}"), &extra)
        };
        let mut live = vec![spawn()?];
        live[0].wait_started(START).await?;
        live.push(spawn()?);
        live[1].wait_started(START).await?;
        wait_balanced(&leases, nats.options().shards, &live).await?;
        eprintln!(
            "failover ({label}: ttl {ttl} ms, renew {renew} ms): {} runs",
            a.failover_runs
        );
        let mut samples = Vec::new();
        for run in 0..a.failover_runs.max(1) {
            let w = counter(&format!("fo-{run}"));
            let (v, _) = client.invoke_u64(&w, "add", "[1]", START).await?;
            let shard = nats.shard_of(&w);
            let (holder, _) = leases.holder(shard).await?.with_context(|| {
                format!("shard {shard} of {w} has no lease after an answered invocation")
            })?;
            let Some(i) = live.iter().position(|c| c.id == holder.owner.as_str()) else {
                bail!(
                    "shard {shard} is held by {}, which is not one of this bench's executors",
                    holder.owner
                );
            };
            live[i].kill().await?;
            let killed = Instant::now();
            let (v2, _) = client.invoke_u64(&w, "add", "[1]", START).await?;
            let took = killed.elapsed();
            if v2 != v + 1 {
                r.fail(
                    S,
                    format!("{w} answered {v2} after failover, expected {}", v + 1),
                );
            }
            eprintln!(
                "  run {}: {} killed, answered after {:.0} ms",
                run + 1,
                holder.owner,
                ms(took)
            );
            samples.push(took);
            live.remove(i);
            let mut standby = spawn()?;
            standby.wait_started(START).await?;
            live.push(standby);
            wait_balanced(&leases, nats.options().shards, &live).await?;
        }
        for c in &mut live {
            let _ = c.kill().await;
        }
        let p50 = ms(median(&samples));
        let row = r.row(S, &format!("{label} ({ttl}/{renew} ms) p50"), p50, "ms");
        row.compare(format!(
            "min {:.0}, max {:.0} ms",
            ms(*samples.iter().min().expect("runs")),
            ms(*samples.iter().max().expect("runs"))
        ));
        if flags.is_none() {
            row.target("≤ 1000 ms", p50 <= 1000.0);
        }
    }
    r.note(S, "failover = SIGKILL of the lease holder → answer of the next invocation by the standby executor");
    Ok(())
}

pub async fn memory(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = "memory";
    let ns = format!("{}-mem", env.namespace);
    let nats = env.connect(&ns).await?;
    deploy_counter(&nats).await?;
    let client = Client::new(nats.clone()).await?;
    let idle_ms = 3_000u64;
    let extra = ["--idle-timeout-ms".to_owned(), idle_ms.to_string()];
    let mut exec = ChildExecutor::spawn(env, &ns, "bench-mem", &extra)?;
    exec.wait_started(START).await?;
    let timeout = Duration::from_secs(a.timeout_secs.max(60));
    client
        .invoke_u64(&counter("mem-warm"), "add", "[1]", START)
        .await?;
    wait_suspended(&nats, &counter("mem-warm"), idle_ms).await?;
    let rest = exec.rss_bytes()?;

    let n = a.memory_workers.max(1);
    // Two rounds of n new workers: if the second round does not grow RSS, what the first
    // left behind is allocator cache being reused, not memory held per suspended worker.
    let mut rounds = Vec::new();
    for round in 0..2 {
        eprintln!(
            "memory: round {}: {n} new workers, then waiting for all to be suspended",
            round + 1
        );
        let workers: Vec<_> = (0..n)
            .map(|i| counter(&format!("mem-{round}-{i}")))
            .collect();
        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(&workers)
            .map(|w| client.invoke_u64(w, "add", "[1]", timeout))
            .buffer_unordered(a.in_flight.max(1))
            .collect()
            .await;
        let created = started.elapsed();
        let lost = results
            .iter()
            .filter(|res| !matches!(res, Ok((1, _))))
            .count();
        if lost > 0 {
            r.fail(
                S,
                format!("{lost} of {n} first invocations failed or returned the wrong value"),
            );
        }
        let live = exec.rss_bytes()?;
        for w in workers.iter().rev().take(3) {
            wait_suspended(&nats, w, idle_ms).await?;
        }
        // Suspension of the rest is a few ms behind the last ones checked.
        tokio::time::sleep(Duration::from_secs(2)).await;
        rounds.push((created, live, exec.rss_bytes()?));
    }
    let _ = exec.kill().await;

    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let per_worker = |from: u64, to: u64| per_item(from, to, n);
    let [(created, live, suspended), (_, live2, suspended2)] = rounds[..] else {
        bail!("two rounds were measured");
    };
    r.row(S, "executor RSS at rest", mib(rest), "MiB");
    r.row(S, &format!("RSS with {n} live workers"), mib(live), "MiB")
        .compare(format!("{:.0} KiB/worker", per_worker(rest, live) / 1024.0));
    r.row(
        S,
        &format!("RSS after {n} suspended"),
        mib(suspended),
        "MiB",
    )
    .compare(format!(
        "{:.0} B/worker over rest",
        per_worker(rest, suspended)
    ));
    r.row(S, &format!("RSS with {n} more live"), mib(live2), "MiB");
    let per = per_worker(rest, suspended2) / 2.0;
    r.row(
        S,
        &format!("RSS after {} suspended", 2 * n),
        mib(suspended2),
        "MiB",
    )
    .compare(format!("{per:.0} B/worker over rest"))
    .target("≤ 2 KB per worker", per <= 2048.0);
    r.row(
        S,
        "worker creation (child executor)",
        n as f64 / created.as_secs_f64(),
        "workers/s",
    );
    r.note(
        S,
        "RSS after suspension includes heap the allocator keeps after freeing; live workers cost what their wasm memory and store touch",
    );
    Ok(())
}

/// The lease TTL and renewal interval `revenant executor` uses without flags.
fn default_lease() -> (u64, u64) {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        executor: ExecutorArgs,
    }
    let d = <Defaults as clap::Parser>::parse_from(["executor"]).executor;
    (d.lease_ttl_ms, d.lease_renew_ms)
}

/// Waits until every shard is held, unexpired, by one of `live`, each holding its
/// share (⌊shards / live⌋ at least): the cluster is at rest before the next kill.
async fn wait_balanced(
    leases: &LeaseManager,
    shards: u32,
    live: &[ChildExecutor],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + START;
    let fair = shards as usize / live.len().max(1);
    loop {
        let now = revenant_nats::lease::now_ms();
        let mut held = vec![0usize; live.len()];
        let mut orphaned = 0;
        for shard in 0..shards {
            match leases.holder(shard).await? {
                Some((rec, _)) if rec.expires_at > now => {
                    match live.iter().position(|c| c.id == rec.owner.as_str()) {
                        Some(i) => held[i] += 1,
                        None => orphaned += 1,
                    }
                }
                _ => orphaned += 1,
            }
        }
        if orphaned == 0 && held.iter().all(|&h| h >= fair) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "shards did not settle within {START:?}: {held:?} held, {orphaned} unheld or held by the dead"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the worker record says `Suspended` (the executor writes it when it drops an idle worker).
async fn wait_suspended(
    nats: &revenant_nats::Nats,
    w: &revenant_types::WorkerId,
    idle_ms: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(idle_ms) + Duration::from_secs(60);
    loop {
        if let Some(rec) = nats.workers().get(w).await?
            && rec.status == WorkerStatus::Suspended
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{w} was not suspended within {} ms of idling",
                idle_ms + 60_000
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
