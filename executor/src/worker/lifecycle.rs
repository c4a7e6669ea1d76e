//! A worker's lifecycle outside invocations: interrupt, resume and delete
//! (control requests), and durable waiting — suspension, wake-ups by a fired timer
//! or a promise completion, and invocations parked while it is suspended.

use std::collections::VecDeque;
use std::sync::Arc;

use revenant_types::oplog::{InvocationOutcome, OplogEntry, OplogIndex};
use revenant_types::promise::{PromiseId, PromiseRecord, PromiseState};
use revenant_types::{WorkerId, now_ms};

use super::{Worker, WorkerError, read_plan};
use crate::decide::{self, Kind};
use crate::durable::waits::{PromiseBook, Wait};
use crate::durable::{CommitError, Journal};
use crate::replay::ParkedInvocation;

/// Enters the promises the plan says the worker created, and the payloads of those
/// completed, in `book`.
fn record_promises(book: &PromiseBook, plan: &crate::replay::ReplayPlan) {
    for index in &plan.promises {
        book.created(*index);
    }
    for (index, payload) in &plan.promise_payloads {
        book.complete(*index, payload.clone());
    }
}

impl Worker {
    /// Takes what the plan says of the worker's state (not its instance or tail).
    pub(super) fn adopt(&mut self, plan: &crate::replay::ReplayPlan) {
        self.completed = plan.completed.clone();
        self.failed = plan.failed.clone();
        self.interrupted = plan.interrupted;
        self.deleted_before = plan.deleted_before;
        self.suspended = plan.suspended.clone();
        self.parked.replace(plan.parked.clone());
        self.timers_fired = plan.timers_fired.iter().copied().collect();
        self.rpc_calls = plan.rpc_calls.clone();
        self.snapshots = plan.snapshots.clone();
        self.from_start = plan.from_start;
        // Trimmed behind a snapshot (a new worker's oplog has no `Create` yet, nor a snapshot).
        self.forgot_keys = !plan.from_start && !plan.snapshots.is_empty();
        self.since_snapshot = super::snapshot::since_last(plan);
        let book = PromiseBook::default();
        record_promises(&book, plan);
        self.promises = Arc::new(book);
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

    /// Throws the instance away and appends the `Deleted` tombstone (fenced, like any
    /// commit): invocations at `RVN_INVOKE` sequence `before` or earlier are void. The
    /// journal must hold no half-run attempt (as for [`Worker::interrupt`]); drop it after.
    /// Returns the tombstone's stream sequence.
    pub async fn delete(&mut self, before: u64) -> Result<u64, WorkerError> {
        self.live = None;
        self.tail = None;
        self.journal.push(OplogEntry::Deleted {
            at: now_ms(),
            before,
        });
        self.journal.commit().await?;
        Ok(self.journal.last_seq().await)
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
        self.reload().await?;
        Ok(true)
    }

    /// Builds the instance of a worker read without one ([`Worker::open`]), unless it is
    /// failed, interrupted or suspended.
    pub async fn ensure_instance(&mut self) -> Result<(), WorkerError> {
        if self.live.is_none() {
            self.reload().await?;
        }
        Ok(())
    }

    /// Reads the oplog again and rebuilds the instance by replay (unless the worker is
    /// failed, interrupted or suspended); the invocation it was running becomes the tail.
    async fn reload(&mut self) -> Result<(), WorkerError> {
        let (plan, journal) = read_plan(&self.env, &self.id).await?;
        self.journal = journal;
        self.adopt(&plan);
        self.tail = None;
        self.live = None;
        if plan.needs_instance() {
            self.restore(plan).await?;
        }
        Ok(())
    }

    /// Suspends the running invocation (see [`Invoked::Suspended`]): its journal is
    /// committed, then its timers' schedules made durable, then `entry` (`Suspended`)
    /// committed and the instance dropped.
    pub(super) async fn suspend(
        &mut self,
        entry: OplogEntry,
        waiting: &[Wait],
    ) -> Result<(), WorkerError> {
        self.journal.commit().await?;
        for wait in waiting {
            if let Wait::Timer { index, fire_at } = wait {
                self.env
                    .nats
                    .schedule_timer(&self.id, *index, *fire_at)
                    .await
                    .map_err(|e| WorkerError::Schedule {
                        worker: self.id.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        self.journal.push(entry);
        self.journal.commit().await?;
        self.suspended = Some(waiting.iter().map(Wait::key).collect());
        self.live = None;
        self.env.metrics.worker_suspended();
        Ok(())
    }

    /// Invocations parked, not run yet.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Suspended: what it waits for.
    pub fn waiting(&self) -> Option<&[String]> {
        self.suspended.as_deref()
    }

    /// Parks an invocation that arrived while the worker is suspended: journaled as a
    /// `PendingInvocation` (committed before its message may be acked).
    pub async fn park(&mut self, parked: ParkedInvocation) -> Result<(), WorkerError> {
        park(&self.journal, &self.parked, vec![parked]).await?;
        Ok(())
    }

    /// The next parked invocation to run, when the worker can run one now.
    pub fn next_parked(&mut self) -> Option<ParkedInvocation> {
        let runnable = self.live.is_some()
            && self.tail.is_none()
            && self.suspended.is_none()
            && !self.interrupted;
        if runnable {
            self.parked.pop_front()
        } else {
            None
        }
    }

    /// A start or a completion of `key` ends the wait of the first invocation parked with it.
    pub(super) fn unpark(&mut self, key: &str) {
        self.parked.unpark(key);
    }

    /// Journals the answer a parked invocation got without running (a duplicate, a
    /// rejection), so that it is not parked any more after a recovery.
    pub async fn record_answer(
        &mut self,
        key: &str,
        outcome: &InvocationOutcome,
    ) -> Result<(), WorkerError> {
        self.journal.push(OplogEntry::InvocationCompleted {
            at: now_ms(),
            idempotency_key: key.to_owned(),
            outcome: outcome.clone(),
            duration_us: 0,
        });
        self.journal.commit().await?;
        self.unpark(key);
        Ok(())
    }

    /// A fired timer or a promise completion (`payload`) arrived: journals it when
    /// [`decide::wake`] says so and, when the worker was suspended waiting for it,
    /// resumes it (the tail replays up to its wait and goes on). Returns whether it
    /// resumed.
    pub async fn wake(&mut self, kind: Kind, payload: Vec<u8>) -> Result<bool, WorkerError> {
        let known = match kind {
            Kind::Timer(i) => self.timers_fired.contains(&i),
            Kind::Complete(i) | Kind::Result(i) => self.promises.is_completed(i),
            Kind::Invoke => true,
        };
        let wake = decide::wake(kind, self.waiting(), known);
        if wake.record {
            self.journal.push(completion_entry(kind, &payload));
        }
        if wake.resume {
            self.journal.push(OplogEntry::Resumed { at: now_ms() });
        }
        self.journal.commit().await?;
        match kind {
            Kind::Timer(i) if wake.record => {
                self.timers_fired.insert(i);
            }
            Kind::Complete(i) | Kind::Result(i) => {
                self.promises.complete(i, payload);
            }
            _ => {}
        }
        if wake.resume {
            // The other timers it waited for will not be waited for as such again (a resumed
            // wait that needs one re-creates its schedule when it suspends): their
            // schedules go, instead of firing into an inbox that drops them.
            let others: Vec<OplogIndex> = self
                .suspended
                .take()
                .unwrap_or_default()
                .iter()
                .filter_map(|key| key.strip_prefix("timer:")?.parse().ok())
                .filter(|i| kind != Kind::Timer(*i))
                .collect();
            for index in others {
                if let Err(e) = self.env.nats.cancel_timer(&self.id, index).await {
                    tracing::warn!(worker = %self.id, timer = index, error = %e, "could not cancel a timer's schedule");
                }
            }
            self.env.metrics.worker_resumed();
            self.reload().await?;
        }
        Ok(wake.resume)
    }

    /// A suspended worker recovered by a new owner asks `RVN_PROMISES` whether what it
    /// waits for was completed (the completer may have died between its write and the
    /// wake message), and the callees' results whether a call it awaits was answered:
    /// if so it wakes as if the message had come. Returns whether it resumed.
    pub(super) async fn catch_up(&mut self) -> Result<bool, WorkerError> {
        let calls: Vec<(OplogIndex, WorkerId)> = self
            .waiting()
            .unwrap_or_default()
            .iter()
            .filter_map(|key| key.strip_prefix("rpc:")?.parse().ok())
            .filter_map(|index| {
                let target = self.rpc_calls.get(&index)?;
                Some((index, WorkerId::parse_path(target).ok()?))
            })
            .collect();
        for (index, target) in calls {
            let key = decide::call_key(&self.id, index);
            match self.env.nats.results().get(&target, &key).await {
                Ok(Some(record)) => {
                    let payload = crate::decide::encode_outcome(&record.outcome);
                    return self.wake(Kind::Result(index), payload).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(worker = %self.id, call = index, error = %e, "could not read a call's result");
                }
            }
        }
        let awaited: Vec<OplogIndex> = self
            .waiting()
            .unwrap_or_default()
            .iter()
            .filter_map(|key| key.strip_prefix("promise:")?.parse().ok())
            .collect();
        for index in awaited {
            let id = PromiseId::new(self.id.clone(), index);
            let record = match self.env.nats.promises().get(&id).await {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(promise = %id, error = %e, "could not read a promise record");
                    continue;
                }
            };
            if let Some(PromiseRecord {
                state: PromiseState::Completed,
                payload,
                ..
            }) = record
            {
                return self
                    .wake(Kind::Complete(index), payload.unwrap_or_default())
                    .await;
            }
        }
        Ok(false)
    }

    /// What the mailbox needs to journal a promise completion while an invocation runs.
    pub fn completions(&self) -> Completions {
        Completions {
            journal: self.journal.clone(),
            promises: self.promises.clone(),
            parked: self.parked.clone(),
            max_held: self.env.opts.max_held_per_worker,
        }
    }
}

/// The journal entry of a completion: a fired timer, a promise's payload, a call's
/// outcome (as [`crate::inbox::completion_payload`] carries it).
fn completion_entry(kind: Kind, payload: &[u8]) -> OplogEntry {
    let at = now_ms();
    match kind {
        Kind::Timer(timer) => OplogEntry::TimerFired { at, timer },
        Kind::Result(call) => OplogEntry::RpcCompleted {
            at,
            call,
            outcome: crate::decide::decode_outcome(payload),
        },
        Kind::Complete(promise) => OplogEntry::PromiseCompleted {
            at,
            promise,
            data: payload.to_vec(),
        },
        Kind::Invoke => {
            unreachable!("an invocation is not a completion; callers pass completions only")
        }
    }
}

/// Journals `parked` as a `PendingInvocation` (committed before its message may be
/// acked) and queues it.
async fn park(
    journal: &Journal,
    queue: &ParkedQueue,
    parked: Vec<ParkedInvocation>,
) -> Result<(), CommitError> {
    for p in &parked {
        journal.push(OplogEntry::PendingInvocation {
            at: now_ms(),
            idempotency_key: p.idempotency_key.clone(),
            function: p.function.clone(),
            body: p.body.clone(),
            content_type: p.content_type.clone(),
            reply_to: p.reply_to.clone(),
            trace: p.trace.clone(),
            stream_sequence: p.stream_sequence,
            caller: p.caller.clone(),
        });
    }
    journal.commit().await?;
    for p in parked {
        queue.push_back(p);
    }
    Ok(())
}

/// A worker's parked invocations, in arrival order; shared with [`Completions`], which
/// parks while an invocation runs.
#[derive(Clone, Default)]
pub struct ParkedQueue(Arc<std::sync::Mutex<VecDeque<ParkedInvocation>>>);

impl ParkedQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ParkedInvocation>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn len(&self) -> usize {
        self.lock().len()
    }
    fn push_back(&self, parked: ParkedInvocation) {
        self.lock().push_back(parked);
    }
    fn pop_front(&self) -> Option<ParkedInvocation> {
        self.lock().pop_front()
    }
    pub(super) fn replace(&self, parked: VecDeque<ParkedInvocation>) {
        *self.lock() = parked;
    }
    /// A start or a completion of `key` ends the wait of the first one parked with it.
    fn unpark(&self, key: &str) {
        let mut parked = self.lock();
        if let Some(i) = parked.iter().position(|p| p.idempotency_key == key) {
            parked.remove(i);
        }
    }
}

/// Journals promise completions and call results, and parks invocations, of a worker
/// whose invocation is running (the worker itself is busy): what they journal is
/// committed before their message is acked; the guest may see a payload first (its
/// next output waits for a commit that includes it).
#[derive(Clone)]
pub struct Completions {
    journal: Journal,
    promises: Arc<PromiseBook>,
    parked: ParkedQueue,
    max_held: usize,
}

impl Completions {
    /// Commits everything journaled: what a completion journaled beside a run waits for
    /// when the run ended with its own completion left uncommitted (group commit), so
    /// the wait does not last its whole grace period.
    pub async fn commit(&self) -> Result<(), CommitError> {
        self.journal.commit().await.map(drop)
    }

    /// How many invocations the worker may hold in memory before it parks them.
    pub fn max_held(&self) -> usize {
        self.max_held
    }

    /// Parks an invocation that arrived while another runs (see [`Worker::park`]).
    pub async fn park(&self, parked: ParkedInvocation) -> Result<(), CommitError> {
        park(&self.journal, &self.parked, vec![parked]).await
    }

    /// [`Completions::park`] of several, in order, with one commit.
    pub async fn park_all(&self, parked: Vec<ParkedInvocation>) -> Result<(), CommitError> {
        park(&self.journal, &self.parked, parked).await
    }

    /// Journals the completion of promise `index`, or the result of call `index` (`kind`),
    /// unless it is known; the waiter wakes.
    pub async fn complete(&self, kind: Kind, payload: Vec<u8>) -> Result<(), CommitError> {
        let (Kind::Complete(index) | Kind::Result(index)) = kind else {
            return Ok(());
        };
        if self.promises.is_completed(index) {
            return Ok(());
        }
        // The guest may go on before the entry is durable: everything it does next comes
        // after the entry in the journal, and its next output waits for a commit that
        // includes it (a crash before then replays to the wait, which is answered again).
        // The message is acked only once the entry is durable (carried by the guest's next
        // commit, or committed here after a grace period).
        let entry = self.journal.push(completion_entry(kind, &payload));
        self.promises.complete(index, payload);
        self.journal.commit_through(entry, CARRY_GRACE).await
    }
}

/// How long a completion's entry waits for the woken guest's next commit to carry it
/// before it is committed on its own (one append fewer on a call's round trip).
const CARRY_GRACE: std::time::Duration = std::time::Duration::from_millis(5);
