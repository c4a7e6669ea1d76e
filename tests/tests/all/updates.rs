//! Live updates end to end: a `counter` worker moves to another component
//! version by replay (`auto`) or by snapshot (`save` on the old version, `load` on
//! the new one); an update that diverges is journaled `UpdateFailed` and the worker
//! keeps answering on its version; two updates in a row and an update followed by
//! periodic snapshots work; and an update cut off at any step (its oplog written
//! as a crash would leave it) leaves the worker wholly on the old version.

use std::time::Duration;

use crate::common::{self, Env, oplog, worker};
use revenant_nats::{ControlError, Nats};
use revenant_tests::revenant::{call, invoke};
use revenant_types::ComponentName;
use revenant_types::oplog::OplogEntry;
use revenant_types::records::{ControlAction, WorkerState};
use revenant_types::snapshot::{SnapshotPolicy, UpdateMode};
use serde_json::json;

/// Uploads `path` as the next version of `counter`, with `policy`; returns the version.
async fn version_of(nats: &Nats, path: &str, policy: SnapshotPolicy) -> u64 {
    let bytes = std::fs::read(path).expect("guest binary");
    nats.components()
        .upload_with(&ComponentName::new("counter").unwrap(), bytes, policy)
        .await
        .expect("upload")
        .version
}

async fn update(
    nats: &Nats,
    w: &str,
    to: u64,
    mode: UpdateMode,
) -> Result<WorkerState, ControlError> {
    nats.control(
        &worker(w),
        ControlAction::Update { to, mode },
        Duration::from_secs(20),
    )
    .await
}

/// Adds `values` to `w` one by one (keys `<w>-<tag>-<i>`), returning the last total.
async fn add_all(nats: &Nats, w: &str, tag: &str, values: &[u64]) -> u64 {
    let mut last = 0;
    for (i, v) in values.iter().enumerate() {
        let key = format!("{}-{tag}-{i}", w.replace('/', "-"));
        last = invoke(nats, w, "add", json!([v]), Some(&key))
            .await
            .expect("add")
            .as_u64()
            .unwrap();
    }
    last
}

fn version_in(entries: &[(u64, OplogEntry)]) -> Vec<String> {
    entries
        .iter()
        .filter(|(_, e)| e.kind().starts_with("update-"))
        .map(|(_, e)| e.kind().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_automatic_update_replays_on_the_new_version_and_a_divergent_one_keeps_the_old() {
    let mut env = Env::new(&[]).await;
    let nats = env.nats.clone();
    let none = SnapshotPolicy::default();
    let v1 = version_of(&nats, revenant_guests::COUNTER, none).await;
    let _exec = env.executor().await;
    assert_eq!(add_all(&nats, "counter/u1", "a", &[2, 3, 4]).await, 9);

    // The same code as version 2: the history replays as recorded.
    let v2 = version_of(&nats, revenant_guests::COUNTER, none).await;
    let state = update(&nats, "counter/u1", v2, UpdateMode::Auto)
        .await
        .expect("update");
    assert_eq!(state.worker, "counter.u1");
    assert_eq!(
        call(&nats, "counter/u1", "get", json!([])).await,
        Ok(json!(9))
    );

    // Version 3 is another program (no `add`): replaying the history on it diverges.
    let v3 = version_of(&nats, revenant_guests::JSON_SUM, none).await;
    let refused = update(&nats, "counter/u1", v3, UpdateMode::Auto).await;
    let Err(ControlError::Refused(e)) = refused else {
        panic!("a divergent update is refused: {refused:?}");
    };
    assert_eq!(e.kind.as_str(), "update-failed", "{e:?}");
    assert!(
        e.message.contains(&format!("stays on version {v2}")),
        "{}",
        e.message
    );
    // The worker goes on answering on version 2.
    assert_eq!(add_all(&nats, "counter/u1", "b", &[1]).await, 10);
    let entries = oplog(&nats, "counter/u1").await;
    assert_eq!(
        version_in(&entries),
        [
            "update-pending",
            "update-succeeded",
            "update-pending",
            "update-failed"
        ]
    );
    assert!(v1 < v2);

    // A new executor recovers it on version 2, with everything it did.
    drop(_exec);
    let _exec = env.executor().await;
    assert_eq!(
        call(&nats, "counter/u1", "get", json!([])).await,
        Ok(json!(10))
    );
    let record = common::record(&nats, "counter/u1").await.expect("record");
    assert_eq!(record.component_version, v2);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_snapshot_updates_in_a_row_then_periodic_snapshots_and_a_restart() {
    let mut env = Env::new(&[]).await;
    let nats = env.nats.clone();
    let none = SnapshotPolicy::default();
    version_of(&nats, revenant_guests::COUNTER, none).await;
    let exec = env.executor().await;
    assert_eq!(add_all(&nats, "counter/u2", "a", &[5, 5]).await, 10);

    let v2 = version_of(&nats, revenant_guests::COUNTER, none).await;
    update(&nats, "counter/u2", v2, UpdateMode::Snapshot)
        .await
        .expect("first update");
    assert_eq!(add_all(&nats, "counter/u2", "b", &[1]).await, 11);
    // The second update in a row, to a version that snapshots every 3 invocations.
    let every = SnapshotPolicy {
        every: 3,
        period_ms: 0,
    };
    let v3 = version_of(&nats, revenant_guests::COUNTER, every).await;
    update(&nats, "counter/u2", v3, UpdateMode::Snapshot)
        .await
        .expect("second update");
    assert_eq!(add_all(&nats, "counter/u2", "c", &[1; 7]).await, 18);
    let snapshots: Vec<u64> = oplog(&nats, "counter/u2")
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::Snapshot {
                component_version, ..
            } => Some(component_version),
            _ => None,
        })
        .collect();
    assert!(
        snapshots.iter().filter(|v| **v == v3).count() >= 2,
        "periodic snapshots of version {v3} after the update: {snapshots:?}"
    );

    // Recovered elsewhere: version 3, from its snapshots, with every addition.
    exec.stop().await;
    let _exec = env.executor().await;
    assert_eq!(
        call(&nats, "counter/u2", "get", json!([])).await,
        Ok(json!(18))
    );
    // An automatic update after snapshot updates starts from the newest snapshot.
    let v4 = version_of(&nats, revenant_guests::COUNTER, none).await;
    update(&nats, "counter/u2", v4, UpdateMode::Auto)
        .await
        .expect("auto after snapshots");
    assert_eq!(add_all(&nats, "counter/u2", "d", &[2]).await, 20);
    let record = common::record(&nats, "counter/u2").await.expect("record");
    assert_eq!(record.component_version, v4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_cut_off_before_its_outcome_leaves_the_worker_on_the_old_version() {
    let mut env = Env::new(&[]).await;
    let nats = env.nats.clone();
    let none = SnapshotPolicy::default();
    let v1 = version_of(&nats, revenant_guests::COUNTER, none).await;
    let mut exec = env.executor().await;
    // Created on version 1, before version 2 exists.
    for n in 0..3 {
        assert_eq!(
            add_all(&nats, &format!("counter/cut{n}"), "a", &[4, 4]).await,
            8
        );
    }
    let v2 = version_of(&nats, revenant_guests::COUNTER, none).await;
    // Each step an update journals before its outcome, as a crash right after it leaves it.
    let steps: [Vec<OplogEntry>; 3] = [
        vec![OplogEntry::UpdatePending {
            at: 1,
            target_version: v2,
            mode: UpdateMode::Snapshot,
        }],
        vec![
            OplogEntry::UpdatePending {
                at: 1,
                target_version: v2,
                mode: UpdateMode::Auto,
            },
            OplogEntry::Log {
                at: 1,
                stream: "stderr".into(),
                message: "the executor died here".into(),
            },
        ],
        // Saved on the old version, loaded on the new one, but `UpdateSucceeded` never
        // committed (the two are one message in practice; here the worst case).
        vec![
            OplogEntry::UpdatePending {
                at: 1,
                target_version: v2,
                mode: UpdateMode::Snapshot,
            },
            OplogEntry::Snapshot {
                at: 1,
                object: "counter/cut2/6".into(),
                covers: 6,
                component_version: v2,
                digest: "none".into(),
                size: 8,
                covers_seq: 0,
                host_state: Some(Default::default()),
            },
        ],
    ];
    for (n, step) in steps.into_iter().enumerate() {
        let w = format!("counter/cut{n}");
        exec.stop().await;
        let id = worker(&w);
        let store = nats.oplog();
        let read = store.read(&id, 1).await.unwrap();
        let batch = revenant_types::codec::OplogBatch {
            first: read.next_index,
            entries: step,
        };
        store
            .append(&id, read.last_seq, &batch)
            .await
            .expect("append");
        exec = env.executor().await;
        assert_eq!(call(&nats, &w, "get", json!([])).await, Ok(json!(8)));
        assert_eq!(add_all(&nats, &w, "b", &[1]).await, 9);
        let record = common::record(&nats, &w).await.expect("record");
        assert_eq!(
            record.component_version, v1,
            "{w} is wholly on the old version"
        );
    }
}

/// A new worker starts on the latest version deployed, though the executor has an older
/// one loaded, and an existing worker comes back on its own version, though the executor
/// loaded a newer one first.
#[tokio::test(flavor = "multi_thread")]
async fn workers_start_on_their_own_version_whichever_the_executor_loaded_last() {
    let mut env = Env::new(&[]).await;
    let nats = env.nats.clone();
    let none = SnapshotPolicy::default();
    let v1 = version_of(&nats, revenant_guests::COUNTER, none).await;
    let exec = env.executor().await;
    assert_eq!(add_all(&nats, "counter/old", "a", &[2, 3]).await, 5);

    // Version 2 is another program: a new worker runs it, though version 1 is loaded.
    let v2 = version_of(&nats, revenant_guests::JSON_SUM, none).await;
    let sum = |w: &'static str| invoke(&nats, w, "sum", json!(["[1, 2]"]), None);
    assert_eq!(sum("counter/new").await, Ok(json!({ "ok": 3 })));

    // A new executor that loaded version 2 first brings the old worker back on version 1.
    drop(exec);
    let _exec = env.executor().await;
    assert_eq!(sum("counter/newer").await, Ok(json!({ "ok": 3 })));
    assert_eq!(
        call(&nats, "counter/old", "get", json!([])).await,
        Ok(json!(5))
    );
    for (w, version) in [
        ("counter/old", v1),
        ("counter/new", v2),
        ("counter/newer", v2),
    ] {
        let record = common::record(&nats, w).await.expect("record");
        assert_eq!(record.component_version, version, "{w}");
    }
}
