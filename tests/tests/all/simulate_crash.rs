//! `simulate-crash` against a real executor and nats-server: the executor holding a
//! worker drops it as a crash would and recovers it from its oplog by replay. State
//! survives (the counter's total, its journaled random draws), nothing is appended for
//! the crash, the answer says how long recovery took, a `recovered` event is published,
//! and an invocation cut short mid-run is answered exactly once after it runs on.

use crate::common;

use std::time::Duration;

use common::{Env, TIMEOUT, oplog, worker};
use futures::StreamExt;
use revenant_tests::revenant::call;
use revenant_types::oplog::{ErrorKind, OplogEntry};
use revenant_types::records::{ControlAction, WorkerStatus};
use serde_json::json;

use super::control::{completions, control, start_busy};

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_crash_recovers_the_worker_by_replay_with_its_state() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "counter/crash-1";
    assert_eq!(call(&nats, w, "add", json!([5])).await, Ok(json!(5)));
    let total = call(&nats, w, "add-random", json!([]))
        .await
        .expect("add-random");
    let before = oplog(&nats, w).await.len();

    let mut events = Box::pin(nats.subscribe_events(&worker(w)).await.unwrap());
    let state = control(&nats, w, ControlAction::SimulateCrash)
        .await
        .expect("crash answered");
    assert_eq!(state.status, WorkerStatus::Idle);
    let ms = state
        .recovered_ms
        .expect("the answer says how long recovery took");
    assert!(ms > 0.0 && ms < TIMEOUT.as_millis() as f64, "{ms}");
    let recovered = loop {
        let ev = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .expect("a recovered event")
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).unwrap();
        if ev["kind"] == "recovered" {
            break ev;
        }
    };
    assert_eq!(recovered["simulated-crash"], json!(true));
    assert!(recovered["recovered-ms"].as_f64().is_some(), "{recovered}");

    // The crash appends nothing; the replayed worker has the total its draws made.
    assert_eq!(oplog(&nats, w).await.len(), before);
    assert_eq!(call(&nats, w, "get", json!([])).await, Ok(total.clone()));
    // Twice in a row is as good as once.
    control(&nats, w, ControlAction::SimulateCrash)
        .await
        .unwrap();
    assert_eq!(call(&nats, w, "get", json!([])).await, Ok(total));

    // A worker that does not exist is refused as unknown.
    let unknown = control(&nats, "counter/never-made", ControlAction::SimulateCrash).await;
    match unknown {
        Err(revenant_nats::ControlError::Refused(e)) => {
            assert_eq!(e.kind, ErrorKind::UnknownWorker)
        }
        other => panic!("{other:?}"),
    }
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_cut_short_by_a_simulated_crash_runs_on_and_is_answered_once() {
    let mut env = Env::new(&[("test-faults", revenant_guests::TEST_FAULTS)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "test-faults/crash-2";
    assert_eq!(
        call(&nats, w, "echo", json!(["first"])).await,
        Ok(json!("first"))
    );

    let mut replies = start_busy(&nats, w, 1_500, "busy-crash").await;
    let state = control(&nats, w, ControlAction::SimulateCrash)
        .await
        .expect("crash answered while the invocation ran");
    assert!(state.recovered_ms.is_some(), "{state:?}");
    assert!(!state.interrupted);

    let (tag, answer) = replies.next(TIMEOUT).await.expect("busy answered");
    assert_eq!(tag, "busy");
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        replies.next(Duration::from_millis(500)).await,
        None,
        "answered once"
    );
    assert_eq!(completions(&nats, w, "busy-crash").await, 1);
    assert!(
        !oplog(&nats, w)
            .await
            .iter()
            .any(|(_, e)| matches!(e, OplogEntry::Interrupted { .. })),
        "a crash is not an interrupt"
    );
    exec.stop().await;
}
