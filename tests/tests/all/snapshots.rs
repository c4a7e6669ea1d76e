//! Snapshots and trimming end to end (ARCHITECTURE.md "Snapshots, trimming,
//! updates, ephemeral workers"): the `counter` example exports
//! `revenant:api/snapshot`; with a policy of every N invocations its workers are
//! snapshotted, their oplogs trimmed behind the previous snapshot, and a new
//! executor recovers them from the newest snapshot that loads — falling back to an
//! older one, or a full replay while the history exists, and saying so in the
//! worker's events. The append fence holds after a purge: a stale writer is refused.

use std::time::Duration;

use crate::common::{self, Env, TIMEOUT, oplog, worker};
use futures::StreamExt;
use revenant_nats::synthetic::write_counter_history;
use revenant_nats::{AppendError, Nats};
use revenant_tests::revenant::{call, invoke};
use revenant_tests::wait_until;
use revenant_types::ComponentName;
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::OplogEntry;
use revenant_types::snapshot::SnapshotPolicy;
use serde_json::json;

/// Uploads the counter as a new version with a snapshot every `every` invocations.
async fn counter_every(nats: &Nats, every: u64) {
    let bytes = std::fs::read(revenant_guests::COUNTER).expect("counter.wasm");
    let policy = SnapshotPolicy {
        every,
        period_ms: 0,
    };
    let record = nats
        .components()
        .upload_with(&ComponentName::new("counter").unwrap(), bytes, policy)
        .await
        .expect("upload counter");
    assert!(record.exports_snapshot(), "{:?}", record.exports);
    assert_eq!(record.snapshot, policy);
}

/// Adds 1 `n` times to `w` (keys `<w>-<i>`), checking the running total.
async fn add_ones(nats: &Nats, w: &str, from: u64, n: u64) {
    for i in from..from + n {
        let key = format!("{}-{i}", w.replace('/', "-"));
        assert_eq!(
            invoke(nats, w, "add", json!([1]), Some(&key)).await,
            Ok(json!(i + 1)),
            "invocation {i}"
        );
    }
}

/// The `Snapshot` entries of `w`'s oplog: `(index, object, covers)`.
async fn snapshots(nats: &Nats, w: &str) -> Vec<(u64, String, u64)> {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(i, e)| match e {
            OplogEntry::Snapshot { object, covers, .. } => Some((i, object, covers)),
            _ => None,
        })
        .collect()
}

/// A counter worker `w` with a snapshot every `every` invocations, `n` invocations run,
/// its executor stopped: the environment and the kept snapshots.
async fn stopped_with_snapshots(every: u64, w: &str, n: u64) -> (Env, Vec<(u64, String, u64)>) {
    let mut env = Env::new(&[]).await;
    counter_every(&env.nats, every).await;
    let exec = env.executor().await;
    add_ones(&env.nats, w, 0, n).await;
    let kept = snapshots(&env.nats, w).await;
    exec.stop().await;
    (env, kept)
}

/// Starts an executor, watching `w`'s events from before it recovers anything.
async fn restart_watching(
    env: &mut Env,
    w: &str,
) -> (
    revenant_tests::revenant::TestExecutor,
    revenant_nats::async_nats::Subscriber,
) {
    let nats = &env.nats;
    let events = nats
        .client()
        .subscribe(nats.namespace().events_subject(&worker(w)))
        .await
        .expect("subscribe to the worker's events");
    (env.executor().await, events)
}

/// Waits for an event of `kind` on `events` and returns it.
async fn event_of(
    events: &mut revenant_nats::async_nats::Subscriber,
    kind: &str,
) -> serde_json::Value {
    tokio::time::timeout(TIMEOUT, async {
        while let Some(msg) = events.next().await {
            let v: serde_json::Value = serde_json::from_slice(&msg.payload).expect("event JSON");
            if v["kind"] == kind {
                return v;
            }
        }
        panic!("the event subscription ended")
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} event within {TIMEOUT:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_snapshotted_every_ten_invocations_is_trimmed_and_recovers_from_its_snapshot() {
    let mut env = Env::new(&[]).await;
    counter_every(&env.nats, 10).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    add_ones(&nats, "counter/s1", 0, 10).await;
    // Taken after the tenth invocation was answered.
    let first_snapshot = wait_until("the first snapshot", TIMEOUT, || async {
        snapshots(&nats, "counter/s1").await.pop()
    })
    .await;
    assert!(nats.snapshots().get(&first_snapshot.1).await.is_ok());
    add_ones(&nats, "counter/s1", 10, 25).await;

    // Snapshots after 10, 20 and 30; the one after 30 trimmed what the one after 20 covers.
    let kept = snapshots(&nats, "counter/s1").await;
    assert_eq!(kept.len(), 2, "the newest two snapshots are kept: {kept:?}");
    let entries = oplog(&nats, "counter/s1").await;
    let (first, first_entry) = &entries[0];
    assert!(
        matches!(first_entry, OplogEntry::Snapshot { .. }) && *first == kept[0].0,
        "the oplog now starts at the previous snapshot, found {first}: {first_entry:?}"
    );
    let started = entries
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationStarted { .. }))
        .count();
    assert_eq!(started, 15, "invocations 21..=35 are left");
    // The oldest snapshot object went with the purge.
    let gone = nats.snapshots().get(&first_snapshot.1).await;
    assert!(gone.is_err(), "the first snapshot's object is deleted");

    // A new executor recovers the worker from its snapshot and the tail.
    exec.stop().await;
    let _exec = env.executor().await;
    assert_eq!(
        call(&nats, "counter/s1", "get", json!([])).await,
        Ok(json!(35))
    );
    add_ones(&nats, "counter/s1", 35, 6).await;
    assert_eq!(snapshots(&nats, "counter/s1").await.len(), 2);
    // Duplicates within the kept history are still answered from the journal.
    assert_eq!(
        invoke(
            &nats,
            "counter/s1",
            "add",
            json!([1]),
            Some("counter-s1-40")
        )
        .await,
        Ok(json!(41))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_answered_before_the_kept_history_is_answered_again_never_run_again() {
    let mut env = Env::with_options(&[], |o| o.dedup_window_secs = 1).await;
    counter_every(&env.nats, 5).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    add_ones(&nats, "counter/t1", 0, 12).await;
    // Snapshots after 5 and 10; the second trimmed what the first covers (keys 0..5).
    wait_until("the trim", TIMEOUT, || async {
        let entries = oplog(&nats, "counter/t1").await;
        (!entries.iter().any(|(_, e)| {
            matches!(e, OplogEntry::InvocationStarted { idempotency_key, .. } if idempotency_key == "counter-t1-0")
        }))
        .then_some(())
    })
    .await;
    // A new executor loads the worker from its snapshot: key 0 is in no oplog any more.
    exec.stop().await;
    let _exec = env.executor().await;
    assert_eq!(
        call(&nats, "counter/t1", "get", json!([])).await,
        Ok(json!(12))
    );
    // A retry of key 0 past JetStream's dedup window (the window is time itself: a
    // publish inside it is swallowed, so publish until one is stored).
    let w = worker("counter/t1");
    let replies = nats.replies().await.unwrap();
    let mut inbox = replies.inbox();
    let retry = revenant_nats::invocations::InvocationRequest {
        function: "add".into(),
        idempotency_key: Some("counter-t1-0".into()),
        content_type: Some(revenant_nats::headers::CONTENT_TYPE_JSON.into()),
        body: "[1]".into(),
        reply_to: Some(inbox.subject().to_owned()),
        ..Default::default()
    };
    wait_until("a publish past the dedup window", TIMEOUT, || async {
        let published = nats.publish_invocation(&w, &retry).await.unwrap();
        (!published.duplicate).then_some(())
    })
    .await;
    let answer = tokio::time::timeout(TIMEOUT, inbox.next())
        .await
        .expect("the retry is answered")
        .expect("reply");
    assert_eq!(
        revenant_tests::revenant::answer(answer),
        Ok(json!(1)),
        "the original answer of key 0"
    );
    assert_eq!(
        call(&nats, "counter/t1", "get", json!([])).await,
        Ok(json!(12)),
        "key 0 did not add again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_snapshot_falls_back_to_the_previous_one_and_says_so() {
    let (mut env, kept) = stopped_with_snapshots(10, "counter/s2", 25).await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    // The newest snapshot's object is changed behind the oplog's back.
    let nats = env.nats.clone();
    nats.snapshots()
        .overwrite(&kept[1].1, b"garbage".to_vec())
        .await
        .unwrap();
    let (_exec, mut events) = restart_watching(&mut env, "counter/s2").await;
    assert_eq!(
        call(&nats, "counter/s2", "get", json!([])).await,
        Ok(json!(25))
    );
    let fallback = event_of(&mut events, "snapshot-fallback").await;
    assert_eq!(fallback["object"], json!(kept[1].1));
    assert!(
        fallback["error"].as_str().unwrap().contains("SHA-256"),
        "{fallback}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_that_does_not_load_falls_back_to_a_full_replay_while_the_history_exists() {
    let (mut env, kept) = stopped_with_snapshots(10, "counter/s3", 15).await;
    assert_eq!(kept.len(), 1);
    let nats = env.nats.clone();
    nats.snapshots().delete(&kept[0].1).await.unwrap();
    let (_exec, mut events) = restart_watching(&mut env, "counter/s3").await;
    assert_eq!(
        call(&nats, "counter/s3", "get", json!([])).await,
        Ok(json!(15))
    );
    let fallback = event_of(&mut events, "snapshot-fallback").await;
    assert_eq!(fallback["then"], json!("trying the next base"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_kept_snapshot_unloadable_and_the_history_trimmed_the_worker_fails_saying_why() {
    let (mut env, kept) = stopped_with_snapshots(5, "counter/s4", 16).await;
    assert_eq!(kept.len(), 2);
    let nats = env.nats.clone();
    for (_, object, _) in &kept {
        nats.snapshots()
            .overwrite(object, vec![1, 2, 3])
            .await
            .unwrap();
    }
    let _exec = env.executor().await;
    let error = call(&nats, "counter/s4", "get", json!([]))
        .await
        .expect_err("the worker cannot be recovered");
    assert_eq!(common::kind(&error), "worker-failed", "{error}");
    assert!(
        common::message(&error).contains("history before them was trimmed"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_on_demand_snapshot_is_taken_between_invocations() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    add_ones(&nats, "counter/s5", 0, 3).await;
    let state = nats
        .control(
            &worker("counter/s5"),
            revenant_types::records::ControlAction::Snapshot,
            Duration::from_secs(10),
        )
        .await
        .expect("snapshot");
    assert_eq!(state.worker, "counter.s5");
    let kept = snapshots(&nats, "counter/s5").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].2, kept[0].0 - 1, "it covers everything before it");
    let bytes = nats.snapshots().get(&kept[0].1).await.unwrap();
    assert_eq!(bytes, 3u64.to_le_bytes(), "the counter saves its total");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_purge_the_fence_holds_a_stale_writer_is_refused_and_the_owner_appends() {
    let env = Env::new(&[]).await;
    let oplog = env.nats.oplog();
    let w = worker("fence/w1");
    let batch = |first: u64| OplogBatch {
        first,
        entries: vec![OplogEntry::Resumed { at: first }],
    };
    let mut last = 0;
    for i in 1..=5 {
        last = oplog.append(&w, last, &batch(i)).await.expect("append");
    }
    // A writer that read the oplog here and then stalled.
    let stale = last;
    for i in 6..=8 {
        last = oplog.append(&w, last, &batch(i)).await.expect("append");
    }
    // Trimming as a snapshot does: below the last message, never the whole subject.
    oplog.purge_before(&w, last).await.expect("purge");
    assert_eq!(
        oplog.last_seq(&w).await.unwrap(),
        last,
        "the fence is unchanged"
    );
    let read = oplog.read(&w, 1).await.unwrap();
    assert_eq!(read.entries.len(), 1, "only the last message is left");
    assert_eq!(read.next_index, 9);

    for expected in [stale, 0] {
        let refused = oplog.append(&w, expected, &batch(9)).await;
        assert!(
            matches!(refused, Err(AppendError::Fenced { .. })),
            "a writer expecting {expected} is refused: {refused:?}"
        );
    }
    let appended = oplog
        .append(&w, last, &batch(9))
        .await
        .expect("the owner appends");
    assert!(appended > last);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_with_200000_invocations_of_history_recovers_like_one_with_2000() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let record = nats
        .components()
        .latest(&ComponentName::new("counter").unwrap())
        .await
        .unwrap()
        .expect("counter deployed");
    let add = revenant_types::snapshot::export_name("add")
        .replace(revenant_types::snapshot::INTERFACE, "example:counter/api");
    // What a snapshot every 1,000 invocations leaves after 2,000 and 200,000 of them.
    let mut written = Vec::new();
    for n in [2_000u64, 200_000] {
        let w = worker(&format!("counter/long-{n}"));
        let history = write_counter_history(&nats, &w, record.version, &add, n, 1_000)
            .await
            .expect("write the history");
        written.push(history);
    }
    let shape = |w: &revenant_nats::synthetic::Written| (w.entries, w.to_replay);
    assert_eq!(
        shape(&written[0]),
        shape(&written[1]),
        "the same oplog is left whatever the history: {written:?}"
    );
    assert!(written[0].entries <= 2_002, "{:?}", written[0]);

    let _exec = env.executor().await;
    let mut took = Vec::new();
    for n in [2_000u64, 200_000] {
        let t = std::time::Instant::now();
        let w = format!("counter/long-{n}");
        assert_eq!(call(&nats, &w, "get", json!([])).await, Ok(json!(n)));
        took.push(t.elapsed());
        let left = oplog(&nats, &w).await.len();
        assert_eq!(left, written[0].entries + 2, "what was written and the get");
    }
    eprintln!("recovery of 2,000 vs 200,000 invocations of history: {took:?}");
    // A full replay of 200,000 invocations takes many seconds here; from the snapshot it
    // is the same work as for 2,000 (a generous bound: this machine is shared).
    assert!(
        took[1] < took[0] * 3 + Duration::from_secs(1),
        "recovering 200,000 invocations of history took {:?}, 2,000 took {:?}",
        took[1],
        took[0]
    );
}
