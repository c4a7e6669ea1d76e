//! Messages of the worker inbox that are not invocations: what kind a message is
//! (`Rvn-Kind`) and what a fired timer or a promise completion does to a worker.
//! Pure, like the rest of [`super`].

use revenant_types::ErrorKind;
use revenant_types::oplog::{ErrorBody, OplogIndex};

/// What an inbox message is (`Rvn-Kind`, ARCHITECTURE.md "The worker inbox").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An invocation (the default).
    Invoke,
    /// The worker's durable timer created at this oplog index fired.
    Timer(OplogIndex),
    /// The worker's promise created at this oplog index was completed (the payload is the body).
    Complete(OplogIndex),
}

/// Reads a message's kind from its `Rvn-Kind` header and the index header that kind
/// needs (`Rvn-Timer`, `Rvn-Promise`); the error says what was expected.
pub fn kind_of(
    kind: Option<&str>,
    timer: Option<&str>,
    promise: Option<&str>,
) -> Result<Kind, ErrorBody> {
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
        Some(other) => Err(ErrorBody::new(
            ErrorKind::InvalidMessage,
            format!("Rvn-Kind {other:?} is not understood; expected invoke, timer or complete"),
        )),
    }
}

/// What a fired timer or a promise completion does to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// Journal it (`TimerFired`, `PromiseCompleted`).
    pub record: bool,
    /// The worker was suspended waiting for it: journal `Resumed` and go on by replay.
    pub resume: bool,
}

/// Decides what timer or promise completion `kind` does, given what the suspended
/// worker waits for (`waiting`, its `Suspended` keys; `None` when not suspended) and
/// whether this completion is journaled already (`known`). A timer nobody waits for
/// any more is dropped; a promise completion is kept even when nobody waits for it
/// yet (it may be awaited later). The first completion of a promise wins.
pub fn wake(kind: Kind, waiting: Option<&[String]>, known: bool) -> Wake {
    let key = match kind {
        Kind::Timer(i) => format!("timer:{i}"),
        Kind::Complete(i) => format!("promise:{i}"),
        Kind::Invoke => String::new(),
    };
    let awaited = waiting.is_some_and(|w| w.contains(&key));
    match kind {
        Kind::Invoke => Wake {
            record: false,
            resume: false,
        },
        Kind::Timer(_) => Wake {
            record: awaited && !known,
            resume: awaited,
        },
        Kind::Complete(_) => Wake {
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
        assert_eq!(kind_of(None, None, None), Ok(Kind::Invoke));
        assert_eq!(kind_of(Some("invoke"), None, None), Ok(Kind::Invoke));
        assert_eq!(
            kind_of(Some("timer"), Some("12"), None),
            Ok(Kind::Timer(12))
        );
        assert_eq!(
            kind_of(Some("complete"), None, Some("7")),
            Ok(Kind::Complete(7))
        );
        let e = kind_of(Some("timer"), Some("x"), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidMessage);
        assert!(e.message.contains("Rvn-Timer"), "{}", e.message);
        let e = kind_of(Some("refund"), None, None).unwrap_err();
        assert!(e.message.contains("\"refund\""), "{}", e.message);
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
    }
}
