//! What the outside sees of a worker's state: its record in `RVN_WORKERS`
//! (everything in it comes from the worker's oplog: one put) and the events on
//! `<ns>.events.<c>.<w>`.

use revenant_nats::Nats;
use revenant_types::records::{WorkerRecord, WorkerStatus};
use revenant_types::{WorkerId, now_ms};

use crate::worker::Worker;

pub(crate) use crate::context::event;

/// What the worker record says about a worker, taken without holding the worker across IO.
pub(crate) struct Summary {
    id: WorkerId,
    component_version: u64,
    args: Vec<String>,
    env: Vec<(String, String)>,
    created_at: u64,
    last_error: Option<String>,
    oplog_index: u64,
    waiting: Vec<String>,
    parked: u64,
}

impl Summary {
    pub(crate) fn of(w: &Worker) -> Self {
        let created = w.created();
        Self {
            id: w.id.clone(),
            component_version: w.component_version(),
            args: created.args.clone(),
            env: created.env.clone(),
            created_at: created.at,
            last_error: w.failed().map(str::to_owned),
            oplog_index: w.oplog_index(),
            waiting: w.waiting().map(<[String]>::to_vec).unwrap_or_default(),
            parked: w.parked() as u64,
        }
    }
}

/// Writes the worker's record (everything in it comes from the worker's oplog: one put).
pub(crate) async fn put_status(nats: &Nats, worker: Summary, status: WorkerStatus) {
    let record = WorkerRecord {
        id: worker.id.clone(),
        status,
        component_version: worker.component_version,
        args: worker.args,
        env: worker.env,
        created_at: worker.created_at,
        updated_at: now_ms(),
        last_error: worker.last_error,
        oplog_index: worker.oplog_index,
        pending_invocations: worker.parked,
        waiting: worker.waiting,
    };
    if let Err(e) = nats.workers().put(&record).await {
        tracing::warn!(worker = %worker.id, error = %e, "could not update worker record");
    }
}

/// The status written when a worker is recovered: deferred until its first invocation
/// is answered, then written in the background, so a cold start waits for neither. Every
/// later status write of the mailbox settles it first, so writes land in order.
#[derive(Default)]
pub(crate) struct RecoveredStatus {
    pub(crate) deferred: Option<(Summary, WorkerStatus)>,
    writing: Option<tokio::task::JoinHandle<()>>,
}

impl RecoveredStatus {
    /// Starts the deferred write, if any.
    pub(crate) fn start(&mut self, nats: &Nats) {
        if let Some((summary, status)) = self.deferred.take() {
            let nats = nats.clone();
            self.writing = Some(tokio::spawn(async move {
                put_status(&nats, summary, status).await;
            }));
        }
    }

    /// Writes it now if still deferred, and waits until it is written.
    pub(crate) async fn settle(&mut self, nats: &Nats) {
        self.start(nats);
        if let Some(w) = self.writing.take() {
            let _ = w.await;
        }
    }
}
