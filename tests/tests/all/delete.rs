//! Deleting a worker against a real executor and nats-server: the delete goes
//! through the executor holding the worker's shard (`<ns>.control.<c>.<w>`,
//! action `delete`), leaves only a `Deleted` tombstone in the oplog (so the
//! subject keeps its sequence, the append fence), removes the worker record,
//! and every invocation sent before it — held, queued or running — is answered
//! `worker-deleted` and dead-lettered, never run; the next one runs on a new
//! worker, and an explicit create after a delete succeeds.

use crate::common;

use std::time::{Duration, Instant};

use common::{Env, TIMEOUT, dead_letter, dead_reason, interrupt, oplog, record, worker};
use futures::StreamExt;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::workers::{AdminError, create_worker, delete_worker};
use revenant_nats::{ControlError, Nats, headers};
use revenant_tests::revenant::{answer_of, invoke};
use revenant_tests::wait_until;
use revenant_types::oplog::OplogEntry;
use serde_json::json;

/// Deletes `w`, retrying while no executor holds the worker's shard yet.
async fn delete(nats: &Nats, w: &str) -> Result<(), AdminError> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match delete_worker(nats, &worker(w), Duration::from_secs(5)).await {
            Err(AdminError::Control {
                source: ControlError::NoExecutor { .. },
                ..
            }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Publishes an invocation whose answer arrives on the returned subscription.
async fn publish(
    nats: &Nats,
    w: &str,
    function: &str,
    args: serde_json::Value,
    key: &str,
) -> revenant_nats::async_nats::Subscriber {
    let inbox = nats.client().new_inbox();
    let sub = nats.client().subscribe(inbox.clone()).await.unwrap();
    let req = InvocationRequest {
        function: function.to_owned(),
        idempotency_key: Some(key.to_owned()),
        reply_to: Some(inbox),
        content_type: Some(headers::CONTENT_TYPE_JSON.to_owned()),
        body: args.to_string().into(),
        trace: Default::default(),
        caller: None,
        subscription: None,
        index: false,
    };
    let published = nats.publish_invocation(&worker(w), &req).await.unwrap();
    assert!(!published.duplicate, "{key} was stored");
    sub
}

/// The answer arriving on `sub`, as `Ok(json)` or `Err(error object)`.
async fn answer(
    sub: &mut revenant_nats::async_nats::Subscriber,
    what: &str,
) -> Result<serde_json::Value, serde_json::Value> {
    let msg = tokio::time::timeout(TIMEOUT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what} was not answered within {TIMEOUT:?}"))
        .expect("inbox");
    answer_of(&msg)
}

/// How many `InvocationStarted` entries of `key` the oplog of `w` holds.
async fn starts(nats: &Nats, w: &str, key: &str) -> usize {
    oplog(nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationStarted { idempotency_key, .. } if idempotency_key == key))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_worker_leaves_only_a_tombstone_and_starts_anew() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "counter/c1";
    assert_eq!(
        invoke(&nats, w, "add", json!([5]), Some("d-a1")).await,
        Ok(json!(5))
    );
    assert_eq!(
        invoke(&nats, w, "add", json!([5]), Some("d-a2")).await,
        Ok(json!(10))
    );
    wait_until("the worker record", TIMEOUT, || async {
        record(&nats, w).await.map(|_| ())
    })
    .await;
    let fence = nats.oplog().last_seq(&worker(w)).await.unwrap();

    delete(&nats, w).await.expect("delete");

    let listed = nats.workers().list(None).await.unwrap();
    assert!(
        listed.iter().all(|r| r.id != worker(w)),
        "worker list still has it: {listed:?}"
    );
    let entries = oplog(&nats, w).await;
    assert_eq!(entries.len(), 1, "only the tombstone is left: {entries:?}");
    assert!(
        matches!(entries[0].1, OplogEntry::Deleted { .. }),
        "{entries:?}"
    );
    let read = nats.oplog().read(&worker(w), 1).await.unwrap();
    assert_eq!(read.last_seq, fence + 1, "the subject keeps its sequence");
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().oplog_stream())
        .await
        .unwrap();
    let subject = nats.namespace().oplog_subject(&worker(w));
    let first = stream.get_first_raw_message_by_subject(&subject, 1).await;
    assert_eq!(
        first.map(|m| m.sequence).ok(),
        Some(read.last_seq),
        "the subject holds exactly one message"
    );

    // A new key runs on a fresh worker; the old state is gone.
    assert_eq!(
        invoke(&nats, w, "add", json!([1]), Some("d-a3")).await,
        Ok(json!(1))
    );
    let kinds: Vec<_> = oplog(&nats, w)
        .await
        .iter()
        .map(|(_, e)| e.kind())
        .collect();
    assert_eq!(
        kinds[..3],
        ["deleted", "create", "invocation-started"],
        "{kinds:?}"
    );
    wait_until("the new worker's record", TIMEOUT, || async {
        record(&nats, w).await.map(|_| ())
    })
    .await;
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_held_before_a_delete_is_answered_worker_deleted_and_never_run() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "counter/held";
    assert_eq!(
        invoke(&nats, w, "add", json!([5]), Some("h-1")).await,
        Ok(json!(5))
    );
    interrupt(&nats, w).await;
    let mut held = publish(&nats, w, "add", json!([100]), "h-2").await;

    delete(&nats, w).await.expect("delete");

    let err = answer(&mut held, "the held invocation")
        .await
        .expect_err("rejected");
    assert_eq!(err["kind"], "worker-deleted", "{err}");
    let dead = dead_letter(&nats, "counter.held").await;
    assert_eq!(dead_reason(&dead).0, "worker-deleted");
    assert_eq!(starts(&nats, w, "h-2").await, 0, "never run");

    // Sent after the delete: runs on the new worker, from scratch.
    assert_eq!(
        invoke(&nats, w, "add", json!([1]), Some("h-3")).await,
        Ok(json!(1))
    );
    assert_eq!(starts(&nats, w, "h-2").await, 0, "still never run");
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_invocation_is_stopped_by_a_delete_and_answered_worker_deleted() {
    const DEADLINE_MS: u64 = 120_000;
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    let nats = env.nats.clone();
    let w = "test-faults/busy";
    let mut events = Box::pin(nats.subscribe_events(&worker(w)).await.unwrap());
    let mut running = publish(&nats, w, "busy", json!([30_000]), "r-1").await;
    loop {
        let ev = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .expect("busy did not start in time")
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).expect("event JSON");
        if ev["kind"] == "invocation-started" && ev["idempotency-key"] == "r-1" {
            break;
        }
    }

    let asked = Instant::now();
    delete(&nats, w).await.expect("delete");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "deleting took {:?}",
        asked.elapsed()
    );
    let err = answer(&mut running, "the stopped invocation")
        .await
        .expect_err("rejected");
    assert_eq!(err["kind"], "worker-deleted", "{err}");
    let kinds: Vec<_> = oplog(&nats, w)
        .await
        .iter()
        .map(|(_, e)| e.kind())
        .collect();
    assert_eq!(kinds, ["deleted"]);
    assert_eq!(
        invoke(&nats, w, "echo", json!(["again"]), Some("r-2")).await,
        Ok(json!("again"))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_unknown_or_deleted_worker_says_it_does_not_exist_and_a_failed_one_can_be_deleted()
 {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor_with(|o| o.retry.max_attempts = 1).await;
    let nats = env.nats.clone();

    let err = delete(&nats, "test-faults/nobody").await.unwrap_err();
    assert!(matches!(err, AdminError::UnknownWorker(_)), "{err:?}");
    assert!(oplog(&nats, "test-faults/nobody").await.is_empty());

    let w = "test-faults/failed";
    let trapped = invoke(&nats, w, "trap", json!(["boom"]), Some("f-1"))
        .await
        .unwrap_err();
    assert_eq!(trapped["kind"], "trap");
    delete(&nats, w).await.expect("a failed worker is deleted");
    let err = delete(&nats, w).await.unwrap_err();
    assert!(
        matches!(err, AdminError::UnknownWorker(_)),
        "deleted twice: {err:?}"
    );
    // The new worker is not failed.
    assert_eq!(
        invoke(&nats, w, "echo", json!(["fine"]), Some("f-2")).await,
        Ok(json!("fine"))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_can_be_created_explicitly_after_it_was_deleted() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "counter/again";
    let id = worker(w);
    create_worker(&nats, &id, vec![], vec![])
        .await
        .expect("create");
    assert_eq!(
        invoke(&nats, w, "add", json!([7]), Some("c-1")).await,
        Ok(json!(7))
    );
    delete(&nats, w).await.expect("delete");
    let tombstone = oplog(&nats, w).await[0].0;

    let record = create_worker(&nats, &id, vec!["x".into()], vec![])
        .await
        .expect("created again after the delete");
    assert_eq!(
        record.oplog_index,
        tombstone + 1,
        "right after the tombstone"
    );
    let err = create_worker(&nats, &id, vec![], vec![]).await.unwrap_err();
    assert!(matches!(err, AdminError::AlreadyExists(_)), "{err:?}");
    let kinds: Vec<_> = oplog(&nats, w)
        .await
        .iter()
        .map(|(_, e)| e.kind())
        .collect();
    assert_eq!(kinds, ["deleted", "create"]);
    assert_eq!(
        invoke(&nats, w, "add", json!([2]), Some("c-2")).await,
        Ok(json!(2))
    );
    exec.stop().await;
}
