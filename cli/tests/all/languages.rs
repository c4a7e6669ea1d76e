//! Guests in Python and TypeScript (issue 20), built by the project's own build
//! step (`cli/examples-build`, pinned tools from `scripts/bootstrap`), run by a
//! real `revenant executor` child process that is SIGKILLed mid-life; a second
//! executor replays each worker exactly: the journaled random number and HTTP
//! response come back from the oplog (the HTTP server is not called again),
//! duplicates of answered keys get their original answers, and new invocations
//! continue from the replayed state. A Python exception / JS error reaches the
//! caller with its message and traceback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use revenant_nats::Nats;
use revenant_tests::revenant::{Answer, connect, deploy, invoke};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use revenant_types::oplog::OplogEntry;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::{self, Executor, owner_of};

/// A local HTTP/1.1 server answering `hit-<n>` and counting requests.
async fn hit_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/count", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = format!("hit-{}", counter.fetch_add(1, Ordering::SeqCst) + 1);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, hits)
}

/// Entries of a worker's oplog.
async fn entries(nats: &Nats, worker: &WorkerId) -> Vec<OplogEntry> {
    let read = nats.oplog().read(worker, 1).await.expect("read oplog");
    read.entries.into_iter().map(|(_, e)| e).collect()
}

fn ok(a: Answer) -> serde_json::Value {
    a.unwrap_or_else(|e| panic!("expected a result, got the error {e}"))
}

/// The counter example of one language: state, a journaled random draw and a journaled
/// HTTP response survive SIGKILL of the executor and are replayed exactly.
async fn counter_replays_exactly_after_sigkill(component: &str, path: &str) {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, component, path).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, hits) = hit_server().await;
    let w = format!("{component}/c1");
    let worker = WorkerId::parse_path(&w).expect("worker");

    let mut first = Executor::spawn(&server.url(), &[], "lang-1", dir.path(), &[]);
    wait_until("lang-1 to hold the worker's shard", Duration::from_secs(30), || async {
        (owner_of(&nats, &worker).await.as_deref() == Some("lang-1")).then_some(())
    })
    .await;

    assert_eq!(ok(invoke(&nats, &w, "add", json!([5]), Some("k-add")).await), json!(5));
    let total = ok(invoke(&nats, &w, "add-random", json!([]), Some("k-random")).await);
    let drawn = total.as_u64().expect("add-random returns a u64").wrapping_sub(5);
    let fetched = ok(invoke(&nats, &w, "fetch", json!([url]), Some("k-fetch")).await);
    assert_eq!(fetched, json!({ "ok": "200 hit-1" }));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let before = entries(&nats, &worker).await;

    first.kill();
    let _second = Executor::spawn(&server.url(), &[], "lang-2", dir.path(), &[]);

    // A new invocation replays the worker first: the same random number, no new HTTP call.
    assert_eq!(
        ok(invoke(&nats, &w, "get", json!([]), Some("k-get")).await),
        json!(5u64.wrapping_add(drawn))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the replay called the HTTP server again");
    // Answered keys get their original answers; new ones continue from the replayed state.
    assert_eq!(ok(invoke(&nats, &w, "add-random", json!([]), Some("k-random")).await), total);
    assert_eq!(
        ok(invoke(&nats, &w, "add", json!([1]), Some("k-add-2")).await),
        json!(6u64.wrapping_add(drawn))
    );
    let fetched = ok(invoke(&nats, &w, "fetch", json!([url]), Some("k-fetch-2")).await);
    assert_eq!(fetched, json!({ "ok": "200 hit-2" }));
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
}

/// A guest's exception reaches the caller with its message and traceback.
async fn exception_reaches_the_caller(component: &str, path: &str, expected: &[&str]) {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, component, path).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let _exec = Executor::spawn(&server.url(), &[], "lang-err", dir.path(), &["--retry-attempts", "1"]);
    let w = format!("{component}/e1");
    let err = invoke(&nats, &w, "fail", json!(["the order is gone"]), Some("k-fail"))
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
        &["Error: the order is gone", "check"],
    )
    .await;
}
