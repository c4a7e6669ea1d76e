//! Late pickup from the journal: the answer a worker's oplog holds for an
//! idempotency key. The oplog is where every journaled outcome lives
//! (`InvocationCompleted` is committed before any reply or ack), so a reader
//! that knows the worker needs no result record: [`OplogStore::answer`] reads
//! the retained oplog, [`OplogStore::await_answer`] reads it and then follows
//! new appends until the answer is there. Neither involves the worker's owner,
//! so an answer survives an executor that died right after committing it.

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use revenant_types::codec::{self, OplogBatch};
use revenant_types::names::WorkerId;
use revenant_types::oplog::OplogEntry;
use revenant_types::records::ResultRecord;

use super::OplogStore;
use crate::error::{Error, Result};

/// Looks for the answer to one key in entries fed in journal order.
#[derive(Debug)]
pub(crate) struct AnswerScan<'a> {
    w: &'a WorkerId,
    key: &'a str,
    /// The function of the key's latest `InvocationStarted`, if one was seen.
    function: Option<String>,
}

impl<'a> AnswerScan<'a> {
    pub(crate) fn new(w: &'a WorkerId, key: &'a str) -> Self {
        Self {
            w,
            key,
            function: None,
        }
    }

    /// The key's answer if `entry` records it (its function taken from the start seen
    /// before it, empty for an answer without one: a skipped firing).
    pub(crate) fn feed(&mut self, entry: &OplogEntry) -> Option<ResultRecord> {
        if let OplogEntry::InvocationStarted {
            idempotency_key,
            function,
            ..
        } = entry
            && idempotency_key == self.key
        {
            self.function = Some(function.clone());
        }
        let (key, outcome, at) = entry.answer()?;
        (key == self.key).then(|| ResultRecord {
            worker: self.w.clone(),
            function: self.function.clone().unwrap_or_default(),
            outcome,
            completed_at: at,
        })
    }
}

impl OplogStore {
    /// The answer `w`'s retained oplog holds for `key`, if any.
    pub async fn answer(&self, w: &WorkerId, key: &str) -> Result<Option<ResultRecord>> {
        let read = self.read(w, 1).await?;
        let mut scan = AnswerScan::new(w, key);
        Ok(read.entries.iter().find_map(|(_, e)| scan.feed(e)))
    }

    /// Waits for the answer to `key` in `w`'s oplog: what is retained (read as
    /// [`OplogStore::read`] does, bounded by bytes), then every later append (one ordered
    /// consumer on the worker's subject from the sequence after the read, so nothing
    /// appended between the read and the wait is missed, and it carries only new
    /// appends). Runs until found; the caller bounds it.
    pub async fn await_answer(&self, w: &WorkerId, key: &str) -> Result<ResultRecord> {
        let read = self.read(w, 1).await?;
        let mut scan = AnswerScan::new(w, key);
        if let Some(found) = read.entries.iter().find_map(|(_, e)| scan.feed(e)) {
            return Ok(found);
        }
        let ns = self.nats.namespace();
        let op = || format!("following the oplog of {w} for key {key:?}");
        let stream = self.stream().await?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: ns.oplog_subject(w),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: read.last_seq + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| Error::nats(op(), e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Error::nats(op(), e))?;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| Error::nats(op(), e))?;
            let payload = super::spilled(&self.nats, w, msg.headers.as_ref(), &msg.payload).await?;
            let batch: OplogBatch = codec::decode(&payload)?;
            if let Some(found) = batch.entries.iter().find_map(|e| scan.feed(e)) {
                return Ok(found);
            }
        }
        Err(Error::Closed { what: op() })
    }
}

#[cfg(test)]
mod tests {
    use revenant_types::oplog::{ErrorKind, InvocationOutcome};

    use super::*;

    fn started(key: &str, function: &str) -> OplogEntry {
        OplogEntry::InvocationStarted {
            at: 1,
            idempotency_key: key.into(),
            function: function.into(),
            args: "[]".into(),
            trace: Default::default(),
            reply_to: None,
            caller: None,
            schedule: None,
        }
    }

    fn completed(key: &str, value: &str, at: u64) -> OplogEntry {
        OplogEntry::InvocationCompleted {
            at,
            idempotency_key: key.into(),
            outcome: InvocationOutcome::Ok(value.into()),
            duration_us: 0,
        }
    }

    fn scan_all(entries: &[OplogEntry], key: &str) -> Option<ResultRecord> {
        let w = WorkerId::parse("counter", "c1").unwrap();
        let mut scan = AnswerScan::new(&w, key);
        entries.iter().find_map(|e| scan.feed(e))
    }

    #[test]
    fn finds_the_completion_of_the_key_with_the_function_of_its_start() {
        let entries = [
            started("a", "add"),
            completed("a", "1", 10),
            started("b", "get"),
            completed("b", "2", 20),
        ];
        let found = scan_all(&entries, "b").expect("b is answered");
        assert_eq!(found.function, "get");
        assert_eq!(found.outcome, InvocationOutcome::Ok("2".into()));
        assert_eq!(found.completed_at, 20);
        assert_eq!(found.worker.to_string(), "counter/c1");
        assert_eq!(
            scan_all(&entries, "a").unwrap().outcome,
            InvocationOutcome::Ok("1".into())
        );
    }

    #[test]
    fn a_started_key_without_a_completion_and_an_absent_key_have_no_answer() {
        let entries = [started("a", "add"), completed("b", "2", 20)];
        assert_eq!(scan_all(&entries, "a"), None);
        assert_eq!(scan_all(&entries, "zzz"), None);
    }

    #[test]
    fn a_completion_without_its_start_is_answered_with_no_function() {
        // An answer recorded for a parked invocation answered from the journal.
        let found = scan_all(&[completed("k", "7", 5)], "k").unwrap();
        assert_eq!(found.function, "");
        assert_eq!(found.outcome, InvocationOutcome::Ok("7".into()));
    }

    #[test]
    fn a_skipped_firing_is_answered_firing_skipped() {
        let entries = [OplogEntry::FiringSkipped {
            at: 3,
            schedule: "c-tick".into(),
            idempotency_key: "c-tick-1".into(),
            reason: "overlap skip".into(),
        }];
        let found = scan_all(&entries, "c-tick-1").unwrap();
        match found.outcome {
            InvocationOutcome::Err(e) => {
                assert_eq!(e.kind, ErrorKind::FiringSkipped);
                assert!(e.message.contains("c-tick"), "{}", e.message);
            }
            other => panic!("expected firing-skipped, got {other:?}"),
        }
    }
}
