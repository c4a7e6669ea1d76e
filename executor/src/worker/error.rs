//! Why a worker cannot go on, and what a caller is told then.

use revenant_types::WorkerId;
use revenant_types::oplog::ErrorBody;

use crate::durable::CommitError;

/// Why a worker cannot go on (the invocation is not answered by it; the runtime decides).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("reading the oplog of {worker}: {message}")]
    Oplog { worker: WorkerId, message: String },
    /// The component (or the version the worker was created with) does not exist, or can
    /// never run here (it does not compile or link): every invocation is rejected with this.
    #[error("{}", .0.message)]
    Component(ErrorBody),
    /// Loading the component failed for a reason that may pass (NATS, cache IO).
    #[error("loading the component: {0}")]
    ComponentLoad(String),
    #[error("could not start worker {worker}: {message}")]
    Instantiate { worker: WorkerId, message: String },
    /// A timer's schedule could not be made durable before suspending.
    #[error("scheduling a timer of {worker}: {message}")]
    Schedule { worker: WorkerId, message: String },
}
