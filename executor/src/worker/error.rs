//! Why a worker cannot go on, and what a caller is told then.

use revenant_types::ErrorKind;
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

impl WorkerError {
    pub(super) fn from_component(e: crate::components::ComponentError) -> Self {
        use crate::components::ComponentError as C;
        use crate::engine::EngineError as E;
        match e {
            C::Unknown(_) | C::UnknownVersion { .. } => {
                Self::Component(ErrorBody::new(ErrorKind::UnknownComponent, e.to_string()))
            }
            // Upload checks imports by name only: a binary whose imports do not link, or that
            // does not compile, can never run; retrying would loop forever.
            C::Link { .. } | C::Engine(E::Compile(_)) => {
                Self::Component(ErrorBody::new(ErrorKind::InvalidComponent, e.to_string()))
            }
            other => Self::ComponentLoad(other.to_string()),
        }
    }

    /// The error kind and message a caller gets when this stops its invocation.
    pub fn to_error_body(&self) -> ErrorBody {
        match self {
            Self::Component(error) => error.clone(),
            other => ErrorBody::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// Whether an instantiation failure would happen again on any executor: a trap (in the
/// component's start) or its initial memory over the worker's memory limit. A host
/// resource failure (an `mmap` refused when too many instances are alive) is not.
pub(crate) fn deterministic_instantiation_failure(e: &wasmtime::Error) -> bool {
    // The memory limit is `StoreLimits` with `trap_on_grow_failure`, whose error has no
    // type of its own: its text is what identifies it.
    e.downcast_ref::<wasmtime::Trap>().is_some()
        || e.chain().any(|c| {
            c.to_string()
                .starts_with("forcing trap when growing memory")
        })
}

#[cfg(test)]
mod tests {
    use super::deterministic_instantiation_failure as deterministic;

    #[test]
    fn traps_and_the_memory_limit_are_deterministic_host_resources_are_not() {
        assert!(deterministic(
            &wasmtime::Trap::UnreachableCodeReached.into()
        ));
        let limit = wasmtime::format_err!("forcing trap when growing memory to 1114112 bytes");
        assert!(deterministic(&limit));
        let mmap = wasmtime::format_err!(
            "mmap failed to reserve 0x104000000 bytes: Cannot allocate memory (os error 12)"
        );
        assert!(!deterministic(&mmap));
    }
}
