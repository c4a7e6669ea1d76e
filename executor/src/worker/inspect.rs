//! Time travel's IO: a throwaway worker rebuilt from the oplog up to an index, to
//! show the worker's state as of then ([`crate::inspect`] decides what that means).
//! The throwaway is not the live worker: it has its own instance and directory, its
//! output goes nowhere, and its journal is fenced on subject sequence 0, so whatever
//! it might try to commit is refused by JetStream — the oplog is only read.

use std::collections::HashMap;
use std::sync::Arc;

use revenant_types::WorkerId;
use revenant_types::inspect::Inspection;
use revenant_types::oplog::{ErrorBody, OplogIndex};
use tokio::sync::mpsc;

use super::{Worker, WorkerError};
use crate::context::WorkerEnv;
use crate::durable::{CallContext, Journal};
use crate::inspect::{self, Rerun};
use crate::live::Args;
use crate::replay;

impl Worker {
    /// The worker's state as of oplog index `at`: `Ok(Err)` when that cannot be asked
    /// (no such index, trimmed history, no such worker) or the state cannot be rebuilt.
    pub async fn inspect(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        at: OplogIndex,
    ) -> Result<Result<Inspection, ErrorBody>, WorkerError> {
        let read = env
            .nats
            .oplog()
            .read(&id, 1)
            .await
            .map_err(|e| WorkerError::Oplog {
                worker: id.clone(),
                message: e.to_string(),
            })?;
        let last_index = read.next_index.saturating_sub(1);
        let prefix = match inspect::cut(read.entries, at, &id.to_string()) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let listed = inspect::started(&prefix);
        let plan = replay::plan(prefix);
        let Some(create) = plan.create.clone() else {
            return Ok(Err(crate::decide::unknown_worker(&id)));
        };
        // Fenced on sequence 0: the oplog has entries, so no append of this journal lands.
        let journal = Journal::new(
            id.clone(),
            env.nats.oplog(),
            plan.next_index,
            0,
            plan.remote_ends.clone(),
        );
        // Its output goes nowhere (a closed channel drops every chunk at once).
        let (events, _) = mpsc::channel(1);
        let mut w = Worker::without_instance(env, id, events, journal, create, &plan);
        let version = w.create.component_version;
        let base = match w
            .rebuild_state(version, &plan.snapshots, Vec::new(), plan.from_start)
            .await?
        {
            Ok(base) => base,
            Err(message) => {
                let message = format!(
                    "worker {} could not be rebuilt as of index {at}: {message}",
                    w.id
                );
                return Ok(Err(ErrorBody::new(
                    revenant_types::ErrorKind::Unavailable,
                    message,
                )));
            }
        };
        let covers = base.as_ref().map_or(0, |s| s.covers);
        let mut reruns = HashMap::new();
        for inv in plan
            .invocations
            .iter()
            .filter(|i| i.outcome.is_some() && i.started > covers)
        {
            let context = CallContext::new(&inv.trace, inv.caller.as_ref());
            w.journal.begin_invocation(&inv.idempotency_key, context);
            w.journal.begin_replay(inv.host_calls.clone(), false);
            let result = w.call(&inv.function, Args::Json(&inv.args), false).await;
            let leftover = w.journal.end_replay().err().map(|d| d.to_string());
            let stop =
                !matches!(result, crate::attempt::CallResult::Returned(_)) || leftover.is_some();
            reruns.insert(inv.started, Rerun { result, leftover });
            if stop {
                break;
            }
        }
        Ok(Ok(Inspection {
            worker: w.id.to_string(),
            at,
            last_index,
            component_version: version,
            snapshot_covers: base.map(|s| s.covers),
            failed: plan.failed.clone(),
            interrupted: plan.interrupted,
            invocations: inspect::inspection(listed, covers, reruns),
        }))
    }
}
