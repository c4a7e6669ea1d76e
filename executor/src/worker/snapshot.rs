//! Taking a worker's snapshot and trimming its oplog (the driver of
//! [`crate::decide::snapshot`]): between invocations, the guest's `save` runs, the
//! bytes go to `RVN_SNAPSHOTS`, the `Snapshot` entry (with the host's state) is
//! committed — fenced like any append — and then the entries the previous snapshot
//! covers are purged from the worker's subject, with the objects no kept entry names.
//! A snapshot that cannot be taken (the guest's `save` traps, the store is down)
//! leaves the worker as it was; only a failed commit (fenced) drops it. Each one
//! taken is announced on the worker's events (`snapshot`).

use revenant_types::now_ms;
use revenant_types::oplog::OplogEntry;
use revenant_types::snapshot::HostState;

use super::{Worker, WorkerError};
use crate::context::event;
use crate::decide::index::Journaled;
use crate::decide::snapshot::{self, Quiescence, SinceLast, SnapshotRef};

impl Worker {
    /// Why no snapshot can be taken now (`None`: one can).
    pub fn snapshot_refusal(&self) -> Option<&'static str> {
        snapshot::refusal(self.quiescence())
    }

    /// What may keep the worker from a snapshot or an update now.
    pub(super) fn quiescence(&self) -> Quiescence {
        Quiescence {
            exports_snapshot: self
                .live
                .as_ref()
                .is_some_and(|l| l.loaded.record.exports_snapshot()),
            instantiated: self.live.is_some(),
            tail: self.tail.is_some(),
            suspended: self.suspended.is_some(),
            interrupted: self.interrupted,
            failed: self.failed.is_some(),
            parked: self.parked(),
        }
    }

    /// Whether its component's policy asks for a snapshot now, and one can be taken.
    pub fn snapshot_due(&self) -> bool {
        let Some(live) = self.live.as_ref() else {
            return false;
        };
        snapshot::due(live.loaded.record.snapshot, self.since_snapshot, now_ms())
            && self.snapshot_refusal().is_none()
    }

    /// Where what it answers is journaled (see [`crate::decide::index`]): nowhere for an
    /// ephemeral worker; in an oplog snapshots trim when its component has a snapshot
    /// policy or it has snapshots.
    pub fn journaled(&self) -> Journaled {
        let policy = self.live.as_ref().map(|l| l.loaded.record.snapshot);
        if self.is_ephemeral() {
            Journaled::No
        } else if policy.is_some_and(|p| !p.is_off()) || !self.snapshots.is_empty() {
            Journaled::Trimmed
        } else {
            Journaled::Kept
        }
    }

    /// Counts a completed invocation towards the snapshot policy.
    pub(super) fn count_for_snapshot(&mut self) {
        self.since_snapshot.invocations += 1;
    }

    /// The `Snapshot` entries kept in the oplog, oldest first.
    pub fn snapshots(&self) -> &[SnapshotRef] {
        &self.snapshots
    }

    /// Takes a snapshot now. `Ok(Err(why))` when none was taken (not quiescent, no
    /// export, the guest's `save` failed, the store refused it); `Err` only when the
    /// oplog refused the entry (the worker must be dropped).
    pub async fn snapshot(&mut self) -> Result<Result<SnapshotRef, String>, WorkerError> {
        if let Some(why) = self.snapshot_refusal() {
            return Ok(Err(why.to_owned()));
        }
        self.journal.commit().await?;
        let covers = self.oplog_index();
        let covers_seq = self.journal.last_seq().await;
        let live = self
            .live
            .as_mut()
            .expect("a quiescent worker has an instance");
        let bytes = match live.save().await {
            Ok(bytes) => bytes,
            Err(e) => {
                // A trap leaves the instance unusable: it is rebuilt from the oplog.
                tracing::warn!(worker = %self.id, error = %e, "the guest's save failed");
                self.rebuild().await?;
                return Ok(Err(e));
            }
        };
        let digest = revenant_components::content_hash(&bytes);
        let size = bytes.len() as u64;
        let object = match self.env.nats.snapshots().put(&self.id, covers, bytes).await {
            Ok(object) => object,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let at = now_ms();
        let host_state = self.host_state();
        let index = self.journal.push(OplogEntry::Snapshot {
            at,
            object: object.clone(),
            covers,
            component_version: self.create.component_version,
            digest: digest.clone(),
            size,
            covers_seq,
            host_state: Some(host_state.clone()),
        });
        self.journal.commit().await?;
        let taken = SnapshotRef {
            index,
            at,
            object,
            covers,
            covers_seq,
            component_version: self.create.component_version,
            digest,
            size,
            host_state: Some(host_state),
        };
        self.snapshots.push(taken.clone());
        self.since_snapshot = SinceLast { invocations: 0, at };
        self.trim().await;
        let body =
            serde_json::json!({ "object": taken.object, "covers": taken.covers, "size": size });
        let _ = self
            .env
            .nats
            .publish_event(&self.id, event("snapshot", body))
            .await;
        Ok(Ok(taken))
    }

    /// Purges what the previous snapshot covers ([`snapshot::trim`]); failures only
    /// delay trimming to the next snapshot.
    async fn trim(&mut self) {
        let Some(trim) = snapshot::trim(&self.snapshots) else {
            return;
        };
        let nats = &self.env.nats;
        if let Err(e) = nats.oplog().purge_before(&self.id, trim.below_seq).await {
            tracing::warn!(worker = %self.id, error = %e, "could not trim the oplog");
            return;
        }
        self.snapshots.retain(|s| s.index >= trim.keep_from);
        self.from_start = false;
        for object in trim.drop_objects {
            if let Err(e) = nats.snapshots().delete(&object).await {
                tracing::warn!(worker = %self.id, %object, error = %e, "could not delete an old snapshot");
            }
        }
        tracing::debug!(worker = %self.id, below_seq = trim.below_seq, "trimmed the oplog");
    }

    /// What the host knows of the worker now (kept in the `Snapshot` entry).
    pub(super) fn host_state(&self) -> HostState {
        let (promises, payloads) = self.promises.contents();
        let mut timers_fired: Vec<_> = self.timers_fired.iter().copied().collect();
        timers_fired.sort_unstable();
        HostState {
            created_at: self.create.at,
            args: self.create.args.clone(),
            env: self.create.env.clone(),
            promises,
            promise_payloads: payloads
                .into_iter()
                .map(|(i, p)| (i, serde_bytes::ByteBuf::from(p)))
                .collect(),
            timers_fired,
        }
    }
}

/// Where the policy's count starts for a worker read from `plan`: the invocations
/// recorded after its newest snapshot (or all of them), counted from now.
pub(super) fn since_last(plan: &crate::replay::ReplayPlan) -> SinceLast {
    let covers = plan.snapshots.last().map_or(0, |s| s.covers);
    let invocations = plan
        .invocations
        .iter()
        .filter(|i| i.started > covers)
        .count() as u64;
    SinceLast {
        invocations,
        at: plan.snapshots.last().map_or_else(now_ms, |s| s.at),
    }
}
