//! The two ways of reading a worker's oplog subject in order, and the
//! accumulator that turns messages into indexed entries (checking that the
//! batches are contiguous from the first one left, which need not start at
//! index 1: a deleted worker's purge keeps only its tombstone; and skipping
//! batches wholly before `from` without decoding them).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::status::StatusCode;
use futures::StreamExt;
use revenant_types::codec::{self, OplogBatch};
use revenant_types::names::WorkerId;
use revenant_types::oplog::{OplogEntry, OplogIndex};

use super::OplogRead;
use crate::client::Nats;
use crate::error::{Error, Result};
use crate::headers;

/// Messages asked for per direct-get request.
const BATCH: usize = 500;
/// [`ReadStrategy::Auto`](super::ReadStrategy::Auto) streams the rest through an ordered
/// consumer when more than this many messages remain after the first batch.
pub(super) const SWITCH_OVER: u64 = 500;
/// How long to wait for the next message of a reply before giving up.
const WAIT: Duration = Duration::from_secs(10);
/// Bytes asked for per direct-get request or consumer pull, at least: a read never has
/// much more than this on its way. The server disconnects a client it has more than
/// 64 MiB pending for (a slow consumer), and an executor's connection carries all its
/// workers: 500 messages of a long history at 170 KiB each once cut it off.
const READ_BYTES: usize = 8 << 20;

/// The bytes to ask for at once: [`READ_BYTES`], or enough for the largest message the
/// server takes (each message must fit in a request's byte budget on its own).
fn read_bytes(nats: &Nats) -> usize {
    nats.byte_budget(READ_BYTES, 1)
}

/// Collects entries from messages in stream order.
pub(super) struct Accumulator<'a> {
    w: &'a WorkerId,
    from: OplogIndex,
    entries: Vec<(OplogIndex, OplogEntry)>,
    last_seq: u64,
    next_index: OplogIndex,
}

impl<'a> Accumulator<'a> {
    pub(super) fn new(w: &'a WorkerId, from: OplogIndex) -> Self {
        Self {
            w,
            from: from.max(1),
            entries: Vec::new(),
            last_seq: 0,
            next_index: 1,
        }
    }

    pub(super) fn finish(self) -> OplogRead {
        OplogRead {
            entries: self.entries,
            last_seq: self.last_seq,
            next_index: self.next_index,
        }
    }

    fn malformed(&self, seq: u64, reason: String) -> Error {
        Error::Malformed {
            what: format!("the oplog of {} at stream sequence {seq}", self.w),
            reason,
        }
    }

    fn push(&mut self, seq: u64, headers: Option<&HeaderMap>, payload: &[u8]) -> Result<()> {
        if seq <= self.last_seq {
            return Err(self.malformed(
                seq,
                format!("sequence went backwards after {}", self.last_seq),
            ));
        }
        // The first message left may follow purged ones: it fixes where the indexes start.
        let first_message = self.last_seq == 0;
        self.last_seq = seq;
        // Skip batches that end before `from` using only the headers.
        let header = |name: &str| headers?.get(name)?.as_str().parse::<u64>().ok();
        if let (Some(first), Some(count)) = (
            header(headers::OPLOG_FIRST_INDEX),
            header(headers::OPLOG_COUNT),
        ) && (first == self.next_index || first_message)
            && first + count <= self.from
        {
            self.next_index = first + count;
            return Ok(());
        }
        let batch: OplogBatch = codec::decode(payload)?;
        if batch.first != self.next_index && !first_message {
            return Err(self.malformed(
                seq,
                format!(
                    "expected a batch starting at index {}, found one starting at {}",
                    self.next_index, batch.first
                ),
            ));
        }
        self.next_index = batch.next_index();
        let from = self.from;
        self.entries.extend(
            (batch.first..)
                .zip(batch.entries)
                .filter(|(i, _)| *i >= from),
        );
        Ok(())
    }
}

fn header_u64(msg: &async_nats::Message, name: &str) -> Option<u64> {
    msg.headers.as_ref()?.get(name)?.as_str().parse().ok()
}

/// Batched direct get (ADR-31): `{"seq", "next_by_subj", "batch"}` to
/// `$JS.API.DIRECT.GET.<stream>`; the server streams up to `batch` messages
/// and ends with a `204 EOB` status carrying `Nats-Num-Pending`. With
/// `switch_over`, stops after a batch that leaves more than that many messages
/// pending and returns the sequence to continue from (`Some`), so the caller
/// can stream the rest; `None` when everything was read.
pub(super) async fn batch_direct_get(
    nats: &Nats,
    w: &WorkerId,
    acc: &mut Accumulator<'_>,
    switch_over: Option<u64>,
) -> Result<Option<u64>> {
    let ns = nats.namespace();
    let subject = ns.oplog_subject(w);
    let api = format!("$JS.API.DIRECT.GET.{}", ns.oplog_stream());
    let client = nats.client();
    let op = || format!("reading the oplog of {w}");
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| Error::nats(op(), e))?;
    let eob = StatusCode::from_u16(204).expect("valid status");
    let max_bytes = read_bytes(nats);
    let mut next_seq = 1u64;
    loop {
        let request = serde_json::json!({
            "seq": next_seq,
            "next_by_subj": subject,
            "batch": BATCH,
            "max_bytes": max_bytes,
        });
        client
            .publish_with_reply(api.clone(), inbox.clone(), request.to_string().into())
            .await
            .map_err(|e| Error::nats(op(), e))?;
        let mut received = 0usize;
        let mut pending = None;
        let more = loop {
            let msg = match tokio::time::timeout(WAIT, sub.next()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => return Err(Error::nats(op(), "the reply subscription closed")),
                Err(_) => {
                    return Err(Error::nats(
                        op(),
                        format!("no direct-get reply within {WAIT:?}"),
                    ));
                }
            };
            match msg.status {
                None | Some(StatusCode::OK) => {
                    let seq = header_u64(&msg, "Nats-Sequence").ok_or_else(|| {
                        Error::nats(op(), "direct-get reply without Nats-Sequence")
                    })?;
                    let payload =
                        super::spilled(nats, w, msg.headers.as_ref(), &msg.payload).await?;
                    acc.push(seq, msg.headers.as_ref(), &payload)?;
                    received += 1;
                    next_seq = seq + 1;
                }
                // Nothing (more) on the subject at or after `next_seq`.
                Some(StatusCode::NOT_FOUND) => break false,
                Some(s) if s == eob => {
                    pending = header_u64(&msg, "Nats-Num-Pending");
                    break received > 0 && pending != Some(0);
                }
                Some(StatusCode::NO_RESPONDERS) => {
                    return Err(Error::nats(
                        op(),
                        format!(
                            "no responders for {api}: is stream {} provisioned with allow_direct?",
                            ns.oplog_stream()
                        ),
                    ));
                }
                Some(s) => {
                    let what = msg.description.unwrap_or_default();
                    return Err(Error::nats(op(), format!("direct get answered {s} {what}")));
                }
            }
        };
        if !more {
            return Ok(None);
        }
        if switch_over.is_some_and(|limit| pending.unwrap_or(0) > limit) {
            return Ok(Some(next_seq));
        }
    }
}

/// An ephemeral pull consumer on the worker's subject from stream sequence `start`
/// (no acks, in memory), drained until the server reports nothing pending; pulls are
/// bounded by bytes as well as messages ([`read_bytes`]). A gap in its deliveries (the
/// connection dropped some) fails the read, which the caller retries.
pub(super) async fn pull_consumer(
    nats: &Nats,
    w: &WorkerId,
    acc: &mut Accumulator<'_>,
    start: u64,
) -> Result<()> {
    let ns = nats.namespace();
    let op = || format!("reading the oplog of {w}");
    let stream = nats
        .jetstream()
        .get_stream_no_info(ns.oplog_stream())
        .await
        .map_err(|e| Error::nats(op(), e))?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: ns.oplog_subject(w),
            deliver_policy: if start <= 1 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                }
            },
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(10),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::nats(op(), e))?;
    let name = consumer.cached_info().name.clone();
    let drained = drain(nats, w, acc, consumer).await;
    // Gone within the inactive threshold anyway; deleting it now frees it at once.
    tokio::spawn(async move {
        let _ = stream.delete_consumer(&name).await;
    });
    drained
}

/// [`pull_consumer`]'s reading.
async fn drain(
    nats: &Nats,
    w: &WorkerId,
    acc: &mut Accumulator<'_>,
    consumer: async_nats::jetstream::consumer::PullConsumer,
) -> Result<()> {
    let op = || format!("reading the oplog of {w}");
    if consumer.cached_info().num_pending == 0 {
        return Ok(());
    }
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .max_bytes_per_batch(read_bytes(nats))
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| Error::nats(op(), e))?;
    let mut delivered = 0;
    loop {
        let msg = match tokio::time::timeout(WAIT, messages.next()).await {
            Ok(Some(msg)) => msg.map_err(|e| Error::nats(op(), e))?,
            Ok(None) => return Err(Error::nats(op(), "the consumer ended early")),
            Err(_) => return Err(Error::nats(op(), format!("no message within {WAIT:?}"))),
        };
        let info = msg.info().map_err(|e| Error::nats(op(), e))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        delivered += 1;
        if info.consumer_sequence != delivered {
            return Err(Error::nats(
                op(),
                format!(
                    "delivery {} arrived where {delivered} was due (messages were lost on the way)",
                    info.consumer_sequence
                ),
            ));
        }
        let payload = super::spilled(nats, w, msg.headers.as_ref(), &msg.payload).await?;
        acc.push(seq, msg.headers.as_ref(), &payload)?;
        if pending == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: OplogIndex) -> Vec<u8> {
        let entries = vec![OplogEntry::Deleted { at: 1, before: 7 }];
        codec::encode(&OplogBatch { first, entries }).unwrap()
    }

    #[test]
    fn the_first_message_left_after_a_purge_may_start_past_index_one_but_gaps_after_it_are_errors()
    {
        let w = WorkerId::parse("counter", "c1").unwrap();
        let mut acc = Accumulator::new(&w, 1);
        acc.push(9, None, &batch(5))
            .expect("a tombstone left by a purge");
        acc.push(10, None, &batch(6)).expect("contiguous");
        let err = acc.push(12, None, &batch(8)).unwrap_err();
        assert!(err.to_string().contains("starting at index 7"), "{err}");
        let read = acc.finish();
        assert_eq!(
            read.entries.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [5, 6]
        );
        assert_eq!(read.next_index, 7);
    }
}
