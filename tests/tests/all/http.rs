//! Durable outgoing HTTP: a guest's `wasi:http` GET reaches a real local
//! server, its full response is journaled, replay on another executor hands
//! the recorded responses back without sending the requests again (the
//! server's hit count does not grow), and new calls after replay do reach the
//! server. Transport failures are the guest's error result, journaled too.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Env, invoke_once, oplog};
use revenant_tests::http_server::hit_server;
use revenant_tests::revenant::{call, invoke};
use revenant_types::oplog::{HostValue, OplogEntry};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn reply(n: usize) -> serde_json::Value {
    json!({ "ok": { "status": 200, "body": format!("hit-{n}") } })
}

/// Bodies of the journaled HTTP responses of `w`, in order.
async fn journaled_bodies(nats: &revenant_nats::Nats, w: &str) -> Vec<String> {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::EndRemoteWrite {
                response: HostValue::HttpResponse(r),
                ..
            } => Some(String::from_utf8_lossy(&r.body).into_owned()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_responses_are_journaled_and_not_refetched_on_replay() {
    let (url, hits) = hit_server().await;
    let mut env = Env::new(&[("test-http", revenant_guests::TEST_HTTP)]).await;
    let nats = env.nats.clone();
    let w = "test-http/h1";

    let exec = env.executor().await;
    assert_eq!(
        invoke(&nats, w, "get", json!([url]), Some("get-1")).await,
        Ok(reply(1))
    );
    assert_eq!(call(&nats, w, "get", json!([url])).await, Ok(reply(2)));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(journaled_bodies(&nats, w).await, ["hit-1", "hit-2"]);
    exec.stop().await;

    // Another executor. A duplicate of get-1 gets the first response (from RVN_RESULTS,
    // as JetStream deduplicates it); the next get recovers the worker by replaying both
    // gets from the journal, without sending either again, so it sees hit-3.
    let exec = env.executor().await;
    assert_eq!(
        invoke_once(&nats, w, "get", json!([url]), "get-1").await.1,
        Ok(reply(1))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        invoke(&nats, w, "get", json!([url]), Some("get-3")).await,
        Ok(reply(3))
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "replay must not repeat a journaled request"
    );
    assert_eq!(
        journaled_bodies(&nats, w).await,
        ["hit-1", "hit-2", "hit-3"]
    );
    exec.stop().await;

    // And once more: three recorded responses replayed, nothing sent.
    let exec = env.executor().await;
    assert_eq!(
        call(&nats, w, "get", json!(["http://127.0.0.1:9/unused"]))
            .await
            .map(|r| r["err"].is_string()),
        Ok(true)
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "three recorded responses replayed, nothing sent"
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_failures_are_error_results_and_replay_too() {
    // A port nobody listens on: bind, take the address, close.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let mut env = Env::new(&[("test-http", revenant_guests::TEST_HTTP)]).await;
    let nats = env.nats.clone();
    let w = "test-http/h2";
    let exec = env.executor().await;
    let r = call(&nats, w, "get", json!([dead]))
        .await
        .expect("an ok answer holding the guest's error");
    let err = r["err"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an err result, got {r}"));
    assert!(err.contains("request failed"), "{err}");
    let bad = call(&nats, w, "get", json!(["ftp://x"]))
        .await
        .expect("answer");
    assert!(
        bad["err"].as_str().is_some_and(|m| m.contains("http://")),
        "{bad}"
    );
    exec.stop().await;

    let exec = env.executor().await;
    let (url, hits) = hit_server().await;
    assert_eq!(call(&nats, w, "get", json!([url])).await, Ok(reply(1)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    exec.stop().await;
}

/// A server that never answers its first request (holding the connection open) and
/// answers later ones with `hit-<n>`.
async fn stalling_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            common::read_request_head(&mut sock).await;
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                held.push(sock);
                continue;
            }
            let body = format!("hit-{n}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_in_flight_when_its_executor_dies_is_sent_again_and_answered() {
    let (url, hits) = stalling_server().await;
    let mut env = Env::new(&[("test-http", revenant_guests::TEST_HTTP)]).await;
    let nats = env.nats.clone();
    let w = "test-http/h3";
    let exec = env.executor().await;
    let caller = {
        let (nats, url) = (nats.clone(), url.clone());
        tokio::spawn(async move { invoke(&nats, w, "get", json!([url]), Some("in-flight")).await })
    };
    revenant_tests::wait_until("the request at the server", common::TIMEOUT, || async {
        (hits.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Crash: the executor's tasks are aborted, its leases are left to expire.
    drop(exec);
    let exec = env.executor().await;
    // The new owner re-runs the unfinished invocation: the request had no recorded
    // response, so it is sent again (at-least-once) and the original caller is answered.
    assert_eq!(caller.await.unwrap(), Ok(reply(2)));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let entries = oplog(&nats, w).await;
    let count = |f: fn(&OplogEntry) -> bool| entries.iter().filter(|(_, e)| f(e)).count();
    assert_eq!(
        count(|e| matches!(e, OplogEntry::InvocationStarted { .. })),
        1,
        "{entries:?}"
    );
    assert_eq!(
        count(|e| matches!(e, OplogEntry::BeginRemoteWrite { .. })),
        1,
        "{entries:?}"
    );
    assert_eq!(journaled_bodies(&nats, w).await, ["hit-2"]);
    exec.stop().await;
}

/// The invocation deadline covers host waits (issue 11, scenario 6): a guest blocked on
/// an HTTP response that never comes is stopped at its deadline and answered
/// `deadline-exceeded`, while a durable sleep longer than the deadline is not work.
#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_covers_a_blocked_http_call_but_not_a_durable_sleep() {
    let (url, hits) = stalling_server().await;
    let mut env = Env::new(&[
        ("test-http", revenant_guests::TEST_HTTP),
        ("waits", revenant_guests::TEST_DURABILITY),
    ])
    .await;
    let _exec = env
        .executor_with(|o| {
            o.invocation_timeout_ms = 1_000;
            o.retry.max_attempts = 1;
        })
        .await;
    let nats = env.nats.clone();
    let started = std::time::Instant::now();
    let answer = invoke(&nats, "test-http/slow", "get", json!([url]), Some("slow-1")).await;
    let err = answer.expect_err("deadline-exceeded");
    assert_eq!(common::kind(&err), "deadline-exceeded", "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A 2 s durable sleep under a 1 s deadline: waiting is not work.
    let woke = invoke(&nats, "waits/s", "sleep", json!([2_000]), None).await;
    assert!(woke.is_ok(), "{woke:?}");
}
