//! The promise store against a real nats-server (no executor: nobody awaits,
//! and the wake messages stay in `RVN_INVOKE` to be read back), and the
//! executor's promise service answering a plain NATS request.

use std::collections::HashSet;

use bytes::Bytes;
use revenant_nats::async_nats::jetstream::message::StreamMessage;
use revenant_nats::promises::{Completion, PromiseError};
use revenant_nats::reply::parse_reply;
use revenant_nats::{Nats, headers};
use revenant_types::oplog::{ErrorKind, InvocationOutcome};
use revenant_types::{PromiseId, PromiseState};

use crate::common::{Env, TIMEOUT, python_lines};
use revenant_tests::wait_until;

fn id(s: &str) -> PromiseId {
    s.parse().expect("promise id")
}

/// The last message stored for `p`'s worker in `RVN_INVOKE` (the wake message, waiting for it).
async fn last_inbox_message(nats: &Nats, p: &PromiseId) -> StreamMessage {
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await
        .expect("invoke stream");
    let subject = nats.stored_invoke_subject(&p.worker);
    wait_until(&format!("a message on {subject}"), TIMEOUT, || async {
        stream.get_last_raw_message_by_subject(&subject).await.ok()
    })
    .await
}

fn header(m: &StreamMessage, name: &str) -> Option<String> {
    m.headers.get(name).map(|v| v.as_str().to_owned())
}

async fn inbox_count(nats: &Nats) -> u64 {
    let mut stream = nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await
        .expect("invoke stream");
    stream.info().await.expect("invoke info").state.messages
}

#[tokio::test]
async fn a_promise_completed_before_anyone_awaits_it_keeps_its_payload_and_wakes_the_inbox() {
    let env = Env::new(&[]).await;
    let store = env.nats.promises();
    let p = id("approval/a1/5");
    store.create(&p).await.unwrap();
    let pending = store.get(&p).await.unwrap().expect("created");
    assert_eq!(pending.state, PromiseState::Pending);
    assert_eq!(pending.payload, None);

    let done = store
        .complete(&p, Bytes::from_static(b"\"approved\""))
        .await
        .unwrap();
    assert_eq!(done, Completion::Completed);
    let record = store.get(&p).await.unwrap().unwrap();
    assert_eq!(record.state, PromiseState::Completed);
    assert_eq!(record.payload.as_deref(), Some(&b"\"approved\""[..]));
    assert_eq!(record.created_at, pending.created_at);
    assert!(record.completed_at.is_some_and(|t| t >= record.created_at));

    // The wake message: on the worker's inbox (stored under its shard), with the contract's headers.
    let wake = last_inbox_message(&env.nats, &p).await;
    assert_eq!(
        header(&wake, headers::KIND).as_deref(),
        Some(headers::KIND_COMPLETE)
    );
    assert_eq!(header(&wake, headers::PROMISE).as_deref(), Some("5"));
    assert_eq!(
        header(&wake, headers::MSG_ID).as_deref(),
        Some("complete:approval.a1.5")
    );
    assert_eq!(&wake.payload[..], b"\"approved\"");

    // A replay creating it again changes nothing.
    store.create(&p).await.unwrap();
    assert_eq!(store.get(&p).await.unwrap().unwrap(), record);
}

#[tokio::test]
async fn a_second_completion_is_already_completed_and_the_first_payload_stays() {
    let env = Env::new(&[]).await;
    let store = env.nats.promises();
    let p = id("approval/a2/3");
    store.create(&p).await.unwrap();
    assert_eq!(
        store.complete(&p, "1".into()).await.unwrap(),
        Completion::Completed
    );
    let first = store.get(&p).await.unwrap().unwrap();
    assert_eq!(
        store.complete(&p, "2".into()).await.unwrap(),
        Completion::AlreadyCompleted
    );
    assert_eq!(store.get(&p).await.unwrap().unwrap(), first);
    // The second completer published the wake message again with the winning payload;
    // within the dedup window JetStream stored it once.
    let wake = last_inbox_message(&env.nats, &p).await;
    assert_eq!(&wake.payload[..], b"1");
    assert_eq!(inbox_count(&env.nats).await, 1);
}

#[tokio::test]
async fn completing_a_promise_nobody_created_is_unknown_and_publishes_nothing() {
    let env = Env::new(&[]).await;
    let p = id("approval/nobody/9");
    let err = env
        .nats
        .promises()
        .complete(&p, "true".into())
        .await
        .unwrap_err();
    assert!(matches!(&err, PromiseError::Unknown(u) if *u == p), "{err}");
    let body = err.to_error_body();
    assert_eq!(body.kind, ErrorKind::UnknownPromise);
    assert!(
        body.message.contains("approval/nobody/9"),
        "{}",
        body.message
    );
    assert_eq!(env.nats.promises().get(&p).await.unwrap(), None);
    assert_eq!(inbox_count(&env.nats).await, 0);
}

#[tokio::test]
async fn an_oversize_payload_is_refused_before_anything_is_written() {
    let env = Env::new(&[]).await;
    let store = env.nats.promises();
    let p = id("approval/big/2");
    store.create(&p).await.unwrap();
    let max = env.nats.options().max_payload;
    let err = store
        .complete(&p, vec![b'x'; max].into())
        .await
        .unwrap_err();
    assert!(matches!(err, PromiseError::TooLarge { .. }), "{err}");
    assert_eq!(err.to_error_body().kind, ErrorKind::PayloadTooLarge);
    assert_eq!(
        store.get(&p).await.unwrap().unwrap().state,
        PromiseState::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_completers_exactly_one_wins_and_its_payload_is_kept() {
    let env = Env::new(&[]).await;
    let p = id("approval/race/4");
    env.nats.promises().create(&p).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = env.nats.promises();
            let p = p.clone();
            tokio::spawn(async move { (i, store.complete(&p, i.to_string().into()).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, outcome) = t.await.unwrap();
        if outcome.unwrap() == Completion::Completed {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let record = env.nats.promises().get(&p).await.unwrap().unwrap();
    assert_eq!(record.payload, Some(winners[0].to_string().into_bytes()));
    let wake = last_inbox_message(&env.nats, &p).await;
    assert_eq!(wake.payload, record.payload.unwrap());
}

#[tokio::test]
async fn promises_are_listed_by_component_and_worker() {
    let env = Env::new(&[]).await;
    let store = env.nats.promises();
    for p in ["a/w1/2", "a/w1/10", "a/w2/3", "b/w1/4"] {
        store.create(&id(p)).await.unwrap();
    }
    store.complete(&id("a/w2/3"), "0".into()).await.unwrap();
    let ids = |list: Vec<(PromiseId, _)>| -> Vec<String> {
        list.into_iter().map(|(p, _)| p.to_string()).collect()
    };
    assert_eq!(
        ids(store.list(None, None).await.unwrap()),
        ["a/w1/2", "a/w1/10", "a/w2/3", "b/w1/4"]
    );
    assert_eq!(
        ids(store.list(Some("a"), None).await.unwrap()),
        ["a/w1/2", "a/w1/10", "a/w2/3"]
    );
    assert_eq!(
        ids(store.list(Some("a"), Some("w1")).await.unwrap()),
        ["a/w1/2", "a/w1/10"]
    );
    assert_eq!(
        ids(store.list(None, Some("w1")).await.unwrap()),
        ["a/w1/2", "a/w1/10", "b/w1/4"]
    );
    let states: HashSet<_> = store
        .list(Some("a"), Some("w2"))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.state)
        .collect();
    assert_eq!(states, HashSet::from([PromiseState::Completed]));
    assert!(store.list(Some("a.b"), None).await.is_err());
}

/// A plain NATS request to `<ns>.promise.<c>.<w>.<index>`, answered by an executor.
async fn request(nats: &Nats, subject: String, body: &'static str) -> InvocationOutcome {
    let m = nats
        .client()
        .request(subject, body.into())
        .await
        .expect("an executor answers the promise request");
    parse_reply(m.headers.as_ref(), &m.payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_nats_client_completes_a_promise_with_a_request() {
    let mut env = Env::new(&[]).await;
    let _executor = env.executor().await;
    let p = id("approval/nats1/6");
    env.nats.promises().create(&p).await.unwrap();
    let subject = env.nats.namespace().promise_subject(&p);
    assert_eq!(subject, "rvn.promise.approval.nats1.6");

    assert_eq!(
        request(&env.nats, subject.clone(), r#"{"ok":true}"#).await,
        InvocationOutcome::Ok(r#"{"completed":true}"#.into())
    );
    assert_eq!(
        request(&env.nats, subject.clone(), r#"{"ok":false}"#).await,
        InvocationOutcome::Ok(r#"{"completed":false}"#.into())
    );
    let record = env.nats.promises().get(&p).await.unwrap().unwrap();
    assert_eq!(record.payload.as_deref(), Some(&br#"{"ok":true}"#[..]));

    let unknown = request(&env.nats, "rvn.promise.approval.nats1.99".into(), "1").await;
    let InvocationOutcome::Err(e) = unknown else {
        panic!("expected an error, got {unknown:?}")
    };
    assert_eq!(e.kind, ErrorKind::UnknownPromise, "{}", e.message);

    let bad = request(&env.nats, "rvn.promise.approval.nats1.x".into(), "1").await;
    let InvocationOutcome::Err(e) = bad else {
        panic!("expected an error, got {bad:?}")
    };
    assert_eq!(e.kind, ErrorKind::InvalidPromiseId);
    assert!(e.message.contains("whole number"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_completes_a_promise_with_nats_py() {
    let mut env = Env::new(&[]).await;
    let _executor = env.executor().await;
    let p = id("approval/py1/8");
    env.nats.promises().create(&p).await.unwrap();

    let payload = r#"{"approved": "by python"}"#;
    let lines = python_lines("promise.py", &[&env.server.url(), &p.to_string(), payload]).await;
    assert_eq!(
        lines,
        [
            serde_json::json!({"status": "ok", "body": {"completed": true}}),
            serde_json::json!({"status": "ok", "body": {"completed": false}}),
        ]
    );
    let record = env.nats.promises().get(&p).await.unwrap().unwrap();
    assert_eq!(record.payload.as_deref(), Some(payload.as_bytes()));
}
