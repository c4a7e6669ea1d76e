//! One live worker: its wasmtime store and instance, its journal, and the
//! outcomes of every invocation it completed. [`Worker::recover`] brings a
//! worker back from its oplog (creating it on first use); [`Worker::invoke`]
//! runs one invocation with the retry policy and commits its result before
//! returning it (output commit).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use revenant_types::{WorkerId, now_ms};
use revenant_types::ErrorKind;
use revenant_types::oplog::{
    ErrorBody, InvocationOutcome, OplogEntry, OplogIndex, TimestampMs, TraceContext,
};
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::component::{Instance, ResourceTable, Val};
use wasmtime::{Store, StoreContextMut, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::components::LoadedComponent;
use crate::context::WorkerEnv;
use crate::durable::clocks::DurableMonotonic;
use crate::durable::http::DurableHttp;
use crate::durable::stdio::{EventStream, Output, Stream};
use crate::durable::{CommitError, Divergence, HasJournal, Journal, random};
use crate::replay::{self, CreateInfo, ReplayInvocation};
use crate::values;

/// Why a worker cannot go on (the invocation is not answered by it; the runtime decides).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("reading the oplog of {worker}: {message}")]
    Oplog { worker: WorkerId, message: String },
    /// The component (or the version the worker was created with) does not exist.
    #[error("{0}")]
    Component(String),
    /// Loading the component failed for a reason that may pass (NATS, cache IO).
    #[error("loading the component: {0}")]
    ComponentLoad(String),
    #[error("could not start worker {worker}: {message}")]
    Instantiate { worker: WorkerId, message: String },
}

impl WorkerError {
    fn from_component(e: crate::components::ComponentError) -> Self {
        use crate::components::ComponentError as C;
        match e {
            C::Unknown(_) | C::UnknownVersion { .. } => Self::Component(e.to_string()),
            other => Self::ComponentLoad(other.to_string()),
        }
    }

    /// The error kind and message a caller gets when this stops its invocation.
    pub fn to_error_body(&self) -> ErrorBody {
        match self {
            Self::Component(m) => ErrorBody::new(ErrorKind::UnknownComponent, m.clone()),
            other => ErrorBody::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// The deadline of the running invocation was reached.
#[derive(Debug, thiserror::Error)]
#[error("invocation exceeded its deadline of {0:?}")]
pub struct DeadlineExceeded(Duration);

/// The store data of a worker.
pub struct WorkerCtx {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: DurableHttp,
    journal: Journal,
    monotonic: DurableMonotonic,
    limits: StoreLimits,
    deadline: Instant,
    timeout: Duration,
    /// The worker's filesystem; removed with the store.
    _fs: tempfile::TempDir,
}

impl WasiView for WorkerCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for WorkerCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl HasJournal for WorkerCtx {
    fn journal(&self) -> &Journal {
        &self.journal
    }
    fn monotonic(&self) -> &DurableMonotonic {
        &self.monotonic
    }
}

enum CallError {
    Divergence(Divergence),
    Deadline(String),
    Trap(String),
    /// The arguments recorded in the oplog no longer fit the export (should not happen).
    Bad(String),
}

struct Live {
    loaded: Arc<LoadedComponent>,
    store: Store<WorkerCtx>,
    instance: Instance,
}

/// A worker in memory.
pub struct Worker {
    pub id: WorkerId,
    env: Arc<WorkerEnv>,
    events: UnboundedSender<Output>,
    journal: Journal,
    create: CreateInfo,
    live: Option<Live>,
    /// Outcome of every completed invocation, by idempotency key.
    completed: HashMap<String, InvocationOutcome>,
    /// Set once the worker is failed; every later invocation gets this error.
    failed: Option<String>,
    /// The invocation that was running when the last executor died: finished first.
    tail: Option<ReplayInvocation>,
    /// Interrupted and not resumed: no instance, invocations are held.
    interrupted: bool,
}

impl Worker {
    /// Brings a worker back from its oplog, creating it (with the latest component
    /// version, no args or env) when the oplog is empty.
    pub async fn recover(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: UnboundedSender<Output>,
    ) -> Result<Worker, WorkerError> {
        let started = Instant::now();
        // The latest component version is looked up alongside (not after) the oplog read:
        // a new worker needs it, and one round trip less is most of a cold start.
        let components = env.nats.components();
        let (read, latest) = tokio::join!(read_plan(&env, &id), components.latest(&id.component));
        let (plan, journal) = read?;
        let read_at = started.elapsed();
        let entries = plan.next_index.saturating_sub(1) as usize;
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
                let create = CreateInfo {
                    at: now_ms(),
                    component_version: latest.version,
                    args: vec![],
                    env: vec![],
                };
                // Committed with the first invocation (one append instead of two): a worker
                // whose first invocation never commits was never created.
                journal.push(OplogEntry::Create {
                    at: create.at,
                    component_version: create.component_version,
                    args: vec![],
                    env: vec![],
                });
                create
            }
        };
        let mut worker = Worker::without_instance(env, id, events, journal, create, &plan);
        if worker.failed.is_none() && !worker.interrupted {
            worker.instantiate_and_replay(plan.invocations).await?;
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

    /// Reads an existing worker's state from its oplog without building an instance
    /// (for control requests); `None` when the worker does not exist. Only an
    /// interrupted or failed worker may be kept as it is: otherwise [`Worker::resume`]
    /// or [`Worker::recover`] builds the instance.
    pub async fn open(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: UnboundedSender<Output>,
    ) -> Result<Option<Worker>, WorkerError> {
        let (plan, journal) = read_plan(&env, &id).await?;
        let Some(create) = plan.create.clone() else {
            return Ok(None);
        };
        Ok(Some(Worker::without_instance(
            env, id, events, journal, create, &plan,
        )))
    }

    /// The worker as its oplog's plan says, with no instance built yet.
    fn without_instance(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: UnboundedSender<Output>,
        journal: Journal,
        create: CreateInfo,
        plan: &replay::ReplayPlan,
    ) -> Self {
        Worker {
            id,
            env,
            events,
            journal,
            create,
            live: None,
            completed: plan.completed.clone(),
            failed: plan.failed.clone(),
            tail: None,
            interrupted: plan.interrupted,
        }
    }

    /// Interrupted and not resumed yet.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Throws the instance away and durably marks the worker interrupted (an
    /// `Interrupted` entry, which voids the host calls of an attempt in progress, so
    /// that invocation runs again from its start on resume). The journal must hold no
    /// half-run attempt: after stopping an invocation, drop the worker and
    /// [`Worker::open`] it again first. Returns false when it was interrupted already.
    pub async fn interrupt(&mut self) -> Result<bool, WorkerError> {
        if self.interrupted {
            return Ok(false);
        }
        self.live = None;
        self.tail = None;
        self.journal.push(OplogEntry::Interrupted { at: now_ms() });
        self.journal.commit().await?;
        self.interrupted = true;
        Ok(true)
    }

    /// Appends `Resumed` and rebuilds the instance by replaying the oplog; the
    /// interrupted invocation, if it had started, becomes the tail and runs again from
    /// its start. Returns false when the worker was not interrupted.
    pub async fn resume(&mut self) -> Result<bool, WorkerError> {
        if !self.interrupted {
            return Ok(false);
        }
        self.journal.push(OplogEntry::Resumed { at: now_ms() });
        self.journal.commit().await?;
        self.interrupted = false;
        let (plan, journal) = read_plan(&self.env, &self.id).await?;
        self.journal = journal;
        self.completed = plan.completed;
        self.failed = plan.failed;
        self.tail = None;
        if self.failed.is_none() {
            self.instantiate_and_replay(plan.invocations).await?;
        }
        Ok(true)
    }

    /// The outcome recorded for `key`, if that invocation already completed.
    pub fn completed(&self, key: &str) -> Option<&InvocationOutcome> {
        self.completed.get(key)
    }

    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    pub fn component_version(&self) -> u64 {
        self.create.component_version
    }

    /// What the worker was created with (its `Create` entry).
    pub fn created(&self) -> &CreateInfo {
        &self.create
    }

    pub fn oplog_index(&self) -> OplogIndex {
        self.journal.next_index() - 1
    }

    /// The loaded component (for resolving functions and typing arguments).
    pub fn component(&self) -> Option<&Arc<LoadedComponent>> {
        self.live.as_ref().map(|l| &l.loaded)
    }

    /// Finishes the invocation the previous owner was running, if any; returns its key and outcome.
    pub async fn finish_tail(
        &mut self,
    ) -> Result<Option<(String, InvocationOutcome)>, WorkerError> {
        let Some(tail) = self.tail.take() else {
            return Ok(None);
        };
        let outcome = self
            .run_attempts(
                &tail.idempotency_key,
                &tail.function,
                &tail.args,
                Some(tail.host_calls),
                tail.failed_attempts,
            )
            .await?;
        Ok(Some((tail.idempotency_key, outcome)))
    }

    /// Runs an invocation (already validated: `function` is a full export name and
    /// `args_json` a JSON array typed against it) and commits its outcome.
    pub async fn invoke(
        &mut self,
        key: &str,
        function: &str,
        args_json: &str,
        trace: TraceContext,
    ) -> Result<InvocationOutcome, WorkerError> {
        if let Some(outcome) = self.completed.get(key) {
            return Ok(outcome.clone());
        }
        if let Some(message) = &self.failed {
            return Ok(InvocationOutcome::Err(ErrorBody::new(
                ErrorKind::WorkerFailed,
                format!("worker {} is failed: {message}", self.id),
            )));
        }
        if let Some((k, _)) = self.finish_tail().await?
            && k == key
        {
            return Ok(self.completed[key].clone());
        }
        self.journal.push(OplogEntry::InvocationStarted {
            at: now_ms(),
            idempotency_key: key.to_owned(),
            function: function.to_owned(),
            args: args_json.to_owned(),
            trace,
        });
        self.run_attempts(key, function, args_json, None, 0).await
    }

    async fn run_attempts(
        &mut self,
        key: &str,
        function: &str,
        args_json: &str,
        mut recorded: Option<VecDeque<(OplogIndex, OplogEntry)>>,
        failed_attempts: u32,
    ) -> Result<InvocationOutcome, WorkerError> {
        let started = Instant::now();
        let mut attempt = failed_attempts + 1;
        loop {
            if let Some(calls) = recorded.take() {
                self.journal.begin_replay(calls, true);
            }
            let result = self.call(function, args_json).await;
            // A tail whose recorded calls were not all used diverged; otherwise this is a no-op.
            let result = match (result, self.journal.end_replay()) {
                (Ok(_), Err(d)) => Err(CallError::Divergence(d)),
                (r, _) => r,
            };
            let (outcome, rebuild) = match result {
                Ok(json) => (InvocationOutcome::Ok(json), false),
                Err(CallError::Divergence(d)) => {
                    let message = d.to_string();
                    self.push_error(&message, attempt, true);
                    self.failed = Some(message.clone());
                    self.live = None;
                    (
                        InvocationOutcome::Err(ErrorBody::new(ErrorKind::Divergence, message)),
                        false,
                    )
                }
                Err(CallError::Deadline(message)) => {
                    self.push_error(&message, attempt, false);
                    (
                        InvocationOutcome::Err(ErrorBody::new(
                            ErrorKind::DeadlineExceeded,
                            message,
                        )),
                        true,
                    )
                }
                Err(CallError::Bad(message)) => (
                    InvocationOutcome::Err(ErrorBody::new(ErrorKind::InvalidArguments, message)),
                    false,
                ),
                Err(CallError::Trap(message)) => {
                    let max = self.env.opts.retry.max_attempts.max(1);
                    if attempt < max {
                        self.push_error(&message, attempt, false);
                        self.journal.commit().await?;
                        let delay = self.env.opts.retry.delay_ms(attempt);
                        tracing::warn!(worker = %self.id, attempt, delay_ms = delay, error = %message, "invocation trapped; retrying");
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        self.rebuild().await?;
                        attempt += 1;
                        continue;
                    }
                    self.push_error(&message, attempt, true);
                    let message = format!("trapped {attempt} time(s), giving up: {message}");
                    self.failed = Some(message.clone());
                    self.live = None;
                    (
                        InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, message)),
                        false,
                    )
                }
            };
            self.journal.push(OplogEntry::InvocationCompleted {
                at: now_ms(),
                idempotency_key: key.to_owned(),
                outcome: outcome.clone(),
                duration_us: started.elapsed().as_micros() as u64,
            });
            self.journal.commit().await?;
            self.completed.insert(key.to_owned(), outcome.clone());
            if rebuild {
                self.rebuild().await?;
            }
            return Ok(outcome);
        }
    }

    fn push_error(&self, message: &str, retry: u32, fatal: bool) {
        self.journal.push(OplogEntry::Error {
            at: now_ms(),
            message: message.to_owned(),
            retry,
            fatal,
        });
    }

    /// Throws the instance away and rebuilds it from the oplog (after a trap or deadline).
    async fn rebuild(&mut self) -> Result<(), WorkerError> {
        self.live = None;
        self.journal.commit().await?;
        let (mut plan, journal) = read_plan(&self.env, &self.id).await?;
        self.journal = journal;
        // The invocation being retried is the tail; it is run by the caller, not replayed here.
        if plan.incomplete().is_some() {
            plan.invocations.pop();
        }
        self.instantiate_and_replay(plan.invocations).await
    }

    async fn instantiate_and_replay(
        &mut self,
        mut invocations: Vec<ReplayInvocation>,
    ) -> Result<(), WorkerError> {
        let loaded = self
            .env
            .components
            .get(&self.id.component, self.create.component_version)
            .await
            .map_err(WorkerError::from_component)?;
        let store = self.new_store(&loaded)?;
        let mut store = store;
        let instance = loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| WorkerError::Instantiate {
                worker: self.id.clone(),
                message: format!("{e:#}"),
            })?;
        self.live = Some(Live {
            loaded,
            store,
            instance,
        });
        if invocations.last().is_some_and(|i| i.outcome.is_none()) {
            self.tail = invocations.pop();
        }
        for inv in invocations {
            self.journal.begin_replay(inv.host_calls, false);
            let result = self.call(&inv.function, &inv.args).await;
            let result = match (result, self.journal.end_replay()) {
                (Ok(json), Ok(())) => match &inv.outcome {
                    Some(InvocationOutcome::Ok(recorded)) if !same_json(recorded, &json) => {
                        Err(format!(
                            "replay diverged at oplog index {}: {} returned {json} but the oplog recorded {recorded}",
                            inv.started, inv.function
                        ))
                    }
                    _ => Ok(()),
                },
                (Ok(_), Err(d)) | (Err(CallError::Divergence(d)), _) => Err(d.to_string()),
                (Err(CallError::Trap(m) | CallError::Deadline(m) | CallError::Bad(m)), _) => {
                    Err(format!(
                        "replay of {} (oplog index {}) failed where it once succeeded: {m}",
                        inv.function, inv.started
                    ))
                }
            };
            if let Err(message) = result {
                tracing::error!(worker = %self.id, error = %message, "replay failed; worker is failed");
                self.push_error(&message, 1, true);
                self.journal.commit().await?;
                self.failed = Some(message);
                self.live = None;
                self.tail = None;
                return Ok(());
            }
        }
        Ok(())
    }

    fn new_store(&self, loaded: &LoadedComponent) -> Result<Store<WorkerCtx>, WorkerError> {
        let opts = &self.env.opts;
        let err = |message: String| WorkerError::Instantiate {
            worker: self.id.clone(),
            message,
        };
        let fs = self.env.dirs.take().map_err(|e| {
            err(format!(
                "creating its filesystem in {}: {e}",
                self.env.work_dir.display()
            ))
        })?;
        let monotonic = DurableMonotonic::default();
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&self.create.args)
            .envs(&self.create.env)
            .env("REVENANT_COMPONENT", self.id.component.as_str())
            .env("REVENANT_WORKER", self.id.worker.as_str())
            .env(
                "REVENANT_COMPONENT_VERSION",
                self.create.component_version.to_string(),
            )
            .stdout(EventStream::new(
                Stream::Stdout,
                self.journal.clone(),
                self.events.clone(),
            ))
            .stderr(EventStream::new(
                Stream::Stderr,
                self.journal.clone(),
                self.events.clone(),
            ))
            .monotonic_clock(monotonic.clone())
            .insecure_random_seed(random::insecure_seed(&self.id.dotted()))
            .preopened_dir(fs.path(), "/", FsPerms::ReadWrite)
            .map_err(|e| err(format!("opening its filesystem: {e}")))?;
        let timeout = Duration::from_millis(opts.invocation_timeout_ms);
        let ctx = WorkerCtx {
            wasi: builder.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: DurableHttp::new(self.journal.clone()),
            journal: self.journal.clone(),
            monotonic,
            limits: StoreLimitsBuilder::new()
                .memory_size(opts.memory_limit_bytes)
                .trap_on_grow_failure(true)
                .build(),
            deadline: Instant::now() + timeout,
            timeout,
            _fs: fs,
        };
        let mut store = Store::new(&loaded.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.epoch_deadline_callback(|ctx: StoreContextMut<'_, WorkerCtx>| {
            let data = ctx.data();
            if Instant::now() >= data.deadline {
                Err(DeadlineExceeded(data.timeout).into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }

    async fn call(&mut self, function: &str, args_json: &str) -> Result<String, CallError> {
        let live = self
            .live
            .as_mut()
            .ok_or_else(|| CallError::Bad("worker has no instance".into()))?;
        let index = live
            .loaded
            .export_index(function)
            .ok_or_else(|| CallError::Bad(format!("component has no export {function}")))?;
        let func = live
            .instance
            .get_func(&mut live.store, index)
            .ok_or_else(|| CallError::Bad(format!("export {function} is not a function")))?;
        let ty = func.ty(&live.store);
        let json: serde_json::Value =
            serde_json::from_str(args_json).map_err(|e| CallError::Bad(e.to_string()))?;
        let params =
            values::json_args_to_vals(&ty, &json).map_err(|e| CallError::Bad(e.to_string()))?;
        let mut results = vec![Val::Bool(false); ty.results().len()];
        let data = live.store.data_mut();
        data.deadline = Instant::now() + data.timeout;
        live.store.set_epoch_deadline(1);
        match func
            .call_async(&mut live.store, &params, &mut results)
            .await
        {
            Ok(()) => Ok(values::results_to_json(&results).to_string()),
            Err(e) => {
                if let Some(d) = e.downcast_ref::<Divergence>() {
                    Err(CallError::Divergence(d.clone()))
                } else if let Some(d) = e.downcast_ref::<DeadlineExceeded>() {
                    Err(CallError::Deadline(d.to_string()))
                } else {
                    // `{:#}`: the trap with its wasm backtrace, not the executor's own Rust backtrace.
                    Err(CallError::Trap(format!("{e:#}")))
                }
            }
        }
    }
}

/// Reads the whole oplog and returns the plan and a journal positioned after it.
async fn read_plan(
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

fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}
