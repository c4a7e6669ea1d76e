use super::*;

fn snap(index: OplogIndex, version: u64, covers_seq: u64) -> SnapshotRef {
    SnapshotRef {
        index,
        at: 1,
        object: format!("c/w/{}", index - 1),
        covers: index - 1,
        covers_seq,
        component_version: version,
        digest: "d".into(),
        size: 1,
        host_state: Some(HostState::default()),
    }
}

#[test]
fn recovery_tries_the_newest_snapshot_first_then_older_ones_then_a_full_replay() {
    let s = [snap(10, 1, 9), snap(20, 1, 19)];
    assert_eq!(
        recovery_bases(&s, 1, true),
        vec![
            Base::Snapshot(Box::new(s[1].clone())),
            Base::Snapshot(Box::new(s[0].clone())),
            Base::Full
        ]
    );
}

#[test]
fn a_trimmed_oplog_has_no_full_replay_to_fall_back_to() {
    let s = [snap(10, 1, 9)];
    assert_eq!(
        recovery_bases(&s, 1, false),
        vec![Base::Snapshot(Box::new(s[0].clone()))]
    );
    assert!(recovery_bases(&[], 1, false).is_empty());
}

#[test]
fn a_snapshot_of_another_version_or_without_host_state_is_never_loaded() {
    let mut old = snap(10, 1, 9);
    old.host_state = None;
    let s = [old, snap(20, 2, 19)];
    assert_eq!(recovery_bases(&s, 1, true), vec![Base::Full]);
    assert_eq!(
        recovery_bases(&s, 2, true),
        vec![Base::Snapshot(Box::new(s[1].clone())), Base::Full]
    );
}

#[test]
fn the_policy_takes_one_after_every_n_invocations() {
    let every = SnapshotPolicy {
        every: 3,
        period_ms: 0,
    };
    let since = |invocations| SinceLast { invocations, at: 0 };
    assert!(!due(every, since(2), 1_000_000));
    assert!(due(every, since(3), 0));
    assert!(!due(SnapshotPolicy::default(), since(1_000), 1_000_000));
}

#[test]
fn the_policy_takes_one_after_a_period_but_only_if_something_ran() {
    let period = SnapshotPolicy {
        every: 0,
        period_ms: 1_000,
    };
    assert!(!due(
        period,
        SinceLast {
            invocations: 1,
            at: 500
        },
        1_400
    ));
    assert!(due(
        period,
        SinceLast {
            invocations: 1,
            at: 500
        },
        1_500
    ));
    assert!(!due(
        period,
        SinceLast {
            invocations: 0,
            at: 0
        },
        9_000
    ));
}

#[test]
fn only_a_quiescent_worker_with_the_export_is_snapshotted() {
    let ok = Quiescence {
        exports_snapshot: true,
        instantiated: true,
        ..Quiescence::default()
    };
    assert_eq!(refusal(ok), None);
    for busy in [
        Quiescence { tail: true, ..ok },
        Quiescence { parked: 1, ..ok },
        Quiescence {
            suspended: true,
            ..ok
        },
        Quiescence {
            interrupted: true,
            ..ok
        },
        Quiescence { failed: true, ..ok },
        Quiescence {
            instantiated: false,
            ..ok
        },
        Quiescence {
            exports_snapshot: false,
            ..ok
        },
    ] {
        assert!(refusal(busy).is_some(), "{busy:?}");
    }
}

#[test]
fn the_first_snapshot_purges_nothing() {
    assert_eq!(trim(&[snap(10, 1, 9)]), None);
}

#[test]
fn trimming_keeps_the_previous_snapshot_entry_and_drops_objects_older_than_it() {
    let s = [snap(10, 1, 90), snap(20, 1, 190), snap(30, 1, 290)];
    assert_eq!(
        trim(&s),
        Some(Trim {
            below_seq: 191,
            keep_from: 20,
            drop_objects: vec!["c/w/9".into()],
        })
    );
}

#[test]
fn a_snapshot_without_its_sequence_is_no_purge_point() {
    assert_eq!(trim(&[snap(10, 1, 0), snap(20, 1, 190)]), None);
}
