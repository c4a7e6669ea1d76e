//! Time travel: a worker's state "as of" an oplog index. The request
//! `{"at": <index>}` travels on the core subject `<ns>.inspect.<c>.<w>` (names in
//! `revenant-nats`); the executor holding the worker's shard replays the oplog up
//! to `at` in a throwaway instance — nothing is appended, the live worker is not
//! touched — and answers an [`Inspection`]: every invocation started by then, each
//! with what replaying it returned next to what the oplog recorded.
//!
//! Compatibility: these are wire records, not persisted ones; new fields are
//! optional so an older reader skips them.

use serde::{Deserialize, Serialize};

use crate::oplog::{InvocationOutcome, OplogIndex};

/// The body of an inspect request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectRequest {
    /// The oplog index to replay up to (inclusive).
    pub at: OplogIndex,
}

/// What replaying one invocation gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Replayed {
    /// Re-run on the throwaway instance; `result` is what it returned (the same as recorded).
    Replayed,
    /// Re-run and did not give what the oplog recorded; `message` says how.
    Diverged,
    /// Completed with an error: its effects were discarded, so it is not re-run.
    Failed,
    /// Started but not completed by `at`: it was running then; not re-run.
    Running,
    /// Covered by the snapshot the throwaway instance was loaded from.
    Snapshot,
}

/// One invocation started at or before the inspected index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InspectedInvocation {
    /// The index of its `InvocationStarted`.
    pub started: OplogIndex,
    pub idempotency_key: String,
    pub function: String,
    /// Its arguments as journaled (JSON text).
    pub args: String,
    pub replayed: Replayed,
    /// What the replay returned (JSON text), when it was re-run and returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Its outcome as recorded by `at`, if it had completed by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<InvocationOutcome>,
    /// Why it diverged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to an inspect request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Inspection {
    /// `<component>/<worker>`.
    pub worker: String,
    /// The index replayed up to.
    pub at: OplogIndex,
    /// The worker's last oplog index now.
    pub last_index: OplogIndex,
    /// The component version it ran at `at`.
    pub component_version: u64,
    /// The snapshot the instance was loaded from (its `covers` index), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_covers: Option<OplogIndex>,
    /// Set when the worker was failed at `at` (why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Interrupted at `at`.
    #[serde(default)]
    pub interrupted: bool,
    /// Every invocation started by `at`, oldest first.
    pub invocations: Vec<InspectedInvocation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inspection_is_kebab_case_json_without_empty_options() {
        let i = Inspection {
            worker: "counter/a".into(),
            at: 4,
            last_index: 9,
            component_version: 1,
            snapshot_covers: None,
            failed: None,
            interrupted: false,
            invocations: vec![InspectedInvocation {
                started: 2,
                idempotency_key: "k".into(),
                function: "add".into(),
                args: "[1]".into(),
                replayed: Replayed::Replayed,
                result: Some("1".into()),
                recorded: Some(InvocationOutcome::Ok("1".into())),
                message: None,
            }],
        };
        let json = serde_json::to_value(&i).unwrap();
        assert_eq!(json["last-index"], 9);
        assert_eq!(json["invocations"][0]["idempotency-key"], "k");
        assert_eq!(json["invocations"][0]["replayed"], "replayed");
        assert!(json.get("failed").is_none());
        let back: Inspection = serde_json::from_value(json).unwrap();
        assert_eq!(back, i);
    }
}
