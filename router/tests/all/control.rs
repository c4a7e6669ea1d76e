//! Interrupt and resume through a real router (loopback socket), a real
//! executor and nats-server: the state in the answer and the worker record,
//! held invocations, unknown components and workers, and 503 when no executor
//! holds the worker.

use crate::common;

use std::time::Duration;

use common::{client, env};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_and_resume_endpoints() {
    let mut e = env().await;
    let base = "/v1/components/counter/workers/ctl";
    // Creates the worker (and waits until the executor holds its shard).
    assert_eq!(
        e.post(&format!("{base}/invoke/add"), "[1]", None).await,
        (200, json!(1))
    );

    let interrupted =
        json!({"worker": "counter.ctl", "status": "interrupted", "interrupted": true});
    assert_eq!(
        e.post(&format!("{base}/interrupt"), "", None).await,
        (200, interrupted.clone())
    );
    let (status, record) = e.get(base).await;
    assert_eq!(
        (status, record["status"].clone()),
        (200, json!("interrupted"))
    );
    // Idempotent.
    assert_eq!(
        e.post(&format!("{base}/interrupt"), "", None).await,
        (200, interrupted)
    );
    let (_, listed) = e.get("/v1/workers?status=interrupted").await;
    assert_eq!(
        listed["workers"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // An invocation waits while the worker is interrupted, and runs once it is resumed.
    let held = {
        let http = client();
        let url = e.url(&format!("{base}/invoke/add"));
        tokio::spawn(async move {
            let r = http.post(url).body("[1]").send().await.unwrap();
            common::read(r).await
        })
    };
    let waited = tokio::time::timeout(Duration::from_millis(700), async {
        while !held.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_err(),
        "the invocation was answered while interrupted"
    );
    assert_eq!(
        e.post(&format!("{base}/resume"), "", None).await,
        (
            200,
            json!({"worker": "counter.ctl", "status": "idle", "interrupted": false})
        )
    );
    assert_eq!(held.await.unwrap(), (200, json!(2)));

    // Unknown component or worker: 404; a bad name: 400.
    let (status, body) = e
        .post("/v1/components/nope/workers/x/interrupt", "", None)
        .await;
    assert_eq!(
        (status, body["kind"].clone()),
        (404, json!("unknown-component")),
        "{body}"
    );
    let (status, body) = e
        .post("/v1/components/counter/workers/ghost/resume", "", None)
        .await;
    assert_eq!(
        (status, body["kind"].clone()),
        (404, json!("unknown-worker")),
        "{body}"
    );
    let (status, _) = e
        .post("/v1/components/counter/workers/a.b/interrupt", "", None)
        .await;
    assert_eq!(status, 400);

    // The OpenAPI document describes the real answers.
    let (_, doc) = e.get("/openapi.json").await;
    let responses =
        &doc["paths"]["/v1/components/{component}/workers/{worker}/interrupt"]["post"]["responses"];
    for code in ["200", "404", "409", "503"] {
        assert!(responses.get(code).is_some(), "{code} missing: {responses}");
    }
    assert!(doc["components"]["schemas"]["ControlState"].is_object());

    // No executor: 503 with a message saying what to do.
    e.executor.take().unwrap().stop().await;
    let (status, body) = e.post(&format!("{base}/interrupt"), "", None).await;
    assert_eq!(
        (status, body["kind"].clone()),
        (503, json!("unavailable")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("no executor holds shard")
            && message.contains("counter.ctl")
            && message.contains("retry"),
        "{message}"
    );
}
