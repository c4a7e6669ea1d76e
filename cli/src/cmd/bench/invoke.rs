//! Sections 2–5, invocations of the counter through the in-process executor:
//! sequential latency on one worker, throughput over many workers with many
//! invocations in flight (every counter verified afterwards), the cost of a
//! journaled host call (clock reads), and the first invocation of a new worker
//! against a warm one. Each compares itself with the floor measured in the
//! same run when there is one.

use std::time::{Duration, Instant};

use futures::StreamExt;
use revenant_types::codec::{self, OplogBatch};
use revenant_types::oplog::{Durability, HostValue, OplogEntry};

use super::BenchArgs;
use super::env::{Env, counter};
use super::floor;
use super::report::{Report, median, ms, percentile, ratio};

pub const LATENCY: &str = "latency";
pub const THROUGHPUT: &str = "throughput";

pub async fn latency(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = LATENCY;
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs));
    let w = counter("lat");
    eprintln!(
        "latency: {} sequential invocations of add on {w}",
        a.latency_calls
    );
    let mut total = 0;
    for _ in 0..50 {
        total = client.invoke_u64(&w, "add", "[1]", timeout).await?.0;
    }
    let mut samples = Vec::with_capacity(a.latency_calls);
    for _ in 0..a.latency_calls {
        let (v, took) = client.invoke_u64(&w, "add", "[1]", timeout).await?;
        if v != total + 1 {
            r.fail(S, format!("add(1) after {total} returned {v}"));
        }
        total = v;
        samples.push(took);
    }
    let (p50, p99) = (ms(median(&samples)), ms(percentile(&samples, 99.0)));
    let (x, text) = ratio(p50, r.value(floor::SECTION, floor::SEQ_P50));
    let row = r.row(S, "p50", p50, "ms");
    row.compare(text);
    if let Some(x) = x {
        row.target("≤ 1.3× floor", x <= 1.3);
    }
    let floor_p99 = r.value(floor::SECTION, "sequential p99");
    let (_, text) = ratio(p99, floor_p99);
    r.row(S, "p99", p99, "ms")
        .compare(text)
        .target("≤ 3 ms", p99 <= 3.0);
    Ok(())
}

pub async fn throughput(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = THROUGHPUT;
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs));
    let n_workers = a.workers.max(1);
    let workers: Vec<_> = (0..n_workers)
        .map(|i| counter(&format!("tp-{i}")))
        .collect();

    eprintln!("throughput: creating {n_workers} workers");
    let started = Instant::now();
    let created: Vec<_> = futures::stream::iter(&workers)
        .map(|w| async move { (w, client.invoke_u64(w, "get", "[]", timeout).await) })
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    let create_time = started.elapsed();
    // The start value of each worker (0 unless an earlier run in this namespace left state).
    let mut base = std::collections::HashMap::new();
    for (w, res) in created {
        match res {
            Ok((v, _)) => {
                base.insert(w.clone(), v);
            }
            Err(e) => anyhow::bail!("creating worker {w}: {e:#}"),
        }
    }
    r.row(
        S,
        "worker creation",
        n_workers as f64 / create_time.as_secs_f64(),
        "workers/s",
    );

    let n = a.invocations;
    eprintln!(
        "throughput: {n} invocations over {n_workers} workers, {} in flight",
        a.in_flight
    );
    let value = |i: usize| (i % 7 + 1) as u64;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let w = &workers[i % n_workers];
            let args = format!("[{}]", value(i));
            async move { client.invoke_u64(w, "add", &args, timeout).await }
        })
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(n);
    let mut lost = 0usize;
    for res in results {
        match res {
            Ok((_, took)) => latencies.push(took),
            Err(e) => {
                if lost == 0 {
                    eprintln!("throughput: {e:#}");
                }
                lost += 1;
            }
        }
    }
    if lost > 0 {
        r.fail(
            S,
            format!("{lost} of {n} invocations failed or got no answer"),
        );
    }
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let (x, text) = ratio(rate, r.value(floor::SECTION, floor::PIPELINED));
    let row = r.row(S, "invocations", rate, "inv/s");
    row.compare(text);
    if let Some(x) = x {
        row.target("≥ 0.5× floor", x >= 0.5);
    } else {
        row.target("≥ 10000/s", rate >= 10_000.0);
    }
    r.row(S, "latency p50 under load", ms(median(&latencies)), "ms");
    r.row(
        S,
        "latency p99 under load",
        ms(percentile(&latencies, 99.0)),
        "ms",
    );

    eprintln!("throughput: verifying {n_workers} counters");
    let mut expected = base;
    for i in 0..n {
        *expected.get_mut(&workers[i % n_workers]).expect("worker") += value(i);
    }
    let finals: Vec<_> = futures::stream::iter(&workers)
        .map(|w| async move { (w, client.invoke_u64(w, "get", "[]", timeout).await) })
        .buffer_unordered(a.in_flight.max(1))
        .collect()
        .await;
    let mut wrong = 0;
    for (w, res) in finals {
        match res {
            Ok((v, _)) if v == expected[w] => {}
            Ok((v, _)) => {
                wrong += 1;
                if wrong <= 5 {
                    r.fail(S, format!("{w} ends at {v}, expected {}", expected[w]));
                }
            }
            Err(e) => {
                wrong += 1;
                r.fail(S, format!("reading {w}: {e:#}"));
            }
        }
    }
    if wrong > 0 {
        r.fail(
            S,
            format!("{wrong} of {n_workers} counters are wrong: work was lost or doubled"),
        );
    } else {
        r.note(
            S,
            format!(
                "verified: all {n_workers} counters hold exactly the sum of their {n} invocations"
            ),
        );
    }
    Ok(())
}

pub async fn host_calls(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = "host-calls";
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs));
    let w = counter("hc");
    let n = a.host_calls;
    eprintln!(
        "host calls: read-clock(0) vs read-clock({n}), {} times each",
        a.host_reps
    );
    client.invoke_u64(&w, "add", "[0]", timeout).await?;
    let (mut zero, mut many) = (Vec::new(), Vec::new());
    for _ in 0..a.host_reps.max(1) {
        zero.push(client.invoke_u64(&w, "read-clock", "[0]", timeout).await?.1);
        many.push(
            client
                .invoke_u64(&w, "read-clock", &format!("[{n}]"), timeout)
                .await?
                .1,
        );
    }
    let (z, m) = (median(&zero), median(&many));
    r.row(S, "read-clock(0)", ms(z), "ms");
    r.row(S, &format!("read-clock({n})"), ms(m), "ms");
    let per_call = m.saturating_sub(z).as_secs_f64() * 1e6 / f64::from(n.max(1));
    r.row(S, "journaled call", per_call, "µs/call")
        .target("≤ 2 µs", per_call <= 2.0);

    // Breakdown: what the commit of those entries costs outside the guest.
    let entries: Vec<OplogEntry> = (0..n)
        .map(|i| OplogEntry::HostCall {
            function: "wasi:clocks/monotonic-clock.now".into(),
            request: HostValue::Unit,
            response: HostValue::U64(1_000_000_000 + u64::from(i)),
            durability: Durability::ReadRemote,
        })
        .collect();
    let batch = OplogBatch { first: 1, entries };
    let t = Instant::now();
    let bytes = codec::encode(&batch)?;
    let encode = t.elapsed();
    let scratch = counter("hc-scratch");
    let oplog = client.nats.oplog();
    let last = oplog.last_seq(&scratch).await?;
    let t = Instant::now();
    oplog.append(&scratch, last, &batch).await?;
    let append = t.elapsed();
    oplog.delete(&scratch).await?;
    r.row(
        S,
        &format!("  of which: encode {n} entries"),
        encode.as_secs_f64() * 1e6 / f64::from(n.max(1)),
        "µs/call",
    )
    .compare(format!("{} KiB", bytes.len() / 1024));
    r.row(
        S,
        "  of which: fenced append",
        append.as_secs_f64() * 1e6 / f64::from(n.max(1)),
        "µs/call",
    );
    r.note(
        S,
        "there is no ephemeral (unjournaled) mode for clocks, so the figure is read-clock(N) − read-clock(0) over N, all journaled",
    );
    Ok(())
}

pub async fn cold_start(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = "cold-start";
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs));
    eprintln!("cold start: {} new workers", a.cold_workers);
    let (mut cold, mut warm, mut steady) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..a.cold_workers.max(1) {
        let w = counter(&format!("cold-{i}-{}", uuid::Uuid::new_v4().simple()));
        let (v1, c) = client.invoke_u64(&w, "add", "[1]", timeout).await?;
        let (v2, h) = client.invoke_u64(&w, "add", "[1]", timeout).await?;
        let mut v3 = v2;
        for _ in 0..5 {
            let (v, s) = client.invoke_u64(&w, "add", "[1]", timeout).await?;
            v3 = v;
            steady.push(s);
        }
        if (v1, v2, v3) != (1, 2, 7) {
            r.fail(
                S,
                format!("{w}: seven add(1) calls returned {v1}, {v2}, …, {v3}"),
            );
        }
        cold.push(c);
        warm.push(h);
    }
    let (c, h) = (ms(median(&cold)), ms(median(&warm)));
    r.row(S, "first invocation p50", c, "ms")
        .compare(format!("{:.2}× second", c / h))
        .target("≤ 2× warm", c <= 2.0 * h);
    r.row(S, "second invocation p50", h, "ms");
    r.row(S, "third to seventh p50", ms(median(&steady)), "ms");
    r.row(S, "first invocation p99", ms(percentile(&cold, 99.0)), "ms");
    Ok(())
}
