//! The clickstream pipeline (`examples/clickstream`) as a test load: its streams and
//! subscriptions, publishing clicks (each with a `Nats-Msg-Id`, retried until stored, so
//! a nats-server restart loses or doubles none), and the check that every click was
//! applied once and in order and the daily totals equal the offline computation. Used by
//! the in-process tests (`tests/tests/all/subscriptions.rs`) and the kill -9 tests
//! (`cli/tests/all/subscriptions.rs`).

use std::time::Duration;

use bytes::Bytes;
use revenant_examples::clickstream::{Totals, offline, parse_click};
use revenant_nats::Nats;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::headers;
use revenant_nats::subscriptions::NewSubscription;
use serde_json::json;

use crate::revenant::invoke;

/// The pipeline's components as `(name, path)`.
pub const PIPELINE: [(&str, &str); 2] = [
    ("sessionize", revenant_examples::SESSIONIZE),
    ("daily", revenant_examples::DAILY),
];

/// Generous: the pipeline runs two stages on two shared cores.
pub const DRAIN: Duration = Duration::from_secs(300);

fn clicks_subscription(window: u32) -> NewSubscription {
    NewSubscription {
        name: "clicks".into(),
        stream: "CLICKS".into(),
        filters: vec!["clicks.>".into()],
        component: "sessionize".into(),
        worker: "{token:2}".into(),
        window: Some(window),
        on_failure: Some("dead-letter".into()),
        start: Some("all".into()),
        ..Default::default()
    }
}

fn sessions_subscription() -> NewSubscription {
    NewSubscription {
        name: "sessions".into(),
        stream: "SESSIONS".into(),
        component: "daily".into(),
        worker: "day-{header:Day}".into(),
        function: Some("add-session".into()),
        on_failure: Some("dead-letter".into()),
        start: Some("all".into()),
        ..Default::default()
    }
}

/// Creates the pipeline's streams and subscriptions.
pub async fn pipeline(nats: &Nats, window: u32) {
    nats.ensure_stream("CLICKS", &["clicks.>".into()])
        .await
        .unwrap();
    nats.ensure_stream("SESSIONS", &["sessions.>".into()])
        .await
        .unwrap();
    nats.add_subscription(&clicks_subscription(window))
        .await
        .unwrap();
    nats.add_subscription(&sessions_subscription())
        .await
        .unwrap();
}

/// Publishes `clicks` into CLICKS, pipelined; each click's `Nats-Msg-Id` is
/// `click-<first + i>`. A click whose publish fails (the server restarting) is
/// published again, in order, until stored: JetStream's dedup keeps it once.
pub async fn publish_clicks(nats: &Nats, clicks: &[(String, u64)], first: usize) {
    let message = |i: usize| {
        let (user, ts) = &clicks[i];
        let mut h = HeaderMap::new();
        h.insert(headers::MSG_ID, format!("click-{}", first + i).as_str());
        let body = json!({ "page": "/p", "ts": ts }).to_string();
        (format!("clicks.{user}"), h, Bytes::from(body))
    };
    let mut next = 0;
    while next < clicks.len() {
        let end = (next + 256).min(clicks.len());
        let mut acks = Vec::new();
        for i in next..end {
            let (subject, h, body) = message(i);
            match nats
                .jetstream()
                .publish_with_headers(subject, h, body)
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(_) => break,
            }
        }
        let mut stored = next;
        for ack in acks {
            if ack.await.is_err() {
                break;
            }
            stored += 1;
        }
        if stored < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        next = stored;
    }
}

/// The invocations worker `sessionize/<user>`'s oplog holds, in journal order: each
/// idempotency key (its source sequence) with when it started (ms since the epoch) and
/// when it completed. Printed for a worker that saw a click out of order or twice, so a
/// failure says which click came late, and when.
async fn invocation_order(nats: &Nats, user: &str) -> String {
    use revenant_types::oplog::OplogEntry;
    let w = revenant_types::WorkerId::parse("sessionize", user).expect("worker id");
    let read = match nats.oplog().read(&w, 1).await {
        Ok(read) => read,
        Err(e) => return format!("[pipeline]   {w}: oplog unreadable: {e}"),
    };
    let mut out = format!("[pipeline]   {w} (last oplog sequence {}):", read.last_seq);
    for (i, e) in read.entries {
        match e {
            OplogEntry::InvocationStarted {
                at,
                idempotency_key,
                ..
            } => out += &format!(" [{i} {idempotency_key} started {at}"),
            OplogEntry::InvocationCompleted { at, .. } => out += &format!(" completed {at}]"),
            other => out += &format!(" {}", other.kind()),
        }
    }
    out
}

/// Stage 2's totals of `day`.
pub async fn day_totals(nats: &Nats, day: &str) -> Totals {
    let t = invoke(nats, &format!("daily/day-{day}"), "totals", json!([]), None)
        .await
        .expect("totals");
    serde_json::from_value(t).expect("totals record")
}

/// Waits until stage 2 holds the offline totals of the clicks stored in CLICKS (in
/// stream order: a publisher's retry may store a click after a later one), then checks
/// stage 1 applied each of them once, in order, and that CLICKS holds `published`
/// clicks (none lost or doubled by the publisher).
pub async fn assert_pipeline_result(nats: &Nats, published: &[(String, u64)]) {
    let stored = nats.read_stream("CLICKS").await.expect("read CLICKS");
    let clicks: Vec<(String, u64)> = stored
        .iter()
        .filter_map(|(s, p)| parse_click(s, p))
        .collect();
    let mut want = published.to_vec();
    let mut have = clicks.clone();
    want.sort_unstable();
    have.sort_unstable();
    assert!(want == have, "CLICKS holds each published click once");
    let clicks = &clicks;
    let expected = offline(clicks.iter().map(|(u, t)| (u.as_str(), *t)));
    assert!(!expected.is_empty(), "the clicks make finished sessions");
    let deadline = std::time::Instant::now() + DRAIN;
    for (day, totals) in &expected {
        loop {
            let got = day_totals(nats, day).await;
            if got == *totals {
                break;
            }
            if std::time::Instant::now() > deadline {
                let statuses: Vec<_> = nats
                    .list_subscriptions()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(spec, status)| (spec.name, status))
                    .collect();
                let (mut applied, mut violations) = (0, 0);
                let mut users: Vec<&str> = clicks.iter().map(|(u, _)| u.as_str()).collect();
                users.sort_unstable();
                users.dedup();
                for u in users {
                    let stats = invoke(nats, &format!("sessionize/{u}"), "stats", json!([]), None)
                        .await
                        .unwrap_or_default();
                    applied += stats["applied"].as_u64().unwrap_or(0);
                    let v = stats["violations"].as_u64().unwrap_or(0);
                    if v > 0 {
                        eprintln!("[pipeline] sessionize/{u}: {stats}");
                        eprintln!("{}", invocation_order(nats, u).await);
                    }
                    violations += v;
                }
                panic!(
                    "stage 1 applied {applied} of {} clicks, {violations} out of order or twice; the totals of {day} did not reach the offline computation within {DRAIN:?}: stage 2 has {got:?}, offline {totals:?}; subscriptions: {statuses:?}",
                    clicks.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut users: Vec<&str> = clicks.iter().map(|(u, _)| u.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let mut applied = 0;
    for u in users {
        let stats = invoke(nats, &format!("sessionize/{u}"), "stats", json!([]), None)
            .await
            .expect("stats");
        assert_eq!(stats["violations"], 0, "{u}: {stats}");
        applied += stats["applied"].as_u64().unwrap();
    }
    assert_eq!(applied, clicks.len() as u64, "every click applied once");
}
