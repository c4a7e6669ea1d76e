//! `/v1/subscriptions…` through a real router, executor and nats-server: a
//! subscription added over HTTP applies the messages of its stream (the counter's
//! `add`, the payload its arguments), shows its status, pauses, resumes and is
//! deleted; bad input is a 400 `invalid-subscription` saying what was expected, an
//! unknown name a 404; the OpenAPI document has the endpoints.

use std::time::Duration;

use bytes::Bytes;
use revenant_tests::wait_until;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_added_over_http_applies_its_stream_and_can_be_paused_and_deleted() {
    let e = common::env().await;
    e.nats
        .ensure_stream("NUMS", &["nums.>".into()])
        .await
        .unwrap();
    let body = serde_json::json!({
        "name": "nums", "stream": "NUMS", "filters": ["nums.>"], "component": "counter",
        "worker": "n-{token:2}", "function": "add", "window": 4, "on-failure": "dead-letter",
        "start": "all"
    });
    let (status, made) = e.post("/v1/subscriptions", &body.to_string(), None).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["function"], "example:counter/api.{add}");
    for n in 1..=10u64 {
        e.nats
            .jetstream()
            .publish("nums.a", Bytes::from(format!("[{n}]")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    wait_until("the ten numbers added", Duration::from_secs(60), || async {
        let (_, total) = e
            .post("/v1/components/counter/workers/n-a/invoke/get", "[]", None)
            .await;
        (total == 55).then_some(())
    })
    .await;
    let one = wait_until(
        "the forwarder's status",
        Duration::from_secs(30),
        || async {
            let (status, one) = e.get("/v1/subscriptions/nums").await;
            (status == 200 && one["status"]["applied"] == 10).then_some(one)
        },
    )
    .await;
    assert_eq!(one["spec"]["window"], 4);
    let (_, list) = e.get("/v1/subscriptions").await;
    assert_eq!(list["subscriptions"][0]["spec"]["name"], "nums");

    let (status, paused) = e.post("/v1/subscriptions/nums/pause", "", None).await;
    assert_eq!((status, &paused["paused"]), (200, &serde_json::json!(true)));
    let (status, resumed) = e.post("/v1/subscriptions/nums/resume", "", None).await;
    assert_eq!(
        (status, &resumed["paused"]),
        (200, &serde_json::json!(false))
    );
    let (status, err) = e.post("/v1/subscriptions/nums/explode", "", None).await;
    assert_eq!(
        (status, err["kind"].as_str()),
        (400, Some("invalid-subscription"))
    );
    let (status, _) = e.delete("/v1/subscriptions/nums").await;
    assert_eq!(status, 204);
    let (status, err) = e.get("/v1/subscriptions/nums").await;
    assert_eq!(
        (status, err["kind"].as_str()),
        (404, Some("unknown-subscription"))
    );
    let (status, _) = e.delete("/v1/subscriptions/nums").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_are_a_400_saying_what_was_expected() {
    let e = common::env().await;
    e.nats
        .ensure_stream("NUMS2", &["nums2.>".into()])
        .await
        .unwrap();
    let base = serde_json::json!({
        "name": "s", "stream": "NUMS2", "component": "counter", "worker": "{token:2}", "function": "add"
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b.to_string()
    };
    for (body, expected) in [
        (with("stream", "NOPE".into()), "create it first"),
        (
            with("worker", "a.{token:1}".into()),
            "outside a placeholder",
        ),
        (with("function", "nope".into()), "nope"),
        (with("component", "ghost".into()), "upload it first"),
        (with("window", 0.into()), "expected 1 to"),
        (
            with("on-failure", "drop".into()),
            "expected block-key or dead-letter",
        ),
        (with("start", "yesterday".into()), "RFC 3339"),
        (with("colour", "red".into()), "expected {\"name\""),
    ] {
        let (status, err) = e.post("/v1/subscriptions", &body, None).await;
        assert_eq!(
            (status, err["kind"].as_str()),
            (400, Some("invalid-subscription")),
            "{body}: {err}"
        );
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let (_, doc) = e.get("/openapi.json").await;
    for path in [
        "/v1/subscriptions",
        "/v1/subscriptions/{name}",
        "/v1/subscriptions/{name}/{action}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} in the OpenAPI document"
        );
    }
}
