//! Guest faults against a real executor: a trap is retried per the retry
//! policy and then fails the worker (status and error in `RVN_WORKERS`, a
//! fatal `error` entry in the oplog, the error in the caller's reply, and
//! `worker-failed` for every later invocation, also after another executor
//! recovers it); an endless loop is stopped at the invocation deadline and
//! the worker stays usable; growing past the memory limit is an error that
//! says so, and the worker stays usable or fails clearly.

use crate::common;

use common::{Env, TIMEOUT, kind, message, oplog, record};
use futures::StreamExt;
use revenant_tests::revenant::{call, invoke};
use revenant_tests::wait_until;
use revenant_types::oplog::OplogEntry;
use revenant_types::records::WorkerStatus;
use serde_json::json;

/// `(retry, fatal)` of every `Error` entry of `w`, and their messages.
async fn errors(nats: &revenant_nats::Nats, w: &str) -> (Vec<(u32, bool)>, Vec<String>) {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::Error {
                retry,
                fatal,
                message,
                ..
            } => Some(((retry, fatal), message)),
            _ => None,
        })
        .unzip()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_is_retried_then_fails_the_worker() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor_with(|o| o.retry.max_attempts = 3).await;
    let nats = env.nats.clone();
    let w = "test-faults/t1";
    assert_eq!(
        call(&nats, w, "echo", json!(["before"])).await,
        Ok(json!("before"))
    );

    let mut events = Box::pin(nats.subscribe_events(&common::worker(w)).await.unwrap());
    let err = invoke(&nats, w, "trap", json!(["kaboom"]), Some("trap-1"))
        .await
        .expect_err("a trap");
    assert_eq!(kind(&err), "trap", "{err}");
    assert!(
        message(&err).contains("trapped 3 time(s)") && message(&err).contains("unreachable"),
        "{err}"
    );
    assert!(
        !message(&err).contains("tokio::runtime"),
        "the executor's own backtrace leaked: {err}"
    );
    // The guest's panic message is on its stderr, streamed live.
    loop {
        let ev = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .expect("the panic message on stderr")
            .unwrap();
        let ev: serde_json::Value = serde_json::from_slice(&ev).unwrap();
        if ev["kind"] == "stderr" && ev["data"].as_str().is_some_and(|d| d.contains("kaboom")) {
            break;
        }
    }

    let (entries, messages) = errors(&nats, w).await;
    assert_eq!(
        entries,
        [(1, false), (2, false), (3, true)],
        "two retries, then fatal"
    );
    assert!(
        messages.iter().all(|m| m.contains("unreachable")),
        "{messages:?}"
    );
    let failed = wait_until("the worker record says failed", TIMEOUT, || async {
        record(&nats, w)
            .await
            .filter(|r| r.status == WorkerStatus::Failed)
    })
    .await;
    assert_eq!(
        failed.last_error.as_deref(),
        Some(message(&err)),
        "{failed:?}"
    );

    // The duplicate gets the same error (past JetStream's window: from the oplog); anything else gets worker-failed.
    assert_eq!(
        common::invoke_once(&nats, w, "trap", json!(["kaboom"]), "trap-1")
            .await
            .1,
        Err(err.clone())
    );
    let later = call(&nats, w, "echo", json!(["after"]))
        .await
        .expect_err("failed worker");
    assert_eq!(kind(&later), "worker-failed", "{later}");
    assert!(message(&later).contains("trapped 3 time(s)"), "{later}");
    // Other workers of the component are unaffected.
    assert_eq!(
        call(&nats, "test-faults/t2", "echo", json!(["ok"])).await,
        Ok(json!("ok"))
    );
    exec.stop().await;

    // Still failed when another executor recovers it.
    let exec = env.executor().await;
    let later = call(&nats, w, "echo", json!(["after"]))
        .await
        .expect_err("still failed");
    assert_eq!(kind(&later), "worker-failed", "{later}");
    assert_eq!(record(&nats, w).await.unwrap().status, WorkerStatus::Failed);
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_worker_record_points_at_its_last_oplog_entry() {
    // State built before the trap is rebuilt for every retry (from the oplog), and the
    // failed worker's record carries the index of the fatal error.
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor_with(|o| o.retry.max_attempts = 2).await;
    let nats = env.nats.clone();
    let w = "test-faults/t3";
    assert_eq!(call(&nats, w, "grow", json!([1])).await, Ok(json!(1)));
    assert_eq!(
        kind(&call(&nats, w, "trap", json!(["x"])).await.unwrap_err()),
        "trap"
    );
    let (entries, _) = errors(&nats, w).await;
    assert_eq!(entries, [(1, false), (2, true)]);
    let last = oplog(&nats, w).await.last().map(|(i, _)| *i).unwrap();
    let rec = wait_until("failed record", TIMEOUT, || async {
        record(&nats, w)
            .await
            .filter(|r| r.status == WorkerStatus::Failed)
    })
    .await;
    assert_eq!(rec.oplog_index, last);
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_hits_the_deadline_and_the_worker_carries_on() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor_with(|o| o.invocation_timeout_ms = 500).await;
    let nats = env.nats.clone();
    let w = "test-faults/s1";
    assert_eq!(call(&nats, w, "grow", json!([2])).await, Ok(json!(2)));
    let started = std::time::Instant::now();
    let err = invoke(&nats, w, "spin", json!([]), None)
        .await
        .expect_err("deadline");
    assert_eq!(kind(&err), "deadline-exceeded", "{err}");
    assert!(message(&err).contains("deadline of 500ms"), "{err}");
    assert!(started.elapsed() < TIMEOUT, "stopped near its deadline");
    // Not failed: state from before the loop is there (rebuilt from the oplog).
    assert_eq!(call(&nats, w, "grow", json!([1])).await, Ok(json!(3)));
    assert_eq!(
        call(&nats, w, "echo", json!(["alive"])).await,
        Ok(json!("alive"))
    );
    assert_ne!(record(&nats, w).await.unwrap().status, WorkerStatus::Failed);
    exec.stop().await;

    // Replay skips the timed-out invocation instead of looping again.
    let exec = env.executor_with(|o| o.invocation_timeout_ms = 500).await;
    assert_eq!(call(&nats, w, "grow", json!([0])).await, Ok(json!(3)));
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn growing_past_the_memory_limit_is_an_error() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env
        .executor_with(|o| {
            o.memory_limit_bytes = 32 << 20;
            o.retry.max_attempts = 2;
        })
        .await;
    let nats = env.nats.clone();
    let w = "test-faults/m1";
    assert_eq!(call(&nats, w, "grow", json!([4])).await, Ok(json!(4)));
    let err = call(&nats, w, "grow", json!([64]))
        .await
        .expect_err("over the limit");
    assert_eq!(kind(&err), "trap", "{err}");
    let m = message(&err).to_lowercase();
    assert!(
        m.contains("memory") || m.contains("alloc"),
        "the error should say memory ran out: {err}"
    );
    // A trap that repeats on every retry fails the worker, clearly.
    let later = call(&nats, w, "echo", json!(["x"]))
        .await
        .expect_err("failed");
    assert_eq!(kind(&later), "worker-failed", "{later}");
    // Within the limit, another worker is fine.
    assert_eq!(
        call(&nats, "test-faults/m2", "grow", json!([8])).await,
        Ok(json!(8))
    );
    exec.stop().await;
}

/// A worker that cannot even be instantiated (its initial memory is over the limit:
/// deterministic) is failed with the reason and answered at once, instead of being
/// redelivered until the delivery limit (issue 11, scenario 2).
#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_cannot_be_instantiated_fails_its_worker_with_an_answer() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor_with(|o| o.memory_limit_bytes = 64 << 10).await;
    let nats = env.nats.clone();
    let err = invoke(&nats, "counter/tiny", "add", json!([1]), Some("tiny-1"))
        .await
        .expect_err("worker-failed");
    assert_eq!(common::kind(&err), "worker-failed", "{err}");
    assert!(
        common::message(&err).contains("could not be instantiated"),
        "{err}"
    );
    // Every later invocation gets the same answer, at once.
    let again = invoke(&nats, "counter/tiny", "get", json!([]), None).await;
    assert_eq!(
        common::kind(&again.expect_err("worker-failed")),
        "worker-failed"
    );
}

/// `wasi:cli/exit` is not a trap (issue 11, scenario 8): it is journaled as `Exited`,
/// never retried, and the worker takes no more invocations, also after a recovery.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_exits_is_over_without_retries() {
    let mut env = Env::new(&[("faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "faults/quits";
    assert_eq!(
        invoke(&nats, w, "echo", json!(["hi"]), None).await,
        Ok(json!("hi"))
    );
    let err = invoke(&nats, w, "exit", json!([3]), Some("bye"))
        .await
        .expect_err("worker-exited");
    assert_eq!(kind(&err), "worker-exited", "{err}");
    // WASI 0.2's exit carries success or failure only: any non-zero code is 1.
    assert!(message(&err).contains("code 1"), "{err}");
    let entries = oplog(&nats, w).await;
    assert_eq!(
        entries
            .iter()
            .filter(|(_, e)| matches!(e, OplogEntry::Exited { code: 1, .. }))
            .count(),
        1
    );
    assert!(
        !entries
            .iter()
            .any(|(_, e)| matches!(e, OplogEntry::Error { .. })),
        "an exit is not retried"
    );
    let later = invoke(&nats, w, "echo", json!(["again"]), None).await;
    assert_eq!(kind(&later.expect_err("worker-failed")), "worker-failed");
    exec.stop().await;
    let _next = env.executor().await;
    let later = invoke(&nats, w, "echo", json!(["after recovery"]), None).await;
    let later = later.expect_err("worker-failed");
    assert!(message(&later).contains("wasi:cli/exit"), "{later}");
}
