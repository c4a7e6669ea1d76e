//! When an answer goes into the `RVN_RESULTS` index. The index is what key-only
//! lookup (`GET /v1/invocations/{key}`) reads, and the only place of answers no
//! oplog holds: rejections (stored by [`crate::reply::reject`]), answers of a
//! failed worker, an ephemeral worker's results. A journaled answer is already in
//! the worker's oplog, where every reader that knows the worker finds it, so its
//! record is written off the hot path: after the ack, or not at all (by default,
//! unless the publisher asks or snapshots will trim the worker's oplog).

/// Which answers the index gets (`--results-index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultsIndex {
    /// Every answer: journaled ones after the ack.
    All,
    /// Answers no oplog holds, those the publisher asked for (`Rvn-Result-Index`), and,
    /// after the ack, those of workers whose oplogs snapshots trim (the index is what
    /// deduplicates their keys once trimmed): a plain invocation is then two stored
    /// messages, itself and its oplog append. Default.
    #[default]
    Requested,
}

/// Where an answer is besides the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// Nowhere: a rejection, a failed worker's answer, an ephemeral worker's result.
    No,
    /// In the worker's oplog, which keeps it.
    Kept,
    /// In the worker's oplog, which snapshots trim (its component has a snapshot policy,
    /// or it has snapshots).
    Trimmed,
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

/// `requested`: the invocation carries `Rvn-Result-Index`.
pub fn indexing(mode: ResultsIndex, journaled: Journaled, requested: bool) -> Indexing {
    match (journaled, requested, mode) {
        (Journaled::No, _, _) | (_, true, _) => Indexing::BeforeAck,
        (_, false, ResultsIndex::All) | (Journaled::Trimmed, false, _) => Indexing::AfterAck,
        (Journaled::Kept, false, ResultsIndex::Requested) => Indexing::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [ResultsIndex; 2] = [ResultsIndex::All, ResultsIndex::Requested];

    #[test]
    fn an_answer_no_oplog_holds_is_indexed_before_the_ack_in_every_mode() {
        for mode in MODES {
            for requested in [false, true] {
                assert_eq!(
                    indexing(mode, Journaled::No, requested),
                    Indexing::BeforeAck
                );
            }
        }
    }

    #[test]
    fn a_requested_journaled_answer_is_indexed_before_the_ack() {
        for mode in MODES {
            for journaled in [Journaled::Kept, Journaled::Trimmed] {
                assert_eq!(indexing(mode, journaled, true), Indexing::BeforeAck);
            }
        }
    }

    #[test]
    fn a_journaled_answer_nobody_asked_to_index_is_off_the_hot_path() {
        let (all, requested) = (ResultsIndex::All, ResultsIndex::Requested);
        assert_eq!(indexing(all, Journaled::Kept, false), Indexing::AfterAck);
        assert_eq!(indexing(requested, Journaled::Kept, false), Indexing::Skip);
        // Once trimmed, only the index deduplicates the key: it is written in every mode.
        for mode in MODES {
            assert_eq!(
                indexing(mode, Journaled::Trimmed, false),
                Indexing::AfterAck
            );
        }
    }

    #[test]
    fn requested_is_the_default() {
        assert_eq!(ResultsIndex::default(), ResultsIndex::Requested);
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
