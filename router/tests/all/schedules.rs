//! `/v1/components/{c}/workers/{w}/schedules…` through a real router, executor
//! and nats-server: a schedule made over HTTP is listed with its next fire time,
//! fires once and shows its last firing; a named one is replaced, not doubled;
//! DELETE cancels; bad input is a 400 `invalid-schedule` saying what was
//! expected; the OpenAPI document has the endpoints.

use std::time::Duration;

use crate::common;

use revenant_tests::wait_until;

const BASE: &str = "/v1/components/counter/workers/sched/schedules";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_made_over_http_is_listed_fires_once_and_can_be_cancelled() {
    let e = common::env().await;
    let (status, made) = e
        .post(
            BASE,
            r#"{"function": "add", "args": [5], "in": "1s", "name": "soon"}"#,
            None,
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["id"], "i-soon");
    let key = made["idempotency-key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("i-soon@"), "{key}");

    let fired = wait_until(
        "the one-off fired and recorded",
        Duration::from_secs(30),
        || async {
            let (status, one) = e.get(&format!("{BASE}/i-soon")).await;
            (status == 200 && one["last-firing"]["outcome"] == "ok").then_some(one)
        },
    )
    .await;
    assert_eq!(fired["pending"], false);
    assert_eq!(fired["last-firing"]["idempotency-key"], key.as_str());
    let (_, total) = e
        .post(
            "/v1/components/counter/workers/sched/invoke/get",
            "[]",
            None,
        )
        .await;
    assert_eq!(total, 5, "applied once");

    // A named cron schedule, replaced: one schedule, the last one.
    for expr in ["0 0 9 * * *", "0 30 9 * * 1-5"] {
        let body = serde_json::json!({"function": "add", "args": [1], "cron": expr, "tz": "Europe/Paris", "name": "daily", "overlap": "skip"});
        let (status, made) = e.post(BASE, &body.to_string(), None).await;
        assert_eq!(
            (status, made["id"].as_str()),
            (201, Some("c-daily")),
            "{made}"
        );
    }
    let (_, list) = e.get(BASE).await;
    let pending: Vec<_> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pending"] == true)
        .collect();
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["schedule"], "0 30 9 * * 1-5");
    assert_eq!(pending[0]["time-zone"], "Europe/Paris");
    assert_eq!(pending[0]["overlap"], "skip");

    let (status, _) = e.delete(&format!("{BASE}/c-daily")).await;
    assert_eq!(status, 204);
    let (status, body) = e.delete(&format!("{BASE}/c-daily")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("unknown-schedule"))
    );
    let (status, body) = e.get(&format!("{BASE}/c-nothing")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("unknown-schedule"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_schedules_are_a_400_saying_what_was_expected() {
    let e = common::env().await;
    for (body, expected) in [
        (r#"{"function": "add", "at": "next tuesday"}"#, "RFC 3339"),
        (
            r#"{"function": "add", "in": "5"}"#,
            "expected numbers with units",
        ),
        (
            r#"{"function": "add", "cron": "0 9 * * *"}"#,
            "seconds first",
        ),
        (
            r#"{"function": "add", "cron": "0 0 9 * * *", "tz": "Mars/Olympus"}"#,
            "IANA",
        ),
        (
            r#"{"function": "add", "cron": "61 0 9 * * *"}"#,
            "seconds 0-59",
        ),
        (r#"{"function": "add"}"#, "exactly one of"),
        (
            r#"{"function": "add", "in": "1s", "overlap": "maybe"}"#,
            "expected queue",
        ),
        (
            r#"{"function": "add", "in": "1s", "when": "now"}"#,
            "expected {\"function\"",
        ),
    ] {
        let (status, err) = e.post(BASE, body, None).await;
        assert_eq!(
            (status, err["kind"].as_str()),
            (400, Some("invalid-schedule")),
            "{body}: {err}"
        );
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let (_, doc) = e.get("/openapi.json").await;
    let paths = &doc["paths"];
    assert!(paths["/v1/components/{component}/workers/{worker}/schedules"]["post"].is_object());
    assert!(paths["/v1/components/{component}/workers/{worker}/schedules"]["get"].is_object());
    assert!(
        paths["/v1/components/{component}/workers/{worker}/schedules/{id}"]["delete"].is_object()
    );
}
