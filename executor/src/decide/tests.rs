//! Unit tests of the invocation and control decisions.

use super::*;

fn id() -> WorkerId {
    WorkerId::parse("counter", "c1").unwrap()
}
fn arrival(body_len: usize) -> Arrival<'static> {
    Arrival {
        key: "k1",
        body_len,
        stream_sequence: 10,
    }
}
fn idle() -> WorkerView<'static> {
    WorkerView {
        completed: None,
        failed: None,
        interrupted: false,
        instantiated: true,
        deleted_before: None,
        suspended: false,
    }
}
const MAX: usize = 1024;

#[test]
fn a_suspended_worker_parks_new_keys_answers_old_ones_and_shows_suspended() {
    let suspended = WorkerView {
        suspended: true,
        instantiated: false,
        ..idle()
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(suspended), MAX),
        Decision::Park
    );
    let done = InvocationOutcome::Ok("1".into());
    let duplicate = WorkerView {
        completed: Some(&done),
        ..suspended
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(duplicate), MAX),
        Decision::Answer(done.clone())
    );
    // Interrupted wins over suspended: held in memory until resumed.
    let both = WorkerView {
        interrupted: true,
        ..suspended
    };
    assert_eq!(decide(&id(), arrival(2), Some(both), MAX), Decision::Hold);
    assert_eq!(status_of(suspended), WorkerStatus::Suspended);
}

#[test]
fn an_oversize_payload_is_rejected_before_the_worker_is_even_recovered() {
    let d = decide(&id(), arrival(MAX + 1), None, MAX);
    let Decision::Reject(e) = d else {
        panic!("{d:?}")
    };
    assert_eq!(e.kind, ErrorKind::PayloadTooLarge);
    assert!(e.message.contains("1025 bytes"), "{}", e.message);
    assert!(e.message.contains("1024 bytes"), "{}", e.message);
}

#[test]
fn an_invocation_delivered_past_the_limit_is_given_up_with_the_limit_named() {
    assert_eq!(deliveries_exhausted(1, 3), None);
    assert_eq!(
        deliveries_exhausted(3, 3),
        None,
        "the last allowed delivery is tried"
    );
    let e = deliveries_exhausted(4, 3).expect("the delivery after the limit");
    assert_eq!(e.kind, ErrorKind::DeliveryExhausted);
    assert!(e.message.contains("delivered 3 times"), "{}", e.message);
}

#[test]
fn a_worker_not_in_memory_is_recovered_first() {
    assert_eq!(decide(&id(), arrival(MAX), None, MAX), Decision::Recover);
}

#[test]
fn a_duplicate_of_a_completed_key_is_answered_from_the_journal() {
    let outcome = InvocationOutcome::Ok("5".into());
    let w = WorkerView {
        completed: Some(&outcome),
        ..idle()
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(w), MAX),
        Decision::Answer(outcome.clone())
    );
    // Also while interrupted, and also when the worker failed later.
    let held = WorkerView {
        interrupted: true,
        ..w
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(held), MAX),
        Decision::Answer(outcome.clone())
    );
    let failed = WorkerView {
        failed: Some("boom"),
        ..w
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(failed), MAX),
        Decision::Answer(outcome)
    );
}

#[test]
fn a_failed_worker_answers_new_keys_with_worker_failed() {
    let w = WorkerView {
        failed: Some("trapped 3 time(s)"),
        instantiated: false,
        ..idle()
    };
    let Decision::Answer(InvocationOutcome::Err(e)) = decide(&id(), arrival(2), Some(w), MAX)
    else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::WorkerFailed);
    assert_eq!(
        e.message, "worker counter/c1 is failed: trapped 3 time(s)",
        "the worker's name and the cause"
    );
}

#[test]
fn an_interrupted_worker_holds_new_keys() {
    let w = WorkerView {
        interrupted: true,
        instantiated: false,
        ..idle()
    };
    assert_eq!(decide(&id(), arrival(2), Some(w), MAX), Decision::Hold);
}

#[test]
fn a_worker_in_memory_without_an_instance_is_recovered() {
    let looked_at = WorkerView {
        instantiated: false,
        ..idle()
    };
    assert_eq!(
        decide(&id(), arrival(2), Some(looked_at), MAX),
        Decision::Recover
    );
}

#[test]
fn a_new_key_at_a_healthy_worker_runs() {
    assert_eq!(decide(&id(), arrival(2), Some(idle()), MAX), Decision::Run);
}

#[test]
fn an_invocation_sent_before_the_worker_was_deleted_is_rejected_as_worker_deleted() {
    // Sequence 10 arrives at a worker deleted when RVN_INVOKE's last sequence was 10 (or
    // later): it belongs to the deleted worker, even on a worker created anew since.
    for before in [10, 11] {
        let w = WorkerView {
            deleted_before: Some(before),
            ..idle()
        };
        let d = decide(&id(), arrival(2), Some(w), MAX);
        let Decision::Reject(e) = d else {
            panic!("{d:?}")
        };
        assert_eq!(e.kind, ErrorKind::WorkerDeleted);
        assert!(e.message.contains("counter/c1"), "{}", e.message);
    }
    // Also while the new worker is interrupted or failed: it is not theirs to hold or answer.
    let held = WorkerView {
        deleted_before: Some(10),
        interrupted: true,
        failed: Some("x"),
        ..idle()
    };
    assert!(matches!(
        decide(&id(), arrival(2), Some(held), MAX),
        Decision::Reject(ErrorBody {
            kind: ErrorKind::WorkerDeleted,
            ..
        })
    ));
}

#[test]
fn an_invocation_sent_after_the_delete_runs_on_the_new_worker() {
    let w = WorkerView {
        deleted_before: Some(9),
        ..idle()
    };
    assert_eq!(decide(&id(), arrival(2), Some(w), MAX), Decision::Run);
    // Not in memory: recovered first (the recovery creates it anew), then decided.
    assert_eq!(decide(&id(), arrival(2), None, MAX), Decision::Recover);
    // A message without a known sequence is never taken for an old one.
    let unknown = Arrival {
        stream_sequence: 0,
        ..arrival(2)
    };
    assert_eq!(decide(&id(), unknown, Some(w), MAX), Decision::Run);
}

#[test]
fn the_status_follows_failed_then_interrupted_then_instance() {
    assert_eq!(status_of(idle()), WorkerStatus::Idle);
    let no_instance = WorkerView {
        instantiated: false,
        ..idle()
    };
    assert_eq!(status_of(no_instance), WorkerStatus::Suspended);
    let held = WorkerView {
        interrupted: true,
        ..no_instance
    };
    assert_eq!(status_of(held), WorkerStatus::Interrupted);
    let failed = WorkerView {
        failed: Some("x"),
        ..held
    };
    assert_eq!(status_of(failed), WorkerStatus::Failed);
}

#[test]
fn a_control_request_for_a_worker_without_oplog_is_refused_as_unknown() {
    let ControlDecision::Refuse(e) = control(&id(), ControlAction::Interrupt, None) else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::UnknownWorker);
}

#[test]
fn a_failed_worker_can_be_neither_interrupted_nor_resumed() {
    let w = WorkerView {
        failed: Some("x"),
        ..idle()
    };
    for action in [ControlAction::Interrupt, ControlAction::Resume] {
        assert!(matches!(
            control(&id(), action, Some(w)),
            ControlDecision::Refuse(ErrorBody {
                kind: ErrorKind::WorkerFailed,
                ..
            })
        ));
    }
}

#[test]
fn any_existing_worker_can_be_deleted_even_a_failed_or_interrupted_one() {
    let failed = WorkerView {
        failed: Some("x"),
        instantiated: false,
        ..idle()
    };
    let held = WorkerView {
        interrupted: true,
        instantiated: false,
        ..idle()
    };
    for w in [idle(), failed, held] {
        assert_eq!(
            control(&id(), ControlAction::Delete, Some(w)),
            ControlDecision::Delete
        );
    }
}

#[test]
fn deleting_a_worker_without_oplog_or_already_deleted_is_refused_as_unknown() {
    // A deleted worker not created again has no `Create` after its tombstone: no view.
    let ControlDecision::Refuse(e) = control(&id(), ControlAction::Delete, None) else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::UnknownWorker);
}

#[test]
fn interrupt_and_resume_change_state_once_and_are_idempotent() {
    let held = WorkerView {
        interrupted: true,
        instantiated: false,
        ..idle()
    };
    assert_eq!(
        control(&id(), ControlAction::Interrupt, Some(idle())),
        ControlDecision::Interrupt
    );
    assert_eq!(
        control(&id(), ControlAction::Interrupt, Some(held)),
        ControlDecision::Unchanged(WorkerStatus::Interrupted)
    );
    assert_eq!(
        control(&id(), ControlAction::Resume, Some(held)),
        ControlDecision::Resume
    );
    assert_eq!(
        control(&id(), ControlAction::Resume, Some(idle())),
        ControlDecision::Unchanged(WorkerStatus::Idle)
    );
}

#[test]
fn a_simulated_crash_recovers_any_live_worker_but_not_a_failed_or_unknown_one() {
    let held = WorkerView {
        interrupted: true,
        instantiated: false,
        ..idle()
    };
    for w in [idle(), held] {
        assert_eq!(
            control(&id(), ControlAction::SimulateCrash, Some(w)),
            ControlDecision::Crash
        );
    }
    let failed = WorkerView {
        failed: Some("x"),
        ..idle()
    };
    assert!(matches!(
        control(&id(), ControlAction::SimulateCrash, Some(failed)),
        ControlDecision::Refuse(ErrorBody {
            kind: ErrorKind::WorkerFailed,
            ..
        })
    ));
    assert!(matches!(
        control(&id(), ControlAction::SimulateCrash, None),
        ControlDecision::Refuse(ErrorBody {
            kind: ErrorKind::UnknownWorker,
            ..
        })
    ));
}

#[test]
fn an_invocation_given_back_waits_longer_the_more_it_was_delivered() {
    use std::time::Duration;
    let base = Duration::from_millis(200);
    assert_eq!(super::redelivery_delay(base, 1), base);
    assert_eq!(super::redelivery_delay(base, 5), base);
    assert_eq!(super::redelivery_delay(base, 6), base * 2);
    assert_eq!(super::redelivery_delay(base, 11), base * 4);
    assert_eq!(super::redelivery_delay(base, 50), Duration::from_secs(30));
    assert_eq!(super::redelivery_delay(Duration::ZERO, 40), Duration::ZERO);
    // 50 deliveries span minutes, not seconds.
    let total: Duration = (1..=50).map(|d| super::redelivery_delay(base, d)).sum();
    assert!(total > Duration::from_secs(300), "{total:?}");
}
