//! Group commit (ARCHITECTURE "Durability semantics" 4 and `decide::group`): when
//! invocations are already waiting for a worker, the completions of several share
//! one oplog append, and none of them is answered before that append is
//! acknowledged. Here 400 invocations wait for one worker before any executor
//! runs: every one is answered with the total it left (so in arrival order, each
//! applied once), and the worker's oplog holds far fewer messages than invocations.

use crate::common;

use bytes::Bytes;
use common::{Env, TIMEOUT, oplog, worker};
use futures::TryStreamExt;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_tests::revenant::answer;
use revenant_types::oplog::OplogEntry;
use serde_json::json;

const N: u64 = 400;

/// Publishes `add(1)` to counter `w` under `key`; returns the inbox its answer comes to.
async fn add_one(
    nats: &revenant_nats::Nats,
    replies: &revenant_nats::reply::Replies,
    w: &revenant_types::WorkerId,
    key: String,
) -> revenant_nats::reply::ReplyInbox {
    let inbox = replies.inbox();
    let req = InvocationRequest {
        function: "add".into(),
        idempotency_key: Some(key),
        reply_to: Some(inbox.subject().to_owned()),
        content_type: Some(headers::CONTENT_TYPE_JSON.into()),
        body: Bytes::from_static(b"[1]"),
        ..Default::default()
    };
    assert!(!nats.publish_invocation(w, &req).await.unwrap().duplicate);
    inbox
}

#[tokio::test(flavor = "multi_thread")]
async fn invocations_waiting_for_a_worker_share_commits_and_are_answered_in_order() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let w = worker("counter/g");
    let replies = nats.replies().await.unwrap();
    let mut inboxes = Vec::new();
    for i in 0..N {
        inboxes.push(add_one(&nats, &replies, &w, format!("g-{i}")).await);
    }
    let exec = env.executor().await;
    for (i, mut inbox) in inboxes.into_iter().enumerate() {
        let outcome = tokio::time::timeout(TIMEOUT, inbox.next())
            .await
            .unwrap_or_else(|_| panic!("invocation {i} not answered within {TIMEOUT:?}"))
            .expect("reply");
        assert_eq!(answer(outcome), Ok(json!(i + 1)), "invocation {i}");
    }
    exec.stop().await;

    let entries = oplog(&nats, "counter/g").await;
    let completed = entries
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationCompleted { .. }))
        .count();
    assert_eq!(completed, N as usize, "each applied once");
    let stream = nats.namespace().oplog_stream();
    let s = nats.jetstream().get_stream(&stream).await.unwrap();
    let subject = nats.namespace().oplog_subject(&w);
    let subjects: Vec<(String, usize)> = s
        .info_with_subjects(subject.clone())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let messages = subjects
        .iter()
        .find(|(s, _)| *s == subject)
        .map_or(0, |(_, n)| *n as u64);
    println!("{N} invocations in {messages} oplog messages");
    assert!(
        messages <= N / 4,
        "{N} invocations took {messages} oplog messages: not grouped"
    );
}

/// With `batch-appends`, the commits of different workers made at the same moment share
/// atomic batches: 100 counters, 10 invocations each, all waiting when the executor
/// starts, every one
/// answered with its counter's running total and the oplogs holding each once.
#[tokio::test(flavor = "multi_thread")]
async fn with_batched_appends_many_workers_commit_together_and_each_answer_is_its_own() {
    const WORKERS: u64 = 100;
    const EACH: u64 = 10;
    let mut env = Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| {
        o.batch_appends = true
    })
    .await;
    let nats = env.nats.clone();
    let replies = nats.replies().await.unwrap();
    let mut inboxes = Vec::new();
    // All sent before an executor runs, so that many workers commit at the same moment.
    for round in 0..EACH {
        for n in 0..WORKERS {
            let w = worker(&format!("counter/b-{n}"));
            let inbox = add_one(&nats, &replies, &w, format!("b-{n}-{round}")).await;
            inboxes.push((n, inbox));
        }
    }
    let _exec = env.executor().await;
    let mut totals = vec![Vec::new(); WORKERS as usize];
    for (n, mut inbox) in inboxes {
        let outcome = tokio::time::timeout(TIMEOUT, inbox.next())
            .await
            .unwrap_or_else(|_| panic!("counter/b-{n} not answered within {TIMEOUT:?}"))
            .expect("reply");
        let total = answer(outcome)
            .expect("an answer")
            .as_u64()
            .expect("a total");
        totals[n as usize].push(total);
    }
    for (n, mut t) in totals.into_iter().enumerate() {
        t.sort_unstable();
        assert_eq!(t, (1..=EACH).collect::<Vec<_>>(), "counter/b-{n}");
        let entries = oplog(&nats, &format!("counter/b-{n}")).await;
        let completed = entries
            .iter()
            .filter(|(_, e)| matches!(e, OplogEntry::InvocationCompleted { .. }))
            .count();
        assert_eq!(completed, EACH as usize, "counter/b-{n}: each applied once");
    }
    // Some commits were stored in batches.
    let mut s = nats
        .jetstream()
        .get_stream(nats.namespace().oplog_stream())
        .await
        .unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut batched = 0;
    for seq in 1..=last {
        let stored = s.get_raw_message(seq).await.unwrap();
        batched += usize::from(stored.headers.get(headers::BATCH_ID).is_some());
    }
    assert!(batched > 0, "none of {last} commits was stored in a batch");
    eprintln!("{batched} of {last} oplog messages were stored in batches");
}
