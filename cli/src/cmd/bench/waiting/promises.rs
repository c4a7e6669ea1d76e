//! Promise completion → answer: approval workers suspended on a promise each,
//! completed one at a time through the promise store; and the plain invocation
//! round trip (counter `get`) on the same executor they are compared with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use revenant_types::promise::PromiseState;

use super::super::BenchArgs;
use super::super::client::Client;
use super::super::env::counter;
use super::super::report::{Report, median, ms, percentile};
use super::{APPROVAL, S, START, wait_suspended, worker};

/// Sequential counter `get`s of the round-trip baseline (after as many to warm up).
const BASELINE_CALLS: usize = 500;

/// The baseline: sequential counter `get`s on one warm worker of the same executor.
pub(super) async fn round_trip(
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

pub(super) async fn resume(
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
