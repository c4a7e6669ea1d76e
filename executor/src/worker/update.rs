//! Moving a worker to another component version (the driver of
//! [`crate::decide::update`]). `UpdatePending` is committed first; the new version's
//! instance is built beside the old one (which is kept untouched until the outcome is
//! known); the outcome is one commit — `UpdateSucceeded` (after a `Snapshot` entry of
//! the new version when its state came from a snapshot) or `UpdateFailed`, after which
//! the old instance goes on as if nothing happened. A crash anywhere before the
//! outcome's commit leaves an unresolved `UpdatePending`, which replay ignores.
//!
//! - **auto**: the new version rebuilds the state the way a recovery would — from the
//!   newest snapshot the old version wrote (loaded by the new version), or from the
//!   `Create` — and replays the invocations after it; any divergence fails the update;
//! - **snapshot**: `save` on the old instance, `load` on the new one; the history
//!   before is never replayed on the new version.

use revenant_types::now_ms;
use revenant_types::oplog::{ErrorBody, OplogEntry};
use revenant_types::snapshot::UpdateMode;

use super::restore::read_plan;
use super::{Worker, WorkerError};
use crate::context::event;
use crate::decide::snapshot::{SinceLast, SnapshotRef};
use crate::decide::update::{UpdatePlan, UpdateRequest, update};
use crate::live::Live;

/// How an update request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// The worker runs version `0` now (or already did).
    To(u64),
    /// Refused before anything was journaled.
    Refused(ErrorBody),
    /// `UpdateFailed` is journaled: the worker stays on its version, for this reason.
    Failed(String),
}

impl Worker {
    /// Moves the worker to version `to` (see the module docs).
    pub async fn update(&mut self, to: u64, mode: UpdateMode) -> Result<Updated, WorkerError> {
        let current = self.create.component_version;
        let target = self.env.components.get(&self.id.component, to).await.ok();
        let request = UpdateRequest {
            current,
            to,
            mode,
            known: target.is_some(),
            target_exports_snapshot: target.as_ref().is_some_and(|t| t.record.exports_snapshot()),
        };
        match update(request, self.quiescence()) {
            UpdatePlan::Unchanged => return Ok(Updated::To(current)),
            UpdatePlan::Refuse(error) => return Ok(Updated::Refused(error)),
            UpdatePlan::Try => {}
        }
        self.journal.push(OplogEntry::UpdatePending {
            at: now_ms(),
            target_version: to,
            mode,
        });
        self.journal.commit().await?;
        let mut old = self.live.take();
        self.create.component_version = to;
        let tried = match mode {
            UpdateMode::Auto => self.rebuild_on_new(current).await,
            UpdateMode::Snapshot => self.load_on_new(&mut old, to).await,
        };
        let tried = match tried {
            Ok(tried) => tried,
            Err(e) => {
                // The oplog or a component could not be read: the worker is dropped and
                // recovered anew (its `UpdatePending` is unresolved: the old version).
                self.create.component_version = current;
                return Err(e);
            }
        };
        let at = now_ms();
        let base = match &tried {
            Ok(base) => {
                // When the state came from a snapshot, recoveries on the new version start there.
                let base = base.as_ref().map(|b| {
                    let index = self.journal.push(retagged(b, to));
                    SnapshotRef {
                        index,
                        component_version: to,
                        ..b.clone()
                    }
                });
                self.journal
                    .push(OplogEntry::UpdateSucceeded { at, version: to });
                base
            }
            Err(message) => {
                self.journal.push(OplogEntry::UpdateFailed {
                    at,
                    version: to,
                    message: message.clone(),
                });
                None
            }
        };
        self.journal.commit().await?;
        let updated = match tried {
            Ok(_) => {
                if let Some(base) = base {
                    self.snapshots.push(base);
                    self.since_snapshot = SinceLast { invocations: 0, at };
                }
                Updated::To(to)
            }
            Err(message) => {
                self.create.component_version = current;
                if mode == UpdateMode::Snapshot && old.is_some() {
                    self.live = old;
                } else {
                    // Auto mode read the oplog into a journal of its own, which the old
                    // instance does not write to; or the old instance trapped in `save`:
                    // either way the old version is rebuilt from the oplog.
                    self.rebuild().await?;
                }
                Updated::Failed(message)
            }
        };
        let mut body = serde_json::json!({ "from": current, "to": to, "mode": mode.as_str() });
        let kind = match &updated {
            Updated::Failed(message) => {
                body["error"] = serde_json::json!(message);
                "update-failed"
            }
            _ => "update-succeeded",
        };
        let _ = self
            .env
            .nats
            .publish_event(&self.id, event(kind, body))
            .await;
        Ok(updated)
    }

    /// Auto mode: the new version's instance rebuilt from the old version's newest base.
    async fn rebuild_on_new(
        &mut self,
        from: u64,
    ) -> Result<Result<Option<SnapshotRef>, String>, WorkerError> {
        let (plan, journal) = read_plan(&self.env, &self.id).await?;
        self.journal = journal;
        self.rebuild_state(from, &plan.snapshots, plan.invocations, plan.from_start)
            .await
    }

    /// Snapshot mode: `save` on the old instance, `load` on a new instance of version
    /// `to`; the saved state is stored in `RVN_SNAPSHOTS` as the new version's base.
    async fn load_on_new(
        &mut self,
        old: &mut Option<Live>,
        to: u64,
    ) -> Result<Result<Option<SnapshotRef>, String>, WorkerError> {
        let Some(saving) = old.as_mut() else {
            return Ok(Err("the worker has no instance to save".into()));
        };
        let bytes = match saving.save().await {
            Ok(bytes) => bytes,
            Err(e) => {
                // A trap leaves the old instance unusable.
                *old = None;
                return Ok(Err(format!("the old version's save failed: {e}")));
            }
        };
        let mut live = match self.instantiate().await? {
            Ok(live) => live,
            Err(message) => return Ok(Err(message)),
        };
        if let Err(e) = live.load(bytes.clone()).await {
            return Ok(Err(format!(
                "version {to} could not load the old version's state: {e}"
            )));
        }
        self.live = Some(live);
        let covers = self.oplog_index();
        let covers_seq = self.journal.last_seq().await;
        let digest = revenant_components::content_hash(&bytes);
        let size = bytes.len() as u64;
        let object = match self.env.nats.snapshots().put(&self.id, covers, bytes).await {
            Ok(object) => object,
            Err(e) => {
                self.live = None;
                return Ok(Err(e.to_string()));
            }
        };
        Ok(Ok(Some(SnapshotRef {
            index: 0,
            at: now_ms(),
            object,
            covers,
            covers_seq,
            component_version: to,
            digest,
            size,
            host_state: Some(self.host_state()),
        })))
    }
}

/// A `Snapshot` entry of version `to` for the state snapshot `base` holds.
fn retagged(base: &SnapshotRef, to: u64) -> OplogEntry {
    OplogEntry::Snapshot {
        at: base.at,
        object: base.object.clone(),
        covers: base.covers,
        component_version: to,
        digest: base.digest.clone(),
        size: base.size,
        covers_seq: base.covers_seq,
        host_state: base.host_state.clone(),
    }
}
