//! Through a real router, executor and nats-server: invoke-and-await answering
//! 202 + Location when the result is late, and a worker's live events (a
//! guest's printed line) as Server-Sent Events.

use crate::common;

use std::time::Duration;

use common::{client, env};
use futures::StreamExt;
use revenant_tests::revenant::TestExecutor;
use revenant_tests::wait_until;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_invocation_answers_202_then_the_result() {
    let mut e = env().await;
    e.executor.take().unwrap().stop().await;
    let r = e
        .http
        .post(e.url("/v1/components/counter/workers/t1/invoke/add?timeout-ms=300"))
        .header("Idempotency-Key", "slow-1")
        .body("[4]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["location"], "/v1/invocations/slow-1");
    assert_eq!(e.get("/v1/invocations/slow-1").await.0, 404);
    e.executor = Some(TestExecutor::start(&e.nats));
    let v = wait_until("the result", Duration::from_secs(30), || async {
        let (s, v) = e.get("/v1/invocations/slow-1").await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(v, json!(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_a_guests_printed_line() {
    let e = env().await;
    let r = client()
        .get(e.url("/v1/components/counter/workers/s1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = r.bytes_stream();
    let mut seen = String::new();
    // The subscription exists once the first comment arrives.
    while !seen.contains(": subscribed") {
        seen.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    let (s, total) = e
        .post(
            "/v1/components/counter/workers/s1/invoke/add-random",
            "[]",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let want = format!("total: {total}");
    tokio::time::timeout(Duration::from_secs(20), async {
        while !(seen.contains("event: stdout") && seen.contains(&want)) {
            let chunk = stream.next().await.expect("stream open").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{want}` in the events: {seen}"));
    assert!(seen.contains("event: invocation-started"), "{seen}");
}
