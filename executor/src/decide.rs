//! The invocation decision: what a worker's mailbox does with what arrives,
//! given what it knows of the worker. Pure: the mailbox ([`crate::mailbox`])
//! performs what this returns.
//!
//! Rules (ARCHITECTURE.md "Durability semantics", "Ingress rules"):
//! - a payload over the configured maximum can never succeed: it is rejected
//!   (answered with an error, dead-lettered, terminated) before anything else;
//! - a worker that is not in memory is recovered from its oplog first;
//! - an invocation stored in `RVN_INVOKE` at or before the sequence a delete
//!   recorded (`Deleted { before }`) belongs to the deleted worker: it is
//!   rejected (`worker-deleted`, dead-lettered), never run on the new one;
//! - a key the worker already completed is answered with its recorded outcome,
//!   however often it arrives (exactly-once effects), even while interrupted;
//! - a failed worker answers every new key with `worker-failed` (the input is
//!   fine: not a dead letter);
//! - an interrupted worker holds new keys, in order, until it is resumed;
//! - a worker in memory without an instance (read only to answer a control
//!   request) is recovered;
//! - anything else runs.
//!
//! It also says which status a worker has ([`status_of`]) and what a control
//! request does ([`control`]: a delete applies to any existing worker, failed
//! or interrupted too), and owns the one `worker-failed` and `worker-deleted` errors.

use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ControlAction, WorkerStatus};

/// What the mailbox knows of an arriving invocation.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub key: &'a str,
    pub body_len: usize,
    /// Its `RVN_INVOKE` stream sequence (0: unknown).
    pub stream_sequence: u64,
}

/// What the mailbox knows of a worker in memory.
#[derive(Debug, Clone, Copy)]
pub struct WorkerView<'a> {
    /// The recorded outcome of the arriving key, if that invocation completed.
    pub completed: Option<&'a InvocationOutcome>,
    /// Why the worker is failed, if it is.
    pub failed: Option<&'a str>,
    /// Interrupted and not resumed.
    pub interrupted: bool,
    /// An instance is built (it can run invocations now).
    pub instantiated: bool,
    /// The `before` of the worker's last `Deleted` tombstone, if it was ever deleted.
    pub deleted_before: Option<u64>,
}

impl WorkerView<'_> {
    /// The same worker once its instance is dropped (suspended).
    pub fn unloaded(self) -> Self {
        Self {
            instantiated: false,
            ..self
        }
    }
}

/// What to do with an arriving invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// It can never succeed: answer with this error, dead-letter it, terminate it.
    Reject(ErrorBody),
    /// Bring the worker into memory from its oplog, then decide again.
    Recover,
    /// Answer with this outcome, known without running anything; ack it.
    Answer(InvocationOutcome),
    /// Keep it, in arrival order, until the worker is resumed.
    Hold,
    /// Type its arguments and run it.
    Run,
}

/// Decides what happens to `arrival` at worker `id` (`None`: not in memory).
pub fn decide(
    id: &WorkerId,
    arrival: Arrival<'_>,
    worker: Option<WorkerView<'_>>,
    max_payload: usize,
) -> Decision {
    if arrival.body_len > max_payload {
        return Decision::Reject(payload_too_large(arrival.body_len, max_payload));
    }
    let Some(w) = worker else {
        return Decision::Recover;
    };
    if arrival.stream_sequence > 0
        && w.deleted_before
            .is_some_and(|before| arrival.stream_sequence <= before)
    {
        return Decision::Reject(worker_deleted(id, arrival.stream_sequence));
    }
    if let Some(outcome) = w.completed {
        return Decision::Answer(outcome.clone());
    }
    if let Some(message) = w.failed {
        return Decision::Answer(InvocationOutcome::Err(worker_failed(id, message)));
    }
    if w.interrupted {
        return Decision::Hold;
    }
    if !w.instantiated {
        // Read without an instance (by a control request): built by recovery.
        return Decision::Recover;
    }
    Decision::Run
}

/// The error of an invocation payload over the maximum a message may carry.
pub fn payload_too_large(len: usize, max: usize) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::PayloadTooLarge,
        format!("invocation payload is {len} bytes; the limit is {max} bytes"),
    )
}

/// The error of an invocation delivered more than `max` times (its `delivered`-th
/// delivery), if it was: it is answered with it and dead-lettered, never tried again.
pub fn deliveries_exhausted(delivered: u64, max: u32) -> Option<ErrorBody> {
    (delivered > u64::from(max)).then(|| {
        ErrorBody::new(
            ErrorKind::DeliveryExhausted,
            format!(
                "the invocation was delivered {max} times without being answered (the limit, max-deliveries); it is given up and dead-lettered. The executor's log says why it could not run (e.g. its worker cannot be recovered)"
            ),
        )
    })
}

/// The error every invocation of a failed worker gets.
pub fn worker_failed(id: &WorkerId, message: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::WorkerFailed,
        format!("worker {id} is failed: {message}"),
    )
}

/// The error of an invocation sent to a worker before it was deleted.
pub fn worker_deleted(id: &WorkerId, sequence: u64) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::WorkerDeleted,
        format!(
            "worker {id} was deleted after this invocation was sent (stream sequence {sequence}); it is not run"
        ),
    )
}

/// The error a control request for a worker with no oplog gets.
pub fn unknown_worker(id: &WorkerId) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::UnknownWorker,
        format!("worker {id} does not exist (it has no oplog)"),
    )
}

/// The status of a worker in memory, as `RVN_WORKERS` and control replies show it.
pub fn status_of(w: WorkerView<'_>) -> WorkerStatus {
    if w.failed.is_some() {
        WorkerStatus::Failed
    } else if w.interrupted {
        WorkerStatus::Interrupted
    } else if w.instantiated {
        WorkerStatus::Idle
    } else {
        WorkerStatus::Suspended
    }
}

/// What a control request does to a worker that runs no invocation right now.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlDecision {
    /// Answer with this error; nothing changes.
    Refuse(ErrorBody),
    /// Append `Interrupted` and drop the instance.
    Interrupt,
    /// Append `Resumed` and rebuild the instance by replay.
    Resume,
    /// Already in the requested state: answer with its status, append nothing.
    Unchanged(WorkerStatus),
    /// Append the `Deleted` tombstone, purge the oplog but it, drop the worker.
    Delete,
}

/// Decides a control request for worker `id` (`None`: it has no oplog).
pub fn control(
    id: &WorkerId,
    action: ControlAction,
    worker: Option<WorkerView<'_>>,
) -> ControlDecision {
    let Some(w) = worker else {
        return ControlDecision::Refuse(unknown_worker(id));
    };
    if action == ControlAction::Delete {
        return ControlDecision::Delete;
    }
    if let Some(message) = w.failed {
        return ControlDecision::Refuse(worker_failed(id, message));
    }
    match (action, w.interrupted) {
        (ControlAction::Interrupt, false) => ControlDecision::Interrupt,
        (ControlAction::Resume, true) => ControlDecision::Resume,
        _ => ControlDecision::Unchanged(status_of(w)),
    }
}

#[cfg(test)]
mod tests {
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
        }
    }
    const MAX: usize = 1024;

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
}
