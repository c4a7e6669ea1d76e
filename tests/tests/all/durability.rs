//! The durability contract (ARCHITECTURE.md "Durability semantics") against a
//! real executor and nats-server: an idempotency key changes state once and
//! every duplicate (sequential, concurrent, or past JetStream's dedup window)
//! gets the same result; a worker recovered by another executor or after
//! being dropped for idleness has the same state, with journaled randomness
//! handed back instead of drawn again and stdout not re-emitted; and
//! `revenant:api` gives the worker its id and idempotency keys that replay
//! reproduces.
//!
//! Within JetStream's dedup window a duplicate is not stored, so no executor
//! answers its `Rvn-Reply-To`: the publish ack says `duplicate` and the caller
//! takes the result from `RVN_RESULTS` (the harness's `invoke`, the CLI and the
//! router do; `call` requesters are answered by the call bridge).

use crate::common;

use std::time::Duration;

use common::{Env, TIMEOUT, host_calls, invoke_once, oplog, record, started_count, worker};
use futures::StreamExt;
use revenant_tests::revenant::{call, invoke};
use revenant_tests::wait_until;
use revenant_types::oplog::{HostValue, OplogEntry};
use revenant_types::records::WorkerStatus;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_key_published_twice_changes_state_once() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats.clone();
    let w = "counter/idem";

    assert_eq!(
        invoke_once(nats, w, "add", json!([5]), "k-seq").await,
        (false, Ok(json!(5)))
    );
    assert_eq!(
        invoke_once(nats, w, "add", json!([5]), "k-seq").await,
        (true, Ok(json!(5)))
    );
    assert_eq!(call(nats, w, "get", json!([])).await, Ok(json!(5)));

    // Concurrent duplicates: one is stored, every caller gets the one result.
    let (a, b, c) = tokio::join!(
        invoke_once(nats, w, "add", json!([10]), "k-conc"),
        invoke_once(nats, w, "add", json!([10]), "k-conc"),
        invoke_once(nats, w, "add", json!([10]), "k-conc"),
    );
    assert_eq!(
        [a.0, b.0, c.0].iter().filter(|d| !**d).count(),
        1,
        "one publish is stored"
    );
    assert_eq!(
        (a.1, b.1, c.1),
        (Ok(json!(15)), Ok(json!(15)), Ok(json!(15)))
    );
    assert_eq!(call(nats, w, "get", json!([])).await, Ok(json!(15)));

    let started = oplog(nats, w).await;
    for key in ["k-seq", "k-conc"] {
        let n = started
            .iter()
            .filter(|(_, e)| matches!(e, OplogEntry::InvocationStarted { idempotency_key, .. } if idempotency_key == key))
            .count();
        assert_eq!(n, 1, "{key} must run once");
    }
    let stored = nats
        .results()
        .get(&worker(w), "k-conc")
        .await
        .unwrap()
        .expect("stored result");
    assert_eq!(stored.worker, worker(w));
    exec.stop().await;
}

/// A duplicate inside JetStream's dedup window is acknowledged as a duplicate and
/// not stored; its caller (harness `invoke`) and a `call` requester with the same
/// `Nats-Msg-Id` still get the original's result.
#[tokio::test(flavor = "multi_thread")]
async fn every_duplicate_is_answered_on_its_own_reply_subject() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats.clone();
    let w = "counter/dup";
    let within = std::time::Duration::from_secs(10);
    assert_eq!(
        invoke(nats, w, "add", json!([5]), Some("k-dup")).await,
        Ok(json!(5))
    );
    let again =
        tokio::time::timeout(within, invoke(nats, w, "add", json!([5]), Some("k-dup"))).await;
    let mut h = revenant_nats::async_nats::HeaderMap::new();
    h.insert(revenant_nats::headers::FUNCTION, "add");
    h.insert(revenant_nats::headers::MSG_ID, "k-dup");
    let subject = nats.namespace().call_subject(&worker(w));
    let called = tokio::time::timeout(
        within,
        nats.client().request_with_headers(subject, h, "[5]".into()),
    )
    .await;
    exec.stop().await;
    assert_eq!(
        again.ok(),
        Some(Ok(json!(5))),
        "a duplicate invoke got no answer on its Rvn-Reply-To within {within:?}"
    );
    let called = called
        .ok()
        .and_then(Result::ok)
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned());
    assert_eq!(
        called.as_deref(),
        Some("5"),
        "a duplicate call got no answer within {within:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_past_the_dedup_window_is_answered_from_the_oplog() {
    let mut env = Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| {
        o.dedup_window_secs = 1
    })
    .await;
    let exec = env.executor().await;
    let nats = &env.nats.clone();
    let w = "counter/late";
    assert_eq!(
        invoke(nats, w, "add", json!([3]), Some("k-late")).await,
        Ok(json!(3))
    );
    // Let JetStream forget the id: the window is time itself, nothing to poll.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        invoke(nats, w, "add", json!([3]), Some("k-late")).await,
        Ok(json!(3))
    );
    assert_eq!(call(nats, w, "get", json!([])).await, Ok(json!(3)));
    assert_eq!(started_count(nats, w).await, 2, "one add and one get ran");

    // The same after a restart: the new executor answers the duplicate from the oplog.
    exec.stop().await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let exec = env.executor().await;
    assert_eq!(
        invoke(nats, w, "add", json!([3]), Some("k-late")).await,
        Ok(json!(3))
    );
    assert_eq!(call(nats, w, "get", json!([])).await, Ok(json!(3)));
    exec.stop().await;
}

/// Collects the stdout lines of `w`'s events until one matches `want`.
async fn stdout_until(
    events: &mut (impl futures::Stream<Item = bytes::Bytes> + Unpin),
    want: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .expect("a worker event")
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).expect("event JSON");
        if ev["kind"] == "stdout" {
            let line = ev["data"].as_str().unwrap_or_default().trim().to_owned();
            let done = want(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_executor_replays_the_same_state_and_randomness() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = env.nats.clone();
    let w = "counter/replay";
    let mut events = Box::pin(nats.subscribe_events(&worker(w)).await.unwrap());
    let exec = env.executor().await;

    let r = invoke(&nats, w, "add-random", json!([]), Some("rand-1"))
        .await
        .expect("add-random");
    let first = r.as_u64().expect("u64");
    let printed = stdout_until(&mut events, |l| l.starts_with("total:")).await;
    assert_eq!(printed, vec![format!("total: {first}")]);
    let total = first.wrapping_add(5);
    assert_eq!(
        invoke(&nats, w, "add", json!([5]), None).await,
        Ok(json!(total))
    );
    let calls = host_calls(&nats, w).await;
    assert!(
        calls
            .iter()
            .any(|(f, v)| f == "wasi:random/random.get-random-u64"
                && *v == format!("{:?}", HostValue::U64(first))),
        "the random number is journaled: {calls:?}"
    );
    exec.stop().await;

    let exec = env.executor().await;
    assert_eq!(call(&nats, w, "get", json!([])).await, Ok(json!(total)));
    assert_eq!(
        host_calls(&nats, w).await,
        calls,
        "replay draws nothing new"
    );
    // The duplicate gets the recorded number, not a fresh one.
    assert_eq!(
        invoke_once(&nats, w, "add-random", json!([]), "rand-1")
            .await
            .1,
        Ok(json!(first))
    );
    // The next stdout line is the next live invocation's: replay re-emitted nothing.
    let r = invoke(&nats, w, "add-random", json!([]), Some("rand-2"))
        .await
        .expect("add-random");
    let printed = stdout_until(&mut events, |l| l.starts_with("total:")).await;
    assert_eq!(printed, vec![format!("total: {r}")]);
    let calls2 = host_calls(&nats, w).await;
    assert_eq!(calls2.len(), calls.len() + 1, "one new draw: {calls2:?}");
    exec.stop().await;

    // A third executor replays both draws.
    let exec = env.executor().await;
    assert_eq!(call(&nats, w, "get", json!([])).await, Ok(r));
    assert_eq!(host_calls(&nats, w).await, calls2);
    assert_eq!(
        record(&nats, w).await.expect("record").status,
        WorkerStatus::Idle
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_dropped_for_idleness_recovers() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let metrics = common::free_local_addr();
    let exec = env
        .executor_with(|o| {
            o.idle_timeout_ms = 200;
            o.metrics_listen = Some(metrics.clone());
        })
        .await;
    let nats = &env.nats;
    let w = "counter/sleepy";
    let r = invoke(nats, w, "add-random", json!([]), None)
        .await
        .expect("add-random")
        .as_u64()
        .unwrap();
    assert_eq!(
        invoke(nats, w, "add", json!([1]), None).await,
        Ok(json!(r.wrapping_add(1)))
    );
    let calls = host_calls(nats, w).await;
    wait_until("the worker suspended", TIMEOUT, || async {
        (record(nats, w).await?.status == WorkerStatus::Suspended).then_some(())
    })
    .await;
    assert_eq!(
        invoke(nats, w, "add", json!([1]), None).await,
        Ok(json!(r.wrapping_add(2)))
    );
    assert_eq!(host_calls(nats, w).await, calls);
    let creates = oplog(nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::Create { .. }))
        .count();
    assert_eq!(creates, 1, "recovered, not created again");
    // The recovery replayed on the instance built while the oplog was read (the
    // executor had seen the component's latest version when it created the worker),
    // and the worker's next commits were fenced where the read left the oplog.
    let early = common::metric(
        &metrics,
        "revenant_executor_early_instances_total{used=\"true\"}",
    );
    assert!(
        early.await.is_some_and(|n| n >= 1.0),
        "the recovery took the instance built during its read"
    );
    assert_eq!(
        invoke(nats, w, "add", json!([1]), None).await,
        Ok(json!(r.wrapping_add(3)))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revenant_api_ids_and_idempotency_keys_survive_replay() {
    let mut env = Env::new(&[("test-durability", revenant_guests::TEST_DURABILITY)]).await;
    let exec = env.executor().await;
    let nats = &env.nats.clone();
    let w = "test-durability/d1";
    assert_eq!(call(nats, w, "whoami", json!([])).await, Ok(json!(w)));
    assert_eq!(
        call(nats, "test-durability/other", "whoami", json!([])).await,
        Ok(json!("test-durability/other"))
    );
    let keys = invoke(nats, w, "idempotency-keys", json!([3]), Some("keys-1"))
        .await
        .expect("keys");
    let keys: Vec<String> = serde_json::from_value(keys).unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys[0] != keys[1] && keys[1] != keys[2], "{keys:?}");
    // Derived from (worker, invocation key, ordinal): a retried attempt or an interrupted
    // and resumed invocation hands the external system the same keys.
    let derived: Vec<String> = (0..3)
        .map(|n| revenant_executor::durable::api::idempotency_key(&common::worker(w), "keys-1", n))
        .collect();
    assert_eq!(keys, derived);
    let index = call(nats, w, "oplog-index", json!([]))
        .await
        .expect("index");
    let committed = call(nats, w, "commit", json!([])).await.expect("commit");
    assert!(
        committed.as_u64() > index.as_u64(),
        "{index} then {committed}"
    );
    exec.stop().await;

    // Replay re-runs idempotency-keys and must get the same keys back, or the worker would fail.
    let exec = env.executor().await;
    assert_eq!(call(nats, w, "whoami", json!([])).await, Ok(json!(w)));
    assert_eq!(
        invoke_once(nats, w, "idempotency-keys", json!([3]), "keys-1")
            .await
            .1,
        Ok(json!(keys))
    );
    let fresh = call(nats, w, "idempotency-keys", json!([1]))
        .await
        .expect("keys");
    assert!(
        !keys.contains(&fresh[0].as_str().unwrap().to_owned()),
        "a new key is new: {fresh}"
    );
    let record = record(nats, w).await.expect("record");
    assert_eq!(record.status, WorkerStatus::Idle, "{:?}", record.last_error);
    exec.stop().await;
}

/// An invocation journaling more host calls than fit one NATS message (400,000
/// clock reads, coalesced ~1,000 to an entry: ~2 MB of entries) commits in several
/// fenced messages and replays on another executor.
#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_larger_than_one_message_commits_and_replays() {
    const READS: usize = 400_000;
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats.clone();
    let w = "counter/big";
    let first = invoke(nats, w, "read-clock", json!([READS]), Some("k-big")).await;
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(
        invoke(nats, w, "add", json!([3]), Some("k-add")).await,
        Ok(json!(3))
    );
    exec.stop().await;
    let calls = host_calls(nats, w).await;
    let readings: usize = oplog(nats, w)
        .await
        .iter()
        .map(|(_, e)| match e {
            OplogEntry::HostCall {
                response: HostValue::U64List(r),
                ..
            } => r.len(),
            OplogEntry::HostCall { .. } => 1,
            _ => 0,
        })
        .sum();
    assert!(readings >= READS, "journaled {readings} readings");
    assert!(
        calls.len() < READS / 500,
        "{} entries: consecutive readings share entries",
        calls.len()
    );
    let entries: Vec<OplogEntry> = oplog(nats, w).await.into_iter().map(|(_, e)| e).collect();
    let bytes =
        revenant_types::codec::encode(&revenant_types::codec::OplogBatch { first: 1, entries })
            .expect("encode")
            .len();
    assert!(
        bytes > nats.options().max_payload,
        "{bytes} bytes of entries: more than one message holds"
    );
    let exec = env.executor().await;
    assert_eq!(
        invoke(nats, w, "add", json!([4]), Some("k-add-2")).await,
        Ok(json!(7))
    );
    assert_eq!(
        host_calls(nats, w).await.len(),
        calls.len(),
        "replay drew no new clock reads"
    );
    exec.stop().await;
}

/// `max-workers-in-memory` is a hard limit: new workers past it wait for room, and
/// the idle ones leave to make it, so a burst of new workers beyond it is answered in
/// full (the limit protects the process's memory mappings: `decide::room`).
#[tokio::test(flavor = "multi_thread")]
async fn new_workers_past_the_limit_wait_for_room_and_are_all_answered() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env
        .executor_with(|o| {
            o.max_workers_in_memory = 2;
            o.evict_idle_after_ms = 0;
            // Only the limit drops a worker from memory here.
            o.idle_timeout_ms = 600_000;
        })
        .await;
    let nats = env.nats.clone();
    let workers: Vec<String> = (0..8).map(|i| format!("counter/burst-{i}")).collect();
    let answers =
        futures::future::join_all(workers.iter().map(|w| call(&nats, w, "add", json!([3])))).await;
    assert!(answers.iter().all(|a| *a == Ok(json!(3))), "{answers:?}");
    // At most two are still in memory: the others were dropped to make room.
    let mut dropped = 0;
    for w in &workers {
        if record(&nats, w)
            .await
            .is_some_and(|r| r.status == WorkerStatus::Suspended)
        {
            dropped += 1;
        }
    }
    assert!(dropped >= 6, "{dropped} of 8 workers left memory");
    // And come back with their state.
    assert_eq!(
        call(&nats, &workers[0], "add", json!([1])).await,
        Ok(json!(4))
    );
}

/// An executor keeps at most `max-workers-in-memory` workers (issue 11, scenario 9):
/// past it, idle ones are dropped (and recovered, state intact, when used again).
#[tokio::test(flavor = "multi_thread")]
async fn idle_workers_are_dropped_when_too_many_are_in_memory() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env
        .executor_with(|o| {
            o.max_workers_in_memory = 2;
            o.evict_idle_after_ms = 0;
        })
        .await;
    let nats = env.nats.clone();
    for w in ["counter/m1", "counter/m2"] {
        assert_eq!(call(&nats, w, "add", json!([7])).await, Ok(json!(7)));
    }
    // A third one: the two idle ones leave memory.
    assert_eq!(
        call(&nats, "counter/m3", "add", json!([1])).await,
        Ok(json!(1))
    );
    for w in ["counter/m1", "counter/m2"] {
        wait_until(&format!("{w} dropped"), TIMEOUT, || async {
            (record(&nats, w).await?.status == WorkerStatus::Suspended).then_some(())
        })
        .await;
    }
    // Recovered with their state when used again.
    assert_eq!(
        call(&nats, "counter/m1", "get", json!([])).await,
        Ok(json!(7))
    );
}
