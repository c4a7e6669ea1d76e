//! Subscriptions across kill -9 (issue 15): the clickstream pipeline (stage 1 per
//! user, stage 2 per day, both subscriptions) runs on three `revenant executor`
//! child processes while clicks are published; every few seconds the executor
//! running the subscriptions' forwarders — or another one — is SIGKILLed and
//! replaced, while stage 1 works through the stream (at most 15 rounds), and once the nats-server itself is SIGKILLed and restarted (it runs with
//! `sync_interval: always`: with JetStream's default it acknowledges writes before they
//! are on disk, and a SIGKILL may lose the last ones). Proves: every
//! click is applied exactly once and in stream order per user (stage 1 counts what
//! it applied and any message not above the last sequence it saw), every session is
//! applied exactly once (stage 2's daily totals equal the offline computation over
//! the clicks), and the forwarders moved between executors.
//!
//! The size is `RVN_PIPELINE_CLICKS` clicks over `RVN_PIPELINE_USERS` users (default
//! 20,000 over 1,000: about a minute in a debug build here; the 100,000 was
//! run by hand, see the closing note).

use crate::common;

use std::time::{Duration, Instant};

use common::Executor;
use revenant_examples::clickstream::generate;
use revenant_tests::NatsServer;
use revenant_tests::pipeline::{PIPELINE, assert_pipeline_result, pipeline, publish_clicks};
use revenant_tests::revenant::{connect, deploy};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The executor running subscription `name`'s forwarder (from its status).
async fn forwarder_of(nats: &revenant_nats::Nats, name: &str) -> Option<String> {
    let status = nats.subscription_status(name).await.ok()??;
    (revenant_types::now_ms().saturating_sub(status.updated_at) < 5_000).then_some(status.owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pipeline_applies_every_click_once_in_order_across_kill_9_and_a_nats_restart() {
    let _alone = common::alone().await;
    let clicks_n = env_or("RVN_PIPELINE_CLICKS", 20_000);
    let users = env_or("RVN_PIPELINE_USERS", 1_000);
    // The server is SIGKILLed once: what it acknowledged must be on disk (the oplog's
    // production tier), or a restart may lose acknowledged journal entries.
    let mut server = NatsServer::start_fsync();
    let nats = connect(&server.options()).await;
    for (name, path) in PIPELINE {
        deploy(&nats, name, path).await;
    }
    pipeline(&nats, 256).await;
    // RVN_TEST_KEEP_LOGS keeps the executors' logs (`sub-<n>.err`) after the test.
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("RVN_TEST_KEEP_LOGS").is_some())
        .tempdir()
        .expect("temp dir");
    eprintln!("[test] executors' logs in {}", dir.path().display());
    let url = server.url();
    let mut next_id = 0;
    let spawn = |next_id: &mut usize| {
        *next_id += 1;
        Executor::spawn(&url, &[], &format!("sub-{next_id}"), dir.path(), &[])
    };
    let mut executors: Vec<Executor> = (0..3).map(|_| spawn(&mut next_id)).collect();

    let clicks = generate(users as u32, clicks_n as u64, 5);
    let started = Instant::now();
    let publisher = {
        let (nats, clicks) = (nats.clone(), clicks.clone());
        tokio::spawn(async move { publish_clicks(&nats, &clicks, 0).await })
    };

    // Kill -9 every few seconds (the forwarders' executor first) while clicks are
    // published and stage 1 works through them, and restart the nats-server once.
    let spec = nats
        .subscription("clicks")
        .await
        .unwrap()
        .expect("the clicks subscription");
    let mut owners = std::collections::BTreeSet::new();
    let mut round = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let drained = publisher.is_finished()
            && nats
                .subscription_lag(&spec)
                .await
                .is_ok_and(|lag| lag.pending == 0 && lag.ack_pending == 0);
        if (drained && round >= 6) || round >= 15 {
            break;
        }
        round += 1;
        if round == 3 {
            eprintln!(
                "[test] {:?}: restarting nats-server (at {} ms since the epoch)",
                started.elapsed(),
                revenant_types::now_ms()
            );
            server.restart();
            continue;
        }
        let owner = forwarder_of(&nats, "clicks").await;
        if let Some(o) = &owner {
            owners.insert(o.clone());
        }
        let victim = owner
            .and_then(|o| executors.iter().position(|e| e.id == o))
            .unwrap_or(round % executors.len());
        let mut dead = executors.remove(victim);
        eprintln!(
            "[test] {:?}: SIGKILL {} (round {round}, at {} ms since the epoch)",
            started.elapsed(),
            dead.id,
            revenant_types::now_ms()
        );
        dead.kill();
        executors.push(spawn(&mut next_id));
    }
    publisher.await.expect("publisher");
    eprintln!(
        "[test] {:?}: all {} clicks published",
        started.elapsed(),
        clicks.len()
    );
    assert_pipeline_result(&nats, &clicks).await;
    eprintln!(
        "[test] {:?}: every click applied once, in order; totals equal offline",
        started.elapsed()
    );
    if let Some(o) = forwarder_of(&nats, "clicks").await {
        owners.insert(o);
    }
    assert!(
        owners.len() >= 2,
        "the clicks forwarder moved between executors: {owners:?}"
    );
}
