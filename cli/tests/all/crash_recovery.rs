//! Crash recovery (issue 3): ONE `revenant executor` child process is killed with
//! SIGKILL in the middle of a stream of 1,000 keyed `add(1)` invocations to one
//! worker (four concurrent callers, each retrying with its same key until
//! answered) and a new executor process is started. Proves: every caller gets an
//! answer; the totals the callers saw are exactly 1..=1000 (no add lost or
//! doubled, duplicates answered with the original result); the final `get` is
//! 1,000; the oplog has exactly 1,000 invocation-completed entries, distinct
//! keys, contiguous indexes, no invocation started twice. Prints the recovery
//! time (kill → next answer).

use crate::common;

use std::time::{Duration, Instant};

use common::{Executor, Load, assert_applied_once, check_answers, owner_of};
use revenant_tests::revenant::{connect, deploy};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;

const N: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_and_restart_answers_every_key_exactly_once() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = WorkerId::parse_path("counter/w1").expect("worker");

    let t0 = Instant::now();
    let mut first = Executor::spawn(&server.url(), &[], "crash-1", dir.path(), &[]);
    wait_until(
        "crash-1 to hold the worker's shard",
        Duration::from_secs(30),
        || async { (owner_of(&nats, &worker).await.as_deref() == Some("crash-1")).then_some(()) },
    )
    .await;
    eprintln!("[test] executor ready in {:?}", t0.elapsed());

    let mut load = Load::start(&nats, "counter", &["w1".to_owned()], 4, N);
    load.wait_answered(N / 3, Duration::from_secs(60)).await;
    let before = load.answered();
    let killed_at = Instant::now();
    first.kill();
    eprintln!(
        "[test] SIGKILLed crash-1 after {before} answers ({:?} into the stream)",
        killed_at - load.started
    );

    let _second = Executor::spawn(&server.url(), &[], "crash-2", dir.path(), &[]);
    let (answered, unanswered) = tokio::time::timeout(Duration::from_secs(90), load.finish())
        .await
        .expect("the stream did not finish within 90 s");
    let total = load.started.elapsed();

    let recovery = common::takeover_time(&answered, killed_at);
    let retried = answered.iter().filter(|a| a.attempts > 1).count();
    eprintln!(
        "[test] {} answered in {total:?}; recovery (kill → next answer) {:?}; {retried} caller(s) re-published their key",
        answered.len(),
        recovery
    );

    let keys = check_answers(&answered, &unanswered);
    assert_eq!(keys["w1"].len(), N, "distinct keys answered");
    assert_applied_once(&nats, &worker, &keys["w1"]).await;
}
