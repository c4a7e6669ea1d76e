//! Update decisions (ARCHITECTURE.md "Snapshots, trimming, updates, ephemeral
//! workers"): whether a worker can move to another component version now, and how.
//! Pure: `worker::update` performs them.
//!
//! Rules:
//! - an update happens between invocations, like a snapshot (not while one runs,
//!   waits, is suspended or parked; not on an interrupted or failed worker);
//! - the target version must exist; the worker's own version changes nothing;
//! - `snapshot` mode needs the `revenant:api/snapshot` export on both versions (`save`
//!   on the old, `load` on the new); `auto` replays the history on the new version from
//!   the newest snapshot the old version wrote (which the new version must `load`), or
//!   from the `Create` while the history is whole;
//! - the outcome is one commit: `UpdateSucceeded` (with, when the state came from a
//!   snapshot, a `Snapshot` entry of the new version) or `UpdateFailed`; a crash before
//!   it leaves the `UpdatePending` unresolved, which replay ignores: the worker is
//!   wholly on the old version or wholly on the new one.

use revenant_types::ErrorKind;
use revenant_types::oplog::ErrorBody;
use revenant_types::snapshot::UpdateMode;

use super::snapshot::{Quiescence, refusal};

/// What an update request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateRequest {
    pub current: u64,
    pub to: u64,
    pub mode: UpdateMode,
    /// The target version exists.
    pub known: bool,
    /// The target version exports `revenant:api/snapshot`.
    pub target_exports_snapshot: bool,
}

/// What to do with an update request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatePlan {
    /// Already on that version: answer with the state, append nothing.
    Unchanged,
    /// Refused before anything is journaled.
    Refuse(ErrorBody),
    /// Journal `UpdatePending` and try.
    Try,
}

/// Decides an update request for a worker in state `q` (its `exports_snapshot` is the
/// current version's).
pub fn update(request: UpdateRequest, q: Quiescence) -> UpdatePlan {
    if request.to == request.current {
        return UpdatePlan::Unchanged;
    }
    if !request.known {
        return UpdatePlan::Refuse(ErrorBody::new(
            ErrorKind::UnknownVersion,
            format!(
                "the component has no version {}; upload it with `revenant component add`",
                request.to
            ),
        ));
    }
    let needs_export = request.mode == UpdateMode::Snapshot;
    let q = Quiescence {
        exports_snapshot: q.exports_snapshot || !needs_export,
        ..q
    };
    if let Some(why) = refusal(q) {
        return UpdatePlan::Refuse(ErrorBody::new(ErrorKind::Unavailable, why));
    }
    if needs_export && !request.target_exports_snapshot {
        return UpdatePlan::Refuse(ErrorBody::new(
            ErrorKind::UpdateFailed,
            format!(
                "version {} does not export revenant:api/snapshot; update with --mode auto",
                request.to
            ),
        ));
    }
    UpdatePlan::Try
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: UpdateMode) -> UpdateRequest {
        UpdateRequest {
            current: 1,
            to: 2,
            mode,
            known: true,
            target_exports_snapshot: true,
        }
    }

    fn idle(exports_snapshot: bool) -> Quiescence {
        Quiescence {
            exports_snapshot,
            instantiated: true,
            ..Quiescence::default()
        }
    }

    fn kind(plan: UpdatePlan) -> ErrorKind {
        match plan {
            UpdatePlan::Refuse(e) => e.kind,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn an_update_to_the_current_version_changes_nothing() {
        let r = UpdateRequest {
            to: 1,
            ..request(UpdateMode::Auto)
        };
        assert_eq!(update(r, idle(false)), UpdatePlan::Unchanged);
    }

    #[test]
    fn an_automatic_update_needs_no_snapshot_export_but_a_quiescent_worker() {
        assert_eq!(
            update(request(UpdateMode::Auto), idle(false)),
            UpdatePlan::Try
        );
        let busy = Quiescence {
            tail: true,
            ..idle(false)
        };
        assert_eq!(
            kind(update(request(UpdateMode::Auto), busy)),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn a_snapshot_update_needs_the_export_on_both_versions() {
        assert_eq!(
            update(request(UpdateMode::Snapshot), idle(true)),
            UpdatePlan::Try
        );
        assert_eq!(
            kind(update(request(UpdateMode::Snapshot), idle(false))),
            ErrorKind::Unavailable
        );
        let r = UpdateRequest {
            target_exports_snapshot: false,
            ..request(UpdateMode::Snapshot)
        };
        assert_eq!(kind(update(r, idle(true))), ErrorKind::UpdateFailed);
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let r = UpdateRequest {
            known: false,
            ..request(UpdateMode::Auto)
        };
        assert_eq!(kind(update(r, idle(true))), ErrorKind::UnknownVersion);
    }
}
