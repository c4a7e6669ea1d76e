//! Unit tests of [`super`] (the journal cursor).

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

#[test]
fn a_prefix_of_the_pending_entries_can_be_taken_leaving_the_rest_pending() {
    let mut c = Cursor::new(10, HashMap::new());
    for i in 0..5 {
        assert_eq!(c.push(call(RANDOM, i)), 10 + i);
    }
    assert_eq!(
        c.take_pending_through(9),
        None,
        "nothing pending at or before 9"
    );
    let (first, taken) = c.take_pending_through(12).expect("10..=12");
    assert_eq!((first, taken.len()), (10, 3));
    assert_eq!(taken[2], call(RANDOM, 2));
    c.push(call(RANDOM, 5));
    let (first, rest) = c.take_pending().expect("the rest");
    assert_eq!(first, 13);
    assert_eq!(
        rest,
        vec![call(RANDOM, 3), call(RANDOM, 4), call(RANDOM, 5)]
    );
    assert_eq!(c.take_pending(), None);
    assert_eq!(c.push(call(RANDOM, 6)), 16);
    assert_eq!(
        c.take_pending_through(u64::MAX).map(|(f, e)| (f, e.len())),
        Some((16, 1))
    );
}
