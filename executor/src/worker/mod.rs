//! One live worker: its instance ([`crate::store::Live`]), its journal, and
//! the outcomes of every invocation it completed. [`Worker::recover`] brings a
//! worker back from its oplog (creating it on first use); [`Worker::invoke`]
//! runs one invocation with the retry policy and commits its result before
//! returning it (output commit). What an attempt leads to is decided by
//! [`crate::attempt`]; what to re-run by [`crate::replay`]. An invocation that
//! waits long for timers or promises only is suspended ([`Invoked::Suspended`]);
//! [`lifecycle`] holds what happens outside invocations (interrupt, resume,
//! delete, wake-ups, parked invocations); [`inspect`] rebuilds a throwaway worker as
//! of an oplog index (time travel).

mod ephemeral;
mod error;
mod firing;
mod inspect;
mod lifecycle;
mod restore;
mod snapshot;
mod spare;
mod update;

pub use error::WorkerError;
pub use lifecycle::{Completions, ParkedQueue};
pub use update::Updated;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use revenant_types::oplog::{
    CallerRecord, InvocationOutcome, OplogEntry, OplogIndex, TimestampMs, TraceContext,
};
use revenant_types::{WorkerId, now_ms};

use crate::arguments::Prepared;
use crate::attempt::{self, CallResult, Next};
use crate::components::LoadedComponent;
use crate::context::WorkerEnv;
use crate::decide::WorkerView;
use crate::decide::snapshot::{SinceLast, SnapshotRef};
use crate::durable::stdio::EventSink;
use crate::durable::waits::PromiseBook;
use crate::durable::{CallContext, Journal};
use crate::live::{Args, Live};
use crate::replay::{self, CreateInfo, ReplayInvocation};
use restore::read_plan;

/// A completion's span, emitted once the completion is committed.
struct UncommittedSpan {
    key: String,
    function: String,
    span: revenant_types::trace::Placed,
    started_at: TimestampMs,
    outcome: InvocationOutcome,
}

/// How an invocation run by the worker ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// Completed (its completion is committed): answer with this.
    Done(InvocationOutcome),
    /// Suspended, waiting for timers or promises (`Suspended` is committed, the instance
    /// dropped): its message may be acked; it is answered when it completes later.
    Suspended,
}

/// A worker in memory.
pub struct Worker {
    pub id: WorkerId,
    env: Arc<WorkerEnv>,
    events: EventSink,
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
    /// The `before` of its last `Deleted` tombstone ([`replay::ReplayPlan::deleted_before`]).
    deleted_before: Option<u64>,
    /// Promises it created and the payloads of those completed; outlives its stores.
    promises: Arc<PromiseBook>,
    /// Suspended: what its tail invocation waits for (the `Suspended` keys).
    suspended: Option<Vec<String>>,
    /// Invocations parked (while it was suspended, or past the bound of what it holds in
    /// memory), not run yet.
    parked: ParkedQueue,
    /// Timers whose `TimerFired` is journaled.
    timers_fired: HashSet<OplogIndex>,
    /// Calls awaiting an outcome when it was recovered, with their targets (`c/w`).
    rpc_calls: HashMap<OplogIndex, String>,
    /// The `Snapshot` entries kept in its oplog, oldest first.
    snapshots: Vec<SnapshotRef>,
    /// What the snapshot policy counts from.
    since_snapshot: SinceLast,
    /// Its oplog still begins with `Create` (not trimmed).
    from_start: bool,
    /// It was loaded from a trimmed oplog: keys answered before the kept history are
    /// not in `completed` (only the results index may know them).
    forgot_keys: bool,
    /// The next invocation's completion is journaled but left uncommitted: the mailbox
    /// commits it with those after it ([`Worker::leave_next_completion_uncommitted`]).
    group_next: bool,
    /// Spans of completions not committed yet, emitted once they are.
    uncommitted_spans: Vec<UncommittedSpan>,
    /// Its component is ephemeral ([`ephemeral`]).
    ephemeral: bool,
    /// Its place in the executor's memory ([`crate::context::Room`]), taken by its first
    /// instance and held as long as it is in memory.
    room: Option<tokio::sync::OwnedSemaphorePermit>,
    /// An instance built while its oplog was read, for its first instance ([`spare`]);
    /// only ever set during [`Worker::recover`].
    spare: Option<Live>,
}

impl Worker {
    /// Gives up its place in memory ([`crate::context::Room`]): it is about to be
    /// replaced by a recovered worker, which takes its own.
    pub(crate) fn leave_room(&mut self) {
        self.room = None;
    }

    /// Reads an existing worker's state from its oplog without building an instance
    /// (for control requests); `None` when the worker does not exist. Only an
    /// interrupted or failed worker may be kept as it is: otherwise [`Worker::resume`]
    /// or [`Worker::recover`] builds the instance.
    pub async fn open(
        env: Arc<WorkerEnv>,
        id: WorkerId,
        events: EventSink,
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
        events: EventSink,
        journal: Journal,
        create: CreateInfo,
        plan: &replay::ReplayPlan,
    ) -> Self {
        let mut worker = Worker {
            id,
            env,
            events,
            journal,
            create,
            live: None,
            completed: HashMap::new(),
            failed: None,
            tail: None,
            interrupted: false,
            deleted_before: None,
            promises: Arc::default(),
            suspended: None,
            parked: ParkedQueue::default(),
            timers_fired: HashSet::new(),
            rpc_calls: HashMap::new(),
            snapshots: Vec::new(),
            since_snapshot: SinceLast {
                invocations: 0,
                at: 0,
            },
            from_start: true,
            forgot_keys: false,
            group_next: false,
            uncommitted_spans: Vec::new(),
            ephemeral: false,
            room: None,
            spare: None,
        };
        worker.adopt(plan);
        worker
    }

    /// Whether an invocation about to run must first be looked up in the results index
    /// ([`crate::decide::index::ask_index`]).
    pub fn asks_index(&self) -> bool {
        crate::decide::index::ask_index(self.ephemeral, self.forgot_keys)
    }

    /// Leaves the completion of the next invocation run ([`Worker::invoke`]) journaled but
    /// uncommitted, to be committed with the completions of invocations run after it
    /// (group commit): nothing about it may leave before [`Worker::commit_completions`].
    pub fn leave_next_completion_uncommitted(&mut self) {
        self.group_next = true;
    }

    /// The index of the last entry journaled so far (committed or not).
    pub fn journaled_through(&self) -> OplogIndex {
        self.journal.next_index() - 1
    }

    /// Commits what is journaled — through index `last` only, when given — and emits the
    /// spans of the completions that commit made durable.
    pub async fn commit_completions(
        &mut self,
        last: Option<OplogIndex>,
    ) -> Result<(), WorkerError> {
        match last {
            Some(last) => self.journal.commit_prefix(last).await?,
            None => self.journal.commit().await?,
        };
        for s in self.uncommitted_spans.drain(..) {
            crate::spans::invocation(
                &self.id,
                &s.key,
                &s.function,
                &s.span,
                s.started_at,
                &s.outcome,
            );
        }
        Ok(())
    }

    /// Interrupted and not resumed yet.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// What the invocation decision needs to know of this worker, about key `key`.
    pub fn view(&self, key: Option<&str>) -> WorkerView<'_> {
        WorkerView {
            completed: key.and_then(|k| self.completed.get(k)),
            failed: self.failed.as_deref(),
            interrupted: self.interrupted,
            instantiated: self.live.is_some(),
            deleted_before: self.deleted_before,
            suspended: self.suspended.is_some(),
        }
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

    /// Runs an invocation the mailbox decided to run ([`crate::decide`]: a new key at a
    /// healthy worker) and commits its completion, or its suspension. The tail the
    /// previous owner was running must have been finished first ([`Worker::run_tail`]).
    pub async fn invoke(
        &mut self,
        key: &str,
        prepared: Prepared,
        trace: TraceContext,
        reply_to: Option<String>,
        caller: Option<CallerRecord>,
    ) -> Result<Invoked, WorkerError> {
        debug_assert!(self.tail.is_none(), "the tail runs before any invocation");
        let context = CallContext::new(&trace, caller.as_ref());
        let at = now_ms();
        self.journal.push(OplogEntry::InvocationStarted {
            at,
            idempotency_key: key.to_owned(),
            function: prepared.function.clone(),
            args: prepared.json.clone(),
            trace,
            reply_to,
            caller,
            schedule: prepared.schedule,
        });
        let args = (prepared.json.as_str(), Some(prepared.vals));
        self.run_attempts(key, &prepared.function, args, None, (0, at), context)
            .await
    }

    /// The invocation the worker was running when it was last dropped (by a crash or a
    /// suspension), to be finished before anything else runs.
    pub fn tail(&self) -> Option<&ReplayInvocation> {
        self.tail.as_ref()
    }

    /// Finishes the tail ([`Worker::tail`]): replays what it recorded, then goes on live.
    pub async fn run_tail(&mut self) -> Option<Result<Invoked, WorkerError>> {
        let tail = self.tail.take()?;
        self.journal.resume_at(tail.suspended_at);
        let context = CallContext::new(&tail.trace, tail.caller.as_ref());
        let run = self.run_attempts(
            &tail.idempotency_key,
            &tail.function,
            (&tail.args, None),
            Some(tail.host_calls),
            (tail.failed_attempts, tail.started_at),
            context,
        );
        Some(run.await)
    }

    /// Runs attempts until [`attempt::after_attempt`] says the invocation is over, then
    /// journals and commits its completion (and emits its span) — or leaves both to
    /// [`Worker::commit_completions`] when asked to ([`Worker::leave_next_completion_uncommitted`]). `args` is the JSON as
    /// journaled and, for the first attempt, the same arguments typed; `recorded` replays
    /// a tail's host calls first; `started_at` is its journaled start. `context` carries
    /// the trace it arrived with; its outgoing calls carry its own span instead.
    async fn run_attempts(
        &mut self,
        key: &str,
        function: &str,
        (json_args, mut typed): (&str, Option<Vec<wasmtime::component::Val>>),
        mut recorded: Option<VecDeque<(OplogIndex, OplogEntry)>>,
        (failed_attempts, started_at): (u32, TimestampMs),
        context: CallContext,
    ) -> Result<Invoked, WorkerError> {
        let started = Instant::now();
        // Export off: no span, and calls carry on the context as it arrived (as ever).
        let span = revenant_types::trace::enabled().then(|| {
            revenant_types::trace::invocation_span(&self.id.to_string(), key, &context.trace)
        });
        let context = match &span {
            Some(span) => CallContext {
                trace: span.context(),
                ..context
            },
            None => context,
        };
        let group = std::mem::take(&mut self.group_next);
        let mut span = span;
        let mut attempt = failed_attempts + 1;
        loop {
            self.journal.begin_invocation(key, context.clone());
            if let Some(calls) = recorded.take() {
                self.journal.begin_replay(calls, true);
            }
            // A retry runs on a rebuilt instance and types the journaled JSON again.
            let args = typed.take().map_or(Args::Json(json_args), Args::Typed);
            let result = self.call(function, args, true).await;
            // A tail whose recorded calls were not all used diverged; otherwise this is a no-op.
            let result = match (result, self.journal.end_replay()) {
                (CallResult::Returned(_), Err(d)) => CallResult::Diverged(d.to_string()),
                (r, _) => r,
            };
            let result = attempt::limit_result(result, self.max_result());
            match attempt::after_attempt(result, &self.env.opts.retry, attempt, now_ms()) {
                Next::Retry { error, delay } => {
                    tracing::warn!(worker = %self.id, attempt, delay_ms = delay.as_millis() as u64, error = ?error, "invocation trapped; retrying");
                    self.journal.push(error);
                    self.journal.commit().await?;
                    tokio::time::sleep(delay).await;
                    self.rebuild().await?;
                    attempt += 1;
                }
                Next::Complete {
                    error,
                    outcome,
                    fail_worker,
                    rebuild,
                } => {
                    if let Some(error) = error {
                        self.journal.push(error);
                    }
                    if fail_worker.is_some() {
                        self.failed = fail_worker;
                        self.live = None;
                    }
                    self.journal.push(OplogEntry::InvocationCompleted {
                        at: now_ms(),
                        idempotency_key: key.to_owned(),
                        outcome: outcome.clone(),
                        duration_us: started.elapsed().as_micros() as u64,
                    });
                    let span = span.take().map(|span| UncommittedSpan {
                        key: key.to_owned(),
                        function: function.to_owned(),
                        span,
                        started_at,
                        outcome: outcome.clone(),
                    });
                    self.uncommitted_spans.extend(span);
                    if !group {
                        self.commit_completions(None).await?;
                    }
                    self.completed.insert(key.to_owned(), outcome.clone());
                    self.unpark(key);
                    self.count_for_snapshot();
                    if rebuild {
                        self.rebuild().await?;
                    }
                    return Ok(Invoked::Done(outcome));
                }
                Next::Suspend { entry, waiting } => {
                    self.suspend(entry, &waiting).await?;
                    return Ok(Invoked::Suspended);
                }
            }
        }
    }

    /// The largest result this worker may return (see `max-result-bytes`).
    fn max_result(&self) -> usize {
        // The reply must fit one message with its headers.
        let max_payload = self.env.nats.options().max_payload;
        let headroom = (max_payload / 4).min(4 << 10);
        self.env.opts.max_result_bytes.min(max_payload - headroom)
    }

    async fn call(&mut self, function: &str, args: Args<'_>, timed: bool) -> CallResult {
        match self.live.as_mut() {
            Some(live) => live.call(function, args, timed).await,
            None => CallResult::BadArguments("worker has no instance".into()),
        }
    }
}
