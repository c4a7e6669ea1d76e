//! Time travel through a real router, executor and nats-server:
//! `GET …/inspect?at=` replays the worker up to an oplog index on a throwaway
//! instance and lists every invocation started by then with what it returned;
//! the live worker and its oplog are untouched; bad indexes are 400s saying which
//! exist, an unknown worker a 404, and no executor a 503; the executors endpoint
//! lists the executor with its shards.

use crate::common;

use std::time::Duration;

use revenant_tests::wait_until;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_replayed_as_of_an_index_without_touching_it() {
    let mut e = common::env().await;
    let base = "/v1/components/counter/workers/tt";
    for (n, total) in [(1, 1), (2, 3), (3, 6)] {
        let r = e
            .post(&format!("{base}/invoke/add"), &format!("[{n}]"), None)
            .await;
        assert_eq!(r, (200, json!(total)));
    }
    let (_, before) = e.get(&format!("{base}/oplog?count=1000")).await;
    let entries = before["entries"].as_array().unwrap().len();
    // create, then started / completed per invocation: index 5 completes the second.
    let (status, i) = e.get(&format!("{base}/inspect?at=5")).await;
    assert_eq!(status, 200, "{i}");
    assert_eq!(
        (i["at"].clone(), i["last-index"].clone()),
        (json!(5), json!(7))
    );
    let invocations = i["invocations"].as_array().unwrap();
    let seen: Vec<_> = invocations
        .iter()
        .map(|x| {
            (
                x["args"].clone(),
                x["result"].clone(),
                x["replayed"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("[1]"), json!("1"), json!("replayed")),
            (json!("[2]"), json!("3"), json!("replayed")),
        ]
    );
    assert_eq!(invocations[1]["recorded"], json!({"ok": "3"}));

    // In the middle of an invocation: it was running then, and is not re-run.
    let (_, i) = e.get(&format!("{base}/inspect?at=6")).await;
    assert_eq!(i["invocations"][2]["replayed"], "running", "{i}");
    assert!(i["invocations"][2].get("result").is_none(), "{i}");

    // The live worker and its oplog are as they were.
    let (_, after) = e.get(&format!("{base}/oplog?count=1000")).await;
    assert_eq!(after["entries"].as_array().unwrap().len(), entries);
    let r = e.post(&format!("{base}/invoke/add"), "[4]", None).await;
    assert_eq!(r, (200, json!(10)));

    // Bad requests say what can be asked.
    for at in ["0", "99"] {
        let (status, body) = e.get(&format!("{base}/inspect?at={at}")).await;
        assert_eq!(
            (status, body["kind"].clone()),
            (400, json!("invalid-request")),
            "{body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("indexes 1 to 9"),
            "{body}"
        );
    }
    let (status, body) = e.get(&format!("{base}/inspect")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = e
        .get("/v1/components/counter/workers/ghost/inspect?at=1")
        .await;
    assert_eq!(
        (status, body["kind"].clone()),
        (404, json!("unknown-worker")),
        "{body}"
    );

    // The executor and its shards; the OpenAPI document has both endpoints.
    // (Its heartbeat lists the shards it holds from the next beat on.)
    let ex = wait_until(
        "the executor's heartbeat with its shards",
        Duration::from_secs(30),
        || async {
            let (status, ex) = e.get("/v1/executors").await;
            assert_eq!(status, 200, "{ex}");
            let held = ex["executors"][0]["shards"].as_array().map_or(0, Vec::len);
            (held > 0 && Some(held as u64) == ex["shards"].as_u64()).then_some(ex)
        },
    )
    .await;
    assert_eq!(ex["executors"].as_array().map(Vec::len), Some(1), "{ex}");
    let (_, doc) = e.get("/openapi.json").await;
    assert!(doc["paths"]["/v1/executors"]["get"].is_object());
    assert!(doc["paths"]["/v1/components/{component}/workers/{worker}/inspect"]["get"].is_object());

    // No executor holds the worker: 503, retry.
    e.executor.take().unwrap().stop().await;
    let (status, body) = e.get(&format!("{base}/inspect?at=5")).await;
    assert_eq!(
        (status, body["kind"].clone()),
        (503, json!("unavailable")),
        "{body}"
    );
}
