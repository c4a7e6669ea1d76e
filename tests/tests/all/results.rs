//! Where results live: a journaled result is in the worker's oplog, and
//! `RVN_RESULTS` is an index of them by key (ARCHITECTURE "Results"). With
//! `--results-index requested` an invocation writes two stored messages (itself
//! and its oplog append) and no index record unless its publisher asks
//! (`Rvn-Result-Index`, as the router does); every reader that knows the worker
//! still gets the result — a retried publish inside JetStream's dedup window, a
//! retried `rvn.call`, `results().get` — from the oplog, with no executor
//! involved, and a duplicate of an invocation still running is answered once it
//! completes.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{Env, TIMEOUT, worker};
use revenant_executor::ResultsIndex;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::{Nats, headers};
use revenant_tests::revenant::{answer, answer_of, invoke};
use revenant_tests::wait_until;
use revenant_types::oplog::InvocationOutcome;
use serde_json::json;

/// An `add` of `n` under `key`, asking for the index record when `index`.
fn add(n: u64, key: &str, index: bool) -> InvocationRequest {
    InvocationRequest {
        function: "add".into(),
        idempotency_key: Some(key.into()),
        content_type: Some(headers::CONTENT_TYPE_JSON.into()),
        body: Bytes::from(format!("[{n}]")),
        index,
        ..Default::default()
    }
}

/// Messages stored in the results index so far.
async fn index_messages(nats: &Nats) -> u64 {
    let name = format!("KV_{}", nats.namespace().results_bucket());
    let mut stream = nats.jetstream().get_stream(&name).await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A core `rvn.call` request with an idempotency key, answered by an executor's bridge.
async fn call_keyed(
    nats: &Nats,
    w: &str,
    args: &str,
    key: &str,
) -> revenant_tests::revenant::Answer {
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, "add");
    h.insert(headers::MSG_ID, key);
    let subject = nats.namespace().call_subject(&worker(w));
    let m = tokio::time::timeout(
        TIMEOUT,
        nats.client()
            .request_with_headers(subject, h, Bytes::from(args.to_owned())),
    )
    .await
    .expect("an answer to the call")
    .expect("call");
    answer_of(&m)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_index_record_every_reader_gets_the_result_from_the_oplog() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env
        .executor_with(|o| o.results_index = ResultsIndex::Requested)
        .await;
    let nats = env.nats.clone();
    let w = "counter/r";
    assert_eq!(
        invoke(&nats, w, "add", json!([5]), Some("k1")).await,
        Ok(json!(5))
    );
    // The publisher of k2 asks for the index, as the router does.
    let replies = nats.replies().await.unwrap();
    let mut inbox = replies.inbox();
    let k2 = nats
        .invoke_and_await(&worker(w), add(2, "k2", true), &mut inbox, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(k2.outcome, Some(InvocationOutcome::Ok("7".into())));
    let results = nats.results();
    wait_until("k2's index record", TIMEOUT, || async {
        results.stored(&worker(w), "k2").await.unwrap()
    })
    .await;
    // k1 (answered before k2 ran) has none: one record in all.
    assert_eq!(results.stored(&worker(w), "k1").await.unwrap(), None);
    assert_eq!(index_messages(&nats).await, 1);
    assert_eq!(results.workers_with("k2").await.unwrap(), vec![worker(w)]);
    assert!(results.workers_with("k1").await.unwrap().is_empty());

    // A retried `rvn.call` inside the dedup window is answered by the bridge from the oplog.
    assert_eq!(call_keyed(&nats, w, "[5]", "k1").await, Ok(json!(5)));

    // With no executor running at all, a retried publish and `get` find it in the oplog.
    exec.stop().await;
    let record = results
        .get(&worker(w), "k1")
        .await
        .unwrap()
        .expect("k1's result, read from the oplog");
    assert_eq!(record.outcome, InvocationOutcome::Ok("5".into()));
    assert!(record.function.contains("add"), "{}", record.function);
    assert_eq!(record.worker, worker(w));
    assert_eq!(results.get(&worker(w), "never").await.unwrap(), None);
    let again = tokio::time::timeout(
        Duration::from_secs(10),
        invoke(&nats, w, "add", json!([5]), Some("k1")),
    )
    .await
    .expect("a duplicate is answered from the oplog with no executor running");
    assert_eq!(again, Ok(json!(5)));
    // Nothing ran twice, and the duplicate stored nothing.
    assert_eq!(index_messages(&nats).await, 1);
    let exec = env.executor().await;
    assert_eq!(
        invoke(&nats, w, "add", json!([0]), Some("k3")).await,
        Ok(json!(7))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_of_an_invocation_not_yet_run_is_answered_when_it_completes() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let w = worker("counter/late");
    // No executor yet: the original waits in its stream.
    let published = nats
        .publish_invocation(&w, &add(4, "slow-1", false))
        .await
        .unwrap();
    assert!(!published.duplicate);
    let waiting = tokio::spawn({
        let nats = nats.clone();
        async move {
            let replies = nats.replies().await.unwrap();
            let mut inbox = replies.inbox();
            nats.invoke_and_await(
                &worker("counter/late"),
                add(4, "slow-1", false),
                &mut inbox,
                TIMEOUT,
            )
            .await
            .unwrap()
        }
    });
    // The duplicate follows the worker's oplog (its ordered consumer is the only one on
    // the stream: no executor runs) before the original runs.
    wait_until("the duplicate following the oplog", TIMEOUT, || async {
        let mut s = nats
            .jetstream()
            .get_stream(nats.namespace().oplog_stream())
            .await
            .unwrap();
        (s.info().await.unwrap().state.consumer_count >= 1).then_some(())
    })
    .await;
    assert!(!waiting.is_finished());
    let exec = env
        .executor_with(|o| o.results_index = ResultsIndex::Requested)
        .await;
    let awaited = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .expect("the duplicate is answered once the original completes")
        .unwrap();
    assert!(awaited.duplicate);
    assert_eq!(answer(awaited.outcome.unwrap()), Ok(json!(4)));
    assert_eq!(index_messages(&nats).await, 0, "nothing was indexed");
    exec.stop().await;
}
