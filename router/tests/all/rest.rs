//! The REST API through a real router (loopback socket, reqwest), a real
//! executor and nats-server: components, workers, invocations, oplog,
//! health, OpenAPI, metrics, console; bad requests; idempotency.

use crate::common;

use std::time::Duration;

use common::{env, read};
use revenant_tests::wait_until;
use serde_json::json;

fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "rvn-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"component\"; filename=\"c.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_endpoint() {
    let e = env().await;
    assert_eq!(e.get("/healthz").await.0, 200);
    assert_eq!(e.get("/readyz").await, (200, json!({"status": "ready"})));

    // Components: raw and multipart upload, list, get, version, download.
    let wasm = std::fs::read(revenant_guests::COUNTER).unwrap();
    let r = e
        .http
        .post(e.url("/v1/components/counter2"))
        .body(wasm.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!((status, body["version"].clone()), (201, json!(1)), "{body}");
    let (ct, form) = multipart(&wasm);
    let r = e
        .http
        .post(e.url("/v1/components/counter2"))
        .header("content-type", ct)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.1["version"], 2);
    let r = e
        .http
        .post(e.url("/v1/components/bad"))
        .body("not wasm")
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-component")),
        "{body}"
    );
    let (_, list) = e.get("/v1/components").await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["counter", "counter2", "shopping-cart"]);
    let (status, c) = e.get("/v1/components/counter2").await;
    assert_eq!((status, c["versions"].as_array().unwrap().len()), (200, 2));
    assert!(
        c["signatures"]
            .as_array()
            .unwrap()
            .contains(&json!("example:counter/api.{add}(value: u64) -> u64")),
        "{c}"
    );
    assert_eq!(
        e.get("/v1/components/counter2/versions/1").await.1["version"],
        1
    );
    assert_eq!(e.get("/v1/components/counter2/versions/9").await.0, 404);
    assert_eq!(
        e.get("/v1/components/nope").await.1["kind"],
        "unknown-component"
    );
    let r = e
        .http
        .get(e.url("/v1/components/counter2/versions/1/wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), wasm.as_slice());

    // Workers: create (args, env), conflict, get, list with filters and paging.
    let (status, w) = e
        .post(
            "/v1/components/counter/workers",
            r#"{"name": "w1", "env": {"A": "1"}, "args": ["x"]}"#,
            None,
        )
        .await;
    assert_eq!(
        (status, w["status"].as_str()),
        (201, Some("suspended")),
        "{w}"
    );
    assert_eq!(
        e.post("/v1/components/counter/workers", r#"{"name": "w1"}"#, None)
            .await
            .1["kind"],
        "worker-exists"
    );
    assert_eq!(
        e.post("/v1/components/nope/workers", r#"{"name": "w1"}"#, None)
            .await
            .0,
        404
    );
    assert_eq!(
        e.post("/v1/components/counter/workers", r#"{"name": "w.1"}"#, None)
            .await
            .0,
        400
    );
    assert_eq!(
        e.post("/v1/components/counter/workers", r#"{"name": "w2"}"#, None)
            .await
            .0,
        201
    );
    let (_, w) = e.get("/v1/components/counter/workers/w1").await;
    assert_eq!(w["env"], json!([["A", "1"]]));
    assert!(
        w["component-version"].is_u64() && w.get("component_version").is_none(),
        "JSON field names are kebab-case: {w}"
    );
    let (_, page) = e.get("/v1/workers?component=counter&limit=1").await;
    assert_eq!(page["workers"].as_array().unwrap().len(), 1);
    assert_eq!(page["next-cursor"], "counter/w1");
    let (_, page) = e
        .get("/v1/components/counter/workers?cursor=counter/w1")
        .await;
    assert_eq!(page["workers"][0]["id"]["worker"], "w2");
    assert_eq!(page["next-cursor"], json!(null));
    assert_eq!(e.get("/v1/workers?status=asleep").await.0, 400);
    assert_eq!(
        e.get("/v1/workers?status=failed").await.1["workers"],
        json!([])
    );

    // Invocations: array and object arguments; enqueue + poll.
    assert_eq!(
        e.post("/v1/components/counter/workers/w1/invoke/add", "[5]", None)
            .await,
        (200, json!(5))
    );
    let full = "/v1/components/counter/workers/w1/invoke/example:counter%2Fapi.%7Badd%7D";
    assert_eq!(e.post(full, r#"{"value": 2}"#, None).await, (200, json!(7)));
    let r = e
        .http
        .post(e.url("/v1/components/counter/workers/w1/enqueue/add"))
        .header("Idempotency-Key", "enq-1")
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/v1/invocations/enq-1");
    let polled = wait_until("the enqueued result", Duration::from_secs(20), || async {
        let (s, v) = e.get(&location).await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(polled, json!(8));
    assert_eq!(e.get("/v1/invocations/never").await.1["kind"], "no-result");

    // Oplog with paging.
    let (status, log) = e
        .get("/v1/components/counter/workers/w1/oplog?from=1&count=2")
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["entries"][0]["kind"], "create");
    assert_eq!(log["entries"].as_array().unwrap().len(), 2);
    assert_eq!(log["next"], 3);
    assert_eq!(
        e.get("/v1/components/counter/workers/ghost/oplog").await.0,
        404
    );

    // Interrupt / resume (in depth: tests/control.rs).
    assert_eq!(
        e.post("/v1/components/counter/workers/w1/interrupt", "", None)
            .await
            .1["status"],
        "interrupted"
    );
    assert_eq!(
        e.post("/v1/components/counter/workers/w1/resume", "", None)
            .await
            .1["status"],
        "idle"
    );

    // Delete.
    assert_eq!(e.delete("/v1/components/counter/workers/w2").await.0, 204);
    assert_eq!(e.get("/v1/components/counter/workers/w2").await.0, 404);
    assert_eq!(e.delete("/v1/components/counter/workers/w2").await.0, 404);

    // OpenAPI, metrics, console.
    let (_, doc) = e.get("/openapi.json").await;
    assert!(
        doc["paths"]["/v1/components/{component}/workers/{worker}/invoke/{function}"]["post"]
            .is_object()
    );
    assert!(doc["paths"]["/v1/apis"]["post"].is_object());
    let metrics = e
        .http
        .get(e.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("revenant_router_requests_total{method=\"POST\",route=\"/v1/components/{component}/workers/{worker}/invoke/{function}\",status=\"200\"}"), "{metrics}");
    let page = e
        .http
        .get(e.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Revenant console"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx() {
    let e = env().await;
    let invoke = "/v1/components/counter/workers/b1/invoke";
    let (s, b) = e.post(&format!("{invoke}/add"), "[5", None).await;
    assert_eq!((s, b["kind"].as_str()), (400, Some("invalid-json")), "{b}");
    let (s, b) = e.post(&format!("{invoke}/nope"), "[5]", None).await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (404, Some("unknown-function")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("available: example:counter/api.{add}"),
        "{b}"
    );
    let (s, b) = e.post(&format!("{invoke}/add"), r#"["five"]"#, None).await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (400, Some("invalid-arguments")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("expected u64"),
        "{b}"
    );
    let (s, b) = e.post(&format!("{invoke}/add"), "[1, 2]", None).await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (400, Some("invalid-arguments")),
        "{b}"
    );
    let (s, b) = e
        .post(&format!("{invoke}/add"), r#"{"amount": 1}"#, None)
        .await;
    assert!(
        s == 400
            && b["message"]
                .as_str()
                .unwrap()
                .contains("no parameter `amount`"),
        "{b}"
    );
    let (s, b) = e
        .post("/v1/components/nope/workers/b1/invoke/add", "[1]", None)
        .await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (404, Some("unknown-component")),
        "{b}"
    );
    let (s, b) = e
        .post(
            "/v1/components/counter/workers/b%2E1/invoke/add",
            "[1]",
            None,
        )
        .await;
    assert_eq!((s, b["kind"].as_str()), (400, Some("invalid-name")), "{b}");
    let (s, b) = e.post("/no/such/route", "{}", None).await;
    assert_eq!((s, b["kind"].as_str()), (404, Some("no-route")), "{b}");
    // The worker still works after all of that.
    assert_eq!(
        e.post(&format!("{invoke}/add"), "[3]", None).await,
        (200, json!(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_is_honoured_across_retries() {
    let e = env().await;
    let add = "/v1/components/counter/workers/i1/invoke/add";
    let first = e.post(add, "[10]", Some("retry-1")).await;
    assert_eq!(first, (200, json!(10)));
    // A retried POST (same key) gets the same result and has no second effect.
    assert_eq!(e.post(add, "[10]", Some("retry-1")).await, (200, json!(10)));
    let r = e
        .http
        .post(e.url(add))
        .header("Idempotency-Key", "retry-1")
        .body("[10]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotency-key"], "retry-1");
    assert_eq!(
        e.post("/v1/components/counter/workers/i1/invoke/get", "[]", None)
            .await,
        (200, json!(10))
    );
    // The same key for another worker is a conflict, not someone else's result.
    let (s, b) = e
        .post(
            "/v1/components/counter/workers/i2/invoke/add",
            "[1]",
            Some("retry-1"),
        )
        .await;
    assert_eq!((s, b["kind"].as_str()), (409, Some("key-conflict")), "{b}");
    // The same key with other arguments: the original's result, and the response says so.
    let r = e
        .http
        .post(e.url(add))
        .header("Idempotency-Key", "retry-1")
        .body("[5]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["rvn-duplicate"], "arguments-differ");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!(10));
    // Results are kept per worker; both poll routes find this one.
    assert_eq!(e.get("/v1/invocations/retry-1").await, (200, json!(10)));
    assert_eq!(
        e.get("/v1/components/counter/workers/i1/invocations/retry-1")
            .await,
        (200, json!(10))
    );
    assert_eq!(
        e.get("/v1/components/counter/workers/i2/invocations/retry-1")
            .await
            .0,
        404
    );
    // Without a key the router makes one and says which.
    let r = e.http.post(e.url(add)).body("[1]").send().await.unwrap();
    assert!(!r.headers()["idempotency-key"].is_empty());
}
