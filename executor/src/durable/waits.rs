//! Durable waiting: timers, readiness and suspension (ARCHITECTURE.md
//! "Waiting: suspension, timers, promises").
//!
//! - **Timers.** `wasi:clocks/monotonic-clock.subscribe-{duration,instant}` are
//!   journaled with the wall time they fire at, so a timer keeps its deadline
//!   across recovery on another machine (a monotonic clock does not run while no
//!   executor does). The pollable sleeps until that wall time.
//! - **Readiness.** `wasi:io/poll.poll` (which pollables were ready) and
//!   `pollable.ready` are journaled, so a replay sees the same readiness order as
//!   the first run (an HTTP response raced against a timeout picks the same
//!   winner). `pollable.block` needs no entry: in replay what it waits for is
//!   already there.
//! - **Suspension.** A wait on durable things only — timers and promises, each a
//!   [`Wait`] — that lasts `suspend-after` unwinds the guest with [`Suspend`]; the
//!   worker journals `Suspended { waiting }`, drops its instance and is resumed by
//!   replay when a completion arrives in its inbox. A wait that includes anything
//!   else (an HTTP response, a stream) is never suspended.
//! - **Promises' payloads** live in the worker's [`PromiseBook`], which outlives
//!   its stores: the mailbox records completions there (after journaling them) and
//!   promise pollables wait on it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use revenant_types::now_ms;
use revenant_types::oplog::{OplogIndex, TimestampMs};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};

use super::HasJournal;
use super::clocks::{DurableMonotonic, MONOTONIC_CLOCK};
pub use super::deadline::Deadline;
use super::journaled::{Poll, PollableReady, ReadyList, SubscribeDuration, SubscribeInstant};
pub use super::promise_book::PromiseBook;

/// wasmtime-wasi's own version of `wasi:io/poll` (overrides must shadow this name).
pub const POLL: &str = "wasi:io/poll@0.2.12";

/// Something durable a worker can wait for: it survives the worker's instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// The timer created by the journal entry at `index`, firing at wall time `fire_at`.
    Timer {
        index: OplogIndex,
        fire_at: TimestampMs,
    },
    /// The promise created by the journal entry at `index`.
    Promise { index: OplogIndex },
    /// The outcome of the worker-to-worker call begun at `index` (its `RpcStarted`).
    Rpc { index: OplogIndex },
}

impl Wait {
    /// How `Suspended { waiting }` names it: `timer:<index>`, `promise:<index>`, `rpc:<index>`.
    pub fn key(&self) -> String {
        match self {
            Self::Timer { index, .. } => format!("timer:{index}"),
            Self::Promise { index } => format!("promise:{index}"),
            Self::Rpc { index } => format!("rpc:{index}"),
        }
    }
}

/// The guest waited `suspend-after` for durable things only: the call is unwound and
/// the worker suspended until one of them completes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("suspended, waiting for {}", keys(.waiting))]
pub struct Suspend {
    pub waiting: Vec<Wait>,
}

fn keys(waiting: &[Wait]) -> String {
    let keys: Vec<String> = waiting.iter().map(Wait::key).collect();
    keys.join(", ")
}

/// A store's waiting state: the worker's promises, the durable pollables it handed
/// out, and how long a durable wait lasts before the worker is suspended.
pub struct WaitState {
    pub book: Arc<PromiseBook>,
    pub suspend_after: Duration,
    /// For promise records and completions.
    pub nats: revenant_nats::Nats,
    durable: DurablePollables,
}

/// Durable pollables by their resource rep; the `Weak` dies with the pollable (a rep
/// is reused once its resource is dropped).
#[derive(Default)]
struct DurablePollables(Mutex<HashMap<u32, (Wait, Weak<()>)>>);

impl DurablePollables {
    fn register(&self, rep: u32, wait: Wait, alive: &Arc<()>) {
        let mut durable = self.0.lock().unwrap_or_else(|e| e.into_inner());
        durable.retain(|_, (_, alive)| alive.strong_count() > 0);
        durable.insert(rep, (wait, Arc::downgrade(alive)));
    }

    /// What the pollables `reps` wait for, when every one of them is durable.
    fn waits(&self, reps: &[u32]) -> Option<Vec<Wait>> {
        let durable = self.0.lock().unwrap_or_else(|e| e.into_inner());
        reps.iter()
            .map(|rep| {
                durable
                    .get(rep)
                    .filter(|(_, alive)| alive.strong_count() > 0)
                    .map(|(wait, _)| wait.clone())
            })
            .collect()
    }
}

impl WaitState {
    pub fn new(book: Arc<PromiseBook>, suspend_after: Duration, nats: revenant_nats::Nats) -> Self {
        Self {
            book,
            suspend_after,
            nats,
            durable: DurablePollables::default(),
        }
    }

    fn register(&self, rep: u32, wait: Wait, alive: &Arc<()>) {
        self.durable.register(rep, wait, alive);
    }

    /// What the pollables `reps` wait for, when every one of them is durable.
    fn durable_waits(&self, reps: &[u32]) -> Option<Vec<Wait>> {
        self.durable.waits(reps)
    }
}

/// A wait whose first timer is due sooner than this (ms) is not suspended: a timer's
/// schedule wakes it up to [`revenant_nats::timers::WAKE_EARLY_MAX_MS`] early, and the
/// rest of the wait must not suspend it again.
const SUSPEND_NOT_BEFORE_MS: u64 = revenant_nats::timers::WAKE_EARLY_MAX_MS + 200;

/// Waits for `ready`; when it waits for durable things only (`durable`) and they take
/// longer than `suspend_after`, gives up with [`Suspend`]. A durable wait does not
/// count against the invocation `deadline` (it is paused meanwhile); any other wait does.
pub async fn wait_or_suspend<F: Future>(
    ready: F,
    durable: Option<Vec<Wait>>,
    suspend_after: Duration,
    deadline: &Deadline,
) -> wasmtime::Result<F::Output> {
    match durable {
        None => Ok(ready.await),
        Some(waiting) => {
            // A timer due within about two seconds is waited for in memory: suspending
            // costs a replay, and a schedule fires 1–2 s early (whole seconds; the rest of
            // the wait must not suspend again).
            let now = now_ms();
            let soon = waiting
                .iter()
                .filter_map(|w| match w {
                    Wait::Timer { fire_at, .. } => Some(fire_at.saturating_sub(now)),
                    Wait::Promise { .. } | Wait::Rpc { .. } => None,
                })
                .min()
                .filter(|ms| *ms < SUSPEND_NOT_BEFORE_MS);
            let limit = soon.map_or(suspend_after, |ms| {
                suspend_after.max(Duration::from_millis(ms + 100))
            });
            let waited = deadline.paused(tokio::time::timeout(limit, ready));
            match waited.await {
                Ok(out) => Ok(out),
                Err(_) => Err(Suspend { waiting }.into()),
            }
        }
    }
}

/// Before a durable wait begins, what it waits for is committed: a timer's deadline
/// (journaled when it was created) must survive this executor, or a recovery would
/// start the sleep again from zero. Nothing to do in replay. A resumed tail reaching
/// the wait it was suspended at turns live here ([`super::Journal::reached_wait`]).
async fn durable_deadlines(
    journal: &super::Journal,
    durable: Option<&[Wait]>,
) -> wasmtime::Result<()> {
    if let Some(waiting) = durable {
        journal.reached_wait(waiting);
    }
    let timers = durable.is_some_and(|w| w.iter().any(|w| matches!(w, Wait::Timer { .. })));
    if timers && !journal.is_replaying() {
        journal.commit().await?;
    }
    Ok(())
}

/// A durable timer's pollable: ready at a wall time.
struct DurableTimer {
    fire_at: TimestampMs,
    /// The monotonic reading it stands for: later readings are at least this.
    deadline_ns: u64,
    clock: DurableMonotonic,
    _alive: Arc<()>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for DurableTimer {
    async fn ready(&mut self) {
        let now = now_ms();
        if self.fire_at > now {
            tokio::time::sleep(Duration::from_millis(self.fire_at - now)).await;
        }
        self.clock.observe(self.deadline_ns);
    }
}

/// A promise's pollable: ready once the promise is completed.
pub struct PromiseReady {
    book: Arc<PromiseBook>,
    index: OplogIndex,
    _alive: Arc<()>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for PromiseReady {
    async fn ready(&mut self) {
        self.book.wait(self.index).await;
    }
}

/// A pollable for promise `index`, registered as durable.
pub fn promise_pollable(
    table: &mut ResourceTable,
    waits: &WaitState,
    index: OplogIndex,
) -> wasmtime::Result<Resource<DynPollable>> {
    book_pollable(table, waits, Wait::Promise { index }, index)
}

/// A pollable ready once entry `index` of the book is completed (a promise, a call's
/// outcome), registered as the durable wait `wait`.
pub fn book_pollable(
    table: &mut ResourceTable,
    waits: &WaitState,
    wait: Wait,
    index: OplogIndex,
) -> wasmtime::Result<Resource<DynPollable>> {
    let alive = Arc::new(());
    let ready = table.push(PromiseReady {
        book: waits.book.clone(),
        index,
        _alive: alive.clone(),
    })?;
    let pollable = subscribe(table, ready)?;
    waits.register(pollable.rep(), wait, &alive);
    Ok(pollable)
}

/// What the waiting host functions need of a store's data, borrowed apart.
pub struct WaitParts<'a> {
    pub journal: &'a super::Journal,
    pub monotonic: &'a DurableMonotonic,
    pub waits: &'a WaitState,
    pub table: &'a mut ResourceTable,
    /// The running invocation's deadline: a durable wait moves it by its length.
    pub deadline: &'a Deadline,
}

/// Store data whose guests can wait durably.
pub trait CanWait: HasJournal {
    fn wait_parts(&mut self) -> WaitParts<'_>;
}

/// A journaled timer firing `ns` from now (monotonic), as a durable pollable.
fn timer<T: CanWait, F>(
    mut store: StoreContextMut<'_, T>,
    request: u64,
    ns: impl FnOnce(&DurableMonotonic) -> u64,
) -> wasmtime::Result<(Resource<DynPollable>,)>
where
    F: super::JournaledCall<Request = u64, Response = u64>,
{
    let parts = store.data_mut().wait_parts();
    let now_ns = parts.monotonic.now_ns();
    let wait_ns = ns(parts.monotonic);
    let (index, fire_at) = parts
        .journal
        .read_at::<F>(request, |_| now_ms() + wait_ns.div_ceil(1_000_000))?;
    let alive = Arc::new(());
    let timer = parts.table.push(DurableTimer {
        fire_at,
        deadline_ns: now_ns + wait_ns,
        clock: parts.monotonic.clone(),
        _alive: alive.clone(),
    })?;
    let pollable = subscribe(parts.table, timer)?;
    parts
        .waits
        .register(pollable.rep(), Wait::Timer { index, fire_at }, &alive);
    Ok((pollable,))
}

/// Registers the durable timers and the journaled `wasi:io/poll` (shadowing wasmtime-wasi's).
pub fn add_to_linker<T: CanWait>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |store: StoreContextMut<'_, T>, (ns,): (u64,)| {
            timer::<T, SubscribeDuration>(store, ns, |_| ns)
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |store: StoreContextMut<'_, T>, (when,): (u64,)| {
            timer::<T, SubscribeInstant>(store, when, |clock| when.saturating_sub(clock.now_ns()))
        },
    )?;
    let mut poll = linker.instance(POLL)?;
    poll.func_wrap_async(
        "poll",
        |mut store: StoreContextMut<'_, T>, (pollables,): (Vec<Resource<DynPollable>>,)| {
            Box::new(async move {
                let count = pollables.len() as u64;
                let parts = store.data_mut().wait_parts();
                if let Some(ReadyList(ready)) = parts.journal.replayed::<Poll>(&count)? {
                    return Ok((ready,));
                }
                let reps: Vec<u32> = pollables.iter().map(Resource::rep).collect();
                let durable = parts.waits.durable_waits(&reps);
                let (journal, suspend_after) = (parts.journal.clone(), parts.waits.suspend_after);
                durable_deadlines(&journal, durable.as_deref()).await?;
                let parts = store.data_mut().wait_parts();
                let deadline = parts.deadline.clone();
                let ready = parts.table.poll(pollables);
                let ready = wait_or_suspend(ready, durable, suspend_after, &deadline).await??;
                journal.record::<Poll>(count, ReadyList(ready.clone()));
                Ok((ready,))
            })
        },
    )?;
    poll.func_wrap_async(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, T>, (pollable,): (Resource<DynPollable>,)| {
            Box::new(async move {
                let parts = store.data_mut().wait_parts();
                let durable = parts.waits.durable_waits(&[pollable.rep()]);
                let suspend_after = parts.waits.suspend_after;
                let journal = parts.journal.clone();
                durable_deadlines(&journal, durable.as_deref()).await?;
                let parts = store.data_mut().wait_parts();
                let deadline = parts.deadline.clone();
                let ready = parts.table.block(pollable);
                wait_or_suspend(ready, durable, suspend_after, &deadline).await??;
                Ok(())
            })
        },
    )?;
    poll.func_wrap_async(
        "[method]pollable.ready",
        |mut store: StoreContextMut<'_, T>, (pollable,): (Resource<DynPollable>,)| {
            Box::new(async move {
                let parts = store.data_mut().wait_parts();
                if let Some(ready) = parts.journal.replayed::<PollableReady>(&())? {
                    return Ok((ready,));
                }
                let ready = parts.table.ready(pollable).await?;
                parts.journal.record::<PollableReady>((), ready);
                Ok((ready,))
            })
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_durable_wait_suspends_after_the_limit_and_a_plain_one_never_does() {
        let forever = std::future::pending::<()>();
        let waiting = vec![Wait::Timer {
            index: 4,
            fire_at: 99,
        }];
        let deadline = Deadline::default();
        deadline.start(Some(Duration::from_millis(1)));
        let before = deadline.at();
        let err = wait_or_suspend(
            forever,
            Some(waiting.clone()),
            Duration::from_millis(5),
            &deadline,
        )
        .await
        .unwrap_err();
        // Paused while it waited: it moved by the wait's length.
        assert!(deadline.at() >= before + Duration::from_millis(5));
        let suspend = err.downcast_ref::<Suspend>().expect("a Suspend");
        assert_eq!(suspend.waiting, waiting);
        assert_eq!(suspend.to_string(), "suspended, waiting for timer:4");
        // Ready in time: no suspension.
        let out = wait_or_suspend(async { 7 }, Some(waiting), Duration::ZERO, &deadline).await;
        assert_eq!(out.unwrap(), 7);
        let out = wait_or_suspend(async { 8 }, None, Duration::ZERO, &deadline).await;
        assert_eq!(out.unwrap(), 8);
    }

    #[tokio::test]
    async fn the_first_completion_of_a_promise_wins_and_wakes_its_waiter() {
        let book = Arc::new(PromiseBook::default());
        book.created(3);
        let waiter = tokio::spawn({
            let book = book.clone();
            async move { book.wait(3).await }
        });
        tokio::task::yield_now().await;
        assert!(book.complete(3, b"yes".to_vec()));
        assert!(!book.complete(3, b"no".to_vec()));
        assert_eq!(waiter.await.unwrap(), b"yes");
        assert_eq!(book.get(3).unwrap(), b"yes");
        assert!(book.is_created(3) && !book.is_created(4));
    }

    #[test]
    fn only_pollables_that_are_all_durable_and_alive_make_a_durable_wait() {
        let waits = DurablePollables::default();
        let alive = Arc::new(());
        waits.register(1, Wait::Promise { index: 9 }, &alive);
        let gone = Arc::new(());
        waits.register(2, Wait::Promise { index: 10 }, &gone);
        drop(gone);
        assert_eq!(waits.waits(&[1]), Some(vec![Wait::Promise { index: 9 }]));
        // Rep 2's pollable was dropped (its rep may belong to anything now); 3 is not durable.
        assert_eq!(waits.waits(&[1, 2]), None);
        assert_eq!(waits.waits(&[1, 3]), None);
    }
}
