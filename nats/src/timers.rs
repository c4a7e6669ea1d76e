//! Durable timers as JetStream message schedules (ARCHITECTURE.md "Timers and
//! schedules"): a suspended worker's timer is a schedule holder on
//! `<ns>.schedule.<c>.<w>.t-<index>` in `RVN_INVOKE` (`Nats-Schedule: @at
//! <RFC3339>`, `Nats-Schedule-Target: <ns>.invoke.<c>.<w>`). When it fires the
//! server publishes a copy to the worker's inbox with `Rvn-Kind: timer` and
//! `Rvn-Timer: <index>`; re-publishing replaces it (one schedule per subject) and
//! purging its subject cancels it. No executor keeps the timer in memory.

use async_nats::HeaderMap;
use revenant_types::WorkerId;
use revenant_types::oplog::{OplogIndex, TimestampMs};
use revenant_types::schedule::When;

use crate::error::{Error, Result};
use crate::{Nats, headers};

/// The most a timer's schedule fires before its deadline ([`wake_at`]).
pub const WAKE_EARLY_MAX_MS: u64 = 2_000;

/// When the schedule of a timer due at `at` fires (ms since the epoch, UTC): the whole
/// second (the server's schedules have second resolution) at least one second before
/// `at`, so 1–2 s early. The woken worker waits the rest in memory and ends on time: a
/// burst of wake-ups (each a recovery) has at least a second to finish in, where
/// rounding down to the deadline's own second left it anything from 0 to 1 s.
pub fn wake_at(at: TimestampMs) -> TimestampMs {
    at.saturating_sub(1_000) / 1_000 * 1_000
}

/// The `Nats-Schedule` value of a timer due at `at`: `@at` [`wake_at`] in RFC 3339 UTC.
pub fn at_schedule(at: TimestampMs) -> Result<String> {
    When::At(wake_at(at))
        .nats_schedule()
        .map_err(|e| Error::Malformed {
            what: "a timer's time".into(),
            reason: e.0,
        })
}

impl Nats {
    /// Makes the schedule holder of worker `w`'s timer `index` exist, firing at `fire_at`
    /// (a past time fires at once). Idempotent: publishing it again replaces it.
    pub async fn schedule_timer(
        &self,
        w: &WorkerId,
        index: OplogIndex,
        fire_at: TimestampMs,
    ) -> Result<()> {
        let ns = self.namespace();
        let subject = ns.schedule_subject(w, &format!("t-{index}"))?;
        let mut h = HeaderMap::new();
        h.insert(headers::KIND, headers::KIND_TIMER);
        h.insert(headers::TIMER, index.to_string().as_str());
        self.publish_holder(
            subject,
            &at_schedule(fire_at)?,
            None,
            &ns.invoke_subject(w),
            h,
            bytes::Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// Cancels worker `w`'s timer `index` (purges its holder); fine when it fired already.
    pub async fn cancel_timer(&self, w: &WorkerId, index: OplogIndex) -> Result<()> {
        let subject = self
            .namespace()
            .schedule_subject(w, &format!("t-{index}"))?;
        self.purge_schedules(subject).await
    }

    /// Cancels every schedule of worker `w` (it was deleted): timers, one-offs and cron.
    pub async fn cancel_schedules(&self, w: &WorkerId) -> Result<()> {
        self.purge_schedules(self.namespace().schedule_worker_wildcard(w))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_fires_at_the_whole_second_at_least_a_second_before_it_in_rfc3339_utc() {
        // 2023-11-14T22:13:20Z exactly, then 999 ms later: the second before, both times.
        let at = |ms| at_schedule(ms).unwrap();
        assert_eq!(at(1_700_000_000_000), "@at 2023-11-14T22:13:19Z");
        assert_eq!(at(1_700_000_000_999), "@at 2023-11-14T22:13:19Z");
        assert_eq!(at(1_700_000_001_000), "@at 2023-11-14T22:13:20Z");
        for due in [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999] {
            let early = due - wake_at(due);
            assert!(
                (1_000..WAKE_EARLY_MAX_MS).contains(&early),
                "{due}: {early}"
            );
        }
        // A timer due within its first second (the epoch) fires at once.
        assert_eq!(wake_at(500), 0);
    }
}
