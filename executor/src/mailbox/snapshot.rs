//! The snapshots the mailbox takes when the component's policy says so, after an
//! invocation (on-demand ones are control requests, [`crate::control`]).

use revenant_types::WorkerId;

use crate::worker::{Worker, WorkerError};

/// Takes a snapshot if the policy asks for one now. `Err`: the worker must be dropped.
pub(super) async fn if_due(id: &WorkerId, w: &mut Worker) -> Result<(), WorkerError> {
    if !w.snapshot_due() {
        return Ok(());
    }
    if let Err(why) = w.snapshot().await? {
        tracing::warn!(worker = %id, error = %why, "no snapshot taken");
    }
    Ok(())
}
