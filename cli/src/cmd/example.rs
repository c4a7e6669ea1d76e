//! `revenant example clickstream-load | clickstream-check`: drives the clickstream
//! pipeline (`examples/clickstream`): publishes a realistic click stream into
//! `CLICKS`, and compares the daily totals stage 2 computed with an offline
//! computation over the same clicks ([`offline`], pure and unit-tested).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Subcommand;
use revenant_examples::clickstream::{Totals, generate, offline, parse_click};
use revenant_nats::Nats;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::WorkerId;
use revenant_types::oplog::InvocationOutcome;

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum ExampleCmd {
    /// Publish a click stream into CLICKS (`clicks.<user>`, JSON {page, ts}) for the
    /// clickstream pipeline (created by `revenant up`).
    ClickstreamLoad {
        #[arg(long, default_value_t = 1000)]
        users: u32,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Seed of the generator (the same seed gives the same stream).
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Wait for the pipeline to drain, then compare the daily totals of stage 2 with an
    /// offline computation over the clicks in CLICKS, and stage 1's counts with the
    /// clicks; exits non-zero on any difference.
    ClickstreamCheck {
        /// How long to wait for the pipeline to catch up, seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

pub async fn run(nats_args: NatsArgs, cmd: ExampleCmd) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    match cmd {
        ExampleCmd::ClickstreamLoad {
            users,
            events,
            seed,
        } => load(&nats, users, events, seed).await,
        ExampleCmd::ClickstreamCheck { timeout } => {
            check(&nats, Duration::from_secs(timeout)).await
        }
    }
}

async fn load(nats: &Nats, users: u32, events: u64, seed: u64) -> anyhow::Result<()> {
    if users == 0 {
        bail!("--users must be at least 1");
    }
    nats.ensure_stream("CLICKS", &["clicks.>".to_owned()])
        .await?;
    let started = Instant::now();
    let clicks = generate(users, events, seed);
    let js = nats.jetstream();
    let mut acks = Vec::with_capacity(1024);
    let mut progress =
        crate::progress::Progress::new("publishing clicks", Some(clicks.len() as u64));
    for (i, (user, ts)) in clicks.iter().enumerate() {
        let body = serde_json::json!({ "page": format!("/p{}", i % 50), "ts": ts }).to_string();
        acks.push(
            js.publish(format!("clicks.{user}"), Bytes::from(body))
                .await
                .context("publishing a click")?,
        );
        if acks.len() == 1024 {
            for a in acks.drain(..) {
                a.await.context("storing a click")?;
            }
            progress.inc(1024);
        }
    }
    for a in acks {
        a.await.context("storing a click")?;
    }
    let secs = started.elapsed().as_secs_f64();
    progress.finish("published");
    println!(
        "published {} clicks of {users} users into CLICKS in {secs:.1}s ({:.0}/s)",
        clicks.len(),
        clicks.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Every click in CLICKS as `(user, ts)`, in stream order.
async fn read_clicks(nats: &Nats) -> anyhow::Result<Vec<(String, u64)>> {
    let messages = nats
        .read_stream("CLICKS")
        .await
        .context("reading CLICKS (run revenant example clickstream-load first)")?;
    Ok(messages
        .iter()
        .filter_map(|(subject, payload)| parse_click(subject, payload))
        .collect())
}

async fn invoke(nats: &Nats, w: &WorkerId, function: &str) -> anyhow::Result<String> {
    let replies = nats.replies().await?;
    let mut inbox = replies.inbox();
    let req = InvocationRequest {
        function: function.to_owned(),
        body: Bytes::from_static(b"[]"),
        ..Default::default()
    };
    match nats
        .invoke_and_await(w, req, &mut inbox, Duration::from_secs(30))
        .await?
        .outcome
    {
        Some(InvocationOutcome::Ok(json)) => Ok(json),
        Some(InvocationOutcome::Err(e)) => bail!("{w} {function}: {}: {}", e.kind, e.message),
        None => bail!("{w} {function}: no answer within 30 s; is an executor running?"),
    }
}

/// The daily totals stage 2 holds for `days`.
async fn stage_two(nats: &Nats, days: &[String]) -> anyhow::Result<BTreeMap<String, Totals>> {
    let mut got = BTreeMap::new();
    for d in days {
        let w = WorkerId::parse("daily", &format!("day-{d}"))?;
        let json = invoke(nats, &w, "totals").await?;
        got.insert(d.clone(), serde_json::from_str(&json)?);
    }
    Ok(got)
}

async fn check(nats: &Nats, timeout: Duration) -> anyhow::Result<()> {
    let clicks = read_clicks(nats).await?;
    let expected = offline(clicks.iter().map(|(u, ts)| (u.as_str(), *ts)));
    let days: Vec<String> = expected.keys().cloned().collect();
    let users: std::collections::BTreeSet<&str> = clicks.iter().map(|(u, _)| u.as_str()).collect();
    println!(
        "{} clicks of {} users: {} finished sessions over {} days expected",
        clicks.len(),
        users.len(),
        expected.values().map(|t| t.sessions).sum::<u64>(),
        days.len()
    );
    let started = Instant::now();
    let got = loop {
        let got = stage_two(nats, &days).await?;
        if got == expected || started.elapsed() > timeout {
            break got;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut differences = 0;
    for d in &days {
        let (e, g) = (expected[d], got.get(d).copied().unwrap_or_default());
        let mark = if e == g { "ok" } else { "DIFFERS" };
        if e != g {
            differences += 1;
        }
        println!(
            "{d}: sessions {} / {}, duration {} / {} ms, pages {} / {} (stage 2 / offline) {mark}",
            g.sessions, e.sessions, g.duration_ms, e.duration_ms, g.pages, e.pages
        );
    }
    let (mut applied, mut violations) = (0u64, 0u64);
    for u in &users {
        let json = invoke(nats, &WorkerId::parse("sessionize", u)?, "stats").await?;
        let stats: serde_json::Value = serde_json::from_str(&json)?;
        applied += stats["applied"].as_u64().unwrap_or(0);
        violations += stats["violations"].as_u64().unwrap_or(0);
    }
    println!(
        "stage 1 applied {applied} of {} clicks, {violations} out of order or twice",
        clicks.len()
    );
    if differences > 0 || violations > 0 || applied != clicks.len() as u64 {
        bail!("the pipeline's results differ from the offline computation");
    }
    println!("every click applied once, in order; daily totals equal the offline computation");
    Ok(())
}
