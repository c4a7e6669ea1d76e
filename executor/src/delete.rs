//! Deleting a worker: the executor's side of a `delete` control request
//! ([`revenant_nats::workers::delete_worker`]), handed here by the worker's mailbox
//! (a running invocation is first stopped by [`crate::control::race`], like an
//! interrupt, and its message goes back to the mailbox's queue). Any existing worker
//! can be deleted, failed or interrupted too ([`crate::decide::control`]):
//!
//! 1. read `RVN_INVOKE`'s last sequence `before`: every invocation sent so far;
//! 2. append `Deleted { before }` through the worker's journal, fenced (a worker
//!    whose first invocation was stopped before anything was committed has no
//!    journal: the tombstone is appended fenced on the subject's last message);
//! 3. purge the oplog before that tombstone (by its stream sequence, so whatever a
//!    later owner appended after it stays), so the subject keeps its last sequence
//!    (the fence of every later append), and remove the `RVN_WORKERS` record, its
//!    timers' schedules and its promise records;
//! 4. drop the worker from memory and answer `deleted`.
//!
//! Invocations still queued, held or redelivered are then decided again
//! ([`crate::decide`]): sent at or before `before`, they are rejected as
//! `worker-deleted` and dead-lettered; a later one recovers a new worker, whose
//! journal is positioned after the tombstone ([`crate::replay`]).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use revenant_nats::AppendError;
use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::ErrorBody;
use revenant_types::records::{ControlAction, WorkerState, WorkerStatus};

use crate::context::{ControlCommand, WorkerEnv};
use crate::control::{Flow, oplog_error, reply, set, state};
use crate::decide::{self, ControlDecision};
use crate::durable::CommitError;
use crate::durable::stdio::EventSink;
use crate::status::event;
use crate::worker::{Worker, WorkerError};

/// Handles a delete while no invocation runs.
pub(crate) async fn handle(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
    cmd: ControlCommand,
) -> Flow {
    let id = &cmd.worker;
    let opened = match slot {
        Some(_) => Ok(()),
        None => match Worker::open(env.clone(), id.clone(), events.clone()).await {
            Ok(w) => {
                set(slot, w, in_memory);
                Ok(())
            }
            Err(e) => Err(oplog_error(id, &e)),
        },
    };
    let (answer, flow) = match opened {
        Err((error, flow)) => (Err(error), flow),
        Ok(()) => match decide::control(
            id,
            ControlAction::Delete,
            slot.as_ref().map(|w| w.view(None)),
        ) {
            ControlDecision::Delete => deleted(id, delete(env, slot, in_memory, id).await),
            ControlDecision::Refuse(error) => (Err(error), Flow::Continue),
            other => unreachable!("a delete is refused or done, not {other:?}"),
        },
    };
    if answer.is_err() {
        // Read again by whatever comes next.
        set(slot, None, in_memory);
    }
    reply(&env.nats, cmd.reply.as_deref(), answer).await;
    flow
}

/// Why a delete did not happen.
enum NotDeleted {
    /// The tombstone was not appended (fenced, maybe by a stopped invocation's last commit).
    Worker(WorkerError),
    Failed((ErrorBody, Flow)),
}

/// The answer to a delete.
fn deleted(
    id: &WorkerId,
    result: Result<(), NotDeleted>,
) -> (Result<WorkerState, ErrorBody>, Flow) {
    let (error, flow) = match result {
        Ok(()) => return (Ok(state(id, WorkerStatus::Deleted)), Flow::Continue),
        Err(NotDeleted::Failed(failed)) => failed,
        Err(NotDeleted::Worker(e)) => oplog_error(id, &e),
    };
    (Err(error), flow)
}

/// Deletes the worker in `slot` (see the module docs) and drops it from memory.
async fn delete(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    id: &WorkerId,
) -> Result<(), NotDeleted> {
    let before = env.nats.invoke_last_sequence().await.map_err(|e| {
        tracing::error!(worker = %id, error = %e, "control request failed");
        let message = format!("worker {id} was not deleted: {e}; retry");
        NotDeleted::Failed((
            ErrorBody::new(ErrorKind::Unavailable, message),
            Flow::Continue,
        ))
    })?;
    let appended = match slot.as_mut() {
        Some(w) => w.delete(before).await,
        // Its first invocation was stopped before anything was committed: no journal yet.
        None => revenant_nats::workers::append_tombstone(&env.nats, id, before)
            .await
            .map_err(|e| {
                match e {
                    AppendError::Fenced { .. } => CommitError::Fenced { worker: id.clone() },
                    e => CommitError::Other {
                        worker: id.clone(),
                        message: e.to_string(),
                    },
                }
                .into()
            }),
    };
    set(slot, None, in_memory);
    let tombstone = appended.map_err(NotDeleted::Worker)?;
    // The tombstone is the truth now; the rest tidies up (a second delete removes a stale record).
    if let Err(e) = revenant_nats::workers::clear_deleted(&env.nats, id, tombstone).await {
        tracing::warn!(worker = %id, error = %e, "could not clear the deleted worker");
    }
    // Its pending timers never fire into the next worker of that name; its promises go.
    if let Err(e) = env.nats.cancel_schedules(id).await {
        tracing::warn!(worker = %id, error = %e, "could not cancel the deleted worker's timers");
    }
    if let Err(e) = env.nats.promises().remove_worker(id).await {
        tracing::warn!(worker = %id, error = %e, "could not remove the deleted worker's promises");
    }
    tracing::info!(worker = %id, before, "worker deleted");
    let fields = serde_json::json!({ "before": before });
    let _ = env.nats.publish_event(id, event("deleted", fields)).await;
    Ok(())
}

/// Deletes a worker whose running invocation was just dropped ([`crate::control::race`]):
/// read again from its oplog first (as [`crate::control::interrupt_stopped`] does),
/// retrying briefly when fenced (the dropped commit may land after the read).
pub(crate) async fn stopped(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
    cmd: ControlCommand,
) -> Flow {
    let id = &cmd.worker;
    let mut attempt = 0;
    let (answer, flow) = loop {
        attempt += 1;
        set(slot, None, in_memory);
        let result = match Worker::open(env.clone(), id.clone(), events.clone()).await {
            Ok(Some(w)) => {
                set(slot, Some(w), in_memory);
                delete(env, slot, in_memory, id).await
            }
            // Running its first invocation, nothing committed: it exists all the same.
            Ok(None) => delete(env, slot, in_memory, id).await,
            Err(e) => Err(NotDeleted::Failed(oplog_error(id, &e))),
        };
        match result {
            Err(NotDeleted::Worker(WorkerError::Commit(CommitError::Fenced { .. })))
                if attempt < 3 =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break deleted(id, other),
        }
    };
    reply(&env.nats, cmd.reply.as_deref(), answer).await;
    flow
}
