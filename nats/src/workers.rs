//! Creating and deleting workers explicitly, for the CLI and the HTTP router.
//! Create appends a `Create` oplog entry with expected sequence 0, so of two
//! creators exactly one wins and a worker that has an oplog already (created,
//! or invoked before) is never created again. Delete removes the worker's
//! oplog and its record.
//!
//! Neither runs a worker: an executor recovers a created worker on its first
//! invocation. Delete does not go through the shard holder: an executor that
//! holds the worker in memory, and invocations still queued for it, are not told.

use revenant_types::codec::OplogBatch;
use revenant_types::oplog::OplogEntry;
use revenant_types::records::{WorkerRecord, WorkerStatus};
use revenant_types::{ComponentName, WorkerId, now_ms};

use crate::{AppendError, Error, Nats};

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
    #[error("NATS: {0}")]
    Nats(#[from] Error),
}

/// Creates worker `id` with `args` and `env` fixed for life, at the latest
/// version of its component. Fails with [`AdminError::AlreadyExists`] when the
/// worker has an oplog already (explicitly created or invoked before).
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
    let now = now_ms();
    let batch = OplogBatch {
        first: 1,
        entries: vec![OplogEntry::Create {
            at: now,
            component_version: latest.version,
            args: args.clone(),
            env: env.clone(),
        }],
    };
    match nats.oplog().append(id, 0, &batch).await {
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
        oplog_index: 1,
        pending_invocations: 0,
    };
    nats.workers().put(&record).await?;
    Ok(record)
}

/// Deletes a worker's oplog and record; [`AdminError::UnknownWorker`] when it has neither.
pub async fn delete_worker(nats: &Nats, id: &WorkerId) -> Result<(), AdminError> {
    let known = nats.workers().get(id).await?.is_some() || nats.oplog().last_seq(id).await? > 0;
    if !known {
        return Err(AdminError::UnknownWorker(id.clone()));
    }
    nats.oplog().delete(id).await?;
    nats.workers().delete(id).await?;
    Ok(())
}
