//! Section 6b, failover, and the memory figure — both with child `revenant
//! executor` processes, each in a namespace of its own on the same server (so
//! the in-process executor does not hold their shards).
//!
//! Failover: two executors; the first owns every shard, the second waits. Per
//! run: invoke a new worker, SIGKILL the executor whose lease holds its shard,
//! time until the next invocation of that worker is answered (and check the
//! worker kept its state), then start a fresh standby. Done with short lease
//! settings and with the defaults.
//!
//! Memory: one executor with a short idle timeout; VmRSS at rest, with N live
//! workers, and after all N were suspended.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_types::ExecutorId;
use revenant_types::config::LeaseOptions;
use revenant_types::records::WorkerStatus;

use super::BenchArgs;
use super::client::Client;
use super::env::{ChildExecutor, Env, counter, deploy_counter};
use super::report::{Report, median, ms};

const START: Duration = Duration::from_secs(60);

pub async fn failover(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = "failover";
    let variants = [
        ("short lease", "short", a.short_lease_ttl_ms, a.short_lease_renew_ms),
        ("default lease", "default", 3_000, 1_000),
    ];
    for (label, tag, ttl, renew) in variants {
        let ns = format!("{}-fo-{tag}", env.namespace);
        let nats = env.connect(&ns).await?;
        deploy_counter(&nats).await?;
        let client = Client::new(nats.clone()).await?;
        let leases = nats.leases(ExecutorId::new("bench-observer")?, LeaseOptions::default());
        let extra = ["--lease-ttl-ms".to_owned(), ttl.to_string(), "--lease-renew-ms".into(), renew.to_string()];
        let mut spawned = 0;
        let mut spawn = || {
            spawned += 1;
            ChildExecutor::spawn(env, &ns, &format!("bench-fo-{tag}-{spawned}"), &extra)
        };
        let mut live = vec![spawn()?];
        live[0].wait_started(START).await?;
        live.push(spawn()?);
        live[1].wait_started(START).await?;
        eprintln!("failover ({label}: ttl {ttl} ms, renew {renew} ms): {} runs", a.failover_runs);
        let mut samples = Vec::new();
        for run in 0..a.failover_runs.max(1) {
            let w = counter(&format!("fo-{run}"));
            let (v, _) = client.invoke_u64(&w, "add", "[1]", START).await?;
            let shard = nats.shard_of(&w);
            let (holder, _) = leases
                .holder(shard)
                .await?
                .with_context(|| format!("shard {shard} of {w} has no lease after an answered invocation"))?;
            let Some(i) = live.iter().position(|c| c.id == holder.owner.as_str()) else {
                bail!("shard {shard} is held by {}, which is not one of this bench's executors", holder.owner);
            };
            live[i].kill().await?;
            let killed = Instant::now();
            let (v2, _) = client.invoke_u64(&w, "add", "[1]", START).await?;
            let took = killed.elapsed();
            if v2 != v + 1 {
                r.fail(S, format!("{w} answered {v2} after failover, expected {}", v + 1));
            }
            eprintln!("  run {}: {} killed, answered after {:.0} ms", run + 1, holder.owner, ms(took));
            samples.push(took);
            live.remove(i);
            let mut standby = spawn()?;
            standby.wait_started(START).await?;
            live.push(standby);
            // Let the standby finish its first claim round (it gets nothing while the owner lives).
            tokio::time::sleep(Duration::from_millis(renew * 2)).await;
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
        if tag == "default" {
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
    client.invoke_u64(&counter("mem-warm"), "add", "[1]", START).await?;
    wait_suspended(&nats, &counter("mem-warm"), idle_ms).await?;
    let rest = exec.rss_bytes()?;

    let n = a.memory_workers.max(1);
    eprintln!("memory: {n} workers, then waiting for all to be suspended");
    let workers: Vec<_> = (0..n).map(|i| counter(&format!("mem-{i}"))).collect();
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(&workers)
        .map(|w| client.invoke_u64(w, "add", "[1]", timeout))
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    let created = started.elapsed();
    let lost = results.iter().filter(|res| !matches!(res, Ok((1, _)))).count();
    if lost > 0 {
        r.fail(S, format!("{lost} of {n} first invocations failed or returned the wrong value"));
    }
    let live = exec.rss_bytes()?;
    for w in workers.iter().rev().take(3) {
        wait_suspended(&nats, w, idle_ms).await?;
    }
    // Suspension of the rest is a few ms behind the last ones checked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let suspended = exec.rss_bytes()?;
    let _ = exec.kill().await;

    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    r.row(S, "executor RSS at rest", mib(rest), "MiB");
    r.row(S, &format!("RSS with {n} live workers"), mib(live), "MiB")
        .compare(format!("{:.0} KiB/worker", live.saturating_sub(rest) as f64 / 1024.0 / n as f64));
    let per = suspended.saturating_sub(rest) as f64 / n as f64;
    r.row(S, &format!("RSS after {n} suspended"), mib(suspended), "MiB")
        .compare(format!("{per:.0} B/worker"))
        .target("small constant per worker", per <= 4096.0);
    r.row(S, "worker creation (child executor)", n as f64 / created.as_secs_f64(), "workers/s");
    r.note(
        S,
        "RSS after suspension includes heap the allocator keeps after freeing; live workers cost what their wasm memory and store touch",
    );
    Ok(())
}

/// Waits until the worker record says `Suspended` (the executor writes it when it drops an idle worker).
async fn wait_suspended(nats: &revenant_nats::Nats, w: &revenant_types::WorkerId, idle_ms: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(idle_ms) + Duration::from_secs(60);
    loop {
        if let Some(rec) = nats.workers().get(w).await? {
            if rec.status == WorkerStatus::Suspended {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{w} was not suspended within {} ms of idling", idle_ms + 60_000);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
