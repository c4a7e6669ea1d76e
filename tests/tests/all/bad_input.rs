//! Bad invocations are never silently dropped: each one gets an error reply
//! (`Rvn-Status: error` with a `kind` and a `message` that says what was
//! expected) and a record in `RVN_DEAD` carrying the same reason, and the
//! executor carries on — a valid invocation afterwards still works. Covers
//! unknown components and functions, malformed JSON, wrong types and arity,
//! invalid names (published raw, past the typed constructors), a missing
//! `Rvn-Function`, payloads over the configured limit, unsupported content
//! types and bad WAVE.

use crate::common;

use bytes::Bytes;
use common::{Env, TIMEOUT, dead_count, dead_letter, dead_reason, kind, message};
use futures::StreamExt;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::{Nats, headers};
use revenant_tests::revenant::{Answer, answer_of, call, invoke, invoke_raw};
use serde_json::json;

/// Asserts `answer` is an error of `kind` whose message contains every one of
/// `needles`, and that the dead letter on `<ns>.dead.<tail>` says the same.
async fn assert_rejected(
    nats: &Nats,
    answer: Answer,
    expected_kind: &str,
    needles: &[&str],
    tail: &str,
) {
    let err = answer.expect_err("a rejected invocation must answer with an error");
    assert_eq!(kind(&err), expected_kind, "{err}");
    for n in needles {
        assert!(
            message(&err).contains(n),
            "message {:?} should mention {n:?}",
            message(&err)
        );
    }
    let dead = dead_letter(nats, tail).await;
    let (dead_kind, dead_message) = dead_reason(&dead);
    assert_eq!(dead_kind, expected_kind, "dead letter on {tail}");
    assert_eq!(
        dead_message,
        message(&err).replace(['\r', '\n'], " "),
        "dead letter on {tail}"
    );
}

/// JetStream-publishes raw headers and body to `subject` with a reply inbox and waits for the answer.
async fn publish_raw(nats: &Nats, subject: &str, mut h: HeaderMap, body: &'static str) -> Answer {
    let inbox = nats.client().new_inbox();
    let mut sub = nats.client().subscribe(inbox.clone()).await.unwrap();
    h.insert(headers::REPLY_TO, inbox.as_str());
    nats.jetstream()
        .publish_with_headers(subject.to_owned(), h, Bytes::from_static(body.as_bytes()))
        .await
        .expect("publish")
        .await
        .expect("stored");
    let msg = tokio::time::timeout(TIMEOUT, sub.next())
        .await
        .expect("an answer")
        .expect("inbox");
    answer_of(&msg)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_functions_and_content_are_answered_and_dead_lettered() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let json = Some(headers::CONTENT_TYPE_JSON);

    let r = invoke(nats, "counter/w-fn", "frobnicate", json!([1]), None).await;
    assert_rejected(nats, r, "unknown-function", &["frobnicate"], "counter.w-fn").await;

    let r = invoke_raw(
        nats,
        "counter/w-json",
        "add",
        json,
        Bytes::from_static(b"[5"),
        None,
    )
    .await;
    assert_rejected(nats, r, "invalid-json", &["JSON array"], "counter.w-json").await;

    let r = invoke(nats, "counter/w-type", "add", json!(["five"]), None).await;
    assert_rejected(
        nats,
        r,
        "invalid-arguments",
        &["argument 1 (value)", "u64"],
        "counter.w-type",
    )
    .await;

    let r = invoke(nats, "counter/w-neg", "add", json!([-1]), None).await;
    assert_rejected(
        nats,
        r,
        "invalid-arguments",
        &["argument 1 (value)"],
        "counter.w-neg",
    )
    .await;

    let r = invoke(nats, "counter/w-arity", "add", json!([1, 2]), None).await;
    assert_rejected(nats, r, "invalid-arguments", &["1", "2"], "counter.w-arity").await;

    let r = invoke_raw(
        nats,
        "counter/w-ct",
        "add",
        Some("text/plain"),
        Bytes::from_static(b"5"),
        None,
    )
    .await;
    assert_rejected(
        nats,
        r,
        "unsupported-content-type",
        &["text/plain", "application/json"],
        "counter.w-ct",
    )
    .await;

    let wave = Some(headers::CONTENT_TYPE_WAVE);
    let r = invoke_raw(
        nats,
        "counter/w-wave",
        "add",
        wave,
        Bytes::from_static(b"\"five\""),
        None,
    )
    .await;
    assert_rejected(nats, r, "invalid-arguments", &["u64"], "counter.w-wave").await;
    let r = invoke_raw(
        nats,
        "counter/w-wave2",
        "add",
        wave,
        Bytes::from_static(b"5, ((("),
        None,
    )
    .await;
    assert_rejected(nats, r, "invalid-arguments", &[], "counter.w-wave2").await;

    // No Rvn-Function header at all (published raw: the typed request always sets one).
    let subject = nats
        .namespace()
        .invoke_subject(&common::worker("counter/w-nofn"));
    let r = publish_raw(nats, &subject, HeaderMap::new(), "[1]").await;
    assert_rejected(
        nats,
        r,
        "missing-function",
        &[headers::FUNCTION],
        "counter.w-nofn",
    )
    .await;

    // Nothing changed any state, and the executor carries on (WAVE included).
    assert_eq!(dead_count(nats).await, 9);
    let r = invoke_raw(
        nats,
        "counter/w-type",
        "add",
        wave,
        Bytes::from_static(b"5"),
        None,
    )
    .await;
    assert_eq!(r, Ok(json!(5)));
    assert_eq!(
        call(nats, "counter/w-type", "add", json!([1])).await,
        Ok(json!(6))
    );
    // A core request with a bad body gets the same answer.
    let err = call(nats, "counter/w-call", "add", json!({ "value": "x" }))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), "invalid-arguments", "{err}");
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_component_is_rejected_and_the_executor_carries_on() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let r = invoke(nats, "nope/w1", "add", json!([1]), None).await;
    assert_rejected(nats, r, "unknown-component", &["nope"], "nope.w1").await;
    let err = call(nats, "nope/w2", "add", json!([1])).await.unwrap_err();
    assert_eq!(kind(&err), "unknown-component", "{err}");
    // The component deployed later is picked up by the same worker name.
    revenant_tests::revenant::deploy(nats, "nope", revenant_guests::COUNTER).await;
    assert_eq!(
        invoke(nats, "nope/w1", "add", json!([2]), None).await,
        Ok(json!(2))
    );
    assert_eq!(
        call(nats, "counter/ok", "add", json!([3])).await,
        Ok(json!(3))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_passed_upload_but_cannot_link_is_rejected_not_retried() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    // Upload checks imports by name; this one imports a function the host does not have.
    let bytes = revenant_components::fixtures::component_bytes("unlinkable");
    let name = revenant_types::ComponentName::new("unlinkable").unwrap();
    nats.components()
        .upload(&name, bytes)
        .await
        .expect("upload");
    let r = invoke(nats, "unlinkable/w1", "hello", json!(["x"]), None).await;
    assert_rejected(
        nats,
        r,
        "invalid-component",
        &["unlinkable", "cannot run here"],
        "unlinkable.w1",
    )
    .await;
    assert_eq!(
        call(nats, "counter/ok", "add", json!([3])).await,
        Ok(json!(3))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_names_are_rejected_on_invoke_and_call() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let prefix = nats.namespace().prefix().to_owned();
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, "add");
    // `$` is legal in a NATS subject, so the partition transform stores the message as
    // `rvn.invoke.<shard>.bad$name.w1` and a shard consumer must reject it.
    let r = publish_raw(
        nats,
        &format!("{prefix}.invoke.bad$name.w1"),
        h.clone(),
        "[1]",
    )
    .await;
    assert_rejected(
        nats,
        r,
        "invalid-name",
        &["bad$name", "[A-Za-z0-9_-]"],
        "_invalid._invalid",
    )
    .await;
    let dead = dead_letter(nats, "_invalid._invalid").await;
    let original = dead
        .headers
        .get(headers::ORIGINAL_SUBJECT)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        original.starts_with(&format!("{prefix}.invoke.")) && original.ends_with(".bad$name.w1"),
        "the dead letter keeps the stored (partitioned) subject, got {original:?}"
    );
    let long = "w".repeat(129);
    let r = publish_raw(
        nats,
        &format!("{prefix}.invoke.counter.{long}"),
        h.clone(),
        "[1]",
    )
    .await;
    assert_eq!(kind(&r.unwrap_err()), "invalid-name");

    // An extra token matches no stream subject: the publisher's own publish fails, nothing is stored.
    let extra = nats
        .jetstream()
        .publish_with_headers(
            format!("{prefix}.invoke.counter.a.b"),
            h.clone(),
            "[1]".into(),
        )
        .await;
    let stored = match extra {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    assert!(!stored, "a four-token invoke subject must not be stored");

    // On the core call subject the bridge answers invalid-name itself.
    let reply = tokio::time::timeout(
        TIMEOUT,
        nats.client().request_with_headers(
            format!("{prefix}.call.bad$name.w1"),
            h.clone(),
            "[1]".into(),
        ),
    )
    .await
    .expect("an answer")
    .expect("request");
    let body = answer_of(&reply).unwrap_err();
    assert_eq!(kind(&body), "invalid-name", "{body}");
    assert_eq!(dead_count(nats).await, 2);
    assert_eq!(
        call(nats, "counter/fine", "add", json!([4])).await,
        Ok(json!(4))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_over_the_limit_is_refused() {
    let mut env = Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| {
        o.max_payload = 1024
    })
    .await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let big = format!("[\"{}\"]", "x".repeat(4096));
    let w = common::worker("counter/big");

    // JetStream publish: the stream's max message size refuses it before anything is stored,
    // so the publisher itself gets the error (there is no message to answer or dead-letter).
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, "add");
    let published = nats
        .jetstream()
        .publish_with_headers(
            nats.namespace().invoke_subject(&w),
            h.clone(),
            big.clone().into(),
        )
        .await;
    let refused = match published {
        Ok(ack) => ack.await.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let refused = refused.expect("a payload over max_payload must not be stored");
    assert!(
        refused.to_lowercase().contains("size") || refused.contains("payload"),
        "{refused}"
    );

    // Core request on the call bridge: answered with an error that names the limit.
    let reply = tokio::time::timeout(
        TIMEOUT,
        nats.client()
            .request_with_headers(nats.namespace().call_subject(&w), h, big.into()),
    )
    .await
    .expect("an answer")
    .expect("request");
    let body = answer_of(&reply).unwrap_err();
    assert_eq!(kind(&body), "payload-too-large", "{body}");
    assert!(message(&body).contains("1024"), "{body}");

    assert_eq!(
        call(nats, "counter/big", "add", json!([1])).await,
        Ok(json!(1))
    );
    exec.stop().await;
}
