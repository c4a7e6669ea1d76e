//! The attempt outcome: what one run of an invocation's function leads to,
//! given the retry policy and the attempt number — and what one re-run in
//! replay says about the worker. Pure: [`crate::worker`] performs what these
//! return (appends the entries, commits, sleeps, rebuilds, answers).
//!
//! Rules (ARCHITECTURE.md "Executor", "Durability semantics"):
//! - a value returned completes the invocation `Ok`;
//! - a trap is retried with the policy's back-off (an `Error` entry, not fatal,
//!   voids the attempt's host calls) until `max-attempts`; the last one fails
//!   the worker (a fatal `Error`) and answers `trap`;
//! - a divergence fails the worker at once (retrying cannot help) with `divergence`;
//! - a deadline answers `deadline-exceeded` and throws the instance away (its
//!   state may be half-updated) without failing the worker: the next invocation
//!   runs on an instance rebuilt by replay;
//! - arguments that no longer fit the export answer `invalid-arguments`;
//! - a wait on timers or promises that outlasted `suspend-after` suspends the
//!   invocation (a `Suspended` entry; no answer yet, no attempt counted);
//! - in replay, an invocation must return what the oplog recorded (JSON equal),
//!   and must not trap: anything else fails the worker.

use std::time::Duration;

use revenant_types::ErrorKind;
use revenant_types::oplog::{ErrorBody, InvocationOutcome, OplogEntry, OplogIndex, TimestampMs};

use crate::config::RetryPolicy;
use crate::durable::waits::Wait;

/// How a call of a guest function ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// It returned; the JSON of its results.
    Returned(String),
    /// A journaled host call did not match the journal.
    Diverged(String),
    /// It ran past its deadline.
    Deadline(String),
    /// It trapped.
    Trapped(String),
    /// Its arguments do not fit the export (recorded ones should always fit).
    BadArguments(String),
    /// It waited `suspend-after` for these durable things only and was unwound.
    Suspended(Vec<Wait>),
    /// It called `wasi:cli/exit` with this code.
    Exited(i32),
    /// It returned a value of `bytes` bytes, over the maximum a result may have.
    ResultTooLarge { bytes: usize, max: usize },
}

/// Why a worker that called `wasi:cli/exit` takes no more invocations.
pub fn exited_message(code: i32) -> String {
    format!("the guest called wasi:cli/exit with code {code}; the worker takes no more invocations")
}

/// A returned value over `max` bytes is [`CallResult::ResultTooLarge`]; anything else
/// is as it was.
pub fn limit_result(result: CallResult, max: usize) -> CallResult {
    match result {
        CallResult::Returned(json) if json.len() > max => CallResult::ResultTooLarge {
            bytes: json.len(),
            max,
        },
        other => other,
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Append `error`, commit, wait `delay`, rebuild the instance, run attempt `attempt + 1`.
    Retry { error: OplogEntry, delay: Duration },
    /// The invocation is over: append `error` (if any) then its completion with `outcome`.
    Complete {
        error: Option<OplogEntry>,
        outcome: InvocationOutcome,
        /// The worker is failed from now on, for this reason.
        fail_worker: Option<String>,
        /// Throw the instance away and rebuild it by replay before the next invocation.
        rebuild: bool,
    },
    /// Append `entry` (`Suspended`), make its timers' schedules exist, drop the instance;
    /// the invocation goes on by replay when one of `waiting` completes.
    Suspend {
        entry: OplogEntry,
        waiting: Vec<Wait>,
    },
}

/// Decides what follows attempt number `attempt` (1 = the first) that ended with `result`.
pub fn after_attempt(
    result: CallResult,
    policy: &RetryPolicy,
    attempt: u32,
    now: TimestampMs,
) -> Next {
    let error = |message: &str, fatal: bool| OplogEntry::Error {
        at: now,
        message: message.to_owned(),
        retry: attempt,
        fatal,
    };
    let complete = |error, outcome, fail_worker, rebuild| Next::Complete {
        error,
        outcome,
        fail_worker,
        rebuild,
    };
    match result {
        CallResult::Returned(json) => complete(None, InvocationOutcome::Ok(json), None, false),
        CallResult::Suspended(waiting) => Next::Suspend {
            entry: OplogEntry::Suspended {
                at: now,
                waiting: waiting.iter().map(Wait::key).collect(),
            },
            waiting,
        },
        CallResult::Diverged(message) => complete(
            Some(error(&message, true)),
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::Divergence, message.clone())),
            Some(message),
            false,
        ),
        CallResult::Deadline(message) => complete(
            Some(error(&message, false)),
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::DeadlineExceeded, message)),
            None,
            true,
        ),
        CallResult::BadArguments(message) => complete(
            None,
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::InvalidArguments, message)),
            None,
            false,
        ),
        // Not a trap: the guest ended itself. Never retried; the worker is over.
        CallResult::Exited(code) => complete(
            Some(OplogEntry::Exited { at: now, code }),
            InvocationOutcome::Err(ErrorBody::new(
                ErrorKind::WorkerExited,
                exited_message(code),
            )),
            Some(exited_message(code)),
            false,
        ),
        // Deterministic (the same call returns the same value): answered, never retried; its
        // effects are discarded with the instance, as for any invocation completed in error.
        CallResult::ResultTooLarge { bytes, max } => complete(
            None,
            InvocationOutcome::Err(ErrorBody::new(
                ErrorKind::ResultTooLarge,
                format!(
                    "the result is {bytes} bytes; the limit is {max} bytes (max-result-bytes); return less, or store it elsewhere and return a reference"
                ),
            )),
            None,
            true,
        ),
        CallResult::Trapped(message) if attempt < policy.max_attempts.max(1) => Next::Retry {
            error: error(&message, false),
            delay: Duration::from_millis(policy.delay_ms(attempt)),
        },
        CallResult::Trapped(message) => {
            let entry = error(&message, true);
            let message = format!("trapped {attempt} time(s), giving up: {message}");
            complete(
                Some(entry),
                InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, message.clone())),
                Some(message),
                false,
            )
        }
    }
}

/// Checks one invocation re-run in replay against what the oplog recorded; `Err` is
/// why the worker is failed. `leftover` is a divergence found when the re-run ended
/// (recorded host calls it did not make).
pub fn check_replayed(
    function: &str,
    started: OplogIndex,
    recorded: Option<&InvocationOutcome>,
    result: CallResult,
    leftover: Option<String>,
) -> Result<(), String> {
    match (result, leftover) {
        (CallResult::Diverged(d), _) | (CallResult::Returned(_), Some(d)) => Err(d),
        (CallResult::Returned(json), None) => match recorded {
            Some(InvocationOutcome::Ok(recorded)) if !same_json(recorded, &json) => Err(format!(
                "replay diverged at oplog index {started}: {function} returned {json} but the oplog recorded {recorded}"
            )),
            _ => Ok(()),
        },
        (CallResult::Trapped(m) | CallResult::Deadline(m) | CallResult::BadArguments(m), _) => {
            Err(format!(
                "replay of {function} (oplog index {started}) failed where it once succeeded: {m}"
            ))
        }
        (CallResult::Exited(code), _) => Err(format!(
            "replay of {function} (oplog index {started}) exited with code {code} where it once returned"
        )),
        (CallResult::ResultTooLarge { bytes, .. }, _) => Err(format!(
            "replay of {function} (oplog index {started}) returned {bytes} bytes, over the limit, where it once succeeded"
        )),
        (CallResult::Suspended(waiting), _) => Err(format!(
            "replay of {function} (oplog index {started}) waited for {} where it once went on",
            waiting.iter().map(Wait::key).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Equal as text, or as JSON values (formatting may differ between encoders).
fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 100,
            multiplier: 2.0,
            max_delay_ms: 150,
        }
    }

    fn kind(next: &Next) -> &ErrorKind {
        match next {
            Next::Complete {
                outcome: InvocationOutcome::Err(e),
                ..
            } => &e.kind,
            other => panic!("not an error completion: {other:?}"),
        }
    }

    #[test]
    fn a_returned_value_completes_the_invocation_without_an_error_entry() {
        let next = after_attempt(CallResult::Returned("5".into()), &policy(), 1, 7);
        assert_eq!(
            next,
            Next::Complete {
                error: None,
                outcome: InvocationOutcome::Ok("5".into()),
                fail_worker: None,
                rebuild: false
            }
        );
    }

    #[test]
    fn an_exit_is_no_trap_it_ends_the_worker_at_once() {
        let next = after_attempt(CallResult::Exited(3), &policy(), 1, 7);
        assert_eq!(kind(&next), &ErrorKind::WorkerExited);
        let Next::Complete {
            error, fail_worker, ..
        } = next
        else {
            unreachable!()
        };
        assert_eq!(error, Some(OplogEntry::Exited { at: 7, code: 3 }));
        assert!(fail_worker.unwrap().contains("code 3"));
    }

    #[test]
    fn a_result_over_the_limit_is_a_deterministic_error_that_discards_the_effects() {
        let big = limit_result(CallResult::Returned("\"abcdef\"".into()), 5);
        assert_eq!(big, CallResult::ResultTooLarge { bytes: 8, max: 5 });
        let small = limit_result(CallResult::Returned("1".into()), 5);
        assert_eq!(small, CallResult::Returned("1".into()));
        let next = after_attempt(big, &policy(), 1, 7);
        assert_eq!(kind(&next), &ErrorKind::ResultTooLarge);
        let Next::Complete {
            error,
            fail_worker,
            rebuild,
            ..
        } = next
        else {
            unreachable!()
        };
        assert_eq!((error, fail_worker, rebuild), (None, None, true));
    }

    #[test]
    fn a_long_durable_wait_suspends_without_counting_an_attempt_and_never_passes_replay() {
        let waiting = vec![
            Wait::Timer {
                index: 5,
                fire_at: 9,
            },
            Wait::Promise { index: 3 },
        ];
        let next = after_attempt(CallResult::Suspended(waiting.clone()), &policy(), 3, 7);
        assert_eq!(
            next,
            Next::Suspend {
                entry: OplogEntry::Suspended {
                    at: 7,
                    waiting: vec!["timer:5".into(), "promise:3".into()],
                },
                waiting: waiting.clone(),
            }
        );
        let verdict = check_replayed("f", 2, None, CallResult::Suspended(waiting), None);
        assert!(
            verdict
                .unwrap_err()
                .contains("waited for timer:5, promise:3")
        );
    }

    #[test]
    fn a_trap_before_the_last_attempt_is_retried_after_the_back_off() {
        let next = after_attempt(CallResult::Trapped("boom".into()), &policy(), 1, 7);
        let Next::Retry { error, delay } = next else {
            panic!("{next:?}")
        };
        assert_eq!(delay, Duration::from_millis(100));
        assert_eq!(
            error,
            OplogEntry::Error {
                at: 7,
                message: "boom".into(),
                retry: 1,
                fatal: false
            }
        );
        // The back-off grows and is capped by the policy's longest delay.
        let Next::Retry { delay, .. } =
            after_attempt(CallResult::Trapped("boom".into()), &policy(), 2, 7)
        else {
            panic!()
        };
        assert_eq!(delay, Duration::from_millis(150));
    }

    #[test]
    fn a_trap_on_the_last_attempt_fails_the_worker_and_says_how_often_it_trapped() {
        let next = after_attempt(CallResult::Trapped("boom".into()), &policy(), 3, 7);
        assert_eq!(kind(&next), &ErrorKind::Trap);
        let Next::Complete {
            error: Some(OplogEntry::Error { fatal, retry, .. }),
            fail_worker: Some(why),
            rebuild,
            ..
        } = next
        else {
            panic!("{next:?}")
        };
        assert!(fatal);
        assert_eq!(retry, 3);
        assert_eq!(why, "trapped 3 time(s), giving up: boom");
        assert!(!rebuild, "a failed worker has no instance to rebuild");
    }

    #[test]
    fn a_policy_of_zero_attempts_still_runs_once_and_never_retries() {
        let zero = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        let next = after_attempt(CallResult::Trapped("boom".into()), &zero, 1, 7);
        assert_eq!(kind(&next), &ErrorKind::Trap);
    }

    #[test]
    fn a_divergence_fails_the_worker_at_once_without_retrying() {
        let next = after_attempt(CallResult::Diverged("d".into()), &policy(), 1, 7);
        assert_eq!(kind(&next), &ErrorKind::Divergence);
        assert!(matches!(
            next,
            Next::Complete { fail_worker: Some(ref m), error: Some(OplogEntry::Error { fatal: true, .. }), .. } if m == "d"
        ));
    }

    #[test]
    fn a_deadline_answers_and_rebuilds_the_instance_without_failing_the_worker() {
        let next = after_attempt(CallResult::Deadline("late".into()), &policy(), 1, 7);
        assert_eq!(kind(&next), &ErrorKind::DeadlineExceeded);
        assert!(matches!(
            next,
            Next::Complete {
                fail_worker: None,
                rebuild: true,
                error: Some(OplogEntry::Error { fatal: false, .. }),
                ..
            }
        ));
    }

    #[test]
    fn bad_arguments_are_answered_without_an_error_entry() {
        let next = after_attempt(CallResult::BadArguments("x".into()), &policy(), 1, 7);
        assert_eq!(kind(&next), &ErrorKind::InvalidArguments);
        assert!(matches!(
            next,
            Next::Complete {
                error: None,
                fail_worker: None,
                ..
            }
        ));
    }

    #[test]
    fn a_replay_that_returns_the_recorded_value_passes_even_if_formatted_differently() {
        let recorded = InvocationOutcome::Ok("{\"a\": 1}".into());
        assert_eq!(
            check_replayed(
                "get",
                4,
                Some(&recorded),
                CallResult::Returned("{\"a\":1}".into()),
                None
            ),
            Ok(())
        );
    }

    #[test]
    fn a_replay_that_returns_another_value_is_a_divergence_naming_both() {
        let recorded = InvocationOutcome::Ok("5".into());
        let err = check_replayed(
            "add",
            4,
            Some(&recorded),
            CallResult::Returned("6".into()),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "replay diverged at oplog index 4: add returned 6 but the oplog recorded 5"
        );
    }

    #[test]
    fn a_replay_that_traps_or_leaves_recorded_calls_fails_the_worker() {
        let err =
            check_replayed("add", 4, None, CallResult::Trapped("t".into()), None).unwrap_err();
        assert!(err.contains("failed where it once succeeded: t"), "{err}");
        let err = check_replayed(
            "add",
            4,
            None,
            CallResult::Returned("1".into()),
            Some("left".into()),
        )
        .unwrap_err();
        assert_eq!(err, "left");
    }
}
