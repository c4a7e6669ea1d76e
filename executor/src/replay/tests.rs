//! Unit tests of the replay plan.

use revenant_types::oplog::{Durability, ErrorBody, ErrorKind};

use super::*;

fn started(key: &str) -> OplogEntry {
    OplogEntry::InvocationStarted {
        at: 0,
        idempotency_key: key.into(),
        function: "add".into(),
        args: "[1]".into(),
        trace: Default::default(),
        reply_to: None,
        caller: None,
        schedule: None,
    }
}
fn call(v: u64) -> OplogEntry {
    OplogEntry::HostCall {
        function: revenant_types::host::RANDOM_U64.into(),
        request: HostValue::Unit,
        response: HostValue::U64(v),
        durability: Durability::ReadRemote,
    }
}
fn done(key: &str, ok: bool) -> OplogEntry {
    OplogEntry::InvocationCompleted {
        at: 0,
        idempotency_key: key.into(),
        outcome: if ok {
            InvocationOutcome::Ok("1".into())
        } else {
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, "boom"))
        },
        duration_us: 0,
    }
}
fn indexed(entries: Vec<OplogEntry>) -> Vec<(OplogIndex, OplogEntry)> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64 + 1, e))
        .collect()
}

#[test]
fn completed_invocations_replay_with_their_host_calls() {
    let create = OplogEntry::Create {
        at: 1,
        component_version: 2,
        args: vec![],
        env: vec![],
    };
    let p = plan(indexed(vec![
        create,
        started("a"),
        call(7),
        done("a", true),
        started("b"),
        done("b", true),
    ]));
    assert_eq!(p.create.as_ref().unwrap().component_version, 2);
    assert_eq!(p.invocations.len(), 2);
    assert_eq!(p.invocations[0].host_calls.len(), 1);
    assert_eq!(p.invocations[0].host_calls[0].0, 3);
    assert!(p.incomplete().is_none());
    assert_eq!(p.completed.len(), 2);
    assert_eq!(p.next_index, 7);
}

#[test]
fn an_error_voids_the_attempt_and_failed_invocations_are_not_rerun() {
    let err = |fatal| OplogEntry::Error {
        at: 0,
        message: "trap".into(),
        retry: 1,
        fatal,
    };
    let p = plan(indexed(vec![
        started("a"),
        call(1),
        err(false),
        call(2),
        done("a", true),
    ]));
    assert_eq!(p.invocations[0].host_calls.len(), 1);
    assert_eq!(p.invocations[0].failed_attempts, 1);
    assert!(matches!(
        p.invocations[0].host_calls[0].1,
        OplogEntry::HostCall {
            response: HostValue::U64(2),
            ..
        }
    ));

    let p = plan(indexed(vec![
        started("a"),
        err(false),
        err(true),
        done("a", false),
    ]));
    assert!(p.invocations.is_empty());
    assert_eq!(p.failed.as_deref(), Some("trap"));
    assert!(matches!(p.completed["a"], InvocationOutcome::Err(_)));
}

#[test]
fn an_interrupt_voids_the_attempt_and_holds_until_resumed() {
    let interrupted = OplogEntry::Interrupted { at: 0 };
    let p = plan(indexed(vec![
        started("a"),
        done("a", true),
        started("b"),
        call(1),
        interrupted.clone(),
    ]));
    assert!(p.interrupted);
    let tail = p.incomplete().unwrap();
    assert_eq!(tail.idempotency_key, "b");
    assert!(
        tail.host_calls.is_empty(),
        "the stopped attempt's calls are void"
    );
    assert_eq!(tail.failed_attempts, 0, "an interrupt is not a failure");

    // Resumed: no longer held; the new attempt's calls are the ones replayed.
    let p = plan(indexed(vec![
        started("b"),
        call(1),
        interrupted.clone(),
        OplogEntry::Resumed { at: 0 },
        call(2),
    ]));
    assert!(!p.interrupted);
    assert!(matches!(
        p.incomplete().unwrap().host_calls[0].1,
        OplogEntry::HostCall {
            response: HostValue::U64(2),
            ..
        }
    ));

    // An idle worker interrupted: nothing to void, still held; completed work stays.
    let p = plan(indexed(vec![started("a"), done("a", true), interrupted]));
    assert!(p.interrupted && p.incomplete().is_none());
    assert_eq!(p.invocations.len(), 1);
}

#[test]
fn a_tombstone_forgets_everything_before_it_and_keeps_its_sequence() {
    let create = OplogEntry::Create {
        at: 1,
        component_version: 2,
        args: vec!["x".into()],
        env: vec![],
    };
    let err = OplogEntry::Error {
        at: 0,
        message: "trap".into(),
        retry: 1,
        fatal: true,
    };
    let end = OplogEntry::EndRemoteWrite {
        begin: 3,
        response: HostValue::U64(200),
    };
    let deleted = OplogEntry::Deleted { at: 9, before: 42 };
    let p = plan(indexed(vec![
        create,
        started("a"),
        done("a", true),
        end,
        started("b"),
        call(1),
        err,
        OplogEntry::Interrupted { at: 0 },
        deleted,
    ]));
    assert_eq!(
        p,
        ReplayPlan {
            deleted_before: Some(42),
            next_index: 10,
            entries: 9,
            ..ReplayPlan::default()
        },
        "no creation, invocations, outcomes, failure, interrupt or remote ends survive"
    );
}

#[test]
fn a_worker_created_again_after_a_tombstone_keeps_the_tombstones_sequence() {
    let create = |version| OplogEntry::Create {
        at: 1,
        component_version: version,
        args: vec![],
        env: vec![],
    };
    let p = plan(indexed(vec![
        create(1),
        started("a"),
        done("a", true),
        OplogEntry::Deleted { at: 9, before: 42 },
        create(2),
        started("b"),
        call(5),
        done("b", true),
    ]));
    assert_eq!(p.create.as_ref().unwrap().component_version, 2);
    assert_eq!(p.deleted_before, Some(42));
    assert_eq!(p.invocations.len(), 1);
    assert_eq!(p.invocations[0].idempotency_key, "b");
    assert!(
        !p.completed.contains_key("a"),
        "the old worker's keys are gone"
    );
    assert_eq!(p.next_index, 9);

    // An invocation left open by the old worker is not the new one's tail.
    let p = plan(indexed(vec![
        started("a"),
        call(1),
        OplogEntry::Deleted { at: 9, before: 7 },
    ]));
    assert!(p.incomplete().is_none() && p.create.is_none());
}

#[test]
fn the_tail_is_incomplete_and_remote_ends_are_indexed_by_begin() {
    let begin = OplogEntry::BeginRemoteWrite {
        function: "http".into(),
        request: HostValue::Unit,
    };
    let end = OplogEntry::EndRemoteWrite {
        begin: 3,
        response: HostValue::U64(200),
    };
    let p = plan(indexed(vec![
        started("a"),
        done("a", true),
        begin,
        call(1),
        end,
        started("b"),
        call(5),
    ]));
    // "b" superseded nothing; the begin/call after "a" belong to no invocation.
    let tail = p.incomplete().unwrap();
    assert_eq!(tail.idempotency_key, "b");
    assert_eq!(tail.host_calls.len(), 1);
    assert_eq!(p.remote_ends[&3], HostValue::U64(200));
}

fn parked(key: &str) -> OplogEntry {
    OplogEntry::PendingInvocation {
        at: 0,
        idempotency_key: key.into(),
        function: "add".into(),
        body: b"[1]".to_vec(),
        content_type: None,
        reply_to: Some("_INBOX.x".into()),
        trace: Default::default(),
        stream_sequence: 9,
        caller: None,
    }
}

#[test]
fn a_suspended_tail_keeps_its_host_calls_and_parked_invocations_wait_their_turn() {
    let promise = OplogEntry::HostCall {
        function: host::PROMISE_CREATE.into(),
        request: HostValue::Unit,
        response: HostValue::U64(3),
        durability: Durability::ReadRemote,
    };
    let suspended = OplogEntry::Suspended {
        at: 0,
        waiting: vec!["promise:3".into()],
    };
    let entries = vec![
        started("a"),
        call(1),
        promise,
        suspended,
        parked("b"),
        parked("c"),
        parked("a"),
    ];
    let p = plan(indexed(entries.clone()));
    assert_eq!(p.suspended, Some(vec!["promise:3".to_string()]));
    let tail = p
        .incomplete()
        .expect("the suspended invocation is the tail");
    assert_eq!(
        (tail.idempotency_key.as_str(), tail.host_calls.len()),
        ("a", 2)
    );
    assert_eq!(p.promises, vec![3]);
    let keys: Vec<&str> = p
        .parked
        .iter()
        .map(|i| i.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["b", "c", "a"]);

    // Completed and resumed: the tail finishes, then "b" runs; the duplicate of "a"
    // parked behind is answered (a completion without a start), "c" still waits.
    let mut more = entries;
    more.extend([
        OplogEntry::PromiseCompleted {
            at: 0,
            promise: 3,
            data: b"ok".to_vec(),
        },
        OplogEntry::Resumed { at: 0 },
        done("a", true),
        started("b"),
        done("b", true),
        done("a", true),
    ]);
    let p = plan(indexed(more));
    assert_eq!(p.suspended, None);
    assert_eq!(p.promise_payloads[&3], b"ok");
    let keys: Vec<&str> = p
        .parked
        .iter()
        .map(|i| i.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["c"]);
    assert_eq!(p.parked[0].reply_to.as_deref(), Some("_INBOX.x"));
    assert!(p.incomplete().is_none());
}

fn snapshot_entry(
    covers: OplogIndex,
    host: Option<revenant_types::snapshot::HostState>,
) -> OplogEntry {
    OplogEntry::Snapshot {
        at: 5,
        object: format!("c/w/{covers}"),
        covers,
        component_version: 3,
        digest: "d".into(),
        size: 8,
        covers_seq: 40,
        host_state: host,
    }
}

#[test]
fn an_oplog_trimmed_to_a_snapshot_is_created_with_the_snapshots_host_state() {
    let host = revenant_types::snapshot::HostState {
        created_at: 1,
        args: vec!["a".into()],
        env: vec![("K".into(), "V".into())],
        promises: vec![2],
        promise_payloads: vec![(2, serde_bytes::ByteBuf::from(b"yes".to_vec()))],
        timers_fired: vec![3],
    };
    // What is left after a purge: the snapshot entry (index 10) and what followed it.
    let p = plan(vec![
        (10, snapshot_entry(9, Some(host))),
        (11, started("k")),
        (12, done("k", true)),
    ]);
    let create = p.create.expect("created from the host state");
    assert_eq!(
        (create.component_version, create.args, create.env),
        (
            3,
            vec!["a".to_owned()],
            vec![("K".to_owned(), "V".to_owned())]
        )
    );
    assert!(!p.from_start, "the history before the snapshot is gone");
    assert_eq!(p.promises, vec![2]);
    assert_eq!(
        p.promise_payloads.get(&2).map(Vec::as_slice),
        Some(&b"yes"[..])
    );
    assert_eq!(p.timers_fired, vec![3]);
    assert_eq!(p.snapshots.len(), 1);
    assert_eq!((p.snapshots[0].index, p.snapshots[0].covers), (10, 9));
    assert_eq!(p.invocations.len(), 1);
}

#[test]
fn a_full_oplog_lists_its_snapshots_and_keeps_every_invocation_for_a_fallback() {
    let create = OplogEntry::Create {
        at: 1,
        component_version: 3,
        args: vec![],
        env: vec![],
    };
    let p = plan(indexed(vec![
        create,
        started("a"),
        done("a", true),
        snapshot_entry(3, Some(Default::default())),
        started("b"),
        done("b", true),
    ]));
    assert!(p.from_start);
    assert_eq!(p.create.map(|c| c.at), Some(1), "the Create entry wins");
    assert_eq!(p.snapshots.len(), 1);
    let keys: Vec<_> = p
        .invocations
        .iter()
        .map(|i| i.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn an_update_applies_only_once_it_succeeded_and_a_snapshot_update_ends_full_replays() {
    let create = OplogEntry::Create {
        at: 1,
        component_version: 1,
        args: vec![],
        env: vec![],
    };
    let pending = |mode| OplogEntry::UpdatePending {
        at: 2,
        target_version: 2,
        mode,
    };
    let crashed = plan(indexed(vec![
        create.clone(),
        pending(revenant_types::snapshot::UpdateMode::Snapshot),
    ]));
    assert_eq!(
        crashed.create.as_ref().map(|c| c.component_version),
        Some(1)
    );
    assert!(crashed.from_start);

    let succeeded = OplogEntry::UpdateSucceeded { at: 3, version: 2 };
    let auto = plan(indexed(vec![
        create.clone(),
        pending(revenant_types::snapshot::UpdateMode::Auto),
        succeeded.clone(),
    ]));
    assert_eq!(auto.create.as_ref().map(|c| c.component_version), Some(2));
    assert!(
        auto.from_start,
        "an automatic update replays the whole history"
    );

    let by_snapshot = plan(indexed(vec![
        create,
        pending(revenant_types::snapshot::UpdateMode::Snapshot),
        succeeded,
    ]));
    assert_eq!(by_snapshot.create.map(|c| c.component_version), Some(2));
    assert!(!by_snapshot.from_start);
}

#[test]
fn only_a_worker_neither_failed_interrupted_nor_suspended_needs_an_instance() {
    assert!(ReplayPlan::default().needs_instance());
    for plan in [
        ReplayPlan {
            failed: Some("trap".into()),
            ..ReplayPlan::default()
        },
        ReplayPlan {
            interrupted: true,
            ..ReplayPlan::default()
        },
        ReplayPlan {
            suspended: Some(vec!["timer".into()]),
            ..ReplayPlan::default()
        },
    ] {
        assert!(!plan.needs_instance(), "{plan:?}");
    }
}
