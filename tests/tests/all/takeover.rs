//! Shard consumers across owners, against a real nats-server: taking a shard
//! over keeps its durable consumer (ack floor and pending set), so nothing an
//! earlier owner acknowledged is run or answered again, however far back an old
//! held invocation keeps the ack floor; an invocation that keeps failing
//! delivery is given up after `max-deliveries` with an answer and a dead letter;
//! dead-lettering survives headers JetStream would act on (`Nats-TTL`); a delivery
//! lost on the way (taken by another reader here) runs before the invocations after it.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Env, TIMEOUT, dead_letter, dead_reason, interrupt, kind, started_count, worker};
use futures::StreamExt;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::invocations::{ACK_WAIT, InvocationRequest, ShardConsumer};
use revenant_nats::{Nats, headers};
use revenant_tests::revenant::{Answer, answer_of, invoke, other_reader};
use serde_json::json;

/// JetStream-publishes `add(value)` to `w` with key `key`, answered on `reply`.
async fn publish_add(nats: &Nats, w: &str, value: u64, key: &str, reply: &str) {
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, "add");
    h.insert(headers::MSG_ID, key);
    h.insert(headers::REPLY_TO, reply);
    nats.jetstream()
        .publish_with_headers(
            nats.namespace().invoke_subject(&worker(w)),
            h,
            Bytes::from(format!("[{value}]")),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_taken_over_never_runs_or_answers_an_acknowledged_invocation_again() {
    // One shard: every worker shares it, and so its consumer's ack floor.
    let mut env =
        Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| o.shards = 1).await;
    let nats = env.nats.clone();
    let first = env.executor().await;
    // A held invocation of an interrupted worker keeps the ack floor below everything after it.
    let held = "counter/held";
    assert_eq!(
        invoke(&nats, held, "add", json!([1]), Some("h-0")).await,
        Ok(json!(1))
    );
    interrupt(&nats, held).await;
    let replies = nats.client().new_inbox();
    let mut answers = nats.client().subscribe(replies.clone()).await.unwrap();
    publish_add(&nats, held, 1, "h-1", &replies).await;
    // Many acknowledged invocations of another worker, answered once each.
    let busy = "counter/busy";
    const N: u64 = 20;
    for i in 1..=N {
        publish_add(&nats, busy, 1, &format!("b-{i}"), &replies).await;
    }
    let mut answered = Vec::new();
    while answered.len() < N as usize {
        let m = tokio::time::timeout(TIMEOUT, answers.next())
            .await
            .expect("the busy worker's answers")
            .unwrap();
        answered.push(answer_of(&m));
    }
    assert_eq!(answered.last(), Some(&Ok(json!(N))));

    // The shard moves to another executor.
    let _second = env.executor().await;
    first.stop().await;
    publish_add(&nats, busy, 1, "b-new", &replies).await;
    // The busy worker answers in order: anything re-answered comes before the new one.
    let mut after: Vec<Answer> = Vec::new();
    loop {
        let m = tokio::time::timeout(TIMEOUT, answers.next())
            .await
            .expect("the new invocation's answer after the takeover")
            .unwrap();
        let a = answer_of(&m);
        after.push(a.clone());
        if a == Ok(json!(N + 1)) {
            break;
        }
    }
    assert_eq!(
        after,
        vec![Ok(json!(N + 1))],
        "acknowledged invocations were answered again after the takeover"
    );
    assert_eq!(
        started_count(&nats, busy).await,
        N as usize + 1,
        "each key ran once"
    );
    assert_eq!(
        started_count(&nats, held).await,
        1,
        "the held invocation still waits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_killed_owner_held_is_redelivered_to_the_next_at_once_not_after_the_ack_wait() {
    let env = Env::with_options(&[], |o| o.shards = 1).await;
    let settings = ShardConsumer {
        max_ack_pending: 16,
        max_deliver: 10,
    };
    let w = worker("counter/held");
    let req = InvocationRequest {
        function: "add".into(),
        body: Bytes::from_static(b"[1]"),
        ..Default::default()
    };
    env.nats.publish_invocation(&w, &req).await.unwrap();
    // The old owner takes the invocation and dies with it (its own connection closes),
    // acknowledging nothing and giving nothing back.
    let old = revenant_tests::revenant::connect(env.nats.options()).await;
    let mut taken = Box::pin(old.shard_messages(0, settings).await.unwrap());
    let first = tokio::time::timeout(TIMEOUT, taken.next())
        .await
        .expect("delivered")
        .unwrap()
        .unwrap();
    assert_eq!(first.delivered, 1);
    drop(taken);
    drop(first);
    drop(old);
    // The next owner gets it again at once: left to the ack wait it would take 10 s.
    let started = Instant::now();
    let mut messages = Box::pin(env.nats.shard_messages(0, settings).await.unwrap());
    let again = tokio::time::timeout(TIMEOUT, messages.next())
        .await
        .expect("redelivered")
        .unwrap()
        .unwrap();
    assert_eq!((again.stream_sequence, again.delivered), (1, 2));
    assert!(
        started.elapsed() < ACK_WAIT / 2,
        "redelivered after {:?}",
        started.elapsed()
    );
    again.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_that_keeps_failing_delivery_is_answered_and_dead_lettered() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor_with(|o| o.max_deliveries = 2).await;
    // An oplog that does not decode: recovering the worker fails every time, and the
    // invocation is given back for redelivery.
    let w = "counter/poison";
    nats.jetstream()
        .publish(
            nats.namespace().oplog_subject(&worker(w)),
            Bytes::from_static(b"not an oplog batch"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let err = invoke(&nats, w, "add", json!([1]), Some("p-1"))
        .await
        .expect_err("given up");
    assert_eq!(kind(&err), "delivery-exhausted", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("delivered 2 times"),
        "{err}"
    );
    let dead = dead_letter(&nats, "counter.poison").await;
    assert_eq!(dead_reason(&dead).0, "delivery-exhausted");
    // Stored like a result: a retry of the key is answered at once with the same error.
    let again = tokio::time::timeout(
        Duration::from_secs(5),
        invoke(&nats, w, "add", json!([1]), Some("p-1")),
    )
    .await
    .expect("the retry answered at once");
    assert_eq!(again, Err(err));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_invocation_with_a_ttl_header_is_still_dead_lettered() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let _exec = env.executor().await;
    let w = "counter/ttl";
    let reply = nats.client().new_inbox();
    let mut answers = nats.client().subscribe(reply.clone()).await.unwrap();
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, "no-such-function");
    h.insert(headers::MSG_ID, "ttl-1");
    h.insert(headers::MSG_TTL, "1h");
    h.insert(headers::REPLY_TO, reply.as_str());
    nats.jetstream()
        .publish_with_headers(
            nats.namespace().invoke_subject(&worker(w)),
            h,
            Bytes::from_static(b"[]"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let m = tokio::time::timeout(TIMEOUT, answers.next())
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(
        kind(&answer_of(&m).expect_err("rejected")),
        "unknown-function"
    );
    // RVN_DEAD allows no per-message TTL: the header travels renamed, the dead letter is stored.
    let dead = dead_letter(&nats, "counter.ttl").await;
    assert_eq!(dead_reason(&dead).0, "unknown-function");
    assert!(dead.headers.get(headers::MSG_TTL).is_none());
    assert_eq!(
        dead.headers
            .get("Rvn-Original-Nats-TTL")
            .map(|v| v.as_str()),
        Some("1h")
    );
    assert_eq!(
        dead.headers
            .get("Rvn-Original-Nats-Msg-Id")
            .map(|v| v.as_str()),
        Some("ttl-1")
    );
}

/// The keys of `w`'s invocations in the order its oplog started them.
async fn started_keys(nats: &Nats, w: &str) -> Vec<String> {
    common::oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            revenant_types::oplog::OplogEntry::InvocationStarted {
                idempotency_key, ..
            } => Some(idempotency_key),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_lost_on_the_way_run_before_the_invocations_after_them() {
    // One shard: every invocation comes through the one consumer.
    let mut env =
        Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| o.shards = 1).await;
    let nats = env.nats.clone();
    let _executor = env.executor().await;
    let w = "counter/ordered";
    assert_eq!(
        invoke(&nats, w, "add", json!([1]), Some("o-000")).await,
        Ok(json!(1))
    );
    // Another reader takes one delivery of the shard's consumer and never acknowledges
    // it: to the executor that delivery is lost on the way, as with a connection that
    // dropped with it in flight. Left to the ack wait, it would run 10 s late, after the
    // invocations published behind it.
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await
        .unwrap();
    let mut rogue = other_reader(&stream, "shard-0").await;
    let replies = nats.client().new_inbox();
    let mut answers = nats.client().subscribe(replies.clone()).await.unwrap();
    // What the other reader takes, once it has taken it.
    let taken = tokio::spawn(async move {
        let m = rogue.next().await?.ok()?;
        let key = m
            .headers
            .as_ref()?
            .get(headers::MSG_ID)?
            .as_str()
            .to_owned();
        Some(key)
    });
    // Published one by one until the other reader has taken one, then 20 more behind it.
    let mut keys = vec!["o-000".to_owned()];
    let mut behind = 0;
    while behind < 20 && keys.len() <= 400 {
        let key = format!("o-{:03}", keys.len());
        publish_add(&nats, w, 1, &key, &replies).await;
        keys.push(key);
        if taken.is_finished() {
            behind += 1;
        }
    }
    let stolen_key = taken
        .await
        .unwrap()
        .expect("the other reader took a delivery");
    let n = keys.len() - 1;
    let mut answered = 0;
    while answered < n {
        tokio::time::timeout(TIMEOUT, answers.next())
            .await
            .expect("every invocation answered")
            .unwrap();
        answered += 1;
    }
    assert_eq!(
        started_keys(&nats, w).await,
        keys,
        "the worker ran its invocations in arrival order ({stolen_key} was taken by the other reader)"
    );
}
