//! Subscriptions through a real executor and nats-server (ARCHITECTURE.md
//! "Subscriptions"): the clickstream pipeline end to end (every click applied once
//! and in order per user, the daily totals equal to the offline computation, the
//! source consumer never holding more than the window); poison messages under
//! `dead-letter` (to `RVN_DEAD` with the reason, the key goes on) and `block-key`
//! (the key stops, others go on; retry under a new key; skip); pause and resume; a
//! delivery lost on the way applied before the key's later messages.
//! Kill -9 of executors and a nats-server restart are in `cli/tests/all/subscriptions.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use revenant_examples::clickstream::generate;
use revenant_nats::Nats;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::subscriptions::{NewSubscription, SUBSCRIPTION};
use revenant_tests::pipeline::{DRAIN, PIPELINE, assert_pipeline_result, pipeline, publish_clicks};
use revenant_tests::revenant::{invoke, other_reader};
use revenant_tests::wait_until;
use serde_json::json;

use crate::common::{Env, dead_letter, dead_reason};

#[tokio::test(flavor = "multi_thread")]
async fn a_two_stage_pipeline_applies_every_click_once_in_order_within_its_window() {
    let mut env = Env::new(&PIPELINE).await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    const WINDOW: u32 = 8;
    pipeline(&nats, WINDOW).await;

    // The source consumer's unacknowledged messages, sampled all along.
    let most = Arc::new(AtomicU64::new(0));
    let spec = nats.subscription("clicks").await.unwrap().unwrap();
    let sampler = {
        let (nats, most) = (nats.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(lag) = nats.subscription_lag(&spec).await {
                    most.fetch_max(lag.ack_pending, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let clicks = generate(40, 1_500, 11);
    publish_clicks(&nats, &clicks, 0).await;
    assert_pipeline_result(&nats, &clicks).await;
    sampler.abort();
    let most = most.load(Ordering::Relaxed);
    assert!(
        (1..=u64::from(WINDOW)).contains(&most),
        "at most the window ({WINDOW}) was unacknowledged, and something was: {most}"
    );

    // The forwarder reports its lag, and the stage drained.
    let status = wait_until("the clicks forwarder's status", DRAIN, || async {
        let s = nats.subscription_status("clicks").await.ok()??;
        (s.applied == clicks.len() as u64 && s.in_flight == 0).then_some(s)
    })
    .await;
    assert_eq!((status.pending, status.dead_lettered), (0, 0), "{status:?}");
    assert!(status.blocked.is_empty(), "{status:?}");
}

/// A stream `P` of sessions for `daily/<Key header>` (any subject `p.>`), subscribed
/// with `policy`.
async fn poison_env(policy: &str) -> Env {
    let env = Env::new(&PIPELINE[1..]).await;
    env.nats.ensure_stream("P", &["p.>".into()]).await.unwrap();
    env.nats
        .add_subscription(&NewSubscription {
            name: "p".into(),
            stream: "P".into(),
            component: "daily".into(),
            worker: "{header:Key}".into(),
            function: Some("add-session".into()),
            on_failure: Some(policy.into()),
            start: Some("all".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    env
}

/// Publishes a session (or `raw`) for worker `key` (no `Key` header when `None`).
async fn publish_session(nats: &Nats, key: Option<&str>, raw: Option<&str>) -> u64 {
    let mut h = HeaderMap::new();
    if let Some(k) = key {
        h.insert("Key", k);
    }
    let body = raw.map_or_else(
        || json!({"user": "u", "start": 0, "end": 10, "pages": 1}).to_string(),
        str::to_owned,
    );
    nats.jetstream()
        .publish_with_headers("p.s", h, Bytes::from(body))
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

async fn sessions_of(nats: &Nats, w: &str) -> u64 {
    let t = invoke(nats, &format!("daily/{w}"), "totals", json!([]), None)
        .await
        .expect("totals");
    t["sessions"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn under_dead_letter_a_poison_message_is_dead_lettered_with_its_reason_and_its_key_goes_on() {
    let mut env = poison_env("dead-letter").await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    publish_session(&nats, Some("k1"), None).await;
    let bad = publish_session(&nats, Some("k1"), Some("not json")).await;
    publish_session(&nats, Some("k1"), None).await;
    publish_session(&nats, None, None).await; // names no worker

    wait_until("k1's two good sessions", DRAIN, || async {
        (sessions_of(&nats, "k1").await == 2).then_some(())
    })
    .await;
    let dead = dead_letter(&nats, "daily.k1").await;
    let (kind, message) = dead_reason(&dead);
    assert_eq!(kind, "subscription-failed");
    assert!(message.contains("invalid-json"), "{message}");
    assert_eq!(
        dead.headers.get(SUBSCRIPTION).map(|v| v.as_str()),
        Some("p")
    );
    assert_eq!(
        dead.headers
            .get("Rvn-Source")
            .map(|v| v.as_str().to_owned()),
        Some(format!("P:{bad}"))
    );
    assert_eq!(dead.payload.as_ref(), b"not json");
    let unnamed = dead_letter(&nats, "_invalid._invalid").await;
    assert!(
        dead_reason(&unnamed).1.contains("no header Key"),
        "{:?}",
        dead_reason(&unnamed)
    );
    let status = wait_until("the forwarder's counts", DRAIN, || async {
        let s = nats.subscription_status("p").await.ok()??;
        (s.applied == 2 && s.dead_lettered == 2).then_some(s)
    })
    .await;
    assert!(status.blocked.is_empty(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_block_key_a_poison_message_stops_its_key_until_skipped_and_others_go_on() {
    let mut env = poison_env("block-key").await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    publish_session(&nats, Some("k1"), None).await;
    let bad = publish_session(&nats, Some("k1"), Some("[\"too\", \"few\"]")).await;
    publish_session(&nats, Some("k1"), None).await;
    publish_session(&nats, Some("k2"), None).await;

    let blocked = wait_until("k1 blocked", DRAIN, || async {
        let s = nats.subscription_status("p").await.ok()??;
        (s.blocked.len() == 1).then(|| s.blocked[0].clone())
    })
    .await;
    assert_eq!((blocked.worker.as_str(), blocked.sequence), ("k1", bad));
    assert!(blocked.error.contains("invalid-arguments"), "{blocked:?}");
    wait_until("k2 goes on", DRAIN, || async {
        (sessions_of(&nats, "k2").await == 1).then_some(())
    })
    .await;
    assert_eq!(
        sessions_of(&nats, "k1").await,
        1,
        "k1 stopped at the poison"
    );

    // A retry runs the message again under a new key (recorded for a later forwarder):
    // it fails the same way, and the key stays blocked.
    nats.update_subscription("p", |s| s.retries += 1)
        .await
        .unwrap();
    wait_until("the retry recorded", DRAIN, || async {
        (nats.subscription_attempt("p", bad).await.ok()? == 1).then_some(())
    })
    .await;
    let key = revenant_types::subscription::message_key("p", bad, 1);
    let w = revenant_types::WorkerId::parse("daily", "k1").unwrap();
    let retried = nats
        .await_result(&w, &key, DRAIN)
        .await
        .unwrap()
        .expect("the retry's outcome");
    assert!(matches!(
        retried,
        revenant_types::oplog::InvocationOutcome::Err(_)
    ));
    assert_eq!(sessions_of(&nats, "k1").await, 1);

    // A skip dead-letters it, and k1's next message is applied.
    nats.update_subscription("p", |s| s.skips += 1)
        .await
        .unwrap();
    wait_until("k1 goes on after the skip", DRAIN, || async {
        (sessions_of(&nats, "k1").await == 2).then_some(())
    })
    .await;
    let dead = dead_letter(&nats, "daily.k1").await;
    assert_eq!(
        dead.headers
            .get("Rvn-Source")
            .map(|v| v.as_str().to_owned()),
        Some(format!("P:{bad}"))
    );
    let status = wait_until("nothing blocked", DRAIN, || async {
        let s = nats.subscription_status("p").await.ok()??;
        s.blocked.is_empty().then_some(s)
    })
    .await;
    assert_eq!(status.dead_lettered, 1, "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_subscription_delivers_nothing_and_resumes_where_it_stopped() {
    let mut env = poison_env("dead-letter").await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    for _ in 0..5 {
        publish_session(&nats, Some("k1"), None).await;
    }
    wait_until("the first five", DRAIN, || async {
        (sessions_of(&nats, "k1").await == 5).then_some(())
    })
    .await;
    nats.update_subscription("p", |s| s.paused = true)
        .await
        .unwrap();
    // The forwarder has let go of the consumer once its status says paused and idle…
    let spec = nats.subscription("p").await.unwrap().unwrap();
    wait_until("the consumer idle", DRAIN, || async {
        let lag = nats.subscription_lag(&spec).await.ok()?;
        let info = nats
            .jetstream()
            .get_stream("P")
            .await
            .ok()?
            .consumer_info(nats.namespace().subscription_consumer("p"))
            .await
            .ok()?;
        (lag.ack_pending == 0 && info.num_waiting == 0).then_some(())
    })
    .await;
    for _ in 0..20 {
        publish_session(&nats, Some("k1"), None).await;
    }
    // …and for a while nothing of what arrived since is delivered or applied.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lag = nats.subscription_lag(&spec).await.unwrap();
        assert_eq!((lag.pending, lag.ack_pending), (20, 0), "paused: {lag:?}");
    }
    assert_eq!(sessions_of(&nats, "k1").await, 5);
    nats.update_subscription("p", |s| s.paused = false)
        .await
        .unwrap();
    wait_until("the twenty after the resume", DRAIN, || async {
        (sessions_of(&nats, "k1").await == 25).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_lost_on_the_way_is_applied_before_the_messages_after_it() {
    let mut env = Env::new(&PIPELINE).await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    pipeline(&nats, 8).await;
    // Another reader takes one delivery of the subscription's consumer and never
    // acknowledges it: to the forwarder that delivery is lost on the way, as with a
    // connection that dropped with it in flight. Left to the ack wait, it would come
    // 30 s late, after the user's later clicks were applied (a violation of order).
    let name = nats.namespace().subscription_consumer("clicks");
    let stream = nats.jetstream().get_stream("CLICKS").await.unwrap();
    let mut rogue = other_reader(&stream, &name).await;
    let taken = tokio::spawn(async move {
        let m = futures::StreamExt::next(&mut rogue).await?.ok()?;
        Some((m.subject.to_string(), m.info().ok()?.stream_sequence))
    });
    // Published one by one until the other reader has taken one, then the rest behind it.
    let clicks = generate(4, 200, 7);
    let mut next = 0;
    while next < clicks.len() && !taken.is_finished() {
        publish_clicks(&nats, &clicks[next..=next], next).await;
        next += 1;
    }
    publish_clicks(&nats, &clicks[next..], next).await;
    let (subject, sequence) = taken
        .await
        .unwrap()
        .expect("the other reader took a delivery");
    eprintln!("[test] the other reader took click {sequence} ({subject}) of {next} published then");
    assert_pipeline_result(&nats, &clicks).await;
}
