//! Messages of the worker inbox that are not invocations: what kind a message is
//! (`Rvn-Kind`) and what a fired timer, a promise completion or a call's result does
//! to a worker. Pure, like the rest of [`super`].

use revenant_types::oplog::{ErrorBody, OplogIndex};
use revenant_types::{ErrorKind, WorkerId};

use super::call::call_index;
#[cfg(test)]
use super::call::call_key;

/// What an inbox message is (`Rvn-Kind`, ARCHITECTURE.md "The worker inbox").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An invocation (the default).
    Invoke,
    /// The worker's durable timer created at this oplog index fired.
    Timer(OplogIndex),
    /// The worker's promise created at this oplog index was completed (the payload is the body).
    Complete(OplogIndex),
    /// The outcome of the worker's call begun at this oplog index (`Rvn-Status` and body).
    Result(OplogIndex),
}

impl Kind {
    /// How `Suspended { waiting }` names what this completes: `timer:<i>`,
    /// `promise:<i>`, `rpc:<i>`.
    pub fn waiting_key(self) -> Option<String> {
        match self {
            Self::Invoke => None,
            Self::Timer(i) => Some(format!("timer:{i}")),
            Self::Complete(i) => Some(format!("promise:{i}")),
            Self::Result(i) => Some(format!("rpc:{i}")),
        }
    }
}

/// The headers [`kind_of`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindHeaders<'a> {
    /// `Rvn-Kind`.
    pub kind: Option<&'a str>,
    /// `Rvn-Timer`.
    pub timer: Option<&'a str>,
    /// `Rvn-Promise`.
    pub promise: Option<&'a str>,
    /// `Rvn-Correlation`.
    pub correlation: Option<&'a str>,
}

/// Reads a message's kind from its `Rvn-Kind` header and the header that kind needs
/// (`Rvn-Timer`, `Rvn-Promise`, `Rvn-Correlation`: a call key of worker `me`); the
/// error says what was expected.
pub fn kind_of(h: KindHeaders<'_>, me: Option<&WorkerId>) -> Result<Kind, ErrorBody> {
    let KindHeaders {
        kind,
        timer,
        promise,
        correlation,
    } = h;
    let index = |header: &str, value: Option<&str>| {
        value.and_then(|v| v.parse::<OplogIndex>().ok()).ok_or_else(|| {
            ErrorBody::new(
                ErrorKind::InvalidMessage,
                format!(
                    "a {} message needs header {header}: the oplog index (a number), got {value:?}",
                    kind.unwrap_or_default()
                ),
            )
        })
    };
    match kind {
        None | Some("invoke") => Ok(Kind::Invoke),
        Some("timer") => index("Rvn-Timer", timer).map(Kind::Timer),
        Some("complete") => index("Rvn-Promise", promise).map(Kind::Complete),
        Some("result") => correlation
            .zip(me)
            .and_then(|(key, me)| call_index(me, key))
            .map(Kind::Result)
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorKind::InvalidMessage,
                    format!(
                        "a result message needs header Rvn-Correlation: the key of a call this worker made, got {correlation:?}"
                    ),
                )
            }),
        Some(other) => Err(ErrorBody::new(
            ErrorKind::InvalidMessage,
            format!(
                "Rvn-Kind {other:?} is not understood; expected invoke, timer, complete or result"
            ),
        )),
    }
}

/// What a fired timer, a promise completion or a call's result does to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// Journal it (`TimerFired`, `PromiseCompleted`).
    pub record: bool,
    /// The worker was suspended waiting for it: journal `Resumed` and go on by replay.
    pub resume: bool,
}

/// Decides what timer, promise completion or call result `kind` does, given what the
/// suspended worker waits for (`waiting`, its `Suspended` keys; `None` when not
/// suspended) and whether this completion is journaled already (`known`). A timer
/// nobody waits for any more is dropped; a promise completion or a call's result is
/// kept even when nobody waits for it yet (it may be awaited later). The first
/// completion of a promise, or result of a call, wins.
pub fn wake(kind: Kind, waiting: Option<&[String]>, known: bool) -> Wake {
    let awaited = kind
        .waiting_key()
        .is_some_and(|key| waiting.is_some_and(|w| w.contains(&key)));
    match kind {
        Kind::Invoke => Wake {
            record: false,
            resume: false,
        },
        Kind::Timer(_) => Wake {
            record: awaited && !known,
            resume: awaited,
        },
        Kind::Complete(_) | Kind::Result(_) => Wake {
            record: !known,
            resume: awaited,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_message_says_its_kind_and_a_wrong_one_is_an_invalid_message() {
        let me = WorkerId::parse("order", "7").unwrap();
        let of = |kind, timer, promise, correlation| {
            kind_of(
                KindHeaders {
                    kind,
                    timer,
                    promise,
                    correlation,
                },
                Some(&me),
            )
        };
        assert_eq!(of(None, None, None, None), Ok(Kind::Invoke));
        assert_eq!(of(Some("invoke"), None, None, None), Ok(Kind::Invoke));
        assert_eq!(
            of(Some("timer"), Some("12"), None, None),
            Ok(Kind::Timer(12))
        );
        assert_eq!(
            of(Some("complete"), None, Some("7"), None),
            Ok(Kind::Complete(7))
        );
        let key = call_key(&me, 9);
        assert_eq!(
            of(Some("result"), None, None, Some(&key)),
            Ok(Kind::Result(9))
        );
        let e = of(Some("timer"), Some("x"), None, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidMessage);
        assert!(e.message.contains("Rvn-Timer"), "{}", e.message);
        let e = of(Some("refund"), None, None, None).unwrap_err();
        assert!(e.message.contains("\"refund\""), "{}", e.message);
        // Another worker's call key, a made-up one, none: not a result for this worker.
        let theirs = call_key(&WorkerId::parse("order", "8").unwrap(), 9);
        for bad in [Some(theirs.as_str()), Some("rpc-9-x"), None] {
            let e = of(Some("result"), None, None, bad).unwrap_err();
            assert!(e.message.contains("Rvn-Correlation"), "{}", e.message);
        }
    }

    #[test]
    fn a_timer_wakes_only_a_worker_waiting_for_it_and_a_completion_is_always_kept() {
        let waiting = ["timer:12".to_string(), "promise:7".to_string()];
        let w = Some(&waiting[..]);
        let wake_of = |kind, waiting, known| wake(kind, waiting, known);
        assert_eq!(
            wake_of(Kind::Timer(12), w, false),
            Wake {
                record: true,
                resume: true
            }
        );
        // A timer nobody waits for (raced and lost, or fired already): dropped.
        assert_eq!(
            wake_of(Kind::Timer(13), w, false),
            Wake {
                record: false,
                resume: false
            }
        );
        assert_eq!(
            wake_of(Kind::Timer(12), None, false),
            Wake {
                record: false,
                resume: false
            }
        );
        assert_eq!(
            wake_of(Kind::Complete(7), w, false),
            Wake {
                record: true,
                resume: true
            }
        );
        // Completed before anyone awaits it: kept for later.
        assert_eq!(
            wake_of(Kind::Complete(8), w, false),
            Wake {
                record: true,
                resume: false
            }
        );
        // A second completion message (the first won): nothing new.
        assert_eq!(
            wake_of(Kind::Complete(8), None, true),
            Wake {
                record: false,
                resume: false
            }
        );
        // Journaled but not resumed yet (e.g. after a crash): resumes without a second entry.
        assert_eq!(
            wake_of(Kind::Complete(7), w, true),
            Wake {
                record: false,
                resume: true
            }
        );
        // A call's result: like a completion, under rpc:<index>.
        let waiting = ["rpc:9".to_string()];
        let w = Some(&waiting[..]);
        assert_eq!(
            wake_of(Kind::Result(9), w, false),
            Wake {
                record: true,
                resume: true
            }
        );
        // An async call's result before it is awaited: kept; a duplicate: nothing.
        assert_eq!(
            wake_of(Kind::Result(10), w, false),
            Wake {
                record: true,
                resume: false
            }
        );
        assert_eq!(
            wake_of(Kind::Result(9), None, true),
            Wake {
                record: false,
                resume: false
            }
        );
    }
}
