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
        if self.pending.is_empty() {
            return None;
        }
        let first = self.pending_first;
        self.pending_first = self.next_index;
        Some((first, std::mem::take(&mut self.pending)))
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
mod tests {
    use revenant_types::oplog::HttpRequestRecord;

    use super::*;

    const RANDOM: &str = "wasi:random/random.get-random-u64";
    const CLOCK: &str = "wasi:clocks/wall-clock.now";
    const HTTP: &str = "wasi:http/outgoing-handler.handle";

    fn call(function: &str, response: u64) -> OplogEntry {
        OplogEntry::HostCall {
            function: function.into(),
            request: HostValue::Unit,
            response: HostValue::U64(response),
            durability: Durability::ReadRemote,
        }
    }
    fn get(uri: &str, header: &str) -> HostValue {
        HostValue::HttpRequest(HttpRequestRecord {
            method: "GET".into(),
            uri: uri.into(),
            headers: vec![("x".into(), header.into())],
            body: vec![],
        })
    }
    fn replaying(calls: Vec<OplogEntry>, then_live: bool) -> Cursor {
        let mut c = Cursor::new(10, HashMap::new());
        c.begin_replay(
            calls
                .into_iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 3, e))
                .collect(),
            then_live,
        );
        c
    }
    fn never() -> HostValue {
        panic!("a replayed call must not run live")
    }

    #[test]
    fn recorded_calls_are_handed_back_in_order_without_running_live() {
        let mut c = replaying(vec![call(RANDOM, 7), call(RANDOM, 8)], false);
        assert!(c.is_replaying());
        assert_eq!(
            c.read_remote(RANDOM, HostValue::Unit, never),
            Ok(HostValue::U64(7))
        );
        assert_eq!(
            c.read_remote(RANDOM, HostValue::Unit, never),
            Ok(HostValue::U64(8))
        );
        assert_eq!(c.end_replay(), Ok(()));
        assert!(!c.is_replaying());
        assert!(c.take_pending().is_none(), "replay appends nothing");
    }

    #[test]
    fn another_function_than_recorded_is_a_divergence_naming_both() {
        let mut c = replaying(vec![call(RANDOM, 7)], false);
        let d = c.read_remote(CLOCK, HostValue::Unit, never).unwrap_err();
        assert_eq!(d.index, 3);
        assert_eq!(d.recorded, format!("{RANDOM}()"));
        assert_eq!(d.called, format!("{CLOCK}()"));
        assert!(
            d.to_string()
                .starts_with("replay diverged at oplog index 3")
        );
    }

    #[test]
    fn the_same_function_with_another_request_is_a_divergence() {
        let mut c = replaying(vec![call(RANDOM, 7)], false);
        assert!(c.read_remote(RANDOM, HostValue::U64(16), never).is_err());
    }

    #[test]
    fn a_resumed_tail_is_live_from_the_wait_it_was_suspended_at() {
        let mut tail = replaying(vec![call(RANDOM, 7)], true);
        tail.resume_at(vec!["promise:4".into()]);
        tail.reached_wait(&["promise:4".into()]);
        assert!(
            tail.is_replaying(),
            "a recorded call is left: not there yet"
        );
        tail.read_remote(RANDOM, HostValue::Unit, never).unwrap();
        assert!(
            tail.is_replaying(),
            "between the last call and the wait: shown before"
        );
        tail.reached_wait(&["timer:2".into()]);
        assert!(tail.is_replaying(), "another wait is not where it stopped");
        tail.reached_wait(&["promise:4".into()]);
        assert!(
            !tail.is_replaying(),
            "after the wait it was suspended at: new output"
        );
        // A completed invocation is never live, whatever it waits for.
        let mut done = replaying(vec![], false);
        done.resume_at(vec!["promise:4".into()]);
        done.reached_wait(&["promise:4".into()]);
        assert!(done.is_replaying());
    }

    #[test]
    fn consecutive_clock_readings_share_one_entry_and_replay_one_by_one() {
        use revenant_types::host::MONOTONIC_CLOCK_NOW as MONO;
        let mut c = Cursor::new(5, HashMap::new());
        for ns in [10, 20, 30] {
            assert_eq!(
                c.read_remote(MONO, HostValue::Unit, || HostValue::U64(ns)),
                Ok(HostValue::U64(ns))
            );
        }
        c.read_remote(RANDOM, HostValue::Unit, || HostValue::U64(7))
            .unwrap();
        c.read_remote(MONO, HostValue::Unit, || HostValue::U64(40))
            .unwrap();
        let (first, pending) = c.take_pending().unwrap();
        assert_eq!(first, 5);
        let mono = |response| OplogEntry::HostCall {
            function: MONO.into(),
            request: HostValue::Unit,
            response,
            durability: Durability::ReadRemote,
        };
        assert_eq!(
            pending,
            vec![
                mono(HostValue::U64List(vec![10, 20, 30])),
                call(RANDOM, 7),
                mono(HostValue::U64(40)),
            ],
            "a different call in between starts a new entry"
        );
        assert_eq!(c.next_index(), 8);

        let mut r = Cursor::new(8, HashMap::new());
        r.begin_replay(
            pending
                .into_iter()
                .enumerate()
                .map(|(i, e)| (5 + i as u64, e))
                .collect(),
            false,
        );
        for ns in [10, 20, 30] {
            assert_eq!(
                r.read_remote(MONO, HostValue::Unit, never),
                Ok(HostValue::U64(ns))
            );
        }
        assert_eq!(
            r.read_remote(RANDOM, HostValue::Unit, never),
            Ok(HostValue::U64(7))
        );
        assert_eq!(
            r.read_remote(MONO, HostValue::Unit, never),
            Ok(HostValue::U64(40))
        );
        assert_eq!(r.end_replay(), Ok(()));

        // Fewer readings in replay than recorded is a divergence, as for single entries.
        let mut short = Cursor::new(8, HashMap::new());
        short.begin_replay(
            VecDeque::from([(5, mono(HostValue::U64List(vec![1, 2])))]),
            false,
        );
        short.read_remote(MONO, HostValue::Unit, never).unwrap();
        assert!(short.end_replay().is_err());
    }

    #[test]
    fn a_coalesced_entry_holds_at_most_its_cap() {
        use revenant_types::host::MONOTONIC_CLOCK_NOW as MONO;
        let mut c = Cursor::new(1, HashMap::new());
        for ns in 0..(MAX_COALESCED as u64 + 1) {
            c.read_remote(MONO, HostValue::Unit, || HostValue::U64(ns))
                .unwrap();
        }
        let (_, pending) = c.take_pending().unwrap();
        assert_eq!(pending.len(), 2);
    }

    #[test]
    fn running_out_in_the_tail_carries_on_live_and_records() {
        let mut c = replaying(vec![call(RANDOM, 7)], true);
        assert_eq!(
            c.read_remote(RANDOM, HostValue::Unit, never),
            Ok(HostValue::U64(7))
        );
        let live = c.read_remote(RANDOM, HostValue::Unit, || HostValue::U64(9));
        assert_eq!(live, Ok(HostValue::U64(9)));
        assert!(!c.is_replaying());
        let (first, pending) = c.take_pending().unwrap();
        assert_eq!(first, 10);
        assert_eq!(pending, vec![call(RANDOM, 9)]);
    }

    #[test]
    fn running_out_in_a_completed_invocation_is_a_divergence() {
        let mut c = replaying(vec![], false);
        let d = c.read_remote(RANDOM, HostValue::Unit, never).unwrap_err();
        assert_eq!(d.recorded, "no more host calls");
        assert_eq!(d.index, 10);
    }

    #[test]
    fn recorded_calls_left_when_the_invocation_returns_are_a_divergence() {
        let mut c = replaying(vec![call(RANDOM, 7)], false);
        let d = c.end_replay().unwrap_err();
        assert_eq!(d.called, "nothing more (the invocation returned)");
    }

    #[test]
    fn a_remote_write_matches_on_method_uri_and_body_not_headers() {
        let begin = OplogEntry::BeginRemoteWrite {
            function: HTTP.into(),
            request: get("http://a/x", "one"),
        };
        let mut ends = HashMap::new();
        ends.insert(3, HostValue::U64(200));
        let mut c = Cursor::new(10, ends);
        c.begin_replay(VecDeque::from([(3, begin.clone())]), false);
        assert_eq!(
            c.begin_remote_write(HTTP, get("http://a/x", "two")),
            Ok((3, Some(HostValue::U64(200)))),
            "a recorded response is handed back, whatever the headers"
        );
        let mut c = Cursor::new(10, HashMap::new());
        c.begin_replay(VecDeque::from([(3, begin)]), false);
        let d = c
            .begin_remote_write(HTTP, get("http://a/y", "one"))
            .unwrap_err();
        assert_eq!(d.recorded, format!("{HTTP} GET http://a/x"));
        assert_eq!(d.called, format!("{HTTP} GET http://a/y"));
    }

    #[test]
    fn a_remote_write_begun_but_never_answered_runs_again() {
        let begin = OplogEntry::BeginRemoteWrite {
            function: HTTP.into(),
            request: get("http://a/x", "one"),
        };
        let mut c = Cursor::new(10, HashMap::new());
        c.begin_replay(VecDeque::from([(3, begin)]), true);
        assert_eq!(
            c.begin_remote_write(HTTP, get("http://a/x", "one")),
            Ok((3, None))
        );
    }

    #[test]
    fn live_entries_get_consecutive_indexes_and_a_write_records_its_end() {
        let mut c = Cursor::new(5, HashMap::new());
        let (begin, recorded) = c.begin_remote_write(HTTP, get("http://a", "h")).unwrap();
        assert_eq!((begin, recorded), (5, None));
        c.end_remote_write(begin, HostValue::U64(204));
        assert_eq!(c.next_index(), 7);
        let (first, pending) = c.take_pending().unwrap();
        assert_eq!((first, pending.len()), (5, 2));
        assert_eq!(
            pending[1],
            OplogEntry::EndRemoteWrite {
                begin: 5,
                response: HostValue::U64(204)
            }
        );
        c.push(call(RANDOM, 1));
        assert_eq!(c.take_pending().unwrap().0, 7);
    }
}
