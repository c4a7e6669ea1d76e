//! Creating and deleting workers explicitly, for the CLI and the HTTP router.
//!
//! Create appends a `Create` oplog entry fenced on the subject being empty
//! (expected sequence 0), or on its last message when that is a `Deleted`
//! tombstone (a worker deleted before), so of two creators exactly one wins and
//! a worker that has an oplog already (created, or invoked before) is never
//! created again.
//!
//! Delete goes through the executor holding the worker's shard, like an interrupt
//! ([`Nats::control`] with [`ControlAction::Delete`]): it stops a running invocation,
//! appends a `Deleted` tombstone (fenced), purges the oplog before the tombstone and
//! removes the record; invocations sent before are then rejected as `worker-deleted`.
//! Neither runs a worker: an executor recovers a created worker on its first invocation.

use std::time::Duration;

use revenant_types::codec::OplogBatch;
use revenant_types::oplog::{ErrorKind, OplogEntry};
use revenant_types::records::{ControlAction, WorkerRecord, WorkerStatus};
use revenant_types::{ComponentName, WorkerId, now_ms};

use crate::{AppendError, ControlError, Error, Nats};

/// Why creating or deleting a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "component {0} does not exist; upload it with `revenant component add {0} <file.wasm>`"
    )]
    UnknownComponent(ComponentName),
    #[error("worker {0} already exists")]
    AlreadyExists(WorkerId),
    #[error("worker {0} does not exist")]
    UnknownWorker(WorkerId),
    /// The delete did not get through the executor holding the worker (nobody holds its
    /// shard right now, or the holder refused): see [`ControlError`].
    #[error("deleting worker {worker}: {source}")]
    Control {
        worker: WorkerId,
        #[source]
        source: ControlError,
    },
    #[error("NATS: {0}")]
    Nats(#[from] Error),
}

/// Creates worker `id` with `args` and `env` fixed for life, at the latest
/// version of its component. Fails with [`AdminError::AlreadyExists`] when the
/// worker has an oplog already (explicitly created or invoked before), unless
/// that oplog ends with the tombstone of a deleted worker.
pub async fn create_worker(
    nats: &Nats,
    id: &WorkerId,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> Result<WorkerRecord, AdminError> {
    let latest = nats
        .components()
        .latest(&id.component)
        .await?
        .ok_or_else(|| AdminError::UnknownComponent(id.component.clone()))?;
    let (expected, first) = create_position(nats, id).await?;
    let now = now_ms();
    let batch = OplogBatch {
        first,
        entries: vec![OplogEntry::Create {
            at: now,
            component_version: latest.version,
            args: args.clone(),
            env: env.clone(),
        }],
    };
    match nats.oplog().append(id, expected, &batch).await {
        Ok(_) => {}
        Err(AppendError::Fenced { .. }) => return Err(AdminError::AlreadyExists(id.clone())),
        Err(AppendError::Other(e)) => return Err(AdminError::Nats(e)),
        Err(e @ AppendError::TooLarge { .. }) => {
            return Err(AdminError::Nats(Error::Malformed {
                what: format!("worker {id}"),
                reason: e.to_string(),
            }));
        }
    }
    let record = WorkerRecord {
        id: id.clone(),
        status: WorkerStatus::Suspended,
        component_version: latest.version,
        args,
        env,
        created_at: now,
        updated_at: now,
        last_error: None,
        oplog_index: first,
        pending_invocations: 0,
        waiting: Vec::new(),
    };
    nats.workers().put(&record).await?;
    Ok(record)
}

/// Where a `Create` goes: `(expected last subject sequence, its oplog index)`. An
/// empty subject: `(0, 1)`; a subject whose last entry is a `Deleted` tombstone (the
/// purge keeps only it; entries before it are void even if a purge was cut short):
/// right after it, fenced on it. Anything else exists already.
async fn create_position(nats: &Nats, id: &WorkerId) -> Result<(u64, u64), AdminError> {
    match nats.oplog().last_batch(id).await? {
        None => Ok((0, 1)),
        Some((seq, batch)) if matches!(batch.entries.last(), Some(OplogEntry::Deleted { .. })) => {
            Ok((seq, batch.next_index()))
        }
        Some(_) => Err(AdminError::AlreadyExists(id.clone())),
    }
}

/// The executor's part of a delete (see the module docs): appends the `Deleted`
/// tombstone right after the subject's last message, fenced on it. For a worker the
/// executor holds with no journal to append through (its first invocation was stopped
/// before anything was committed); otherwise the worker's journal appends it.
/// Returns the tombstone's stream sequence.
pub async fn append_tombstone(nats: &Nats, id: &WorkerId, before: u64) -> Result<u64, AppendError> {
    let (expected, first) = match nats.oplog().last_batch(id).await? {
        Some((seq, batch)) => (seq, batch.next_index()),
        None => (0, 1),
    };
    let entries = vec![OplogEntry::Deleted {
        at: now_ms(),
        before,
    }];
    let batch = OplogBatch { first, entries };
    nats.oplog().append(id, expected, &batch).await
}

/// The executor's last step of a delete, once the tombstone is appended at stream
/// sequence `tombstone`: purges the oplog before it (the subject keeps its sequence: the
/// fence) and removes the worker's record.
pub async fn clear_deleted(nats: &Nats, id: &WorkerId, tombstone: u64) -> Result<(), Error> {
    nats.oplog().purge_before(id, tombstone).await?;
    nats.workers().delete(id).await
}

/// Deletes worker `id` through the executor holding its shard, waiting `timeout` for
/// its answer (see the module docs). [`AdminError::UnknownWorker`] when it does not
/// exist (never created, or deleted already); [`AdminError::Control`] when no executor
/// holds its shard right now (retry) or the holder could not delete it.
pub async fn delete_worker(
    nats: &Nats,
    id: &WorkerId,
    timeout: Duration,
) -> Result<(), AdminError> {
    match nats.control(id, ControlAction::Delete, timeout).await {
        Ok(_) => Ok(()),
        Err(ControlError::Refused(e)) if e.kind == ErrorKind::UnknownWorker => {
            // A record left behind by a delete cut short after its tombstone: remove it.
            if nats.workers().get(id).await?.is_some() {
                nats.workers().delete(id).await?;
                return Ok(());
            }
            Err(AdminError::UnknownWorker(id.clone()))
        }
        Err(source) => Err(AdminError::Control {
            worker: id.clone(),
            source,
        }),
    }
}
