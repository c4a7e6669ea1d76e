//! Journaling a skipped firing of a scheduled invocation ([`crate::schedule`]):
//! `FiringSkipped`, after which its key counts as answered with `firing-skipped`,
//! live and after a replay, so a redelivered copy is never run.

use revenant_types::now_ms;
use revenant_types::oplog::{ErrorBody, InvocationOutcome, OplogEntry};

use super::{Worker, WorkerError};

impl Worker {
    /// Journals that the firing of `schedule` with key `key` was skipped for `reason`;
    /// its key is answered with `error` from now on.
    pub async fn skip_firing(
        &mut self,
        schedule: &str,
        key: &str,
        reason: &str,
        error: &ErrorBody,
    ) -> Result<(), WorkerError> {
        self.journal.push(OplogEntry::FiringSkipped {
            at: now_ms(),
            schedule: schedule.to_owned(),
            idempotency_key: key.to_owned(),
            reason: reason.to_owned(),
        });
        self.journal.commit().await?;
        self.completed
            .insert(key.to_owned(), InvocationOutcome::Err(error.clone()));
        Ok(())
    }
}
