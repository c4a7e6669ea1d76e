//! Guests in Python and TypeScript (issue 20), built by the project's own build
//! step (`cli/examples-build`, pinned tools from `scripts/bootstrap`), run by a
//! real `revenant executor` child process that is SIGKILLed mid-life; a second
//! executor replays each worker exactly: the journaled random number and HTTP
//! response come back from the oplog (the HTTP server is not called again),
//! duplicates of answered keys get their original answers, and new invocations
//! continue from the replayed state. A Python exception / JS error reaches the
//! caller with its message and traceback.

use std::sync::atomic::Ordering;
use std::time::Duration;

use revenant_nats::Nats;
use revenant_tests::http_server::hit_server;
use revenant_tests::revenant::{Answer, connect, deploy, invoke};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use revenant_types::oplog::OplogEntry;
use serde_json::json;

use crate::common::{self, Executor, owner_of};

/// Entries of a worker's oplog.
async fn entries(nats: &Nats, worker: &WorkerId) -> Vec<OplogEntry> {
    let read = nats.oplog().read(worker, 1).await.expect("read oplog");
    read.entries.into_iter().map(|(_, e)| e).collect()
}

/// Per invocation of the journal: its function and the host calls journaled during it.
fn host_calls_per_invocation(entries: &[OplogEntry]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for e in entries {
        match e {
            OplogEntry::InvocationStarted { function, .. } => {
                out.push((function.clone(), Vec::new()))
            }
            OplogEntry::HostCall { function, .. }
            | OplogEntry::BeginRemoteWrite { function, .. } => {
                if let Some((_, calls)) = out.last_mut() {
                    calls.push(function.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// The first invocation of a component on a fresh executor, which compiles it first
/// (about 20 s for an 18 MB component in a debug build, longer on a loaded machine):
/// re-published with the same key until answered, for up to three minutes.
pub async fn first_call(
    nats: &Nats,
    worker: &str,
    function: &str,
    args: serde_json::Value,
    key: &str,
) -> Answer {
    let id = WorkerId::parse_path(worker).expect("worker");
    common::invoke_retrying(
        nats,
        &id,
        function,
        &args,
        key,
        Duration::from_secs(10),
        Duration::from_secs(180),
    )
    .await
    .unwrap_or_else(|| panic!("no answer to {worker} {function} within 3 minutes"))
    .0
}

fn ok(a: Answer) -> serde_json::Value {
    a.unwrap_or_else(|e| panic!("expected a result, got the error {e}"))
}

/// A NATS server with `components` deployed, a client and a directory for executors.
async fn start(components: &[(&str, &str)]) -> (NatsServer, Nats, tempfile::TempDir) {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    for (name, path) in components {
        deploy(&nats, name, path).await;
    }
    (server, nats, tempfile::tempdir().expect("temp dir"))
}

/// The counter example of one language: state, a journaled random draw and a journaled
/// HTTP response survive SIGKILL of the executor and are replayed exactly.
async fn counter_replays_exactly_after_sigkill(component: &str, path: &str) {
    let _alone = common::alone().await;
    let (server, nats, dir) = start(&[(component, path)]).await;
    let (url, hits) = hit_server().await;
    let w = format!("{component}/c1");
    let worker = WorkerId::parse_path(&w).expect("worker");

    let mut first = Executor::spawn(&server.url(), &[], "lang-1", dir.path(), &[]);
    wait_until(
        "lang-1 to hold the worker's shard",
        Duration::from_secs(30),
        || async { (owner_of(&nats, &worker).await.as_deref() == Some("lang-1")).then_some(()) },
    )
    .await;

    let t0 = std::time::Instant::now();
    assert_eq!(
        ok(first_call(&nats, &w, "add", json!([5]), "k-add").await),
        json!(5)
    );
    let first_took = t0.elapsed();
    let t1 = std::time::Instant::now();
    let other = format!("{component}/other");
    assert_eq!(
        ok(invoke(&nats, &other, "get", json!([]), None).await),
        json!(0)
    );
    let second_worker = t1.elapsed();
    let t2 = std::time::Instant::now();
    assert_eq!(
        ok(invoke(&nats, &other, "get", json!([]), None).await),
        json!(0)
    );
    let warm = t2.elapsed();
    // The component is compiled and pre-instantiated once: a new worker costs an
    // instantiation (about 5–8 ms here for 13–18 MB components; bounded loosely so a
    // loaded machine does not fail it).
    assert!(
        second_worker < Duration::from_secs(1),
        "a new worker took {second_worker:?}"
    );
    eprintln!(
        "[test] {component}: first invocation (compile + new worker) {first_took:?}, a new worker's first {second_worker:?}, warm {warm:?}"
    );
    let mut events = Box::pin(nats.subscribe_events(&worker).await.expect("events"));
    let total = ok(invoke(&nats, &w, "add-random", json!([]), Some("k-random")).await);
    let drawn = total
        .as_u64()
        .expect("add-random returns a u64")
        .wrapping_sub(5);
    // Its wasi:logging line (through the SDK's `log`) is a `log` event with its level.
    let logged = next_log(&mut events).await;
    assert_eq!(
        (logged["level"].as_str(), logged["context"].as_str()),
        (Some("info"), Some("counter")),
        "{logged}"
    );
    assert_eq!(
        logged["message"],
        json!(format!("added a random number; total {total}"))
    );
    let fetched = ok(invoke(&nats, &w, "fetch", json!([url]), Some("k-fetch")).await);
    assert_eq!(fetched, json!({ "ok": "200 hit-1" }));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let before = entries(&nats, &worker).await;

    first.kill();
    let second = Executor::spawn(&server.url(), &[], "lang-2", dir.path(), &[]);

    // A new invocation replays the worker first: the same random number, no new HTTP call.
    let t3 = std::time::Instant::now();
    assert_eq!(
        ok(invoke(&nats, &w, "get", json!([]), Some("k-get")).await),
        json!(5u64.wrapping_add(drawn))
    );
    eprintln!(
        "[test] {component}: kill -9 → first answer of the replayed worker {:?}",
        t3.elapsed()
    );
    // Compiled once on this machine: the second executor reads the first one's cache.
    let compiled = |e: &Executor| e.logs().matches("compiled a component").count();
    assert_eq!(compiled(&first), 1, "lang-1 compiled the component once");
    assert_eq!(
        compiled(&second),
        0,
        "lang-2 used the compiled-component cache"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the replay called the HTTP server again"
    );
    // Answered keys get their original answers; new ones continue from the replayed state.
    assert_eq!(
        ok(invoke(&nats, &w, "add-random", json!([]), Some("k-random")).await),
        total
    );
    assert_eq!(
        ok(invoke(&nats, &w, "add", json!([1]), Some("k-add-2")).await),
        json!(6u64.wrapping_add(drawn))
    );
    let fetched = ok(invoke(&nats, &w, "fetch", json!([url]), Some("k-fetch-2")).await);
    assert_eq!(fetched, json!({ "ok": "200 hit-2" }));
    // The replay after the kill re-ran add-random without logging again (several
    // invocations have been answered since: a line it logged would be here by now).
    while let Some(Some(ev)) =
        futures::FutureExt::now_or_never(futures::StreamExt::next(&mut events))
    {
        let ev: serde_json::Value = serde_json::from_slice(&ev).expect("event JSON");
        assert_ne!(ev["kind"], "log", "a line logged again by the replay: {ev}");
    }
    let after = entries(&nats, &worker).await;
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the replay rewrote the journal it replayed"
    );
    eprintln!(
        "[test] {component}: {} oplog entries for 7 invocations, replayed exactly",
        after.len()
    );
    for (function, calls) in host_calls_per_invocation(&after) {
        eprintln!("[test] {component}: {function}: {calls:?}");
    }
}

/// The next `log` event among a worker's events.
async fn next_log(
    events: &mut (impl futures::Stream<Item = bytes::Bytes> + Unpin),
) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("a log event within 30 s")
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).expect("event JSON");
        if ev["kind"] == "log" {
            return ev;
        }
    }
}

/// A guest's exception reaches the caller with its message and traceback.
async fn exception_reaches_the_caller(component: &str, path: &str, expected: &[&str]) {
    let _alone = common::alone().await;
    let (server, nats, dir) = start(&[(component, path)]).await;
    let _exec = Executor::spawn(
        &server.url(),
        &[],
        "lang-err",
        dir.path(),
        &["--retry-attempts", "1"],
    );
    let w = format!("{component}/e1");
    let err = first_call(&nats, &w, "fail", json!(["the order is gone"]), "k-fail")
        .await
        .expect_err("fail raises");
    let message = err["message"].as_str().unwrap_or_default();
    eprintln!("[test] {component}: the caller got:\n{message}");
    for part in expected {
        assert!(message.contains(part), "the error lacks {part:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_counter_replays_exactly_after_sigkill() {
    counter_replays_exactly_after_sigkill("py-counter", revenant_examples::PY_COUNTER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_counter_replays_exactly_after_sigkill() {
    counter_replays_exactly_after_sigkill("ts-counter", revenant_examples::TS_COUNTER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_exception_reaches_the_caller_with_its_traceback() {
    exception_reaches_the_caller(
        "py-counter",
        revenant_examples::PY_COUNTER,
        &["ValueError: the order is gone", "Traceback", "in check"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_error_reaches_the_caller_with_its_stack() {
    exception_reaches_the_caller(
        "ts-counter",
        revenant_examples::TS_COUNTER,
        &["the order is gone", "Stack:", "check@guest.js"],
    )
    .await;
}

/// A worker waiting on its promise is SIGKILLed with its executor; the next executor
/// replays it to the same wait (no second promise), and completing the promise answers
/// the original invocation.
async fn approval_waits_across_sigkill(component: &str, path: &str) {
    let _alone = common::alone().await;
    let (server, nats, dir) = start(&[(component, path)]).await;
    let w = format!("{component}/a1");
    let worker = WorkerId::parse_path(&w).expect("worker");
    let mut first = Executor::spawn(&server.url(), &[], "lang-1", dir.path(), &[]);

    let waiting = {
        let (nats, worker) = (nats.clone(), worker.clone());
        tokio::spawn(async move {
            common::invoke_retrying(
                &nats,
                &worker,
                "request",
                &json!(["laptop"]),
                "k-request",
                Duration::from_secs(3),
                Duration::from_secs(120),
            )
            .await
        })
    };
    let promise = wait_until("the worker's promise", Duration::from_secs(60), || async {
        let listed = nats
            .promises()
            .list(Some(component), Some("a1"))
            .await
            .ok()?;
        listed.into_iter().next().map(|(id, _)| id)
    })
    .await;

    first.kill();
    let _second = Executor::spawn(&server.url(), &[], "lang-2", dir.path(), &[]);
    nats.promises()
        .complete(&promise, r#""approved""#.into())
        .await
        .expect("complete the promise");
    let (answer, _) = waiting
        .await
        .expect("caller task")
        .expect("the request was answered");
    assert_eq!(ok(answer), json!(r#"laptop: "approved""#));
    let promises = nats
        .promises()
        .list(Some(component), Some("a1"))
        .await
        .expect("list");
    assert_eq!(
        promises.len(),
        1,
        "the replay created a second promise: {promises:?}"
    );
    assert!(
        entries(&nats, &worker)
            .await
            .iter()
            .any(|e| matches!(e, OplogEntry::InvocationCompleted { .. }))
    );
}

/// Typed and untyped calls to the Rust `counter` run once on the callee across a SIGKILL
/// of the executor: a duplicate of an answered call gets the original answer.
async fn caller_calls_the_rust_counter_once_across_sigkill(component: &str, path: &str) {
    let _alone = common::alone().await;
    let (server, nats, dir) =
        start(&[("counter", revenant_examples::COUNTER), (component, path)]).await;
    let w = format!("{component}/p1");
    let mut first = Executor::spawn(&server.url(), &[], "lang-1", dir.path(), &[]);

    let add = |key: &'static str, value: u64| {
        let (nats, w) = (nats.clone(), w.clone());
        async move { ok(invoke(&nats, &w, "add-to", json!(["c1", value]), Some(key)).await) }
    };
    let added = first_call(&nats, &w, "add-to", json!(["c1", 5]), "k-add-1").await;
    assert_eq!(ok(added), json!({ "ok": 5 }));
    assert_eq!(
        ok(invoke(&nats, &w, "total-of", json!(["c1"]), Some("k-total-1")).await),
        json!({ "ok": 5 })
    );

    first.kill();
    let _second = Executor::spawn(&server.url(), &[], "lang-2", dir.path(), &[]);
    assert_eq!(
        add("k-add-1", 5).await,
        json!({ "ok": 5 }),
        "the duplicate's answer"
    );
    assert_eq!(add("k-add-2", 2).await, json!({ "ok": 7 }));
    assert_eq!(
        ok(invoke(&nats, "counter/c1", "get", json!([]), None).await),
        json!(7),
        "each call ran once on the callee"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_approval_waits_across_sigkill() {
    approval_waits_across_sigkill("py-approval", revenant_examples::PY_APPROVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_approval_waits_across_sigkill() {
    approval_waits_across_sigkill("ts-approval", revenant_examples::TS_APPROVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_caller_calls_the_rust_counter_once_across_sigkill() {
    caller_calls_the_rust_counter_once_across_sigkill("py-caller", revenant_examples::PY_CALLER)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_caller_calls_the_rust_counter_once_across_sigkill() {
    caller_calls_the_rust_counter_once_across_sigkill("ts-caller", revenant_examples::TS_CALLER)
        .await;
}
