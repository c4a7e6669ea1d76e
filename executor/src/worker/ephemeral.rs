//! Ephemeral workers (ARCHITECTURE.md "ephemeral workers"): a component flagged
//! ephemeral runs each invocation on a fresh instance whose journal stays in memory
//! ([`Journal::in_memory`]): nothing is written to the oplog, so there is nothing to
//! recover; the mailbox drops the worker after each invocation and deduplicates keys
//! through `RVN_RESULTS`. Host side effects are at least once (a retry re-runs them).

use std::sync::Arc;

use revenant_types::{WorkerId, now_ms};

use super::{Worker, WorkerError};
use crate::context::WorkerEnv;
use crate::durable::Journal;
use crate::durable::stdio::EventSink;
use crate::replay::{CreateInfo, ReplayPlan};

impl Worker {
    /// A fresh ephemeral worker of component version `version`.
    pub(super) async fn ephemeral(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: EventSink,
        version: u64,
    ) -> Result<Worker, WorkerError> {
        let journal = Journal::in_memory(id.clone(), env.nats.oplog());
        let create = CreateInfo {
            at: now_ms(),
            component_version: version,
            args: vec![],
            env: vec![],
        };
        let plan = ReplayPlan {
            next_index: 1,
            ..ReplayPlan::default()
        };
        let mut worker = Worker::without_instance(env, id, events, journal, create, &plan);
        worker.ephemeral = true;
        worker.restore(plan).await?;
        Ok(worker)
    }

    /// Ephemeral: dropped after each invocation, nothing journaled durably.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }
}
