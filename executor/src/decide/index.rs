//! When an answer goes into the `RVN_RESULTS` index. The index is what key-only
//! lookup (`GET /v1/invocations/{key}`) reads, and the only place of answers no
//! oplog holds: rejections (stored by [`crate::reply::reject`]), answers of a
//! failed worker, an ephemeral worker's results. A journaled answer is already in
//! the worker's oplog, where every reader that knows the worker finds it, so its
//! record is written off the hot path: after the ack, or not at all.

/// Which answers the index gets (`--results-index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultsIndex {
    /// Every answer: journaled ones after the ack. Default.
    #[default]
    All,
    /// Only answers no oplog holds, and those the publisher asked for (`Rvn-Result-Index`):
    /// an invocation is then two stored messages, the invocation and its oplog append.
    Requested,
}

impl std::str::FromStr for ResultsIndex {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "requested" => Ok(Self::Requested),
            other => Err(format!(
                "expected `all` or `requested` for the results index, got {other:?}"
            )),
        }
    }
}

/// How one answer is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Stored with the reply; the message is acked only once it is stored (nak'd
    /// for a retry when it could not be).
    BeforeAck,
    /// Stored in the background after the ack; a failure is logged, nothing else.
    AfterAck,
    /// Not stored.
    Skip,
}

/// Whether a key the worker has no answer for must be looked up in the index before it
/// runs: an ephemeral worker keeps no journal, and a worker loaded from a trimmed oplog
/// (a snapshot replaced its history) no longer holds the keys answered before it — a
/// duplicate past JetStream's dedup window would otherwise run again. A worker that
/// has been in memory since its history began holds every key it answered.
pub fn ask_index(ephemeral: bool, loaded_from_trimmed_oplog: bool) -> bool {
    ephemeral || loaded_from_trimmed_oplog
}

/// `journaled`: the answer is in the worker's oplog. `requested`: the invocation
/// carries `Rvn-Result-Index`.
pub fn indexing(mode: ResultsIndex, journaled: bool, requested: bool) -> Indexing {
    match (journaled, requested, mode) {
        (false, _, _) | (true, true, _) => Indexing::BeforeAck,
        (true, false, ResultsIndex::All) => Indexing::AfterAck,
        (true, false, ResultsIndex::Requested) => Indexing::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_no_oplog_holds_is_indexed_before_the_ack_in_every_mode() {
        for mode in [ResultsIndex::All, ResultsIndex::Requested] {
            for requested in [false, true] {
                assert_eq!(indexing(mode, false, requested), Indexing::BeforeAck);
            }
        }
    }

    #[test]
    fn a_requested_journaled_answer_is_indexed_before_the_ack() {
        assert_eq!(indexing(ResultsIndex::All, true, true), Indexing::BeforeAck);
        assert_eq!(
            indexing(ResultsIndex::Requested, true, true),
            Indexing::BeforeAck
        );
    }

    #[test]
    fn a_journaled_answer_nobody_asked_to_index_is_off_the_hot_path() {
        assert_eq!(indexing(ResultsIndex::All, true, false), Indexing::AfterAck);
        assert_eq!(
            indexing(ResultsIndex::Requested, true, false),
            Indexing::Skip
        );
    }

    #[test]
    fn only_workers_that_may_have_forgotten_a_key_ask_the_index_before_running() {
        assert!(ask_index(true, false));
        assert!(ask_index(false, true));
        assert!(
            !ask_index(false, false),
            "in memory since its history began: knows every key"
        );
    }

    #[test]
    fn the_mode_parses_from_its_flag_value_and_says_what_it_expected() {
        assert_eq!("all".parse(), Ok(ResultsIndex::All));
        assert_eq!("requested".parse(), Ok(ResultsIndex::Requested));
        let err = "some".parse::<ResultsIndex>().unwrap_err();
        assert!(err.contains("`all` or `requested`"), "{err}");
    }
}
