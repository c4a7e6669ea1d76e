//! Scheduled invocations across kill -9 (issue 14): a cron schedule made with
//! the `revenant` binary (`invoke --cron "@every 1s"`) fires into a counter
//! worker while its executor child process is SIGKILLed twice, at different
//! points of a firing's life; the next executor goes on. Every firing is applied
//! once (its own key, `<holder>@<next fire time>`): the oplog audit finds no key
//! started twice and the counter equals the distinct firings applied. `revenant
//! schedule list` shows it with its last firing; `schedule cancel` stops it.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Executor, assert_applied_once, audit_oplog, free_local_addr, metric};
use revenant_tests::revenant::{connect, deploy};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use revenant_types::oplog::OplogEntry;

/// The keys of the worker's started firings of schedule `id`.
async fn firings(nats: &revenant_nats::Nats, w: &WorkerId, id: &str) -> Vec<String> {
    let read = nats.oplog().read(w, 1).await.expect("oplog");
    read.entries
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::InvocationStarted {
                idempotency_key,
                schedule: Some(s),
                ..
            } if s == id => Some(idempotency_key),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_firing_is_applied_once_across_kill_9_of_its_executor() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = server.url();
    let w = WorkerId::parse_path("counter/ticks").unwrap();
    let mut metrics_addr = free_local_addr();
    let mut exec = Executor::spawn(
        &url,
        &[],
        "sched-1",
        dir.path(),
        &["--metrics-listen", &metrics_addr],
    );
    let made = common::revenant_ok(
        &url,
        &[
            "invoke",
            "counter/ticks",
            "add",
            "1",
            "--cron",
            "@every 1s",
            "--name",
            "tick",
        ],
    );
    assert!(made.contains("counter/ticks/c-tick"), "{made}");

    for (round, next) in [(3, "sched-2"), (6, "sched-3")] {
        wait_until(
            &format!("{round} firings"),
            Duration::from_secs(60),
            || async { (firings(&nats, &w, "c-tick").await.len() >= round).then_some(()) },
        )
        .await;
        // A second round kills half a second later in the period than the first.
        if round == 6 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        exec.kill();
        metrics_addr = free_local_addr();
        exec = Executor::spawn(
            &url,
            &[],
            next,
            dir.path(),
            &["--metrics-listen", &metrics_addr],
        );
    }
    wait_until("9 firings", Duration::from_secs(60), || async {
        (firings(&nats, &w, "c-tick").await.len() >= 9).then_some(())
    })
    .await;
    let listed = common::revenant_ok(&url, &["schedule", "list", "counter/ticks"]);
    assert!(
        listed.contains("counter/ticks/c-tick")
            && listed.contains("@every 1s")
            && listed.contains("last ok"),
        "{listed}"
    );
    assert!(
        common::revenant_ok(&url, &["schedule", "cancel", "counter/ticks/c-tick"])
            .contains("cancelled")
    );
    // What is in flight when it is cancelled still lands; then the oplog is audited.
    let started: HashSet<String> = firings(&nats, &w, "c-tick").await.into_iter().collect();
    audit_oplog(&nats, &w).await;
    let applied: HashSet<String> = wait_until(
        "the last firing completed",
        Duration::from_secs(30),
        || async {
            let done: HashSet<String> = audit_oplog(&nats, &w).await.into_iter().collect();
            let now: HashSet<String> = firings(&nats, &w, "c-tick").await.into_iter().collect();
            (done == now && done.len() >= started.len()).then_some(done)
        },
    )
    .await;
    assert!(
        applied
            .iter()
            .all(|k| k.starts_with("rvn.schedule.counter.ticks.c-tick@")),
        "{applied:?}"
    );
    assert_applied_once(&nats, &w, &applied).await;
    // The last executor counted the firings it applied, and their lateness.
    let applied_here = metric(
        &metrics_addr,
        "revenant_executor_schedule_firings_total{outcome=\"applied\"}",
    )
    .await;
    assert!(applied_here.is_some_and(|n| n >= 1.0), "{applied_here:?}");
    let observed = metric(
        &metrics_addr,
        "revenant_executor_schedule_firing_lateness_seconds_count",
    )
    .await;
    assert!(observed.is_some_and(|n| n >= 1.0), "{observed:?}");
    drop(exec);
}
