//! Durable waiting (ARCHITECTURE.md "Waiting: suspension, timers, promises")
//! against real executors and nats-server: a long sleep suspends the worker
//! (`Suspended`, nothing held) and a JetStream message schedule wakes it once,
//! on time; invocations that arrive meanwhile are parked and run after it, in
//! order; promises complete before or after they are awaited, exactly once, while
//! the owner is gone, and race timers; a timer survives a nats-server restart and
//! one that fell due while no executor ran fires once.
//!
//! The executors suspend after 300 ms (`suspend-after`) so that tests need no long
//! sleeps; kill -9 of an executor process during a sleep is `cli/tests/all/waiting.rs`.

use crate::common;

use std::time::Duration;

use common::{Env, TIMEOUT, oplog, record, worker};
use revenant_tests::revenant::invoke;
use revenant_tests::wait_until;
use revenant_types::now_ms;
use revenant_types::oplog::OplogEntry;
use revenant_types::promise::PromiseId;
use revenant_types::records::WorkerStatus;
use serde_json::json;

const SUSPEND_AFTER_MS: u64 = 300;

async fn env() -> Env {
    Env::new(&[("waits", revenant_guests::TEST_DURABILITY)]).await
}

/// Entries of one kind in the worker's oplog.
async fn count(env: &Env, w: &str, kind: &str) -> usize {
    oplog(&env.nats, w)
        .await
        .iter()
        .filter(|(_, e)| e.kind() == kind)
        .count()
}

/// Waits until the worker's oplog says it is suspended (its last `Suspended` not resumed).
async fn suspended(env: &Env, w: &str) -> Vec<String> {
    wait_until(&format!("{w} suspended"), TIMEOUT, || async {
        let entries = oplog(&env.nats, w).await;
        let last = entries
            .iter()
            .rev()
            .find(|(_, e)| matches!(e, OplogEntry::Suspended { .. } | OplogEntry::Resumed { .. }));
        match last {
            Some((_, OplogEntry::Suspended { waiting, .. })) => Some(waiting.clone()),
            _ => None,
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_sleep_suspends_the_worker_and_its_schedule_wakes_it_once_on_time() {
    let mut env = env().await;
    let _exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/sleeper";
    let started = now_ms();
    let sleep = tokio::spawn({
        let nats = nats.clone();
        async move { invoke(&nats, w, "sleep", json!([3_500]), Some("nap")).await }
    });

    // Suspended on its timer, visibly: the oplog says so and so does the worker record.
    let waiting = suspended(&env, w).await;
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0].starts_with("timer:"), "{waiting:?}");
    wait_until("the record says suspended", TIMEOUT, || async {
        (record(&nats, w).await?.status == WorkerStatus::Suspended).then_some(())
    })
    .await;

    let woke = sleep.await.unwrap().expect("the sleep returns");
    let woke = woke.as_u64().expect("the wake time");
    let lateness = woke as i64 - (started as i64 + 3_500);
    assert!(
        (0..1_500).contains(&lateness),
        "woke {lateness} ms after its deadline"
    );
    // Fired once: one TimerFired, one Resumed, one completion; the holder is gone.
    assert_eq!(count(&env, w, "timer-fired").await, 1);
    assert_eq!(count(&env, w, "resumed").await, 1);
    assert_eq!(count(&env, w, "invocation-completed").await, 1);
    // A duplicate is answered from the oplog, without sleeping again.
    assert_eq!(
        invoke(&nats, w, "sleep", json!([3_500]), Some("nap")).await,
        Ok(json!(woke))
    );
    assert_eq!(count(&env, w, "suspended").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn invocations_sent_to_a_suspended_worker_are_parked_and_run_after_it_in_order() {
    let mut env = env().await;
    let _exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/busy";
    let sleep = tokio::spawn({
        let nats = nats.clone();
        async move { invoke(&nats, w, "sleep", json!([3_000]), Some("long")).await }
    });
    suspended(&env, w).await;
    // Sent while it sleeps: parked (acked, in the oplog), answered after the sleep.
    let (a, b) = tokio::join!(
        invoke(&nats, w, "whoami", json!([]), Some("after-1")),
        async {
            // Sent after the first one is parked, so the order is known.
            wait_until("the first is parked", TIMEOUT, || async {
                (count(&env, w, "pending-invocation").await >= 1).then_some(())
            })
            .await;
            invoke(&nats, w, "create-promise", json!([]), Some("after-2")).await
        }
    );
    assert_eq!(a, Ok(json!("waits/busy")));
    let promise = b.expect("a promise id");
    assert!(promise.as_str().unwrap().starts_with("waits/busy/"));
    sleep.await.unwrap().expect("the sleep returns");

    // In the oplog: the sleep completes first, then the parked ones in arrival order.
    let completed: Vec<String> = oplog(&nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::InvocationCompleted {
                idempotency_key, ..
            } => Some(idempotency_key),
            _ => None,
        })
        .collect();
    assert_eq!(completed, ["long", "after-1", "after-2"]);
    assert_eq!(count(&env, w, "pending-invocation").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promise_completes_its_awaiting_worker_once_before_or_after_the_await() {
    let mut env = env().await;
    let _exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/p1";
    let promises = nats.promises();

    // Awaited first (the worker suspends), then completed.
    let id = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    let id = id.as_str().unwrap().to_owned();
    let awaiting = tokio::spawn({
        let (nats, id) = (nats.clone(), id.clone());
        async move { invoke(&nats, w, "await-promise", json!([id]), Some("aw-1")).await }
    });
    assert_eq!(
        suspended(&env, w).await,
        [format!("promise:{}", id.rsplit('/').next().unwrap())]
    );
    let pid: PromiseId = id.parse().unwrap();
    let first = promises.complete(&pid, "\"yes\"".into()).await.unwrap();
    assert!(first.completed());
    assert_eq!(awaiting.await.unwrap(), Ok(json!({"ok": "\"yes\""})));
    // A second completion loses, and changes nothing.
    let second = promises.complete(&pid, "\"no\"".into()).await.unwrap();
    assert!(!second.completed());
    assert_eq!(
        invoke(&nats, w, "await-promise", json!([id]), Some("aw-2")).await,
        Ok(json!({"ok": "\"yes\""}))
    );

    // Completed before anyone awaits it: the await returns at once, without suspending.
    let id2 = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    let id2 = id2.as_str().unwrap().to_owned();
    promises
        .complete(&id2.parse().unwrap(), "42".into())
        .await
        .unwrap();
    wait_until("the early completion is journaled", TIMEOUT, || async {
        (count(&env, w, "promise-completed").await == 2).then_some(())
    })
    .await;
    assert_eq!(
        invoke(&nats, w, "await-promise", json!([id2]), None).await,
        Ok(json!({"ok": "42"}))
    );
    assert_eq!(count(&env, w, "suspended").await, 1);
    // Another worker's promise cannot be awaited; it can be completed (by a worker too).
    let other = invoke(&nats, "waits/p2", "await-promise", json!([id2]), None).await;
    let err = other.unwrap()["err"].as_str().unwrap().to_owned();
    assert!(err.contains("belongs to worker waits/p1"), "{err}");
    let id3 = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    assert_eq!(
        invoke(&nats, "waits/p2", "complete", json!([id3, "from p2"]), None).await,
        Ok(json!({"ok": true}))
    );
    assert_eq!(
        invoke(&nats, "waits/p2", "complete", json!([id3, "again"]), None).await,
        Ok(json!({"ok": false}))
    );
    assert_eq!(
        invoke(&nats, w, "await-promise", json!([id3]), None).await,
        Ok(json!({"ok": "from p2"}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_a_promise_and_a_timer_picks_whichever_is_ready_first() {
    let mut env = env().await;
    let _exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/racer";
    let id = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    // Nobody completes it: the 1 s timer wins (after a suspension: both are durable).
    assert_eq!(
        invoke(&nats, w, "race", json!([id, 1_000]), None).await,
        Ok(json!("timer"))
    );
    // Completed while the race waits on a long timer: the promise wins.
    let racing = tokio::spawn({
        let (nats, id) = (nats.clone(), id.clone());
        async move { invoke(&nats, w, "race", json!([id, 60_000]), Some("r2")).await }
    });
    let waiting = suspended(&env, w).await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    let pid: PromiseId = id.as_str().unwrap().parse().unwrap();
    nats.promises().complete(&pid, "now".into()).await.unwrap();
    assert_eq!(racing.await.unwrap(), Ok(json!("promise: now")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promise_completed_while_its_owner_is_gone_resumes_it_on_the_next_executor() {
    let mut env = env().await;
    let exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/orphan";
    let id = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    let awaiting = tokio::spawn({
        let (nats, id) = (nats.clone(), id.clone());
        async move { invoke(&nats, w, "await-promise", json!([id]), Some("orphan-1")).await }
    });
    suspended(&env, w).await;
    exec.stop().await;
    let pid: PromiseId = id.as_str().unwrap().parse().unwrap();
    assert!(
        nats.promises()
            .complete(&pid, "late".into())
            .await
            .unwrap()
            .completed()
    );
    let _next = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    assert_eq!(awaiting.await.unwrap(), Ok(json!({"ok": "late"})));
    assert_eq!(count(&env, w, "invocation-completed").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_that_fell_due_while_no_executor_ran_fires_once_on_the_next() {
    let mut env = env().await;
    let exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/due";
    let sleep = tokio::spawn({
        let nats = nats.clone();
        async move { invoke(&nats, w, "sleep", json!([3_000]), Some("due-1")).await }
    });
    suspended(&env, w).await;
    exec.stop().await;
    // Past its time (time has to pass here: that is the scenario), the schedule fired
    // into the worker's inbox while nobody consumed it.
    let due = oplog(&env.nats, w)
        .await
        .iter()
        .find_map(|(_, e)| match e {
            OplogEntry::HostCall {
                response: revenant_types::oplog::HostValue::U64(at),
                ..
            } => Some(*at),
            _ => None,
        })
        .expect("the timer's wake-up time");
    tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_ms()) + 200)).await;
    let _next = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    sleep.await.unwrap().expect("the sleep returns");
    assert_eq!(count(&env, w, "timer-fired").await, 1);
    assert_eq!(count(&env, w, "invocation-completed").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_timer_survives_a_nats_server_restart() {
    let mut env = env().await;
    let _exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let w = "waits/restart";
    // Published before the restart; the answer is read from RVN_RESULTS after it.
    let nats = env.nats.clone();
    let started = now_ms();
    let req = revenant_nats::invocations::InvocationRequest {
        function: "sleep".into(),
        idempotency_key: Some("restart-1".into()),
        body: "[3000]".into(),
        ..Default::default()
    };
    nats.publish_invocation(&worker(w), &req).await.unwrap();
    suspended(&env, w).await;
    env.server.restart();
    let result = wait_until("the sleep completes after the restart", TIMEOUT, || async {
        nats.results()
            .get(&worker(w), "restart-1")
            .await
            .ok()
            .flatten()
    })
    .await;
    let woke: u64 = match result.outcome {
        revenant_types::oplog::InvocationOutcome::Ok(json) => json.parse().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(
        woke >= started + 3_000,
        "woke {} ms early",
        started + 3_000 - woke
    );
    assert_eq!(count(&env, w, "timer-fired").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completion_whose_wake_message_was_lost_is_found_by_the_next_owner() {
    use revenant_types::promise::PromiseRecord;
    let mut env = env().await;
    let exec = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    let nats = env.nats.clone();
    let w = "waits/lost";
    let id = invoke(&nats, w, "create-promise", json!([]), None)
        .await
        .unwrap();
    let awaiting = tokio::spawn({
        let (nats, id) = (nats.clone(), id.clone());
        async move { invoke(&nats, w, "await-promise", json!([id]), Some("lost-1")).await }
    });
    suspended(&env, w).await;
    exec.stop().await;
    // A completer that wrote the record and died before publishing the wake message.
    let pid: PromiseId = id.as_str().unwrap().parse().unwrap();
    let js = revenant_nats::async_nats::jetstream::new(nats.client().clone());
    let kv = js
        .get_key_value(nats.namespace().promises_bucket())
        .await
        .unwrap();
    let key = revenant_nats::Namespace::promise_key(&pid);
    let mut record: PromiseRecord =
        revenant_types::codec::decode(&kv.get(&key).await.unwrap().unwrap()).unwrap();
    record.state = revenant_types::promise::PromiseState::Completed;
    record.payload = Some(b"quiet".to_vec());
    kv.put(&key, revenant_types::codec::encode(&record).unwrap().into())
        .await
        .unwrap();
    // The next owner recovers the worker for anything that arrives and finds it.
    let _next = env
        .executor_with(|o| o.suspend_after_ms = SUSPEND_AFTER_MS)
        .await;
    assert_eq!(
        invoke(&nats, w, "whoami", json!([]), Some("nudge")).await,
        Ok(json!("waits/lost"))
    );
    assert_eq!(awaiting.await.unwrap(), Ok(json!({"ok": "quiet"})));
}
