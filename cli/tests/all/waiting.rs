//! Durable sleep across kill -9 (issue 12): two workers sleep 20 s on an
//! executor child process that suspends waits after 3 s; one is suspended (its
//! timer a JetStream schedule) and the other still waits in memory when the
//! executor is SIGKILLed. A second executor process takes over: each sleep ends
//! once (one completion, at most one `TimerFired`) and within 1 s of its
//! deadline — the in-memory one too, since a timer's deadline is committed
//! before its wait begins.

use crate::common;

use std::time::Duration;

use common::{Executor, owner_of};
use revenant_tests::revenant::{connect, deploy, invoke};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::{WorkerId, now_ms};
use serde_json::json;

const SLEEP_MS: u64 = 20_000;

async fn entries(nats: &revenant_nats::Nats, w: &str, kind: &str) -> usize {
    let read = nats
        .oplog()
        .read(&WorkerId::parse_path(w).unwrap(), 1)
        .await
        .expect("oplog");
    read.entries
        .iter()
        .filter(|(_, e)| e.kind() == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sleep_ends_once_and_on_time_after_its_executor_is_killed() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "waits", revenant_guests::TEST_DURABILITY).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let suspend = ["--suspend-after-ms", "3000"];
    let mut first = Executor::spawn(&server.url(), &[], "sleep-1", dir.path(), &suspend);
    let (suspended, in_memory) = ("waits/suspended", "waits/in-memory");
    for w in [suspended, in_memory] {
        let id = WorkerId::parse_path(w).unwrap();
        wait_until(
            "sleep-1 to hold the shards",
            Duration::from_secs(30),
            || async { (owner_of(&nats, &id).await.as_deref() == Some("sleep-1")).then_some(()) },
        )
        .await;
    }
    let sleep = |w: &'static str| {
        let nats = nats.clone();
        let at = now_ms();
        let answer =
            tokio::spawn(
                async move { invoke(&nats, w, "sleep", json!([SLEEP_MS]), Some(w)).await },
            );
        (at, answer)
    };
    let (a_at, a) = sleep(suspended);
    wait_until(
        "the first sleeper suspended",
        Duration::from_secs(30),
        || async { (entries(&nats, suspended, "suspended").await == 1).then_some(()) },
    )
    .await;
    let (b_at, b) = sleep(in_memory);
    // A timer is journaled (committed) before its wait begins: its deadline is durable.
    wait_until(
        "the second sleeper waiting",
        Duration::from_secs(30),
        || async { (entries(&nats, in_memory, "host-call").await == 1).then_some(()) },
    )
    .await;
    first.kill();
    assert_eq!(
        entries(&nats, in_memory, "suspended").await,
        0,
        "killed before it suspended"
    );
    let _second = Executor::spawn(&server.url(), &[], "sleep-2", dir.path(), &suspend);

    for (w, at, answer) in [(suspended, a_at, a), (in_memory, b_at, b)] {
        let woke = answer.await.unwrap().expect("the sleep returns");
        let woke = woke.as_u64().expect("the wake time");
        let late = woke as i64 - (at + SLEEP_MS) as i64;
        eprintln!("[test] {w}: woke {late} ms after its deadline");
        assert!(
            (0..1_000).contains(&late),
            "{w} woke {late} ms after its deadline"
        );
        assert_eq!(entries(&nats, w, "invocation-completed").await, 1, "{w}");
        let fired = entries(&nats, w, "timer-fired").await;
        assert!(fired <= 1, "{w}: its timer fired {fired} times");
    }
    // The one that was suspended when the executor died was woken by its schedule.
    assert_eq!(entries(&nats, suspended, "timer-fired").await, 1);
}
