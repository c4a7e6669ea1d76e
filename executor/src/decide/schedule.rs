//! Firings of scheduled invocations (ARCHITECTURE.md "Scheduled invocations and
//! cron"): whether a firing that reached its worker is applied or skipped. Pure,
//! like the rest of [`super`]; the driver is [`crate::schedule`].
//!
//! Rules:
//! - a message is a firing when its `Nats-Scheduler` names a schedule holder of
//!   the namespace (`<ns>.schedule.<c>.<w>.<id>`); its key is its own per firing
//!   (`Rvn-Idempotency-Key` of a one-off, `<holder>@<Nats-Schedule-Next>` of a
//!   cron firing), so the usual dedup applies it once however often it arrives;
//! - a firing later than its catch-up bound (`Rvn-Catchup` seconds after its
//!   time: a one-off's `Rvn-Scheduled-At`, else when the server fired it) is
//!   skipped, and recorded as skipped;
//! - with overlap `skip` (`Rvn-Overlap: skip`), a firing that arrives while the
//!   worker runs another invocation (it waited behind it, or the worker is
//!   suspended in one) is skipped, and recorded; with `queue` (the default) it
//!   waits its turn in the worker's order;
//! - a firing whose `Rvn-Overlap` or `Rvn-Catchup` cannot be read is an
//!   `invalid-message` saying what was expected.

use std::time::Duration;

use revenant_types::ErrorKind;
use revenant_types::oplog::ErrorBody;
use revenant_types::schedule::Overlap;

/// What the decision knows of a firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// The schedule id (`i-<key>`, `c-<name>`).
    pub schedule: String,
    pub overlap: Overlap,
    /// Its catch-up bound, if it has one.
    pub catchup: Option<Duration>,
    /// How late it arrived after its time, when known.
    pub lateness: Option<Duration>,
}

/// Reads a firing's policy headers (`Rvn-Overlap`, `Rvn-Catchup`); the error says
/// what was expected.
pub fn firing(
    schedule: String,
    overlap: Option<&str>,
    catchup: Option<&str>,
    lateness: Option<Duration>,
) -> Result<Firing, ErrorBody> {
    let overlap = overlap
        .map(|o| {
            Overlap::parse(o)
                .map_err(|e| ErrorBody::new(ErrorKind::InvalidMessage, format!("Rvn-Overlap: {e}")))
        })
        .transpose()?
        .unwrap_or_default();
    let catchup = catchup
        .map(|c| {
            c.trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| {
                    ErrorBody::new(
                        ErrorKind::InvalidMessage,
                        format!("Rvn-Catchup {c:?} is not a number of seconds; expected e.g. 60"),
                    )
                })
        })
        .transpose()?;
    Ok(Firing {
        schedule,
        overlap,
        catchup,
        lateness,
    })
}

/// What happens to a firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiringDecision {
    /// Decide and run it as any invocation.
    Apply,
    /// Journal it as skipped (with this reason) and answer it so; it never runs.
    Skip(String),
}

/// Decides firing `f`; `busy` says the worker was running another invocation when it
/// arrived.
pub fn decide_firing(f: &Firing, busy: bool) -> FiringDecision {
    if let (Some(bound), Some(late)) = (f.catchup, f.lateness)
        && late > bound
    {
        return FiringDecision::Skip(format!(
            "it arrived {:.1}s after its time, past its catch-up bound of {}s",
            late.as_secs_f64(),
            bound.as_secs()
        ));
    }
    if f.overlap == Overlap::Skip && busy {
        return FiringDecision::Skip(
            "overlap skip: another invocation of the worker was running".into(),
        );
    }
    FiringDecision::Apply
}

/// The outcome a skipped firing is answered (and journaled as answered) with.
pub use revenant_types::oplog::firing_skipped as skipped;

#[cfg(test)]
mod tests {
    use super::*;

    fn f(overlap: Overlap, catchup: Option<u64>, late_ms: Option<u64>) -> Firing {
        Firing {
            schedule: "c-tick".into(),
            overlap,
            catchup: catchup.map(Duration::from_secs),
            lateness: late_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn a_queued_firing_is_applied_even_while_another_invocation_runs() {
        assert_eq!(
            decide_firing(&f(Overlap::Queue, None, Some(5)), true),
            FiringDecision::Apply
        );
        assert_eq!(
            decide_firing(&f(Overlap::Queue, None, None), false),
            FiringDecision::Apply
        );
    }

    #[test]
    fn an_overlap_skip_firing_is_skipped_only_while_another_invocation_runs() {
        assert_eq!(
            decide_firing(&f(Overlap::Skip, None, Some(5)), false),
            FiringDecision::Apply
        );
        match decide_firing(&f(Overlap::Skip, None, Some(5)), true) {
            FiringDecision::Skip(why) => assert!(why.contains("overlap skip"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_firing_past_its_catch_up_bound_is_skipped_and_one_within_it_is_applied() {
        match decide_firing(&f(Overlap::Queue, Some(60), Some(61_000)), false) {
            FiringDecision::Skip(why) => {
                assert!(why.contains("61.0s") && why.contains("60s"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide_firing(&f(Overlap::Queue, Some(60), Some(59_000)), false),
            FiringDecision::Apply
        );
        // Lateness unknown: no bound can be applied.
        assert_eq!(
            decide_firing(&f(Overlap::Queue, Some(1), None), false),
            FiringDecision::Apply
        );
    }

    #[test]
    fn a_firing_without_policy_headers_queues_with_no_bound_and_bad_ones_say_what_was_expected() {
        let plain = firing("i-x".into(), None, None, None).unwrap();
        assert_eq!((plain.overlap, plain.catchup), (Overlap::Queue, None));
        let skip = firing("c-y".into(), Some("skip"), Some("30"), None).unwrap();
        assert_eq!(
            (skip.overlap, skip.catchup),
            (Overlap::Skip, Some(Duration::from_secs(30)))
        );
        let e = firing("c-y".into(), Some("sometimes"), None, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidMessage);
        assert!(e.message.contains("expected queue"), "{}", e.message);
        let e = firing("c-y".into(), None, Some("1m"), None).unwrap_err();
        assert!(e.message.contains("number of seconds"), "{}", e.message);
    }

    #[test]
    fn a_skipped_firing_is_answered_with_a_firing_skipped_error_naming_its_schedule() {
        let e = skipped("c-tick", "overlap skip: x");
        assert_eq!(e.kind, ErrorKind::FiringSkipped);
        assert!(e.message.contains("c-tick") && e.message.contains("overlap skip"));
    }
}
