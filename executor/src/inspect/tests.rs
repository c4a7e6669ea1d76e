//! Unit tests of time travel's decisions.

use revenant_types::oplog::{ErrorBody, ErrorKind};

use super::*;

fn create() -> OplogEntry {
    OplogEntry::Create {
        at: 1,
        component_version: 1,
        args: vec![],
        env: vec![],
    }
}
fn start(key: &str, args: &str) -> OplogEntry {
    OplogEntry::InvocationStarted {
        at: 0,
        idempotency_key: key.into(),
        function: "add".into(),
        args: args.into(),
        trace: Default::default(),
        reply_to: None,
        caller: None,
        schedule: None,
    }
}
fn done(key: &str, outcome: InvocationOutcome) -> OplogEntry {
    OplogEntry::InvocationCompleted {
        at: 0,
        idempotency_key: key.into(),
        outcome,
        duration_us: 0,
    }
}
fn ok(json: &str) -> InvocationOutcome {
    InvocationOutcome::Ok(json.into())
}
fn trap() -> InvocationOutcome {
    InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, "boom"))
}
fn indexed(from: OplogIndex, entries: Vec<OplogEntry>) -> Vec<(OplogIndex, OplogEntry)> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| (from + i as u64, e))
        .collect()
}
fn history() -> Vec<(OplogIndex, OplogEntry)> {
    indexed(
        1,
        vec![
            create(),
            start("a", "[1]"),
            done("a", ok("1")),
            start("b", "[2]"),
            done("b", ok("3")),
        ],
    )
}
fn returned(json: &str) -> Rerun {
    Rerun {
        result: CallResult::Returned(json.into()),
        leftover: None,
    }
}

#[test]
fn the_prefix_ends_at_the_asked_index_inclusive() {
    let prefix = cut(history(), 3, "c/w").unwrap();
    assert_eq!(prefix.len(), 3);
    assert_eq!(prefix.last().map(|(i, _)| *i), Some(3));
    assert_eq!(cut(history(), 5, "c/w").unwrap().len(), 5);
}

#[test]
fn an_index_outside_the_oplog_is_refused_saying_which_exist() {
    for at in [0, 6] {
        let e = cut(history(), at, "c/w").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("indexes 1 to 5"), "{}", e.message);
    }
}

#[test]
fn an_index_in_the_trimmed_history_is_refused() {
    let trimmed = indexed(4, vec![start("b", "[2]"), done("b", ok("3"))]);
    let e = cut(trimmed, 2, "c/w").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(
        e.message.contains("before index 4 was trimmed"),
        "{}",
        e.message
    );
}

#[test]
fn a_worker_without_oplog_is_unknown() {
    let e = cut(vec![], 1, "c/w").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownWorker);
}

#[test]
fn every_started_invocation_is_listed_with_its_outcome_by_then() {
    let listed = started(&cut(history(), 4, "c/w").unwrap());
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].recorded, Some(ok("1")));
    assert_eq!((listed[1].started, listed[1].recorded.clone()), (4, None));
}

#[test]
fn a_start_again_of_the_open_key_replaces_it() {
    let entries = indexed(
        1,
        vec![
            create(),
            start("a", "[1]"),
            start("a", "[1]"),
            done("a", ok("1")),
        ],
    );
    let listed = started(&entries);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].started, listed[0].recorded.clone()),
        (3, Some(ok("1")))
    );
}

#[test]
fn a_tombstone_forgets_what_came_before() {
    let mut entries = history();
    entries.push((6, OplogEntry::Deleted { at: 0, before: 9 }));
    entries.push((7, start("c", "[5]")));
    let listed = started(&entries);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].idempotency_key, "c");
}

#[test]
fn rerun_invocations_show_what_they_returned() {
    let listed = started(&history());
    let reruns = HashMap::from([(2, returned("1")), (4, returned("3"))]);
    let out = inspection(listed, 0, reruns);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.replayed == Replayed::Replayed));
    assert_eq!(out[1].result.as_deref(), Some("3"));
    assert_eq!(out[1].args, "[2]");
}

#[test]
fn a_different_result_is_a_divergence_and_nothing_later_is_rerun() {
    let out = inspection(started(&history()), 0, HashMap::from([(2, returned("2"))]));
    assert_eq!(out[0].replayed, Replayed::Diverged);
    assert_eq!(out[0].result.as_deref(), Some("2"));
    assert!(out[0].message.as_deref().unwrap().contains("recorded 1"));
    assert_eq!(out[1].replayed, Replayed::Diverged);
    assert!(
        out[1]
            .message
            .as_deref()
            .unwrap()
            .contains("earlier divergence")
    );
}

#[test]
fn failed_running_and_snapshot_covered_invocations_are_not_rerun() {
    let entries = indexed(
        1,
        vec![
            create(),
            start("a", "[1]"),
            done("a", ok("1")),
            start("b", "[2]"),
            done("b", trap()),
            start("c", "[3]"),
        ],
    );
    let out = inspection(started(&entries), 3, HashMap::new());
    let kinds: Vec<_> = out.iter().map(|i| i.replayed).collect();
    assert_eq!(
        kinds,
        [Replayed::Snapshot, Replayed::Failed, Replayed::Running]
    );
    assert_eq!(out[1].recorded, Some(trap()));
}
