//! Idempotency keys belong to a worker (ARCHITECTURE.md), against a real
//! nats-server and executor: results are stored per worker, so the same key
//! sent to another worker is `key-conflict` (never the other's result); the
//! same key with other arguments gets the original's result and says so;
//! `Rvn-Idempotency-Key` is a key like `Nats-Msg-Id`; a rejection is stored
//! like a result, so a retried bad call is answered at once with the same
//! rejection. Also: `RVN_DEAD` and `RVN_EXECUTORS` are provisioned bounded, and a
//! killed executor's record expires.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{Env, TIMEOUT, invoke_once, kind, worker};
use futures::StreamExt;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::{Nats, headers};
use revenant_tests::revenant::{Answer, answer, answer_of};
use serde_json::json;

/// How soon an answer that needs no run must arrive (the old behaviour was a 120 s wait).
const PROMPT: Duration = Duration::from_secs(5);

/// A core request on `<ns>.call.<c>.<w>` with `Nats-Msg-Id: key`: the answer and its
/// `Rvn-Duplicate` header.
async fn call_keyed(
    nats: &Nats,
    w: &str,
    function: &str,
    args: &str,
    key: &str,
) -> (Answer, Option<String>) {
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, function);
    h.insert(headers::MSG_ID, key);
    let m = tokio::time::timeout(
        TIMEOUT,
        nats.client().request_with_headers(
            nats.namespace().call_subject(&worker(w)),
            h,
            Bytes::from(args.to_owned()),
        ),
    )
    .await
    .expect("an answer to the call")
    .expect("call");
    let duplicate = m
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::DUPLICATE))
        .map(|v| v.as_str().to_owned());
    (answer_of(&m), duplicate)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_bad_call_is_answered_at_once_with_the_same_rejection() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor().await;
    let w = "counter/bad";
    // Over JetStream with a reply inbox (invoke-and-await)…
    let (dup, first) = invoke_once(&nats, w, "no-such-function", json!([]), "bad-1").await;
    assert!(!dup);
    assert_eq!(
        kind(first.as_ref().unwrap_err()),
        "unknown-function",
        "{first:?}"
    );
    let (dup, second) = tokio::time::timeout(
        PROMPT,
        invoke_once(&nats, w, "no-such-function", json!([]), "bad-1"),
    )
    .await
    .expect("the retry answered at once");
    assert!(dup, "the retry is a JetStream duplicate");
    assert_eq!(second, first);
    // …and on the call subject.
    let (first, _) = call_keyed(&nats, w, "no-such-function", "[]", "bad-2").await;
    assert_eq!(kind(first.as_ref().unwrap_err()), "unknown-function");
    let (second, _) = tokio::time::timeout(
        PROMPT,
        call_keyed(&nats, w, "no-such-function", "[]", "bad-2"),
    )
    .await
    .expect("the retried call answered at once");
    assert_eq!(second, first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_sent_to_another_worker_is_a_conflict_never_the_others_result() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor().await;
    assert_eq!(
        invoke_once(&nats, "counter/a", "add", json!([7]), "shared").await,
        (false, Ok(json!(7)))
    );
    let (dup, other) = tokio::time::timeout(
        PROMPT,
        invoke_once(&nats, "counter/b", "add", json!([7]), "shared"),
    )
    .await
    .expect("answered at once");
    assert!(dup);
    let e = other.expect_err("a conflict");
    assert_eq!(kind(&e), "key-conflict", "{e}");
    assert!(e["message"].as_str().unwrap().contains("counter/a"), "{e}");
    let (on_call, _) = call_keyed(&nats, "counter/b", "add", "[7]", "shared").await;
    assert_eq!(kind(&on_call.unwrap_err()), "key-conflict");
    // Results are kept per worker: `get` reads counter/a's oplog; the conflicting publish
    // reached no executor and left nothing under counter/b.
    let results = nats.results();
    assert!(
        results
            .get(&worker("counter/a"), "shared")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        results
            .get(&worker("counter/b"), "shared")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        results
            .stored(&worker("counter/b"), "shared")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_other_arguments_gets_the_original_result_and_says_so() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor().await;
    let w = "counter/args";
    assert_eq!(
        invoke_once(&nats, w, "add", json!([1]), "k-1").await.1,
        Ok(json!(1))
    );
    let replies = nats.replies().await.unwrap();
    let mut inbox = replies.inbox();
    let req = |body: &str| InvocationRequest {
        function: "add".into(),
        idempotency_key: Some("k-1".into()),
        body: Bytes::from(body.to_owned()),
        ..Default::default()
    };
    let awaited = nats
        .invoke_and_await(&worker(w), req("[5]"), &mut inbox, TIMEOUT)
        .await
        .unwrap();
    assert!(awaited.duplicate && awaited.arguments_differ, "{awaited:?}");
    assert_eq!(answer(awaited.outcome.unwrap()), Ok(json!(1)));
    let same = nats
        .invoke_and_await(&worker(w), req("[1]"), &mut inbox, TIMEOUT)
        .await
        .unwrap();
    assert!(same.duplicate && !same.arguments_differ, "{same:?}");
    let (on_call, marked) = call_keyed(&nats, w, "add", "[5]", "k-1").await;
    assert_eq!(on_call, Ok(json!(1)));
    assert_eq!(marked.as_deref(), Some(headers::DUPLICATE_ARGUMENTS_DIFFER));
}

#[tokio::test(flavor = "multi_thread")]
async fn rvn_idempotency_key_dedups_like_nats_msg_id() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor().await;
    let w = "counter/rk";
    let reply = nats.client().new_inbox();
    let mut answers = nats.client().subscribe(reply.clone()).await.unwrap();
    // Without Nats-Msg-Id JetStream stores both: the executor dedups them by the key.
    for _ in 0..2 {
        let mut h = HeaderMap::new();
        h.insert(headers::FUNCTION, "add");
        h.insert(headers::IDEMPOTENCY_KEY, "rk-1");
        h.insert(headers::REPLY_TO, reply.as_str());
        let ack = nats
            .jetstream()
            .publish_with_headers(
                nats.namespace().invoke_subject(&worker(w)),
                h,
                Bytes::from_static(b"[3]"),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(!ack.duplicate);
    }
    for _ in 0..2 {
        let m = tokio::time::timeout(TIMEOUT, answers.next())
            .await
            .expect("an answer")
            .unwrap();
        assert_eq!(answer_of(&m), Ok(json!(3)), "run once, answered twice");
    }
}

#[tokio::test]
async fn dead_letters_and_executor_records_are_bounded() {
    let env = Env::new(&[]).await;
    let nats = &env.nats;
    let opts = nats.options();
    let mut dead = nats
        .jetstream()
        .get_stream(nats.namespace().dead_stream())
        .await
        .unwrap();
    let config = dead.info().await.unwrap().config.clone();
    assert_eq!(
        config.max_age,
        Duration::from_secs(opts.dead_letter_max_age_secs)
    );
    assert_eq!(config.max_bytes, opts.dead_letter_max_bytes as i64);
    assert!(
        !config.max_age.is_zero() && config.max_bytes > 0,
        "defaults are bounded"
    );
    let mut executors = nats
        .jetstream()
        .get_stream(format!("KV_{}", nats.namespace().executors_bucket()))
        .await
        .unwrap();
    let ttl = executors.info().await.unwrap().config.max_age;
    assert_eq!(ttl, Duration::from_secs(opts.executor_record_ttl_secs));
    assert!(!ttl.is_zero());
}

#[tokio::test]
async fn the_record_of_an_executor_that_stopped_heartbeating_expires() {
    let env = Env::with_options(&[], |o| o.executor_record_ttl_secs = 1).await;
    let nats = &env.nats;
    let record = revenant_types::records::ExecutorRecord {
        id: revenant_types::ExecutorId::new("killed".to_owned()).unwrap(),
        started_at: 0,
        heartbeat_at: revenant_types::now_ms(),
        shards: vec![0],
        workers_in_memory: 0,
        version: "test".into(),
    };
    nats.executors().heartbeat(&record).await.unwrap();
    let kv = nats
        .jetstream()
        .get_key_value(nats.namespace().executors_bucket())
        .await
        .unwrap();
    assert!(kv.get("killed").await.unwrap().is_some());
    // Killed: it never removes its record; the bucket's max age does.
    revenant_tests::wait_until("the record to expire", TIMEOUT, || async {
        kv.get("killed").await.unwrap().is_none().then_some(())
    })
    .await;
}
