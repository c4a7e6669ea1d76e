//! The journal and the durable host functions.
//!
//! [`Journal`] is a worker's view of its oplog while it runs: the pure
//! [`Cursor`] (replay hands back recorded host-call results in order and
//! reports a [`Divergence`] when the code asks for something else; live
//! records each new result into a pending buffer) behind a lock, plus the
//! writer: [`Journal::commit`] appends the buffer as fenced messages; output (a
//! result, an HTTP request) waits for it, which is the output-commit rule. Host
//! functions are sync and never wait for NATS themselves; they journal through
//! the typed [`Journal::read`] ([`journaled`]).
//!
//! The host interfaces live in their own modules: [`clocks`], [`random`],
//! [`stdio`], [`http`], [`api`].

pub mod api;
pub mod clocks;
pub mod cursor;
pub mod deadline;
pub mod http;
pub mod journaled;
pub mod logging;
pub mod messaging;
pub mod promise_book;
pub mod promises;
pub mod random;
pub mod rpc;
pub mod rpc_client;
pub mod stdio;
pub mod waits;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use revenant_nats::AppendError;
use revenant_nats::OplogStore;
use revenant_types::WorkerId;
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::{CallerRecord, HostValue, OplogEntry, OplogIndex, TraceContext};

pub use cursor::{Cursor, Divergence};
pub use journaled::JournaledCall;
use journaled::Recorded;

/// Store data that carries a journal: what the durable host functions need.
pub trait HasJournal: Send + 'static {
    fn journal(&self) -> &Journal;
    fn monotonic(&self) -> &clocks::DurableMonotonic;
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another executor appended to this worker's oplog: this one must drop the worker.
    #[error("oplog append of {worker} was fenced: another executor owns this worker now")]
    Fenced { worker: WorkerId },
    #[error("oplog append of {worker} failed: {message}")]
    Other { worker: WorkerId, message: String },
}

/// What the running invocation's outgoing calls carry on: its trace context and the
/// workers waiting on it (an await of one of them would close a cycle).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    pub trace: TraceContext,
    /// `<component>/<worker>` of every worker awaiting this invocation, the caller last.
    pub chain: Vec<String>,
}

impl CallContext {
    pub fn new(trace: &TraceContext, caller: Option<&CallerRecord>) -> Self {
        Self {
            trace: trace.clone(),
            chain: caller.map(|c| c.chain.clone()).unwrap_or_default(),
        }
    }
}

/// The cursor and whether the oplog can still be written.
struct State {
    cursor: Cursor,
    fenced: bool,
    /// The running invocation's key and how many idempotency keys it generated so far.
    invocation: (String, u64),
    context: CallContext,
}

struct Writer {
    last_seq: u64,
}

/// A worker's journal (see the module docs). Shared by the store's host
/// functions and the worker driver; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<JournalInner>,
}

struct JournalInner {
    worker: WorkerId,
    store: OplogStore,
    state: Mutex<State>,
    writer: tokio::sync::Mutex<Writer>,
    /// The index of the last entry known durable (appended and acknowledged).
    durable: tokio::sync::watch::Sender<OplogIndex>,
    /// An ephemeral worker's journal: commits keep entries in memory only.
    in_memory: bool,
}

impl Journal {
    /// A journal positioned after a read of the oplog: `next_index` is the index the next
    /// entry gets and `last_seq` the subject sequence the next append is fenced on.
    pub fn new(
        worker: WorkerId,
        store: OplogStore,
        next_index: OplogIndex,
        last_seq: u64,
        remote_ends: HashMap<OplogIndex, HostValue>,
    ) -> Self {
        Self {
            inner: Arc::new(JournalInner {
                worker,
                store,
                state: Mutex::new(State {
                    cursor: Cursor::new(next_index, remote_ends),
                    fenced: false,
                    invocation: (String::new(), 0),
                    context: CallContext::default(),
                }),
                writer: tokio::sync::Mutex::new(Writer { last_seq }),
                durable: tokio::sync::watch::Sender::new(next_index.saturating_sub(1)),
                in_memory: false,
            }),
        }
    }

    /// Moves a journal made by [`Journal::new`] at `(1, 0)` and used by nothing since
    /// (an instance built before the oplog was read, see [`crate::worker`]'s spare) to
    /// where the read left the oplog, as if it had been made there. `false`, and
    /// unchanged, when it was used: an entry pushed, an append made or under way.
    pub fn reposition(
        &self,
        next_index: OplogIndex,
        last_seq: u64,
        remote_ends: HashMap<OplogIndex, HostValue>,
    ) -> bool {
        let Ok(mut writer) = self.inner.writer.try_lock() else {
            return false;
        };
        let mut st = self.state();
        if st.cursor.next_index() != 1 || writer.last_seq != 0 || st.fenced {
            return false;
        }
        st.cursor = Cursor::new(next_index, remote_ends);
        writer.last_seq = last_seq;
        self.inner
            .durable
            .send_replace(next_index.saturating_sub(1));
        true
    }

    /// Whether this is an ephemeral worker's journal ([`Journal::in_memory`]).
    pub fn is_in_memory(&self) -> bool {
        self.inner.in_memory
    }

    /// An ephemeral worker's journal (ARCHITECTURE.md "ephemeral workers"): host calls are
    /// recorded as usual (a retry within the invocation replays them) but a commit only
    /// drops the pending entries: nothing reaches the oplog.
    pub fn in_memory(worker: WorkerId, store: OplogStore) -> Self {
        let journal = Self::new(worker, store, 1, 0, HashMap::new());
        let inner = Arc::into_inner(journal.inner).expect("a new journal is not shared");
        Self {
            inner: Arc::new(JournalInner {
                in_memory: true,
                ..inner
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a host function panicked; the worker is dropped anyway.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cursor<R>(&self, f: impl FnOnce(&mut Cursor) -> R) -> R {
        f(&mut self.state().cursor)
    }

    pub fn worker(&self) -> &WorkerId {
        &self.inner.worker
    }

    /// An attempt of invocation `key` begins (live or in replay): idempotency keys it
    /// generates are counted from zero, and its calls carry `context` on.
    pub fn begin_invocation(&self, key: &str, context: CallContext) {
        let mut st = self.state();
        st.invocation = (key.to_owned(), 0);
        st.context = context;
    }

    /// The running invocation's [`CallContext`].
    pub fn context(&self) -> CallContext {
        self.state().context.clone()
    }

    /// The running invocation's key and the ordinal of the next idempotency key it asks for.
    pub fn next_key_ordinal(&self) -> (String, u64) {
        let mut st = self.state();
        let (key, n) = &mut st.invocation;
        let ordinal = *n;
        *n += 1;
        (key.clone(), ordinal)
    }

    /// True while the code runs through what an earlier run did (output is suppressed).
    pub fn is_replaying(&self) -> bool {
        self.cursor(|c| c.is_replaying())
    }

    /// The tail about to be replayed was suspended waiting for `keys` (see
    /// [`cursor::Cursor::reached_wait`]).
    pub fn resume_at(&self, keys: Vec<String>) {
        self.cursor(|c| c.resume_at(keys));
    }

    /// The code begins a durable wait for `waiting`.
    pub fn reached_wait(&self, waiting: &[waits::Wait]) {
        let keys: Vec<String> = waiting.iter().map(waits::Wait::key).collect();
        self.cursor(|c| c.reached_wait(&keys));
    }

    /// Starts replaying one invocation's recorded host calls.
    pub fn begin_replay(&self, calls: VecDeque<(OplogIndex, OplogEntry)>, then_live: bool) {
        self.cursor(|c| c.begin_replay(calls, then_live));
    }

    /// Ends the replay of an invocation; recorded calls left over are a divergence.
    pub fn end_replay(&self) -> Result<(), Divergence> {
        self.cursor(Cursor::end_replay)
    }

    /// The index the next entry gets.
    pub fn next_index(&self) -> OplogIndex {
        self.cursor(|c| c.next_index())
    }

    /// Appends an entry to the pending buffer; returns its index. Entries are only
    /// durable after [`Journal::commit`].
    pub fn push(&self, entry: OplogEntry) -> OplogIndex {
        self.cursor(|c| c.push(entry))
    }

    /// A journaled read of the outside world, typed: in replay the recorded response,
    /// live the value `live` computes, recorded. `F` names the host function and says
    /// how its request and response are journaled ([`JournaledCall`]).
    pub fn read<F: JournaledCall>(
        &self,
        request: F::Request,
        live: impl FnOnce() -> F::Response,
    ) -> wasmtime::Result<F::Response> {
        self.read_at::<F>(request, |_| live())
            .map(|(_, response)| response)
    }

    /// [`Journal::read`] with the entry's index, which `live` is given too (a promise's
    /// or a timer's id is the index of the entry that created it).
    pub fn read_at<F: JournaledCall>(
        &self,
        request: F::Request,
        live: impl FnOnce(OplogIndex) -> F::Response,
    ) -> wasmtime::Result<(OplogIndex, F::Response)> {
        // A divergence travels as itself, so the worker can tell it from a trap.
        let (index, value) = self
            .cursor(|c| c.read_remote_at(F::NAME, request.into_host(), |i| live(i).into_host()))?;
        Ok((index, typed::<F>(value)?))
    }

    /// The replay half of a read whose live value is awaited (a wait): the recorded
    /// response in replay, `None` live — then the caller computes it and
    /// [`Journal::record`]s it.
    pub fn replayed<F: JournaledCall>(
        &self,
        request: &F::Request,
    ) -> wasmtime::Result<Option<F::Response>>
    where
        F::Request: Clone,
    {
        let request = request.clone().into_host();
        match self.cursor(|c| c.replay_read(F::NAME, &request))? {
            Some((_, value)) => Ok(Some(typed::<F>(value)?)),
            None => Ok(None),
        }
    }

    /// Records the live response of a read begun with [`Journal::replayed`].
    pub fn record<F: JournaledCall>(&self, request: F::Request, response: F::Response) {
        self.cursor(|c| c.record_read(F::NAME, request.into_host(), response.into_host()));
    }

    /// The start of a side effect `F` (an HTTP request), typed. Returns its begin index
    /// and, in replay, the recorded response when one exists (then the effect must not
    /// happen again).
    pub fn begin_write<F: JournaledCall>(
        &self,
        request: F::Request,
    ) -> wasmtime::Result<(OplogIndex, Option<F::Response>)> {
        let (begin, recorded) =
            self.cursor(|c| c.begin_remote_write(F::NAME, request.into_host()))?;
        let recorded = recorded.map(typed::<F>).transpose()?;
        Ok((begin, recorded))
    }

    /// Records the response of the side effect `F` begun at `begin`.
    pub fn end_write<F: JournaledCall>(&self, begin: OplogIndex, response: F::Response) {
        self.cursor(|c| c.end_remote_write(begin, response.into_host()));
    }

    /// The stream sequence of the worker's last appended oplog message (what the next
    /// append is fenced on).
    pub async fn last_seq(&self) -> u64 {
        self.inner.writer.lock().await.last_seq
    }

    /// Appends everything pending, fenced, and waits for JetStream's ack. Entries travel
    /// [`MAX_ENTRIES_PER_MESSAGE`] to a message at most, so a long invocation (thousands of
    /// host calls) never makes a message over the server's limit; a crash between two of
    /// its messages leaves a prefix that replay continues live. Returns the index of the
    /// last durable entry.
    pub async fn commit(&self) -> Result<OplogIndex, CommitError> {
        self.commit_prefix(OplogIndex::MAX).await
    }

    /// [`Journal::commit`] of the pending entries up to index `last` only (those after it
    /// stay pending): what a group of finished invocations commits when the one running
    /// after them is cut short.
    pub async fn commit_prefix(&self, last: OplogIndex) -> Result<OplogIndex, CommitError> {
        let mut writer = self.inner.writer.lock().await;
        let (first, entries) = {
            let mut st = self.state();
            if st.fenced {
                return Err(CommitError::Fenced {
                    worker: self.inner.worker.clone(),
                });
            }
            match st.cursor.take_pending_through(last) {
                Some(pending) => pending,
                None => return Ok(st.cursor.next_index().min(last.saturating_add(1)) - 1),
            }
        };
        if self.inner.in_memory {
            let last = first + entries.len() as u64 - 1;
            self.inner.durable.send_replace(last);
            return Ok(last);
        }
        let mut next = first;
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            let batch = OplogBatch {
                first: next,
                entries: entries.by_ref().take(MAX_ENTRIES_PER_MESSAGE).collect(),
            };
            next = batch.next_index();
            match self
                .inner
                .store
                .append(&self.inner.worker, writer.last_seq, &batch)
                .await
            {
                Ok(seq) => writer.last_seq = seq,
                Err(AppendError::Fenced { .. }) => {
                    self.state().fenced = true;
                    return Err(CommitError::Fenced {
                        worker: self.inner.worker.clone(),
                    });
                }
                Err(e) => {
                    // The rest of the buffer is lost; the worker must be recovered from the oplog.
                    self.state().fenced = true;
                    return Err(CommitError::Other {
                        worker: self.inner.worker.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        self.inner.durable.send_replace(next - 1);
        Ok(next - 1)
    }

    /// Makes entry `index` durable: waits up to `grace` for another commit to carry it
    /// (the guest's next output commits everything before it), then commits itself.
    pub async fn commit_through(
        &self,
        index: OplogIndex,
        grace: std::time::Duration,
    ) -> Result<(), CommitError> {
        let mut durable = self.inner.durable.subscribe();
        let carried = async { durable.wait_for(|d| *d >= index).await.is_ok() };
        if tokio::time::timeout(grace, carried).await == Ok(true) {
            return Ok(());
        }
        self.commit().await.map(|_| ())
    }
}

/// A journaled value as the Rust type `F` says it is.
fn typed<F: JournaledCall>(value: HostValue) -> wasmtime::Result<F::Response> {
    F::Response::from_host(value)
        .map_err(|found| wasmtime::format_err!("journal holds {found:?} for {}", F::NAME))
}

/// The most entries one oplog message carries (a journaled clock read is ~110 bytes).
pub const MAX_ENTRIES_PER_MESSAGE: usize = 2_000;
