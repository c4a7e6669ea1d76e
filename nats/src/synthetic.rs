//! Synthetic worker histories for benchmarks and tests: the oplog the executor
//! would have left for a `counter` worker after `n` invocations of `add(1)` —
//! `Create`, then per invocation `InvocationStarted` + `InvocationCompleted` — and,
//! with a snapshot every `every` invocations, the `Snapshot` entries (and objects in
//! `RVN_SNAPSHOTS`: the total as 8 little-endian bytes, what the counter's `save`
//! returns) and the trimming the executor does: only the previous snapshot's entry and
//! what follows it are written, with the indexes the full history gives them.
//! Written through the fenced oplog store, so what a recovery reads is exactly what a
//! long-lived worker's would be, without running its history first.

use revenant_types::codec::{self, OplogBatch};
use revenant_types::names::WorkerId;
use revenant_types::oplog::{InvocationOutcome, OplogEntry, OplogIndex};
use revenant_types::snapshot::HostState;

use crate::Nats;
use crate::error::AppendError;

type Result<T> = std::result::Result<T, AppendError>;
use crate::names::Namespace;

/// Entries per appended message (well under the 1 MiB payload limit).
const CHUNK: usize = 1000;

/// What [`write_counter_history`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Entries in the oplog (what a recovery reads).
    pub entries: usize,
    /// Bytes of the oplog messages plus the newest snapshot: what a recovery reads.
    pub bytes: u64,
    /// Invocations a recovery replays (after the newest snapshot, or all).
    pub to_replay: u64,
}

/// The two entries the executor writes for one successful `add(1)` invocation (the
/// `k`-th, 0-based, of worker `worker`, whose total it makes `k + 1`).
pub fn add_invocation(add: &str, worker: &str, k: u64, at: u64) -> [OplogEntry; 2] {
    let key = format!("synthetic-{worker}-{k}");
    [
        OplogEntry::InvocationStarted {
            at,
            idempotency_key: key.clone(),
            function: add.to_owned(),
            args: "[1]".into(),
            trace: Default::default(),
            reply_to: None,
            caller: None,
            schedule: None,
        },
        OplogEntry::InvocationCompleted {
            at,
            idempotency_key: key,
            outcome: InvocationOutcome::Ok((k + 1).to_string()),
            duration_us: 1,
        },
    ]
}

/// Writes the oplog (and snapshots) of counter worker `w` (component `version`, export
/// `add`) after `n` invocations of `add(1)`, snapshotted every `every` invocations (0:
/// never). `w`'s oplog must be empty.
pub async fn write_counter_history(
    nats: &Nats,
    w: &WorkerId,
    version: u64,
    add: &str,
    n: u64,
    every: u64,
) -> Result<Written> {
    let at = revenant_types::now_ms();
    let snapshots = n.checked_div(every).unwrap_or(0);
    // The executor keeps the previous snapshot's entry and what follows it.
    let keep_from_snapshot = snapshots.saturating_sub(1);
    let mut out = Writer {
        nats,
        w,
        first: 0,
        last_seq: 0,
        batch: Vec::with_capacity(CHUNK),
        written: Written::default(),
    };
    let mut index: OplogIndex = 1;
    let keep = |taken: u64| snapshots < 2 || taken >= keep_from_snapshot;
    out.push(
        keep(0),
        index,
        OplogEntry::Create {
            at,
            component_version: version,
            args: vec![],
            env: vec![],
        },
    )
    .await?;
    index += 1;
    let mut taken = 0;
    for k in 0..n {
        for e in add_invocation(add, w.worker.as_str(), k, at) {
            out.push(keep(taken), index, e).await?;
            index += 1;
        }
        out.written.to_replay += 1;
        if every > 0 && (k + 1) % every == 0 {
            taken += 1;
            let total = (k + 1).to_le_bytes().to_vec();
            let object = Namespace::snapshot_object(w, index - 1);
            let digest = revenant_components::content_hash(&total);
            if taken == snapshots {
                // Only the newest is read by a recovery.
                out.written.bytes += total.len() as u64;
            }
            if keep(taken) {
                nats.snapshots().overwrite(&object, total).await?;
            }
            let entry = OplogEntry::Snapshot {
                at,
                object,
                covers: index - 1,
                component_version: version,
                digest,
                size: 8,
                covers_seq: 0,
                host_state: Some(HostState {
                    created_at: at,
                    ..HostState::default()
                }),
            };
            out.push(keep(taken), index, entry).await?;
            index += 1;
            out.written.to_replay = 0;
        }
    }
    out.flush().await?;
    Ok(out.written)
}

struct Writer<'a> {
    nats: &'a Nats,
    w: &'a WorkerId,
    first: OplogIndex,
    last_seq: u64,
    batch: Vec<OplogEntry>,
    written: Written,
}

impl Writer<'_> {
    async fn push(&mut self, keep: bool, index: OplogIndex, entry: OplogEntry) -> Result<()> {
        if !keep {
            return Ok(());
        }
        if self.batch.is_empty() {
            self.first = index;
        }
        self.batch.push(entry);
        self.written.entries += 1;
        if self.batch.len() == CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = OplogBatch {
            first: self.first,
            entries: std::mem::take(&mut self.batch),
        };
        self.written.bytes += codec::encode(&batch)?.len() as u64;
        self.last_seq = self
            .nats
            .oplog()
            .append(self.w, self.last_seq, &batch)
            .await?;
        Ok(())
    }
}
