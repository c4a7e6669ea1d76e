//! Section 7, HTTP: the latency and throughput runs again, through the router
//! (started in this process on a free loopback port, its own NATS connection)
//! with `POST /v1/components/counter/workers/<w>/invoke/add`. Compared with the
//! floor and with the same runs over NATS; every counter is verified.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;

use super::BenchArgs;
use super::env::{COUNTER, Env, counter};
use super::report::{Report, median, ms, percentile, ratio};
use super::{floor, invoke};

const S: &str = "http";

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let nats = env.connect(&env.namespace).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let opts = revenant_router::RouterOptions {
        listen: format!("127.0.0.1:{port}"),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let router = tokio::spawn(revenant_router::serve(opts, nats, async {
        let _ = stop_rx.await;
    }));
    let result = measure(a, r, &format!("http://127.0.0.1:{port}")).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), router).await;
    result
}

async fn measure(a: &BenchArgs, r: &mut Report, base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(a.timeout_secs))
        .pool_max_idle_per_host(a.http_in_flight)
        .build()?;
    let call = |worker: String, function: &'static str, body: String| {
        let http = http.clone();
        let url = format!("{base}/v1/components/{COUNTER}/workers/{worker}/invoke/{function}");
        async move {
            let started = Instant::now();
            let resp = http
                .post(&url)
                .body(body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let text = resp.text().await?;
            if status != reqwest::StatusCode::OK {
                bail!("POST {url}: {status} {text}");
            }
            let v: u64 = text
                .trim()
                .parse()
                .with_context(|| format!("POST {url}: expected a u64, got {text:?}"))?;
            Ok::<_, anyhow::Error>((v, started.elapsed()))
        }
    };
    // Wait for the listener.
    let started = Instant::now();
    while call("http-warm".into(), "get", "[]".into()).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the router did not answer on {base} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!("http: {} sequential invocations", a.latency_calls);
    let mut total = 0;
    for _ in 0..50 {
        total = call("http-lat".into(), "add", "[1]".into()).await?.0;
    }
    let mut samples = Vec::with_capacity(a.latency_calls);
    for _ in 0..a.latency_calls {
        let (v, took) = call("http-lat".into(), "add", "[1]".into()).await?;
        if v != total + 1 {
            r.fail(S, format!("add(1) after {total} returned {v}"));
        }
        total = v;
        samples.push(took);
    }
    let p50 = ms(median(&samples));
    let (_, text) = ratio(p50, r.value(floor::SECTION, floor::SEQ_P50));
    let over_nats = r
        .value(invoke::LATENCY, "p50")
        .map(|n| format!(", {:.2}× NATS", p50 / n));
    r.row(S, "latency p50", p50, "ms")
        .compare(format!("{text}{}", over_nats.unwrap_or_default()));
    r.row(S, "latency p99", ms(percentile(&samples, 99.0)), "ms");

    let (n, workers) = (a.http_invocations, a.workers.max(1));
    eprintln!(
        "http: {n} invocations over {workers} workers, {} in flight",
        a.http_in_flight
    );
    let value = |i: usize| (i % 7 + 1) as u64;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            call(
                format!("http-tp-{}", i % workers),
                "add",
                format!("[{}]", value(i)),
            )
        })
        .buffer_unordered(a.http_in_flight.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let ok = results.iter().filter(|res| res.is_ok()).count();
    if let Some(Err(e)) = results.iter().find(|res| res.is_err()) {
        r.fail(
            S,
            format!("{} of {n} invocations failed, e.g. {e:#}", n - ok),
        );
    }
    let rate = ok as f64 / elapsed.as_secs_f64();
    let (_, text) = ratio(rate, r.value(floor::SECTION, floor::PIPELINED));
    let over_nats = r
        .value(invoke::THROUGHPUT, "invocations")
        .map(|t| format!(", {:.2}× NATS", rate / t));
    r.row(S, "throughput", rate, "inv/s")
        .compare(format!("{text}{}", over_nats.unwrap_or_default()));

    let mut wrong = 0;
    for wi in 0..workers {
        let expected: u64 = (wi..n).step_by(workers).map(value).sum();
        let (v, _) = call(format!("http-tp-{wi}"), "get", "[]".into()).await?;
        if v != expected {
            wrong += 1;
            if wrong <= 5 {
                r.fail(
                    S,
                    format!(
                        "{} ends at {v}, expected {expected}",
                        counter(&format!("http-tp-{wi}"))
                    ),
                );
            }
        }
    }
    if wrong > 0 {
        r.fail(
            S,
            format!("{wrong} of {workers} counters are wrong: work was lost or doubled"),
        );
    } else {
        r.note(
            S,
            format!(
                "verified: all {workers} counters hold exactly the sum of their {n} invocations"
            ),
        );
    }
    Ok(())
}
