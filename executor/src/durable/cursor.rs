//! The journal cursor: a worker's position in its oplog while it runs, without
//! any IO. In **replay** it hands back recorded host-call results in order and
//! reports a [`Divergence`] when the code asks for something else; **live** it
//! records each new host call into a pending buffer, which the journal's writer
//! ([`super::Journal::commit`]) appends.
//!
//! Matching rules (ARCHITECTURE.md "Durability semantics" 1 and 3):
//! - a read (`HostCall`) matches on function name and request;
//! - a remote write (`BeginRemoteWrite`, an HTTP request) matches on function
//!   name, method, URI and body — not header order, which may differ between
//!   runs; its response is looked up by its begin index, so a response that was
//!   recorded is never fetched again, and one that was not is fetched again live;
//! - running out of recorded calls is expected in the tail invocation (it
//!   carries on live) and a divergence anywhere else; recorded calls left over
//!   when an invocation returns are a divergence too.

use std::collections::{HashMap, VecDeque};

use revenant_types::oplog::{Durability, HostValue, OplogEntry, OplogIndex};

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

enum Mode {
    /// Recorded host calls still to hand out; `then_live` says whether running out is
    /// expected (the tail invocation carries on live) or a divergence.
    Replay {
        calls: VecDeque<(OplogIndex, OplogEntry)>,
        then_live: bool,
    },
    Live,
}

/// Reads whose consecutive live readings share one entry ([`Cursor::record_read`]).
const COALESCED: &[&str] = &[revenant_types::host::MONOTONIC_CLOCK_NOW];

/// Readings one coalesced entry holds at most (~9 KB), so an entry always fits a message.
const MAX_COALESCED: usize = 1024;

/// See the module docs.
pub struct Cursor {
    mode: Mode,
    remote_ends: HashMap<OplogIndex, HostValue>,
    next_index: OplogIndex,
    pending: Vec<OplogEntry>,
    pending_first: OplogIndex,
    /// See [`Cursor::resume_at`].
    resume_at: Vec<String>,
}

impl Cursor {
    /// A live cursor whose next entry gets `next_index`; `remote_ends` are the recorded
    /// responses of remote writes by their begin index.
    pub fn new(next_index: OplogIndex, remote_ends: HashMap<OplogIndex, HostValue>) -> Self {
        Self {
            mode: Mode::Live,
            remote_ends,
            next_index,
            pending: Vec::new(),
            pending_first: next_index,
            resume_at: Vec::new(),
        }
    }

    /// True while the code runs through what an earlier run did (its output was shown
    /// then and is suppressed now): until a tail runs out of recorded calls and makes a
    /// live one, or reaches the wait it was suspended at ([`Cursor::reached_wait`]).
    pub fn is_replaying(&self) -> bool {
        matches!(self.mode, Mode::Replay { .. })
    }

    /// The tail about to be replayed was suspended waiting for `keys` (`promise:3`).
    pub fn resume_at(&mut self, keys: Vec<String>) {
        self.resume_at = keys;
    }

    /// The code begins a durable wait for `keys`. In a tail replay with no recorded call
    /// left, the wait it was suspended at is where the earlier run stopped: from here
    /// on it is live (what it prints after the wait is new output, not shown before).
    pub fn reached_wait(&mut self, keys: &[String]) {
        if let Mode::Replay {
            calls,
            then_live: true,
        } = &self.mode
            && calls.is_empty()
            && keys.iter().any(|k| self.resume_at.contains(k))
        {
            self.mode = Mode::Live;
            self.resume_at.clear();
        }
    }

    /// Starts replaying one invocation's recorded host calls.
    pub fn begin_replay(&mut self, calls: VecDeque<(OplogIndex, OplogEntry)>, then_live: bool) {
        self.mode = Mode::Replay { calls, then_live };
    }

    /// Ends the replay of an invocation; recorded calls left over are a divergence.
    pub fn end_replay(&mut self) -> Result<(), Divergence> {
        self.resume_at.clear();
        match std::mem::replace(&mut self.mode, Mode::Live) {
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
        self.next_index
    }

    /// Appends an entry to the pending buffer; returns its index.
    pub fn push(&mut self, entry: OplogEntry) -> OplogIndex {
        let index = self.next_index;
        if self.pending.is_empty() {
            self.pending_first = index;
        }
        self.pending.push(entry);
        self.next_index += 1;
        index
    }

    /// Takes the pending entries with the index of the first, for the writer.
    pub fn take_pending(&mut self) -> Option<(OplogIndex, Vec<OplogEntry>)> {
        self.take_pending_through(OplogIndex::MAX)
    }

    /// Takes the pending entries up to index `last` (inclusive) with the index of the
    /// first; later ones stay pending.
    pub fn take_pending_through(
        &mut self,
        last: OplogIndex,
    ) -> Option<(OplogIndex, Vec<OplogEntry>)> {
        let first = self.pending_first;
        if self.pending.is_empty() || last < first {
            return None;
        }
        let count = usize::try_from(last - first + 1)
            .map_or(self.pending.len(), |n| n.min(self.pending.len()));
        let rest = self.pending.split_off(count);
        let taken = std::mem::replace(&mut self.pending, rest);
        self.pending_first = first + count as u64;
        Some((first, taken))
    }

    /// A journaled read of the outside world: in replay the recorded response, live the
    /// value `live` computes, recorded.
    pub fn read_remote(
        &mut self,
        function: &str,
        request: HostValue,
        live: impl FnOnce() -> HostValue,
    ) -> Result<HostValue, Divergence> {
        self.read_remote_at(function, request, |_| live())
            .map(|(_, response)| response)
    }

    /// [`Cursor::read_remote`], with the entry's index (the recorded one in replay, the
    /// one it gets live, which `live` is given).
    pub fn read_remote_at(
        &mut self,
        function: &str,
        request: HostValue,
        live: impl FnOnce(OplogIndex) -> HostValue,
    ) -> Result<(OplogIndex, HostValue), Divergence> {
        if let Some(recorded) = self.replay_read(function, &request)? {
            return Ok(recorded);
        }
        let response = live(self.next_index);
        let index = self.record_read(function, request, response.clone());
        Ok((index, response))
    }

    /// The first half of a read whose live value takes time to compute (a wait): in
    /// replay the recorded entry's index and response; `None` live, where the caller
    /// computes the response and [`Cursor::record_read`]s it.
    pub fn replay_read(
        &mut self,
        function: &str,
        request: &HostValue,
    ) -> Result<Option<(OplogIndex, HostValue)>, Divergence> {
        let called = || format!("{function}({})", describe_value(request));
        match self.next_recorded(called)? {
            // Coalesced readings ([`Cursor::record_read`]): the first now, the rest later.
            Some((
                index,
                OplogEntry::HostCall {
                    function: f,
                    request: r,
                    response: HostValue::U64List(mut readings),
                    durability,
                },
            )) if f == function && r == *request && !readings.is_empty() => {
                let first = readings.remove(0);
                if !readings.is_empty()
                    && let Mode::Replay { calls, .. } = &mut self.mode
                {
                    calls.push_front((
                        index,
                        OplogEntry::HostCall {
                            function: f,
                            request: r,
                            response: HostValue::U64List(readings),
                            durability,
                        },
                    ));
                }
                Ok(Some((index, HostValue::U64(first))))
            }
            Some((
                index,
                OplogEntry::HostCall {
                    function: f,
                    request: r,
                    response,
                    ..
                },
            )) if f == function && r == *request => Ok(Some((index, response))),
            Some((index, other)) => Err(Divergence {
                index,
                recorded: describe(&other),
                called: format!("{function}({})", describe_value(request)),
            }),
            None => Ok(None),
        }
    }

    /// Records a read computed live; returns its index. A monotonic-clock reading right
    /// after another one not yet committed joins that entry (a `U64List`): language
    /// runtimes read the clock many times per call, and one entry holds them all.
    pub fn record_read(
        &mut self,
        function: &str,
        request: HostValue,
        response: HostValue,
    ) -> OplogIndex {
        if let (
            true,
            HostValue::U64(reading),
            Some(OplogEntry::HostCall {
                function: f,
                request: r,
                response: last,
                ..
            }),
        ) = (
            COALESCED.contains(&function),
            &response,
            self.pending.last_mut(),
        ) && f == function
            && *r == request
        {
            let joined = match last {
                HostValue::U64(previous) => {
                    *last = HostValue::U64List(vec![*previous, *reading]);
                    true
                }
                HostValue::U64List(readings) if readings.len() < MAX_COALESCED => {
                    readings.push(*reading);
                    true
                }
                _ => false,
            };
            if joined {
                return self.next_index - 1;
            }
        }
        self.push(OplogEntry::HostCall {
            function: function.to_owned(),
            request,
            response,
            durability: Durability::ReadRemote,
        })
    }

    /// The start of a side effect. Returns its begin index and, in replay, the recorded
    /// response when one exists (then the effect must not happen again).
    pub fn begin_remote_write(
        &mut self,
        function: &str,
        request: HostValue,
    ) -> Result<(OplogIndex, Option<HostValue>), Divergence> {
        let called = || format!("{function} {}", describe_value(&request));
        match self.next_recorded(called)? {
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
                return Ok((index, self.remote_ends.get(&index).cloned()));
            }
            Some((index, other)) => {
                return Err(Divergence {
                    index,
                    recorded: describe(&other),
                    called: format!("{function} {}", describe_value(&request)),
                });
            }
            None => {}
        }
        let index = self.push(OplogEntry::BeginRemoteWrite {
            function: function.to_owned(),
            request,
        });
        Ok((index, None))
    }

    /// Records the response of the side effect begun at `begin`.
    pub fn end_remote_write(&mut self, begin: OplogIndex, response: HostValue) {
        self.remote_ends.insert(begin, response.clone());
        self.push(OplogEntry::EndRemoteWrite { begin, response });
    }

    /// In replay, the next recorded call (`None` once live, or when a tail runs out and
    /// goes live); running out anywhere else is a divergence against `called`.
    fn next_recorded(
        &mut self,
        called: impl FnOnce() -> String,
    ) -> Result<Option<(OplogIndex, OplogEntry)>, Divergence> {
        let Mode::Replay { calls, then_live } = &mut self.mode else {
            return Ok(None);
        };
        match calls.pop_front() {
            Some(call) => Ok(Some(call)),
            None if *then_live => {
                self.mode = Mode::Live;
                Ok(None)
            }
            None => Err(Divergence {
                index: self.next_index,
                recorded: "no more host calls".into(),
                called: called(),
            }),
        }
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

#[cfg(test)]
#[path = "cursor_tests.rs"]
mod tests;
