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
//! - a suspended worker (waiting for a timer or a promise) parks new keys
//!   durably (`PendingInvocation`, then the message is acked), in order: they run
//!   once it goes on, and hold nothing in the shard's consumer meanwhile;
//! - a worker in memory without an instance (read only to answer a control
//!   request) is recovered;
//! - anything else runs.
//!
//! Messages of other kinds in the worker's inbox ([`kind_of`]) do not queue: a
//! fired timer or a promise completion is journaled and resumes the worker when it
//! waits for it ([`wake`]); anything else is an `invalid-message`.
//!
//! It also says which status a worker has ([`status_of`]) and what a control
//! request does ([`control`]: a delete applies to any existing worker, failed
//! or interrupted too), and owns the one `worker-failed` and `worker-deleted` errors.

use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ControlAction, WorkerStatus};

mod call;
pub mod group;
mod inbox;
pub mod index;
pub mod room;
pub mod schedule;
pub mod snapshot;
pub mod spare;
pub mod subscription;
pub mod update;

pub use call::{
    CallSpec, awaited_target, call_index, call_key, decode_outcome, encode_outcome, publish_key,
};
pub use inbox::{Kind, KindHeaders, Wake, kind_of, wake};

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
    /// Suspended: its running invocation waits for a timer or a promise.
    pub suspended: bool,
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
    /// Journal it as a `PendingInvocation` and ack it: it runs once the worker goes on.
    Park,
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
    if w.suspended {
        return Decision::Park;
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

/// How long an invocation given back to JetStream (its worker dropped, or not
/// recoverable right now) waits before its `delivered + 1`-th delivery: `base` for the
/// first five, then twice as long every five deliveries, at most 30 s. So the
/// `max-deliveries` bound (50 by default: about nine minutes of back-off from a 200 ms
/// base) gives up on an invocation that can never run, not on one whose NATS or
/// executor was away for a while. A zero base (a graceful hand-over) stays zero.
pub fn redelivery_delay(base: std::time::Duration, delivered: u64) -> std::time::Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1) / 5)
        .unwrap_or(u32::MAX)
        .min(16);
    base.saturating_mul(1 << doublings)
        .min(std::time::Duration::from_secs(30).max(base))
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
    } else if w.instantiated && !w.suspended {
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
    /// Take a snapshot (the worker says whether it can, [`snapshot::refusal`]).
    Snapshot,
    /// Move the worker to another component version.
    Update {
        to: u64,
        mode: revenant_types::snapshot::UpdateMode,
    },
    /// Drop the worker and recover it from its oplog (a simulated crash).
    Crash,
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
        (ControlAction::Snapshot, _) => ControlDecision::Snapshot,
        (ControlAction::SimulateCrash, _) => ControlDecision::Crash,
        (ControlAction::Update { to, mode }, _) => ControlDecision::Update { to, mode },
        (ControlAction::Interrupt, false) => ControlDecision::Interrupt,
        (ControlAction::Resume, true) => ControlDecision::Resume,
        _ => ControlDecision::Unchanged(status_of(w)),
    }
}

#[cfg(test)]
mod tests;
