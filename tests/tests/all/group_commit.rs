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

#[tokio::test(flavor = "multi_thread")]
async fn invocations_waiting_for_a_worker_share_commits_and_are_answered_in_order() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let w = worker("counter/g");
    let replies = nats.replies().await.unwrap();
    let mut inboxes = Vec::new();
    for i in 0..N {
        let inbox = replies.inbox();
        let req = InvocationRequest {
            function: "add".into(),
            idempotency_key: Some(format!("g-{i}")),
            reply_to: Some(inbox.subject().to_owned()),
            content_type: Some(headers::CONTENT_TYPE_JSON.into()),
            body: Bytes::from_static(b"[1]"),
            ..Default::default()
        };
        assert!(!nats.publish_invocation(&w, &req).await.unwrap().duplicate);
        inboxes.push(inbox);
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
