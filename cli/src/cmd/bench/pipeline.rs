//! Section `pipeline`: subscriptions. A one-stage subscription over `--pipeline-keys`
//! keys (`daily` `add-session`, the payload its arguments) drains `--pipeline-messages`
//! messages published beforehand, beside the raw JetStream floor of the same work in
//! the same run (a pull consumer with the same window that publishes each message to
//! another stream and then acks it); then the end-to-end latency of single messages
//! (publish → applied, the result of its key); then how long the subscription takes to
//! go on after the executor running its forwarder is SIGKILLed (two child executors).

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use revenant_nats::Nats;
use revenant_nats::async_nats::jetstream::consumer;
use revenant_nats::subscriptions::NewSubscription;
use revenant_types::WorkerId;
use revenant_types::subscription::message_key;

use super::BenchArgs;
use super::env::{ChildExecutor, Env, deploy};
use super::report::{Report, median, ms, percentile};

pub const SECTION: &str = "pipeline";
const WINDOW: u32 = 512;

fn session(i: usize) -> Bytes {
    Bytes::from(format!(
        "{{\"user\":\"u{i}\",\"start\":{i},\"end\":{},\"pages\":1}}",
        i + 1000
    ))
}

/// Publishes `n` sessions to `<prefix>.k<i % keys>`, pipelined.
async fn publish(nats: &Nats, prefix: &str, n: usize, keys: usize) -> anyhow::Result<()> {
    let mut acks = Vec::new();
    for i in 0..n {
        acks.push(
            nats.jetstream()
                .publish(format!("{prefix}.k{}", i % keys.max(1)), session(i))
                .await?,
        );
        if acks.len() == 1024 {
            for a in acks.drain(..) {
                a.await?;
            }
        }
    }
    for a in acks {
        a.await?;
    }
    Ok(())
}

fn subscription(name: &str, stream: &str) -> NewSubscription {
    NewSubscription {
        name: name.into(),
        stream: stream.into(),
        component: "daily".into(),
        worker: "{token:2}".into(),
        function: Some("add-session".into()),
        window: Some(WINDOW),
        on_failure: Some("dead-letter".into()),
        start: Some("all".into()),
        ..Default::default()
    }
}

/// Waits until subscription `name` applied everything of its stream.
async fn drained(nats: &Nats, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let spec = nats.subscription(name).await?.context("no subscription")?;
    let started = Instant::now();
    loop {
        let lag = nats.subscription_lag(&spec).await.unwrap_or_default();
        if lag.pending == 0 && lag.ack_pending == 0 && lag.delivered > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "subscription {name} did not drain within {timeout:?} ({lag:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The floor: a pull consumer with the same window publishing each message to another
/// stream, acking it once stored.
async fn floor(nats: &Nats, stream: &str, n: usize) -> anyhow::Result<Duration> {
    let s = nats.jetstream().get_stream(stream).await?;
    let c = s
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench-floor".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: i64::from(WINDOW),
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut messages = c.messages().await?.take(n);
    let mut in_flight = FuturesUnordered::new();
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
        let ack = nats
            .jetstream()
            .publish(format!("bpipe-out.{}", m.subject), m.payload.clone())
            .await?;
        in_flight.push(async move {
            ack.await.map_err(|e| anyhow::anyhow!("{e}"))?;
            m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))
        });
        while in_flight.len() >= WINDOW as usize {
            in_flight.next().await.transpose()?;
        }
    }
    while in_flight.next().await.transpose()?.is_some() {}
    Ok(started.elapsed())
}

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = SECTION;
    let nats = &env.client.nats;
    let timeout = Duration::from_secs(a.timeout_secs.max(300));
    deploy(nats, "daily", revenant_examples::DAILY).await?;
    let (n, keys) = (a.pipeline_messages, a.pipeline_keys);
    nats.ensure_stream("BPIPE", &["bpipe.>".into()]).await?;
    nats.ensure_stream("BPIPE_OUT", &["bpipe-out.>".into()])
        .await?;
    eprintln!("pipeline: {n} messages over {keys} keys, a one-stage subscription beside the floor");
    publish(nats, "bpipe", n, keys).await?;
    let floor_took = floor(nats, "BPIPE", n).await?;
    let floor_rate = n as f64 / floor_took.as_secs_f64();
    r.row(S, "floor: consume + publish + ack", floor_rate, "msg/s");

    let started = Instant::now();
    nats.add_subscription(&subscription("bench", "BPIPE"))
        .await?;
    drained(nats, "bench", timeout).await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let x = rate / floor_rate.max(f64::MIN_POSITIVE);
    r.row(S, &format!("subscription over {keys} keys"), rate, "msg/s")
        .compare(format!("{x:.2}× floor"));

    // Latency of single messages on a warm subscription.
    let mut samples = Vec::new();
    for i in 0..a.pipeline_latency_samples {
        let subject = format!("bpipe.k{}", i % keys.max(1));
        let t = Instant::now();
        let seq = nats
            .jetstream()
            .publish(subject, session(i))
            .await?
            .await?
            .sequence;
        let w = WorkerId::parse("daily", &format!("k{}", i % keys.max(1)))?;
        nats.await_result(&w, &message_key("bench", seq, 0), timeout)
            .await?
            .context("a message was not applied")?;
        samples.push(t.elapsed());
    }
    r.row(
        S,
        "end to end p50 (publish → applied)",
        ms(median(&samples)),
        "ms",
    );
    r.row(S, "end to end p99", ms(percentile(&samples, 99.0)), "ms");

    // Failover of the forwarder: two child executors on their own namespace.
    let ns = format!("{}f", env.namespace);
    let other = env.connect(&ns).await?;
    deploy(&other, "daily", revenant_examples::DAILY).await?;
    other.ensure_stream("BPIPE_F", &["bpipef.>".into()]).await?;
    other
        .add_subscription(&subscription("failover", "BPIPE_F"))
        .await?;
    let mut children = Vec::new();
    for i in 0..2 {
        let mut c = ChildExecutor::spawn(env, &ns, &format!("bench-pipe-{i}"), &[])?;
        c.wait_started(Duration::from_secs(60)).await?;
        children.push(c);
    }
    publish(&other, "bpipef", 200, keys).await?;
    drained(&other, "failover", timeout).await?;
    let owner = other
        .subscription_status("failover")
        .await?
        .map(|s| s.owner)
        .context("no forwarder status")?;
    let victim = children
        .iter()
        .position(|c| c.id == owner)
        .context("the forwarder runs on neither child")?;
    let killed_at = Instant::now();
    children[victim].kill().await?;
    let seq = other
        .jetstream()
        .publish("bpipef.k0", session(0))
        .await?
        .await?
        .sequence;
    let w = WorkerId::parse("daily", "k0")?;
    other
        .await_result(&w, &message_key("failover", seq, 0), timeout)
        .await?
        .context("no message applied after the forwarder's executor was killed")?;
    r.row(
        S,
        "kill -9 of the forwarder's executor → next message applied",
        ms(killed_at.elapsed()),
        "ms",
    );
    for mut c in children {
        let _ = c.kill().await;
    }
    Ok(())
}
