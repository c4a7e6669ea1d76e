//! Interrupt and resume against a real executor and nats-server, through the
//! control subject `<ns>.control.<component>.<worker>`: a running invocation
//! is stopped at once and neither answered nor acked, later invocations are
//! held in order (duplicates of completed ones are still answered), the state
//! is in the oplog and the worker record, survives an executor restart, and a
//! resume runs the held invocations, the interrupted one again from its
//! start, each answered exactly once. A request nobody can answer is a clear
//! error; unknown and failed workers are refused.

use crate::common;

use std::time::{Duration, Instant};

use common::{Env, TIMEOUT, oplog, record, worker};
use futures::StreamExt;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::{ControlError, Nats, headers};
use revenant_tests::revenant::{answer_of, call, invoke};
use revenant_tests::wait_until;
use revenant_types::oplog::{ErrorKind, InvocationOutcome, OplogEntry};
use revenant_types::records::{ControlAction, WorkerState, WorkerStatus};
use serde_json::json;

/// Long enough that `busy(30000)` is never stopped by its deadline.
const DEADLINE_MS: u64 = 120_000;

/// Sends a control request, retrying while no executor holds the worker's shard yet.
pub(super) async fn control(
    nats: &Nats,
    w: &str,
    action: ControlAction,
) -> Result<WorkerState, ControlError> {
    let id = worker(w);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match nats.control(&id, action, Duration::from_secs(5)).await {
            Err(ControlError::NoExecutor { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

fn state(w: &str, status: WorkerStatus) -> WorkerState {
    WorkerState {
        worker: worker(w).dotted(),
        status,
        interrupted: status == WorkerStatus::Interrupted,
        recovered_ms: None,
    }
}

/// Answers to invocations published with [`Replies::publish`], in arrival order.
pub(super) struct Replies {
    base: String,
    sub: revenant_nats::async_nats::Subscriber,
}

impl Replies {
    async fn new(nats: &Nats) -> Self {
        let base = nats.client().new_inbox();
        let sub = nats
            .client()
            .subscribe(format!("{base}.>"))
            .await
            .expect("subscribe inboxes");
        Self { base, sub }
    }

    /// Publishes an invocation whose answer comes back tagged `tag`.
    async fn publish(
        &self,
        nats: &Nats,
        w: &str,
        function: &str,
        args: serde_json::Value,
        key: &str,
        tag: &str,
    ) {
        let req = InvocationRequest {
            function: function.to_owned(),
            idempotency_key: Some(key.to_owned()),
            reply_to: Some(format!("{}.{tag}", self.base)),
            content_type: Some(headers::CONTENT_TYPE_JSON.to_owned()),
            body: args.to_string().into(),
            trace: Default::default(),
            caller: None,
            subscription: None,
            index: false,
        };
        let published = nats
            .publish_invocation(&worker(w), &req)
            .await
            .expect("publish invocation");
        assert!(!published.duplicate, "{key} was stored");
    }

    /// The next answer as `(tag, Ok(json) | Err(json))`, or `None` if none arrives within `wait`.
    pub(super) async fn next(
        &mut self,
        wait: Duration,
    ) -> Option<(String, Result<serde_json::Value, serde_json::Value>)> {
        let msg = tokio::time::timeout(wait, self.sub.next()).await.ok()??;
        let tag = msg
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        Some((tag, answer_of(&msg)))
    }
}

/// Waits for the `invocation-started` event of `key`.
/// Publishes `busy(ms)` with key `key` (its answer tagged `busy`) and returns once the
/// worker has started running it, with the inbox its answers arrive in.
pub(super) async fn start_busy(nats: &Nats, w: &str, ms: u64, key: &str) -> Replies {
    let mut events = Box::pin(nats.subscribe_events(&worker(w)).await.unwrap());
    let replies = Replies::new(nats).await;
    replies
        .publish(nats, w, "busy", json!([ms]), key, "busy")
        .await;
    started(&mut events, key).await;
    replies
}

async fn started(events: &mut (impl futures::Stream<Item = bytes::Bytes> + Unpin), key: &str) {
    loop {
        let ev = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .unwrap_or_else(|_| panic!("{key} did not start within {TIMEOUT:?}"))
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).expect("event JSON");
        if ev["kind"] == "invocation-started" && ev["idempotency-key"] == key {
            return;
        }
    }
}

/// The kind of each oplog entry of `w`, in order.
async fn kinds(nats: &Nats, w: &str) -> Vec<&'static str> {
    oplog(nats, w).await.iter().map(|(_, e)| e.kind()).collect()
}

/// How many `InvocationCompleted` entries `w`'s oplog has for `key`.
pub(super) async fn completions(nats: &Nats, w: &str, key: &str) -> usize {
    oplog(nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationCompleted { idempotency_key, .. } if idempotency_key == key))
        .count()
}

/// Waits until the worker record says `status`.
async fn status_becomes(nats: &Nats, w: &str, status: WorkerStatus) {
    wait_until(
        &format!("{w} recorded {}", status.as_str()),
        TIMEOUT,
        || async {
            record(nats, w)
                .await
                .filter(|r| r.status == status)
                .map(|_| ())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupting_stops_a_running_invocation_at_once_and_holds_the_rest() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    let nats = env.nats.clone();
    let w = "test-faults/b1";
    assert_eq!(
        call(&nats, w, "echo", json!(["first"])).await,
        Ok(json!("first"))
    );

    let mut replies = start_busy(&nats, w, 30_000, "busy-1").await;
    // Resuming a running worker changes nothing and says it runs.
    assert_eq!(
        control(&nats, w, ControlAction::Resume).await.unwrap(),
        state(w, WorkerStatus::Running)
    );

    let asked = Instant::now();
    let answer = control(&nats, w, ControlAction::Interrupt).await;
    let took = asked.elapsed();
    assert_eq!(answer.unwrap(), state(w, WorkerStatus::Interrupted));
    assert!(
        took < Duration::from_millis(900),
        "interrupting took {took:?}"
    );

    replies
        .publish(&nats, w, "echo", json!(["held"]), "echo-1", "echo")
        .await;
    // The oplog says so at once (the answer came after the commit)...
    let entries = oplog(&nats, w).await;
    assert!(
        matches!(entries.last(), Some((_, OplogEntry::Interrupted { .. }))),
        "{:?}",
        kinds(&nats, w).await
    );
    // ...and so does the worker record.
    status_becomes(&nats, w, WorkerStatus::Interrupted).await;
    // Neither the stopped invocation nor the one behind it is answered.
    assert_eq!(replies.next(Duration::from_secs(1)).await, None);
    assert_eq!(completions(&nats, w, "busy-1").await, 0);
    assert_eq!(completions(&nats, w, "echo-1").await, 0);

    // Interrupting again changes nothing.
    let before = oplog(&nats, w).await.len();
    assert_eq!(
        control(&nats, w, ControlAction::Interrupt).await.unwrap(),
        state(w, WorkerStatus::Interrupted)
    );
    assert_eq!(oplog(&nats, w).await.len(), before);
    assert_eq!(replies.next(Duration::from_millis(300)).await, None);
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_runs_the_interrupted_invocation_again_then_the_held_ones_in_order() {
    // A short dedup window, so a duplicate of a completed key reaches the held worker.
    let mut env = Env::with_options(&[("test-faults", revenant_guests::TEST_FAULTS)], |o| {
        o.dedup_window_secs = 1
    })
    .await;
    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    let nats = env.nats.clone();
    let w = "test-faults/b2";
    assert_eq!(
        invoke(&nats, w, "echo", json!(["done"]), Some("echo-done")).await,
        Ok(json!("done"))
    );

    let mut replies = start_busy(&nats, w, 2_000, "busy-2").await;
    assert_eq!(
        control(&nats, w, ControlAction::Interrupt).await.unwrap(),
        state(w, WorkerStatus::Interrupted)
    );
    replies
        .publish(&nats, w, "echo", json!(["held"]), "echo-2", "echo")
        .await;

    // While held, a duplicate of a completed invocation is still answered (past
    // JetStream's dedup window, from the oplog): the window is time, nothing to poll.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    replies
        .publish(&nats, w, "echo", json!(["done"]), "echo-done", "dup")
        .await;
    let (tag, answer) = replies
        .next(TIMEOUT)
        .await
        .expect("the duplicate is answered");
    assert_eq!((tag.as_str(), answer), ("dup", Ok(json!("done"))));
    assert_eq!(
        replies.next(Duration::from_millis(500)).await,
        None,
        "the rest is held"
    );
    assert!(matches!(
        oplog(&nats, w).await.last(),
        Some((_, OplogEntry::Interrupted { .. }))
    ));

    assert_eq!(
        control(&nats, w, ControlAction::Resume).await.unwrap(),
        state(w, WorkerStatus::Idle)
    );
    // The interrupted invocation runs again from its start (a whole 2 s), then the held one.
    let (tag, answer) = replies
        .next(TIMEOUT)
        .await
        .expect("the busy caller is answered");
    assert_eq!(tag, "busy");
    let readings = answer.expect("busy succeeds");
    assert!(readings.as_u64().is_some_and(|n| n > 0), "{readings}");
    assert_eq!(
        replies.next(TIMEOUT).await,
        Some(("echo".to_owned(), Ok(json!("held"))))
    );
    assert_eq!(
        replies.next(Duration::from_millis(500)).await,
        None,
        "each answered once"
    );
    assert_eq!(completions(&nats, w, "busy-2").await, 1);
    assert_eq!(completions(&nats, w, "echo-2").await, 1);
    let kinds = kinds(&nats, w).await;
    let interrupted = kinds.iter().position(|k| *k == "interrupted").unwrap();
    assert_eq!(kinds[interrupted + 1], "resumed", "{kinds:?}");
    status_becomes(&nats, w, WorkerStatus::Idle).await;

    // Resuming a worker that is not interrupted changes nothing.
    let before = oplog(&nats, w).await.len();
    assert_eq!(
        control(&nats, w, ControlAction::Resume).await.unwrap(),
        state(w, WorkerStatus::Idle)
    );
    assert_eq!(oplog(&nats, w).await.len(), before);

    // The recorded outcome of the re-run is what replay reproduces on another executor.
    let recorded = oplog(&nats, w)
        .await
        .into_iter()
        .find_map(|(_, e)| match e {
            OplogEntry::InvocationCompleted {
                idempotency_key,
                outcome: InvocationOutcome::Ok(v),
                ..
            } if idempotency_key == "busy-2" => Some(v),
            _ => None,
        });
    assert_eq!(recorded, Some(readings.to_string()));
    exec.stop().await;
    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    assert_eq!(
        call(&nats, w, "echo", json!(["replayed"])).await,
        Ok(json!("replayed"))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_worker_stays_interrupted_across_an_executor_restart() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    let nats = env.nats.clone();
    let w = "test-faults/b3";
    assert_eq!(
        call(&nats, w, "echo", json!(["first"])).await,
        Ok(json!("first"))
    );
    let mut replies = start_busy(&nats, w, 1_000, "busy-3").await;
    assert_eq!(
        control(&nats, w, ControlAction::Interrupt).await.unwrap(),
        state(w, WorkerStatus::Interrupted)
    );
    replies
        .publish(&nats, w, "echo", json!(["held"]), "echo-3", "echo")
        .await;
    status_becomes(&nats, w, WorkerStatus::Interrupted).await;
    let interrupted_at = record(&nats, w).await.unwrap().updated_at;
    // Stopping hands the held invocations back to JetStream.
    exec.stop().await;

    let exec = env
        .executor_with(|o| o.invocation_timeout_ms = DEADLINE_MS)
        .await;
    // The new executor recovers the worker for the redelivered invocations: interrupted.
    wait_until(
        "the new executor recovers the worker, interrupted",
        TIMEOUT,
        || async {
            record(&nats, w)
                .await
                .filter(|r| r.updated_at > interrupted_at && r.status == WorkerStatus::Interrupted)
        },
    )
    .await;
    assert_eq!(
        replies.next(Duration::from_secs(1)).await,
        None,
        "nothing runs"
    );
    let started_entries = oplog(&nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationStarted { .. }))
        .count();
    assert_eq!(
        started_entries,
        1,
        "only the first echo ever started: {:?}",
        kinds(&nats, w).await
    );
    assert_eq!(
        control(&nats, w, ControlAction::Interrupt).await.unwrap(),
        state(w, WorkerStatus::Interrupted)
    );

    assert_eq!(
        control(&nats, w, ControlAction::Resume).await.unwrap(),
        state(w, WorkerStatus::Idle)
    );
    let (tag, answer) = replies.next(TIMEOUT).await.expect("busy answered");
    assert_eq!(tag, "busy");
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        replies.next(TIMEOUT).await,
        Some(("echo".to_owned(), Ok(json!("held"))))
    );
    assert_eq!(
        replies.next(Duration::from_millis(500)).await,
        None,
        "each answered once"
    );
    status_becomes(&nats, w, WorkerStatus::Idle).await;
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_worker_not_in_memory_can_be_interrupted_and_resumed() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    // Suspended from memory right after each invocation.
    let exec = env.executor_with(|o| o.idle_timeout_ms = 100).await;
    let nats = env.nats.clone();
    let w = "test-faults/b4";
    assert_eq!(
        call(&nats, w, "echo", json!(["first"])).await,
        Ok(json!("first"))
    );
    status_becomes(&nats, w, WorkerStatus::Suspended).await;
    assert_eq!(
        control(&nats, w, ControlAction::Interrupt).await.unwrap(),
        state(w, WorkerStatus::Interrupted)
    );
    assert_eq!(kinds(&nats, w).await.last(), Some(&"interrupted"));
    status_becomes(&nats, w, WorkerStatus::Interrupted).await;
    // Suspended again while interrupted (nothing held): it stays interrupted.
    let mut replies = Replies::new(&nats).await;
    replies
        .publish(&nats, w, "echo", json!(["held"]), "echo-4", "echo")
        .await;
    assert_eq!(replies.next(Duration::from_secs(1)).await, None);
    assert_eq!(
        control(&nats, w, ControlAction::Resume).await.unwrap(),
        state(w, WorkerStatus::Idle)
    );
    assert_eq!(
        replies.next(TIMEOUT).await,
        Some(("echo".to_owned(), Ok(json!("held"))))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn control_refuses_unknown_and_failed_workers_and_says_when_nobody_holds_the_shard() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let nats = env.nats.clone();
    let w = "test-faults/n1";
    let shard = nats.shard_of(&worker(w));

    // Nobody listens at all.
    let err = nats
        .control(&worker(w), ControlAction::Interrupt, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ControlError::NoExecutor { shard: s, .. } if s == shard),
        "{err:?}"
    );
    let expected =
        format!("no executor holds shard {shard} of worker test-faults.n1 right now; retry");
    assert_eq!(
        err.to_string(),
        format!("{expected} (no executor is running)")
    );
    // Someone listens but does not hold the shard (as an executor holding other shards).
    let _silent = nats
        .client()
        .subscribe(nats.namespace().control_wildcard())
        .await
        .unwrap();
    let asked = Instant::now();
    let err = nats
        .control(
            &worker(w),
            ControlAction::Resume,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ControlError::NoExecutor { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{expected} (nobody answered within 300ms)")
    );
    assert!(asked.elapsed() < Duration::from_secs(5));

    let exec = env.executor_with(|o| o.retry.max_attempts = 1).await;
    let err = control(&nats, "test-faults/nobody", ControlAction::Interrupt)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::Refused(e) if e.kind == ErrorKind::UnknownWorker),
        "{err:?}"
    );
    assert!(
        oplog(&nats, "test-faults/nobody").await.is_empty(),
        "not created"
    );

    let trapped = call(&nats, w, "trap", json!(["boom"])).await.unwrap_err();
    assert_eq!(trapped["kind"], "trap");
    for action in [ControlAction::Interrupt, ControlAction::Resume] {
        let err = control(&nats, w, action).await.unwrap_err();
        assert!(
            matches!(&err, ControlError::Refused(e) if e.kind == ErrorKind::WorkerFailed),
            "{err:?}"
        );
    }
    assert!(!kinds(&nats, w).await.contains(&"interrupted"));
    exec.stop().await;
}

/// One interrupted worker does not hold its shard (issue 11, scenario 5): past
/// `max-held-per-worker` what it holds is parked in its oplog and acked, so another
/// worker of the same shard keeps flowing with a consumer window smaller than the
/// backlog; on resume the parked invocations run in arrival order, once each.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_worker_parks_its_backlog_and_its_shard_keeps_flowing() {
    let mut env = Env::with_options(&[("faults", revenant_guests::TEST_FAULTS)], |o| {
        o.shards = 1
    })
    .await;
    let _exec = env
        .executor_with(|o| {
            o.max_in_flight = 8;
            o.max_held_per_worker = 4;
        })
        .await;
    let nats = env.nats.clone();
    let (held, other) = ("faults/held", "faults/other");
    assert_eq!(
        invoke(&nats, held, "echo", json!(["up"]), None).await,
        Ok(json!("up"))
    );
    common::interrupt(&nats, held).await;
    let keys: Vec<String> = (0..20).map(|i| format!("held-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let req = revenant_nats::invocations::InvocationRequest {
            function: "echo".into(),
            idempotency_key: Some(key.clone()),
            body: json!([i.to_string()]).to_string().into(),
            ..Default::default()
        };
        nats.publish_invocation(&worker(held), &req).await.unwrap();
    }
    // 20 held invocations against a window of 8: the other worker is still answered.
    assert_eq!(
        invoke(&nats, other, "echo", json!(["flowing"]), None).await,
        Ok(json!("flowing"))
    );
    let parked = oplog(&nats, held)
        .await
        .iter()
        .filter(|(_, e)| e.kind() == "pending-invocation")
        .count();
    assert!(parked >= 16, "{parked} parked");
    nats.control(&worker(held), ControlAction::Resume, TIMEOUT)
        .await
        .expect("resume");
    for (i, key) in keys.iter().enumerate() {
        let result = revenant_tests::wait_until(key, TIMEOUT, || async {
            nats.results().get(&worker(held), key).await.ok().flatten()
        })
        .await;
        assert_eq!(
            result.outcome,
            revenant_types::oplog::InvocationOutcome::Ok(json!(i.to_string()).to_string())
        );
    }
    let completed: Vec<String> = oplog(&nats, held)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::InvocationCompleted {
                idempotency_key, ..
            } if idempotency_key.starts_with("held-") => Some(idempotency_key),
            _ => None,
        })
        .collect();
    assert_eq!(completed, keys, "in arrival order, once each");
}
