//! The journal and the durable host functions.
//!
//! [`Journal`] is a worker's view of its oplog while it runs: in **replay** it
//! hands back recorded host-call results in order (and reports a
//! [`Divergence`] when the code asks for something else); **live** it records
//! each new result into a pending buffer. [`Journal::commit`] appends the
//! buffer as one fenced message; output (a result, an HTTP request) waits for
//! it, which is the output-commit rule. Host functions are sync and never wait
//! for NATS themselves.
//!
//! The host interfaces live in their own modules: [`clocks`], [`random`],
//! [`stdio`], [`http`].

pub mod api;
pub mod clocks;
pub mod http;
pub mod random;
pub mod stdio;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use revenant_nats::AppendError;
use revenant_nats::OplogStore;
use revenant_types::WorkerId;
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::{Durability, HostValue, OplogEntry, OplogIndex};

/// Store data that carries a journal: what the durable host functions need.
pub trait HasJournal: Send + 'static {
    fn journal(&self) -> &Journal;
    fn monotonic(&self) -> &clocks::DurableMonotonic;
}

/// The code asked for a host call the journal does not have at this point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "replay diverged at oplog index {index}: the journal recorded {recorded} but the code now calls {called}; \
     the component no longer behaves as it did when the oplog was written"
)]
pub struct Divergence {
    pub index: OplogIndex,
    pub recorded: String,
    pub called: String,
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

enum Mode {
    /// Recorded host calls still to hand out; `then_live` says whether running out is
    /// expected (the tail invocation carries on live) or a divergence.
    Replay {
        calls: VecDeque<(OplogIndex, OplogEntry)>,
        then_live: bool,
    },
    Live,
}

struct State {
    mode: Mode,
    remote_ends: HashMap<OplogIndex, HostValue>,
    next_index: OplogIndex,
    pending: Vec<OplogEntry>,
    pending_first: OplogIndex,
    fenced: bool,
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
                    mode: Mode::Live,
                    remote_ends,
                    next_index,
                    pending: Vec::new(),
                    pending_first: next_index,
                    fenced: false,
                }),
                writer: tokio::sync::Mutex::new(Writer { last_seq }),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a host function panicked; the worker is dropped anyway.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn worker(&self) -> &WorkerId {
        &self.inner.worker
    }

    /// True while recorded host calls are being handed back (output is suppressed).
    pub fn is_replaying(&self) -> bool {
        matches!(self.state().mode, Mode::Replay { .. })
    }

    /// Starts replaying one invocation's recorded host calls.
    pub fn begin_replay(&self, calls: VecDeque<(OplogIndex, OplogEntry)>, then_live: bool) {
        self.state().mode = Mode::Replay { calls, then_live };
    }

    /// Ends the replay of a completed invocation; recorded calls left over are a divergence.
    pub fn end_replay(&self) -> Result<(), Divergence> {
        let mut st = self.state();
        let mode = std::mem::replace(&mut st.mode, Mode::Live);
        match mode {
            Mode::Replay { mut calls, .. } => match calls.pop_front() {
                Some((index, entry)) => Err(Divergence {
                    index,
                    recorded: describe(&entry),
                    called: "nothing more (the invocation returned)".into(),
                }),
                None => Ok(()),
            },
            Mode::Live => Ok(()),
        }
    }

    /// The index the next entry gets.
    pub fn next_index(&self) -> OplogIndex {
        self.state().next_index
    }

    /// Appends an entry to the pending buffer; returns its index. Entries are only
    /// durable after [`Journal::commit`].
    pub fn push(&self, entry: OplogEntry) -> OplogIndex {
        let mut st = self.state();
        push_locked(&mut st, entry)
    }

    /// A journaled read of the outside world (clock, random): in replay the recorded
    /// response, live the value `live` computes, recorded.
    pub fn read_remote(
        &self,
        function: &str,
        request: HostValue,
        live: impl FnOnce() -> HostValue,
    ) -> Result<HostValue, Divergence> {
        let mut st = self.state();
        if let Some(recorded) = next_recorded(&mut st, function, &request)? {
            return Ok(recorded);
        }
        let response = live();
        push_locked(
            &mut st,
            OplogEntry::HostCall {
                function: function.to_owned(),
                request,
                response: response.clone(),
                durability: Durability::ReadRemote,
            },
        );
        Ok(response)
    }

    /// The start of a side effect (an HTTP request). Returns its begin index and, in replay,
    /// the recorded response when one exists (then the effect must not happen again).
    pub fn begin_remote_write(
        &self,
        function: &str,
        request: HostValue,
    ) -> Result<(OplogIndex, Option<HostValue>), Divergence> {
        let mut st = self.state();
        if let Mode::Replay { calls, then_live } = &mut st.mode {
            match calls.pop_front() {
                Some((
                    index,
                    OplogEntry::BeginRemoteWrite {
                        function: f,
                        request: r,
                    },
                )) => {
                    if f != function || !same_request(&r, &request) {
                        return Err(Divergence {
                            index,
                            recorded: format!("{f} {}", describe_value(&r)),
                            called: format!("{function} {}", describe_value(&request)),
                        });
                    }
                    let recorded = st.remote_ends.get(&index).cloned();
                    return Ok((index, recorded));
                }
                Some((index, other)) => {
                    return Err(Divergence {
                        index,
                        recorded: describe(&other),
                        called: format!("{function} {}", describe_value(&request)),
                    });
                }
                None if *then_live => st.mode = Mode::Live,
                None => {
                    return Err(Divergence {
                        index: st.next_index,
                        recorded: "no more host calls".into(),
                        called: format!("{function} {}", describe_value(&request)),
                    });
                }
            }
        }
        let index = push_locked(
            &mut st,
            OplogEntry::BeginRemoteWrite {
                function: function.to_owned(),
                request,
            },
        );
        Ok((index, None))
    }

    /// Records the response of the side effect begun at `begin`.
    pub fn end_remote_write(&self, begin: OplogIndex, response: HostValue) {
        let mut st = self.state();
        st.remote_ends.insert(begin, response.clone());
        push_locked(&mut st, OplogEntry::EndRemoteWrite { begin, response });
    }

    /// Appends everything pending, fenced, and waits for JetStream's ack. Entries travel
    /// [`MAX_ENTRIES_PER_MESSAGE`] to a message at most, so a long invocation (thousands of
    /// host calls) never makes a message over the server's limit; a crash between two of
    /// its messages leaves a prefix that replay continues live. Returns the index of the
    /// last durable entry.
    pub async fn commit(&self) -> Result<OplogIndex, CommitError> {
        let mut writer = self.inner.writer.lock().await;
        let (first, entries) = {
            let mut st = self.state();
            if st.fenced {
                return Err(CommitError::Fenced {
                    worker: self.inner.worker.clone(),
                });
            }
            if st.pending.is_empty() {
                return Ok(st.next_index - 1);
            }
            let first = st.pending_first;
            st.pending_first = st.next_index;
            (first, std::mem::take(&mut st.pending))
        };
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
        Ok(next - 1)
    }
}

/// The most entries one oplog message carries (a journaled clock read is ~110 bytes).
pub const MAX_ENTRIES_PER_MESSAGE: usize = 2_000;

fn push_locked(st: &mut State, entry: OplogEntry) -> OplogIndex {
    let index = st.next_index;
    if st.pending.is_empty() {
        st.pending_first = index;
    }
    st.pending.push(entry);
    st.next_index += 1;
    index
}

/// In replay, pops the next recorded host call and checks it is the one being made.
fn next_recorded(
    st: &mut State,
    function: &str,
    request: &HostValue,
) -> Result<Option<HostValue>, Divergence> {
    let Mode::Replay { calls, then_live } = &mut st.mode else {
        return Ok(None);
    };
    match calls.pop_front() {
        Some((
            _,
            OplogEntry::HostCall {
                function: f,
                request: r,
                response,
                ..
            },
        )) if f == function && &r == request => Ok(Some(response)),
        Some((index, other)) => Err(Divergence {
            index,
            recorded: describe(&other),
            called: format!("{function}({})", describe_value(request)),
        }),
        None if *then_live => {
            st.mode = Mode::Live;
            Ok(None)
        }
        None => Err(Divergence {
            index: st.next_index,
            recorded: "no more host calls".into(),
            called: format!("{function}({})", describe_value(request)),
        }),
    }
}

fn same_request(recorded: &HostValue, now: &HostValue) -> bool {
    match (recorded, now) {
        // Header order and generated headers may differ between runs; method, URI and body may not.
        (HostValue::HttpRequest(a), HostValue::HttpRequest(b)) => {
            a.method == b.method && a.uri == b.uri && a.body == b.body
        }
        (a, b) => a == b,
    }
}

fn describe(entry: &OplogEntry) -> String {
    match entry {
        OplogEntry::HostCall {
            function, request, ..
        } => format!("{function}({})", describe_value(request)),
        OplogEntry::BeginRemoteWrite { function, request } => {
            format!("{function} {}", describe_value(request))
        }
        other => format!("a {} entry", other.kind()),
    }
}

fn describe_value(v: &HostValue) -> String {
    match v {
        HostValue::Unit => String::new(),
        HostValue::HttpRequest(r) => format!("{} {}", r.method, r.uri),
        other => format!("{other:?}"),
    }
}
