//! Records kept in Revenant's KV buckets (leases, executors, workers,
//! components with their exports' WIT signatures and parameter shapes,
//! results). They travel in the [`crate::codec`] envelope; fields added later
//! are `#[serde(default)]` so records written before them still decode.
//!
//! Field names: records that also travel as JSON (worker, executor and
//! component records: REST, CLI `--json`, the console) use kebab-case, the one
//! case of every JSON wire. Their KV copies written before that used
//! snake_case names, which still decode (`alias`). Lease and result records
//! never leave MessagePack and keep their persisted names.

use serde::{Deserialize, Serialize};

use crate::names::{ComponentName, ExecutorId, WorkerId};
use crate::oplog::{ErrorBody, InvocationOutcome, OplogIndex, TimestampMs};

/// The value of the `shard.<n>` key in `RVN_SHARDS`. The KV revision of the
/// record is the lease's epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub owner: ExecutorId,
    /// When the lease lapses unless renewed (holder's clock).
    pub expires_at: TimestampMs,
    /// When the current holder first took it.
    pub acquired_at: TimestampMs,
}

/// Heartbeat record of a live executor in `RVN_EXECUTORS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecutorRecord {
    pub id: ExecutorId,
    #[serde(alias = "started_at")]
    pub started_at: TimestampMs,
    #[serde(alias = "heartbeat_at")]
    pub heartbeat_at: TimestampMs,
    #[serde(default)]
    pub shards: Vec<u32>,
    #[serde(default, alias = "workers_in_memory")]
    pub workers_in_memory: u64,
    #[serde(default)]
    pub version: String,
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerStatus {
    /// In memory, no invocation running.
    Idle,
    /// An invocation is running.
    Running,
    /// Not in memory; its next event recovers it.
    Suspended,
    /// A trap exhausted its retries or replay diverged; `last-error` says why.
    Failed,
    /// The guest exited.
    Exited,
    /// Interrupted by a control request: its running invocation was stopped and
    /// invocations wait (in order) until it is resumed.
    Interrupted,
    /// Deleted by a control request (the answer to a delete; a deleted worker has no record).
    Deleted,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Suspended => "suspended",
            Self::Failed => "failed",
            Self::Exited => "exited",
            Self::Interrupted => "interrupted",
            Self::Deleted => "deleted",
        }
    }
}

impl std::str::FromStr for WorkerStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "idle" => Self::Idle,
            "running" => Self::Running,
            "suspended" => Self::Suspended,
            "failed" => Self::Failed,
            "exited" => Self::Exited,
            "interrupted" => Self::Interrupted,
            "deleted" => Self::Deleted,
            other => {
                return Err(format!(
                    "unknown worker status {other:?}; expected one of idle, running, suspended, failed, exited, interrupted, deleted"
                ));
            }
        })
    }
}

/// Worker metadata and status in `RVN_WORKERS` (for listing and dashboards;
/// the oplog, not this record, is the worker's truth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkerRecord {
    pub id: WorkerId,
    pub status: WorkerStatus,
    #[serde(alias = "component_version")]
    pub component_version: u64,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    #[serde(alias = "created_at")]
    pub created_at: TimestampMs,
    #[serde(alias = "updated_at")]
    pub updated_at: TimestampMs,
    #[serde(default, alias = "last_error")]
    pub last_error: Option<String>,
    #[serde(default, alias = "oplog_index")]
    pub oplog_index: OplogIndex,
    #[serde(default, alias = "pending_invocations")]
    pub pending_invocations: u64,
    /// Suspended: what it waits for (`timer:<index>`, `promise:<index>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
}

/// What a control request on `<ns>.control.<component>.<worker>` asks (its JSON body
/// is `{"action": "interrupt"}`, `{"action": "resume"}` or `{"action": "delete"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlAction {
    /// Stop the running invocation now (it runs again from its start on resume) and
    /// hold every later invocation until resumed.
    Interrupt,
    /// Run the held invocations again, the interrupted one first.
    Resume,
    /// Delete the worker (also a failed or interrupted one): a running invocation is
    /// stopped, the oplog ends with a `Deleted` tombstone, and every invocation sent
    /// before is rejected (`worker-deleted`), never run. The next one starts a new worker.
    Delete,
    /// Take a snapshot now (between invocations; the component must export
    /// `revenant:api/snapshot`), and trim the oplog as after any snapshot.
    Snapshot,
    /// Move the worker to component version `to` (between invocations): wholly, or not
    /// at all (`update-failed`, the worker keeps its version).
    Update {
        to: u64,
        #[serde(default)]
        mode: crate::snapshot::UpdateMode,
    },
    /// Drop the worker's instance and what the executor holds of it, as a crash of its
    /// executor would, and recover it at once from its oplog by replay (a running
    /// invocation is cut short and runs on from its journal). The answer says how long
    /// recovering took. For drills: how the worker, and what calls it, weather a crash.
    SimulateCrash,
}

impl ControlAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interrupt => "interrupt",
            Self::Resume => "resume",
            Self::Delete => "delete",
            Self::Snapshot => "snapshot",
            Self::Update { .. } => "update",
            Self::SimulateCrash => "simulate-crash",
        }
    }
}

/// The JSON body of a control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlBody {
    pub action: ControlAction,
}

/// The answer to a control request (`Rvn-Status: ok`): the worker's state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerState {
    /// `<component>.<worker>`.
    pub worker: String,
    pub status: WorkerStatus,
    /// Whether invocations are held until a resume.
    pub interrupted: bool,
    /// After `simulate-crash`: how long recovering the worker took (reading its oplog,
    /// loading the component, replaying), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_ms: Option<f64>,
}

/// One exported function of a component, with its WIT signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFunction {
    /// Full name: `pkg:ns/iface.{fn}` for interface exports, the bare `fn` for world-level ones.
    pub name: String,
    /// Parameters as `name: type` in WIT syntax.
    pub params: Vec<(String, String)>,
    /// The result type in WIT syntax, if any.
    pub result: Option<String>,
    /// The structure of each parameter, in `params` order, recorded at upload so
    /// that API routes are validated without the binary. Empty in records written
    /// before shapes were recorded (see [`ExportedFunction::param_shapes`]).
    #[serde(default)]
    pub shapes: Vec<WitShape>,
}

impl ExportedFunction {
    /// Every parameter's name with its shape; `None` when the record has no
    /// shapes (a version uploaded before they were recorded: upload it again).
    pub fn param_shapes(&self) -> Option<Vec<(String, WitShape)>> {
        (self.shapes.len() == self.params.len()).then(|| {
            self.params
                .iter()
                .map(|(name, _)| name.clone())
                .zip(self.shapes.iter().cloned())
                .collect()
        })
    }

    /// `example:counter/api.{add}(value: u64) -> u64`.
    pub fn signature(&self) -> String {
        let params = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        match &self.result {
            Some(r) => format!("{}({params}) -> {r}", self.name),
            None => format!("{}({params})", self.name),
        }
    }
}

/// The structure of a WIT type, as far as JSON arguments care (what an API
/// route's templates may put where). Recorded per parameter at upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "of")]
pub enum WitShape {
    Bool,
    /// Any of `s8`…`u64`.
    Integer,
    /// `f32` / `f64`.
    Float,
    Char,
    String,
    /// Fields with their kebab-case names.
    Record(Vec<(String, WitShape)>),
    Option(Box<WitShape>),
    List(Box<WitShape>),
    /// Anything else (variant, enum, flags, result, tuple, …), as WIT text.
    Other(String),
}

impl WitShape {
    /// Short WIT-like text, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Bool => "bool".into(),
            Self::Integer => "an integer".into(),
            Self::Float => "a float".into(),
            Self::Char => "char".into(),
            Self::String => "string".into(),
            Self::Record(fields) => format!(
                "record {{{}}}",
                fields
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Option(t) => format!("option<{}>", t.describe()),
            Self::List(t) => format!("list<{}>", t.describe()),
            Self::Other(t) => t.clone(),
        }
    }
}

/// Metadata of one version of a component (`RVN_COMPONENTS` KV, key `<component>`
/// holds the latest; the binary is in the object store under `<component>/<version>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ComponentRecord {
    pub name: ComponentName,
    pub version: u64,
    /// SHA-256 of the binary, hex.
    pub hash: String,
    pub size: u64,
    pub exports: Vec<ExportedFunction>,
    #[serde(alias = "created_at")]
    pub created_at: TimestampMs,
    /// When its workers take snapshots (off unless set at upload; needs the
    /// `revenant:api/snapshot` export to have any effect).
    #[serde(
        default,
        skip_serializing_if = "crate::snapshot::SnapshotPolicy::is_off"
    )]
    pub snapshot: crate::snapshot::SnapshotPolicy,
    /// Ephemeral: each invocation runs on a fresh instance with a journal kept in
    /// memory only (nothing in the oplog); results are still deduplicated by key
    /// through `RVN_RESULTS`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
}

/// What `revenant component add` sets on a version besides its binary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentOptions {
    pub snapshot: crate::snapshot::SnapshotPolicy,
    pub ephemeral: bool,
}

impl ComponentRecord {
    /// Whether it exports `revenant:api/snapshot` (`save` and `load`).
    pub fn exports_snapshot(&self) -> bool {
        ["save", "load"].iter().all(|f| {
            self.exports
                .iter()
                .any(|e| e.name == crate::snapshot::export_name(f))
        })
    }
}

/// A completed invocation's result in `RVN_RESULTS`, keyed by idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub worker: WorkerId,
    pub function: String,
    pub outcome: InvocationOutcome,
    pub completed_at: TimestampMs,
}

impl ResultRecord {
    /// `("ok", json)` or `("error", {kind,message} json)`: the status header and body callers get.
    pub fn status_and_body(&self) -> (&'static str, String) {
        outcome_status_and_body(&self.outcome)
    }
}

/// The `Rvn-Status` value and JSON body for an outcome.
pub fn outcome_status_and_body(outcome: &InvocationOutcome) -> (&'static str, String) {
    match outcome {
        InvocationOutcome::Ok(json) => ("ok", json.clone()),
        InvocationOutcome::Err(e) => ("error", error_json(e)),
    }
}

/// `{"kind": ..., "message": ...}`.
pub fn error_json(e: &ErrorBody) -> String {
    serde_json::json!({ "kind": e.kind, "message": e.message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_contract_in_json() {
        let body: ControlBody = serde_json::from_str(r#"{"action":"interrupt"}"#).unwrap();
        assert_eq!(body.action, ControlAction::Interrupt);
        let body: ControlBody = serde_json::from_str(r#"{"action":"resume"}"#).unwrap();
        assert_eq!(body.action, ControlAction::Resume);
        let body: ControlBody = serde_json::from_str(r#"{"action":"delete"}"#).unwrap();
        assert_eq!(body.action, ControlAction::Delete);
        assert_eq!("deleted".parse::<WorkerStatus>(), Ok(WorkerStatus::Deleted));
        assert!(serde_json::from_str::<ControlBody>(r#"{"action":"pause"}"#).is_err());
        let state = WorkerState {
            worker: "counter.c1".into(),
            status: WorkerStatus::Interrupted,
            interrupted: true,
            recovered_ms: None,
        };
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            serde_json::json!({"worker": "counter.c1", "status": "interrupted", "interrupted": true})
        );
        assert_eq!(
            "interrupted".parse::<WorkerStatus>(),
            Ok(WorkerStatus::Interrupted)
        );
        assert_eq!(WorkerStatus::Interrupted.as_str(), "interrupted");
    }

    fn add() -> ExportedFunction {
        ExportedFunction {
            name: "example:counter/api.{add}".into(),
            params: vec![("value".into(), "u64".into())],
            result: Some("u64".into()),
            shapes: vec![WitShape::Integer],
        }
    }

    #[test]
    fn a_component_record_written_before_shapes_were_recorded_still_decodes() {
        /// `ComponentRecord` as it was before `ExportedFunction::shapes`.
        #[derive(Serialize)]
        struct OldExport {
            name: String,
            params: Vec<(String, String)>,
            result: Option<String>,
        }
        #[derive(Serialize)]
        struct OldRecord {
            name: ComponentName,
            version: u64,
            hash: String,
            size: u64,
            exports: Vec<OldExport>,
            created_at: TimestampMs,
        }
        let old = OldRecord {
            name: ComponentName::new("counter").unwrap(),
            version: 3,
            hash: "ab".into(),
            size: 10,
            exports: vec![OldExport {
                name: "example:counter/api.{add}".into(),
                params: vec![("value".into(), "u64".into())],
                result: Some("u64".into()),
            }],
            created_at: 1,
        };
        let record: ComponentRecord =
            crate::codec::decode(&crate::codec::encode(&old).unwrap()).unwrap();
        assert_eq!(record.version, 3);
        let export = &record.exports[0];
        assert!(export.shapes.is_empty());
        assert_eq!(
            export.param_shapes(),
            None,
            "an old record says it has no shapes"
        );
    }

    #[test]
    fn parameter_shapes_survive_the_codec_and_pair_with_their_names() {
        let mut export = add();
        export.params.push(("item".into(), "product-item".into()));
        let item = WitShape::Record(vec![
            ("name".into(), WitShape::String),
            ("tags".into(), WitShape::List(Box::new(WitShape::String))),
            (
                "maybe".into(),
                WitShape::Option(Box::new(WitShape::Other("color".into()))),
            ),
            ("ok".into(), WitShape::Bool),
        ]);
        export.shapes.push(item.clone());
        let record = ComponentRecord {
            name: ComponentName::new("counter").unwrap(),
            version: 1,
            hash: "ab".into(),
            size: 10,
            exports: vec![export],
            created_at: 1,
            snapshot: Default::default(),
            ephemeral: false,
        };
        let back: ComponentRecord =
            crate::codec::decode(&crate::codec::encode(&record).unwrap()).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            back.exports[0].param_shapes(),
            Some(vec![
                ("value".into(), WitShape::Integer),
                ("item".into(), item)
            ])
        );
        assert_eq!(
            serde_json::to_value(WitShape::Option(Box::new(WitShape::Integer))).unwrap(),
            serde_json::json!({"type": "option", "of": {"type": "integer"}})
        );
        let no_params = ExportedFunction {
            params: vec![],
            shapes: vec![],
            ..add()
        };
        assert_eq!(no_params.param_shapes(), Some(vec![]));
    }

    /// A record as the code before the kebab-case convention wrote it.
    fn old_worker_record() -> serde_json::Value {
        serde_json::json!({
            "id": {"component": "counter", "worker": "c1"},
            "status": "failed",
            "component_version": 2,
            "args": [],
            "env": [],
            "created_at": 10,
            "updated_at": 20,
            "last_error": "boom",
            "oplog_index": 7,
            "pending_invocations": 1,
        })
    }

    #[test]
    fn json_records_use_kebab_case_and_old_snake_case_ones_still_decode() {
        let old: WorkerRecord = serde_json::from_value(old_worker_record()).unwrap();
        assert_eq!(old.component_version, 2);
        assert_eq!(old.last_error.as_deref(), Some("boom"));
        assert_eq!((old.oplog_index, old.pending_invocations), (7, 1));
        let json = serde_json::to_value(&old).unwrap();
        for key in [
            "component-version",
            "created-at",
            "updated-at",
            "last-error",
            "oplog-index",
            "pending-invocations",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert!(!json.to_string().contains('_'), "{json}");

        // The KV copy: MessagePack with named fields, as the old code wrote it.
        let bytes = crate::codec::encode(&old_worker_record()).unwrap();
        assert_eq!(crate::codec::decode::<WorkerRecord>(&bytes).unwrap(), old);

        let executor = serde_json::json!({
            "id": "e1", "started_at": 1, "heartbeat_at": 2, "shards": [3], "workers_in_memory": 4,
        });
        let bytes = crate::codec::encode(&executor).unwrap();
        let e: ExecutorRecord = crate::codec::decode(&bytes).unwrap();
        assert_eq!(
            (e.started_at, e.heartbeat_at, e.workers_in_memory),
            (1, 2, 4)
        );
        assert!(
            serde_json::to_value(&e)
                .unwrap()
                .get("heartbeat-at")
                .is_some()
        );

        let component = serde_json::json!({
            "name": "counter", "version": 1, "hash": "ab", "size": 3, "exports": [], "created_at": 5,
        });
        let bytes = crate::codec::encode(&component).unwrap();
        let c: ComponentRecord = crate::codec::decode(&bytes).unwrap();
        assert_eq!(c.created_at, 5);
        assert!(
            serde_json::to_value(&c)
                .unwrap()
                .get("created-at")
                .is_some()
        );
    }
}
