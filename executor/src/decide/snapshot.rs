//! Snapshot decisions (ARCHITECTURE.md "Snapshots, trimming, updates, ephemeral
//! workers"): when a worker takes a snapshot, where a recovery starts, and what
//! trimming purges. Pure: `worker::snapshot` performs them.
//!
//! Rules:
//! - a snapshot is taken only when the worker is quiescent: in memory with an
//!   instance, between invocations (no tail), not suspended, interrupted or failed,
//!   with nothing parked; and only if its component exports `revenant:api/snapshot`;
//! - the policy takes one after `every` invocations since the last snapshot, or after
//!   an invocation `period` after the last one (or the worker's start); on demand at any
//!   quiescent point;
//! - recovery tries the newest snapshot written by the worker's component version
//!   first, then older ones, then a full replay — but only while the history from the
//!   `Create` on still exists; a snapshot of another version, or one without host state
//!   (written before snapshots carried it), is never loaded;
//! - after snapshot *k* is stored, the entries covered by snapshot *k − 1* are purged:
//!   the oplog keeps snapshot *k − 1* and everything after it, so a snapshot *k* that
//!   fails to load still has a fallback, and the recovery reads at most two snapshot
//!   intervals whatever the history's length. The purge is filtered to the worker's
//!   subject and bounded by a sequence below the kept `Snapshot` entry: the subject is
//!   never emptied, so its last sequence — the append fence — is unchanged.

use revenant_types::oplog::{OplogIndex, TimestampMs};
use revenant_types::snapshot::{HostState, SnapshotPolicy};

/// A `Snapshot` entry of the oplog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRef {
    /// The index of the `Snapshot` entry.
    pub index: OplogIndex,
    pub at: TimestampMs,
    pub object: String,
    pub covers: OplogIndex,
    pub covers_seq: u64,
    pub component_version: u64,
    pub digest: String,
    pub size: u64,
    pub host_state: Option<HostState>,
}

/// Where a recovery starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Load this snapshot, then replay the invocations started after its `covers`.
    Snapshot(Box<SnapshotRef>),
    /// Replay every invocation from the `Create` on.
    Full,
}

/// The bases a recovery tries, in order: the usable snapshots newest first, then a full
/// replay when the history is complete (`from_start`: the oplog still begins with `Create`).
/// Empty only for a trimmed oplog without a usable snapshot.
pub fn recovery_bases(snapshots: &[SnapshotRef], version: u64, from_start: bool) -> Vec<Base> {
    let mut bases: Vec<Base> = snapshots
        .iter()
        .rev()
        .filter(|s| s.component_version == version && s.host_state.is_some())
        .map(|s| Base::Snapshot(Box::new(s.clone())))
        .collect();
    if from_start {
        bases.push(Base::Full);
    }
    bases
}

/// What the policy knows of a worker after an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinceLast {
    /// Invocations completed since the last snapshot (or the worker's start).
    pub invocations: u64,
    /// When the last snapshot was taken (or the worker was recovered).
    pub at: TimestampMs,
}

/// Whether the policy asks for a snapshot now (the worker being quiescent).
pub fn due(policy: SnapshotPolicy, since: SinceLast, now: TimestampMs) -> bool {
    if since.invocations == 0 {
        return false;
    }
    let by_count = policy.every > 0 && since.invocations >= policy.every;
    let by_time = policy.period_ms > 0 && now.saturating_sub(since.at) >= policy.period_ms;
    by_count || by_time
}

/// What may stop a worker from taking a snapshot now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quiescence {
    pub exports_snapshot: bool,
    pub instantiated: bool,
    pub tail: bool,
    pub suspended: bool,
    pub interrupted: bool,
    pub failed: bool,
    pub parked: usize,
}

/// Why a snapshot cannot be taken now (`None`: it can).
pub fn refusal(q: Quiescence) -> Option<&'static str> {
    if !q.exports_snapshot {
        return Some("its component does not export revenant:api/snapshot (save, load)");
    }
    if q.failed {
        return Some("the worker is failed");
    }
    if q.interrupted {
        return Some("the worker is interrupted; resume it first");
    }
    if q.suspended {
        return Some("the worker is suspended (waiting); it is snapshotted after it goes on");
    }
    if q.tail || q.parked > 0 || !q.instantiated {
        return Some("the worker is not between invocations");
    }
    None
}

/// After a snapshot was stored (the last of `snapshots`): the stream sequence to purge
/// the worker's subject below (purge `< seq`), keeping the previous snapshot's entry
/// and everything after it, and the snapshot objects no kept entry refers to any more.
/// `None` when there is nothing to purge yet (the first snapshot).
pub fn trim(snapshots: &[SnapshotRef]) -> Option<Trim> {
    let [.., previous, _newest] = snapshots else {
        return None;
    };
    if previous.covers_seq == 0 {
        // Written before snapshots recorded their sequence: nothing safe to purge by.
        return None;
    }
    let drop_objects = snapshots[..snapshots.len() - 2]
        .iter()
        .map(|s| s.object.clone())
        .collect();
    Some(Trim {
        below_seq: previous.covers_seq + 1,
        keep_from: previous.index,
        drop_objects,
    })
}

/// What trimming does ([`trim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trim {
    /// Purge the worker's oplog messages with a stream sequence below this.
    pub below_seq: u64,
    /// The first entry kept (the previous snapshot's entry).
    pub keep_from: OplogIndex,
    /// Snapshot objects to delete once the purge is done.
    pub drop_objects: Vec<String>,
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
