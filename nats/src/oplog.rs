//! The oplog store: each worker's journal is the subject `rvn.oplog.<c>.<w>`
//! of the `RVN_OPLOG` stream. One message holds one [`OplogBatch`] (entries
//! with the index of the first, in the codec envelope), so entry indexes
//! survive batching. Appends are fenced with `Nats-Expected-Last-Subject-Sequence`:
//! a writer that lost the worker gets [`AppendError::Fenced`] and can never
//! interleave entries with the new owner.
//!
//! Reads ([`ReadStrategy::Auto`], the default) start with one batched direct
//! get (ADR-31), which answers a short oplog in a single round trip (≈0.5 ms
//! for 10 messages against ≈0.9 ms through a consumer); when more than a few
//! hundred messages remain they are streamed through an ephemeral pull
//! consumer, which is ≈1.7× faster than further direct gets for 10,000
//! one-entry messages (≈125 ms against ≈210 ms, debug build, 2026-12-01). Both ask
//! for a bounded number of bytes at a time (8 MiB): a long history of large
//! messages must not have the server cut the executor's connection off as a
//! slow consumer.
//! `tests/tests/all/oplog_speed.rs` measures all three. In a replicated stream a
//! direct get may be answered by a follower a moment behind the leader; the
//! fenced append is what catches such a stale read (the caller re-reads).
//!
//! A batch too large for one message (a 2 MB HTTP response, a big result) is
//! stored in the `RVN_BLOBS` object store first, and the fenced message carries
//! only its name (`Rvn-Payload-Ref`); reads fetch it back. Nothing ever fails
//! or loops on "too large" in the journal.
//!
//! This module does not decide who may write (that is [`crate::lease`]) and
//! does not interpret entries (that is the executor's replay).

mod answers;
pub(crate) mod batch;
mod read;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::DirectGetErrorKind;
use revenant_types::codec::{self, OplogBatch};
use revenant_types::names::WorkerId;
use revenant_types::oplog::{OplogEntry, OplogIndex};

use crate::client::Nats;
use crate::error::{AppendError, Error, Result};
use crate::headers;

/// How [`OplogStore::read_with`] fetches messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadStrategy {
    /// One batched direct get, then a pull consumer if much remains. Default.
    #[default]
    Auto,
    /// Batched direct get requests only (`$JS.API.DIRECT.GET`, `batch` + `next_by_subj`).
    BatchDirectGet,
    /// An ephemeral pull consumer filtered on the worker's subject.
    PullConsumer,
}

/// The result of reading a worker's oplog.
#[derive(Debug, Clone, PartialEq)]
pub struct OplogRead {
    /// Entries with index >= the requested one, in order, with their indexes.
    pub entries: Vec<(OplogIndex, OplogEntry)>,
    /// Stream sequence of the subject's last message (0 when empty): the
    /// `expected_last_seq` of the next append.
    pub last_seq: u64,
    /// The index the next appended entry gets (1 for an empty oplog).
    pub next_index: OplogIndex,
}

/// Handle on the fenced oplog store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OplogStore {
    nats: Nats,
}

impl OplogStore {
    pub(crate) fn new(nats: Nats) -> Self {
        Self { nats }
    }

    /// Appends `batch` as one message on `w`'s oplog subject, provided the
    /// subject's last sequence is still `expected_last_seq` (0: the subject
    /// must be empty). Returns the new last sequence of the subject.
    pub async fn append(
        &self,
        w: &WorkerId,
        expected_last_seq: u64,
        batch: &OplogBatch,
    ) -> Result<u64, AppendError> {
        let subject = self.nats.namespace().oplog_subject(w);
        let mut payload = self
            .nats
            .seal(codec::encode(batch)?, &subject)
            .map_err(AppendError::Other)?;
        let max = self.nats.client().server_info().max_payload;
        let mut h = HeaderMap::new();
        // Leave room for the subject and headers in the protocol frame.
        if max > 0 && payload.len() + 512 > max {
            let name = format!(
                "{}/{}/{}-{}",
                w.component,
                w.worker,
                batch.first,
                uuid::Uuid::new_v4()
            );
            self.put_blob(&name, payload).await?;
            h.insert(headers::PAYLOAD_REF, name.as_str());
            payload = Vec::new();
        }
        h.insert(
            headers::EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected_last_seq.to_string().as_str(),
        );
        h.insert(headers::OPLOG_FIRST_INDEX, batch.first.to_string().as_str());
        h.insert(
            headers::OPLOG_COUNT,
            batch.entries.len().to_string().as_str(),
        );
        match batch::store(&self.nats, subject, h, payload.into()).await {
            Ok(sequence) => Ok(sequence),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                let actual = self.last_seq(w).await.ok();
                Err(AppendError::Fenced {
                    expected: expected_last_seq,
                    actual,
                })
            }
            Err(e) => Err(self.publish_error(w, e)),
        }
    }

    fn publish_error(
        &self,
        w: &WorkerId,
        e: async_nats::jetstream::context::PublishError,
    ) -> AppendError {
        match e.kind() {
            PublishErrorKind::MaxPayloadExceeded => AppendError::TooLarge {
                bytes: 0,
                max: self.nats.client().server_info().max_payload,
            },
            _ => AppendError::Other(Error::nats(format!("appending to the oplog of {w}"), e)),
        }
    }

    /// Reads every entry of `w` with index >= `from` (1-based), in order, using
    /// the default [`ReadStrategy`].
    pub async fn read(&self, w: &WorkerId, from: OplogIndex) -> Result<OplogRead> {
        self.read_with(w, from, ReadStrategy::default()).await
    }

    /// [`OplogStore::read`] with an explicit strategy.
    pub async fn read_with(
        &self,
        w: &WorkerId,
        from: OplogIndex,
        strategy: ReadStrategy,
    ) -> Result<OplogRead> {
        let mut acc = read::Accumulator::new(w, from);
        match strategy {
            ReadStrategy::Auto => {
                let switch = Some(read::SWITCH_OVER);
                if let Some(next) = read::batch_direct_get(&self.nats, w, &mut acc, switch).await? {
                    // Boxed: the consumer's stream is a large future (clippy::large_futures).
                    Box::pin(read::pull_consumer(&self.nats, w, &mut acc, next)).await?;
                }
            }
            ReadStrategy::BatchDirectGet => {
                read::batch_direct_get(&self.nats, w, &mut acc, None).await?;
            }
            ReadStrategy::PullConsumer => {
                Box::pin(read::pull_consumer(&self.nats, w, &mut acc, 1)).await?;
            }
        }
        Ok(acc.finish())
    }

    /// The stream sequence of `w`'s last oplog message, 0 when it has none.
    pub async fn last_seq(&self, w: &WorkerId) -> Result<u64> {
        let stream = self.stream().await?;
        match stream
            .direct_get_last_for_subject(self.nats.namespace().oplog_subject(w))
            .await
        {
            Ok(msg) => Ok(msg.sequence),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::nats(
                format!("reading the last oplog sequence of {w}"),
                e,
            )),
        }
    }

    /// `w`'s last oplog message: its stream sequence and batch (`None` when it has none).
    pub async fn last_batch(&self, w: &WorkerId) -> Result<Option<(u64, OplogBatch)>> {
        let stream = self.stream().await?;
        match stream
            .direct_get_last_for_subject(self.nats.namespace().oplog_subject(w))
            .await
        {
            Ok(msg) => {
                let payload = spilled(&self.nats, w, Some(&msg.headers), &msg.payload).await?;
                Ok(Some((msg.sequence, codec::decode(&payload)?)))
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::nats(
                format!("reading the last oplog message of {w}"),
                e,
            )),
        }
    }

    /// Purges every message of `w`'s oplog before stream sequence `seq` (a worker's
    /// `Deleted` tombstone), keeping it and anything appended after it: the subject keeps
    /// its last sequence, so appends stay fenced, and a later owner's appends survive.
    pub async fn purge_before(&self, w: &WorkerId, seq: u64) -> Result<()> {
        let stream = self.stream().await?;
        stream
            .purge()
            .filter(self.nats.namespace().oplog_subject(w))
            .sequence(seq)
            .await
            .map_err(|e| Error::nats(format!("purging the oplog of {w}"), e))?;
        Ok(())
    }

    /// Purges `w`'s whole oplog. This resets the subject's sequence, and with it the
    /// append fence: only for scratch subjects (benchmarks, tests), never a live worker
    /// (deleting a worker is the executor's, through the shard holder).
    pub async fn delete(&self, w: &WorkerId) -> Result<()> {
        let stream = self.stream().await?;
        stream
            .purge()
            .filter(self.nats.namespace().oplog_subject(w))
            .await
            .map_err(|e| Error::nats(format!("purging the oplog of {w}"), e))?;
        Ok(())
    }

    async fn put_blob(&self, name: &str, payload: Vec<u8>) -> Result<(), AppendError> {
        let store = blobs(&self.nats).await?;
        let what = format!("oplog blob {name}");
        crate::objects::write_all(&store, name, &payload, &what)
            .await
            .map_err(AppendError::Other)
    }

    async fn stream(&self) -> Result<async_nats::jetstream::stream::Stream<()>> {
        let name = self.nats.namespace().oplog_stream();
        self.nats
            .jetstream()
            .get_stream_no_info(&name)
            .await
            .map_err(|e| Error::nats(format!("opening stream {name}"), e))
    }
}

async fn blobs(nats: &Nats) -> Result<async_nats::jetstream::object_store::ObjectStore> {
    nats.jetstream()
        .get_object_store(nats.namespace().blobs_bucket())
        .await
        .map_err(|e| Error::nats("open the blob store", e))
}

/// A message's real payload: itself, or the blob its `Rvn-Payload-Ref` names, opened
/// when sealed ([`crate::seal`]).
pub(crate) async fn spilled<'a>(
    nats: &Nats,
    w: &WorkerId,
    headers: Option<&HeaderMap>,
    payload: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>> {
    let Some(name) = headers.and_then(|h| h.get(headers::PAYLOAD_REF)) else {
        return nats.unseal(payload, &nats.namespace().oplog_subject(w));
    };
    let name = name.as_str();
    let what = format!("oplog blob {name}");
    let bytes = crate::objects::read_all(&blobs(nats).await?, name, &what).await?;
    let subject = nats.namespace().oplog_subject(w);
    Ok(std::borrow::Cow::Owned(
        nats.unseal(&bytes, &subject)?.into_owned(),
    ))
}
