//! Section 1, the floor: Revenant's message flow with no WebAssembly (see
//! `revenant_nats::bench_support`): JetStream publish → pull consumer → one
//! fenced append → reply → ack. Sequential latency on one key, and pipelined
//! throughput over as many keys and with as many requests in flight as the
//! throughput section uses. Every other section is compared against these.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use tokio::sync::watch;

use super::BenchArgs;
use super::client::Client;
use super::env::Env;
use super::report::{Report, median, ms, percentile};

pub const SECTION: &str = "floor";
pub const SEQ_P50: &str = "sequential p50";
pub const PIPELINED: &str = "pipelined";

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    // The serving side gets its own connection, as an executor would.
    let server = env.connect(&env.namespace).await?;
    let floor = server.bench_floor().await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let serving = tokio::spawn({
        let floor = floor.clone();
        let max = (a.workers * 64).max(a.in_flight * 2);
        async move { floor.serve(max, stop_rx).await }
    });
    let result = measure(env, a, r, &floor.on(&env.client.nats)).await;
    let _ = stop_tx.send(true);
    let answered = serving.await??;
    floor.remove().await?;
    let sent = result?;
    if answered < sent {
        r.fail(
            SECTION,
            format!("{sent} requests sent but only {answered} answered"),
        );
    }
    Ok(())
}

/// Runs the measurements; returns how many requests were sent in all.
async fn measure(
    env: &Env,
    a: &BenchArgs,
    r: &mut Report,
    floor: &revenant_nats::bench_support::Floor,
) -> anyhow::Result<u64> {
    let client = &env.client;
    let timeout = Duration::from_secs(a.timeout_secs);
    let one = |key: String| async move {
        let started = Instant::now();
        let (reply_to, id, rx) = client.slot();
        floor.publish(&key, &id, &reply_to, "[1]".into()).await?;
        let reply = Client::wait(rx, timeout, &format!("floor request on {key}")).await?;
        if !reply.ok {
            bail!("floor request failed: {}", reply.body);
        }
        Ok::<_, anyhow::Error>((reply.u64()?, started.elapsed()))
    };

    eprintln!("floor: {} sequential requests", a.floor_calls);
    for _ in 0..50 {
        one("warm".into()).await?;
    }
    let mut samples = Vec::with_capacity(a.floor_calls);
    for i in 0..a.floor_calls {
        let (count, took) = one("seq".into()).await?;
        if count != i as u64 + 1 {
            r.fail(
                SECTION,
                format!("sequential request {} answered count {count}", i + 1),
            );
        }
        samples.push(took);
    }
    r.row(SECTION, SEQ_P50, ms(median(&samples)), "ms");
    r.row(
        SECTION,
        "sequential p99",
        ms(percentile(&samples, 99.0)),
        "ms",
    );

    let n = a.floor_pipelined.unwrap_or(a.invocations);
    eprintln!(
        "floor: {n} pipelined requests over {} keys, {} in flight",
        a.workers, a.in_flight
    );
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| one(format!("k{}", i % a.workers.max(1))))
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(n);
    let mut lost = 0;
    for res in results {
        match res {
            Ok((_, took)) => latencies.push(took),
            Err(e) => {
                if lost == 0 {
                    eprintln!("floor: {e:#}");
                }
                lost += 1;
            }
        }
    }
    if lost > 0 {
        r.fail(
            SECTION,
            format!("{lost} of {n} pipelined requests got no answer"),
        );
    }
    r.row(
        SECTION,
        PIPELINED,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        "req/s",
    );
    r.row(
        SECTION,
        "pipelined latency p50",
        ms(median(&latencies)),
        "ms",
    );
    Ok(50 + a.floor_calls as u64 + n as u64)
}
