//! Bringing a worker's instance back from its oplog: a fresh instance, then its
//! state from the base [`crate::decide::snapshot::recovery_bases`] picks — the newest
//! snapshot that loads, or a full replay — and the recorded invocations after that
//! base. A snapshot that does not load (missing, corrupt, refused by the guest) is
//! reported in the worker's events (`snapshot-fallback`) and the next base is tried
//! on a fresh instance; with none left (the history before them trimmed), the worker
//! is failed saying why.

use std::sync::Arc;
use std::time::Instant;

use revenant_types::WorkerId;
use revenant_types::now_ms;
use revenant_types::oplog::OplogEntry;

use super::spare::Spare;
use super::{Worker, WorkerError, error};
use crate::attempt;
use crate::components::LoadedComponent;
use crate::context::{WorkerEnv, event};
use crate::decide::snapshot::{Base, SnapshotRef, recovery_bases};
use crate::durable::stdio::EventSink;
use crate::durable::{CallContext, Journal};
use crate::live::{Args, Live};
use crate::replay::{self, CreateInfo, ReplayInvocation, ReplayPlan};
use crate::store::StoreSpec;

/// How many recorded invocations a replay re-runs between yields to the runtime.
const REPLAY_YIELD_EVERY: usize = 256;

impl Worker {
    /// Brings a worker back from its oplog, creating it (with the latest component
    /// version, no args or env) when the oplog is empty. With `early` (a recovery for an
    /// invocation), an instance is built while the oplog is read ([`super::spare`]).
    pub async fn recover(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: EventSink,
        early: bool,
    ) -> Result<Worker, WorkerError> {
        let started = Instant::now();
        // The latest component version is looked up alongside (not after) the oplog read:
        // a new worker needs it, and one round trip less is most of a cold start.
        let components = env.nats.components();
        let (read, latest, spare) = tokio::join!(
            read_plan(&env, &id),
            components.latest(&id.component),
            Spare::build(early, &env, &id, &events),
        );
        if let Ok(Some(record)) = &latest {
            env.components.saw_latest(record);
            if record.ephemeral {
                return Worker::ephemeral(env, id, events, record.version).await;
            }
        }
        let (plan, mut journal) = read?;
        let read_at = started.elapsed();
        let entries = plan.entries;
        let create = match plan.create.clone() {
            Some(c) => c,
            None => {
                let latest = latest
                    .map_err(|e| WorkerError::ComponentLoad(e.to_string()))?
                    .ok_or_else(|| {
                        WorkerError::from_component(crate::components::ComponentError::Unknown(
                            id.component.clone(),
                        ))
                    })?;
                CreateInfo {
                    at: now_ms(),
                    component_version: latest.version,
                    args: vec![],
                    env: vec![],
                }
            }
        };
        let built = spare.is_some();
        let spare = Spare::serving(spare, &plan, &create, &journal).await;
        if built {
            env.metrics.early_instance(spare.is_some());
        }
        if let Some(s) = &spare {
            journal = s.journal.clone();
        }
        if plan.create.is_none() {
            // Committed with the first invocation (one append instead of two): a worker
            // whose first invocation never commits was never created.
            journal.push(OplogEntry::Create {
                at: create.at,
                component_version: create.component_version,
                args: vec![],
                env: vec![],
            });
        }
        let mut worker = Worker::without_instance(env, id, events, journal, create, &plan);
        if let Some(s) = spare {
            s.give_to(&mut worker);
        }
        if plan.needs_instance() {
            worker.restore(plan).await?;
        } else if worker.suspended.is_some() {
            worker.catch_up().await?;
        }
        let took = started.elapsed();
        tracing::debug!(
            worker = %worker.id,
            entries,
            read_us = read_at.as_micros() as u64,
            replay_us = (took - read_at).as_micros() as u64,
            "recovered"
        );
        worker.env.metrics.recovered(entries, took.as_secs_f64());
        Ok(worker)
    }

    /// Throws the instance away and rebuilds it from the oplog (after a trap or deadline).
    pub(super) async fn rebuild(&mut self) -> Result<(), WorkerError> {
        self.live = None;
        self.journal.commit().await?;
        let (mut plan, journal) = read_plan(&self.env, &self.id).await?;
        self.journal = journal;
        // The invocation being retried is the tail; it is run by the caller, not replayed here.
        if plan.incomplete().is_some() {
            plan.invocations.pop();
        }
        self.restore(plan).await
    }

    /// Instantiates the worker and brings its state back (see the module docs); fails
    /// the worker when nothing can.
    pub(super) async fn restore(&mut self, plan: ReplayPlan) -> Result<(), WorkerError> {
        let version = self.create.component_version;
        let rebuilt = self
            .rebuild_state(version, &plan.snapshots, plan.invocations, plan.from_start)
            .await;
        // A spare the rebuild did not take (a snapshot it could not load) is not kept.
        self.spare = None;
        let rebuilt = rebuilt?;
        match rebuilt {
            Ok(_) => Ok(()),
            Err(message) => self.fail(message).await,
        }
    }

    /// A fresh instance of the worker's component version (`create`) with the state the
    /// oplog gives it, from the bases `base_version` wrote (the same version, or the one
    /// an update moves from). `Ok(Ok(base))`: the snapshot it loaded, if any; `Ok(Err)`:
    /// why it could not be built (the instance is then gone).
    pub(super) async fn rebuild_state(
        &mut self,
        base_version: u64,
        snapshots: &[SnapshotRef],
        mut invocations: Vec<ReplayInvocation>,
        from_start: bool,
    ) -> Result<Result<Option<SnapshotRef>, String>, WorkerError> {
        // With no snapshot in it, whatever the oplog holds is the whole history.
        let from_start = from_start || snapshots.is_empty();
        let bases = recovery_bases(snapshots, base_version, from_start);
        let mut refused = Vec::new();
        let total = bases.len();
        for (n, base) in bases.into_iter().enumerate() {
            match self.instantiate().await? {
                Ok(live) => self.live = Some(live),
                Err(message) => return Ok(Err(message)),
            }
            let (covers, used) = match base {
                Base::Full => (0, None),
                Base::Snapshot(s) => match self.load_snapshot(&s).await {
                    Ok(()) => (s.covers, Some(*s)),
                    Err(message) => {
                        let then = if n + 1 < total {
                            "trying the next base"
                        } else {
                            "nothing left to recover from"
                        };
                        report_fallback(&self.env, &self.id, &s, &message, then).await;
                        refused.push(format!("{}: {message}", s.object));
                        continue;
                    }
                },
            };
            invocations.retain(|i| i.started > covers);
            let replayed = self.replay(invocations).await;
            if replayed.is_err() {
                self.live = None;
            }
            return Ok(replayed.map(|()| used));
        }
        self.live = None;
        Ok(Err(format!(
            "no snapshot of this worker could be loaded ({}) and its history before them was trimmed",
            refused.join("; ")
        )))
    }

    /// Fetches snapshot `s`, checks its digest and hands it to the guest's `load`.
    async fn load_snapshot(&mut self, s: &SnapshotRef) -> Result<(), String> {
        let bytes = self
            .env
            .nats
            .snapshots()
            .get(&s.object)
            .await
            .map_err(|e| e.to_string())?;
        let digest = revenant_components::content_hash(&bytes);
        if digest != s.digest {
            return Err(format!(
                "its SHA-256 is {digest}, the oplog recorded {}: the object was changed",
                s.digest
            ));
        }
        let live = self.live.as_mut().ok_or("the worker has no instance")?;
        live.load(bytes).await
    }

    /// A fresh instance of the worker's component version (no state): the spare built
    /// while its oplog was read when [`Worker::recover`] kept one, else built now.
    /// `Ok(Err)` when instantiating fails the same way every time (a trap in its start,
    /// more memory than the limit at start).
    pub(super) async fn instantiate(&mut self) -> Result<Result<Live, String>, WorkerError> {
        if self.room.is_none() {
            self.room = Some(self.env.room.enter().await);
        }
        if let Some(live) = self.spare.take() {
            return Ok(Ok(live));
        }
        let loaded = self
            .env
            .components
            .get(&self.id.component, self.create.component_version)
            .await
            .map_err(WorkerError::from_component)?;
        let spec = StoreSpec {
            id: &self.id,
            create: &self.create,
            journal: &self.journal,
            events: &self.events,
            promises: &self.promises,
            nats: &self.env.nats,
            opts: &self.env.opts,
            dirs: &self.env.dirs,
        };
        instantiate(&self.env, loaded, &spec).await
    }

    /// Re-runs recorded invocations on the instance; the last one, if it never
    /// completed, becomes the tail.
    /// `Err`: why a recorded invocation did not replay as recorded (a divergence).
    async fn replay(&mut self, mut invocations: Vec<ReplayInvocation>) -> Result<(), String> {
        if invocations.last().is_some_and(|i| i.outcome.is_none()) {
            self.tail = invocations.pop();
        }
        if !revenant_types::trace::enabled() || (invocations.is_empty() && self.tail.is_none()) {
            return self.replay_recorded(invocations).await;
        }
        let started = std::time::SystemTime::now();
        let count = invocations.len();
        let replayed = self.replay_recorded(invocations).await;
        let tail = self.tail.as_ref().map(|t| {
            revenant_types::trace::invocation_span(
                &self.id.to_string(),
                &t.idempotency_key,
                &t.trace,
            )
        });
        let error = replayed.as_ref().err().map(String::as_str);
        crate::spans::replay(&self.id, started, count, tail.as_ref(), error);
        replayed
    }

    /// [`Worker::replay`] of the completed invocations.
    async fn replay_recorded(&mut self, invocations: Vec<ReplayInvocation>) -> Result<(), String> {
        for (n, inv) in invocations.into_iter().enumerate() {
            // A long history replays without waiting on anything: let the executor's other
            // tasks (lease renewals, reads, other workers) run between invocations.
            if n % REPLAY_YIELD_EVERY == REPLAY_YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
            let context = CallContext::new(&inv.trace, inv.caller.as_ref());
            self.journal.begin_invocation(&inv.idempotency_key, context);
            self.journal.begin_replay(inv.host_calls, false);
            let result = self.call(&inv.function, Args::Json(&inv.args), false).await;
            let leftover = self.journal.end_replay().err().map(|d| d.to_string());
            let verdict = attempt::check_replayed(
                &inv.function,
                inv.started,
                inv.outcome.as_ref(),
                result,
                leftover,
            );
            verdict?;
        }
        Ok(())
    }

    /// Fails the worker for good (a fatal `Error` entry): every invocation is answered
    /// `worker-failed` with `message` from now on.
    pub(super) async fn fail(&mut self, message: String) -> Result<(), WorkerError> {
        tracing::error!(worker = %self.id, error = %message, "worker is failed");
        self.journal.push(OplogEntry::Error {
            at: now_ms(),
            message: message.clone(),
            retry: 1,
            fatal: true,
        });
        self.journal.commit().await?;
        self.failed = Some(message);
        self.live = None;
        self.tail = None;
        Ok(())
    }
}

/// Says in the worker's events (and the log) that snapshot `s` could not be loaded.
async fn report_fallback(
    env: &WorkerEnv,
    id: &WorkerId,
    s: &SnapshotRef,
    message: &str,
    then: &str,
) {
    tracing::warn!(worker = %id, snapshot = %s.object, error = %message, then, "a snapshot could not be loaded");
    let body = serde_json::json!({ "object": s.object, "covers": s.covers, "error": message, "then": then });
    let _ = env
        .nats
        .publish_event(id, event("snapshot-fallback", body))
        .await;
}

/// Reads the whole oplog and returns the plan and a journal positioned after it.
pub(super) async fn read_plan(
    env: &WorkerEnv,
    id: &WorkerId,
) -> Result<(replay::ReplayPlan, Journal), WorkerError> {
    let read = env
        .nats
        .oplog()
        .read(id, 1)
        .await
        .map_err(|e| WorkerError::Oplog {
            worker: id.clone(),
            message: e.to_string(),
        })?;
    let last_seq = read.last_seq;
    let plan = replay::plan(read.entries);
    let journal = Journal::new(
        id.clone(),
        env.nats.oplog(),
        plan.next_index,
        last_seq,
        plan.remote_ends.clone(),
    );
    Ok((plan, journal))
}

/// A fresh instance of `loaded` in a store built from `spec` (see [`Worker::instantiate`]).
pub(super) async fn instantiate(
    env: &WorkerEnv,
    loaded: Arc<LoadedComponent>,
    spec: &StoreSpec<'_>,
) -> Result<Result<Live, String>, WorkerError> {
    let instantiate_error = |message: String| WorkerError::Instantiate {
        worker: spec.id.clone(),
        message,
    };
    let mut store = spec
        .build(&loaded.engine)
        .map_err(|e| instantiate_error(format!("{e} (under {})", env.work_dir.display())))?;
    match loaded.pre.instantiate_async(&mut store).await {
        Ok(instance) => Ok(Ok(Live {
            loaded,
            store,
            instance,
        })),
        Err(e) if error::deterministic_instantiation_failure(&e) => Ok(Err(format!(
            "the component could not be instantiated: {e:#}"
        ))),
        // Anything else (the host out of address space or memory) may pass: retried, the
        // delivery limit bounding it.
        Err(e) => Err(instantiate_error(format!("{e:#}"))),
    }
}
