//! Records kept in Revenant's KV buckets (leases, executors, workers,
//! components, results). They travel in the [`crate::codec`] envelope.

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
pub struct ExecutorRecord {
    pub id: ExecutorId,
    pub started_at: TimestampMs,
    pub heartbeat_at: TimestampMs,
    #[serde(default)]
    pub shards: Vec<u32>,
    #[serde(default)]
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
    /// A trap exhausted its retries or replay diverged; `last_error` says why.
    Failed,
    /// The guest exited.
    Exited,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Suspended => "suspended",
            Self::Failed => "failed",
            Self::Exited => "exited",
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
            other => {
                return Err(format!(
                    "unknown worker status {other:?}; expected one of idle, running, suspended, failed, exited"
                ));
            }
        })
    }
}

/// Worker metadata and status in `RVN_WORKERS` (for listing and dashboards;
/// the oplog, not this record, is the worker's truth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub id: WorkerId,
    pub status: WorkerStatus,
    pub component_version: u64,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    pub created_at: TimestampMs,
    pub updated_at: TimestampMs,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub oplog_index: OplogIndex,
    #[serde(default)]
    pub pending_invocations: u64,
}

/// One exported function of a component, with its WIT signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFunction {
    /// Full name: `pkg:ns/iface.{fn}` for interface exports, `{fn}` for world-level ones.
    pub name: String,
    /// Parameters as `name: type` in WIT syntax.
    pub params: Vec<(String, String)>,
    /// The result type in WIT syntax, if any.
    pub result: Option<String>,
}

impl ExportedFunction {
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

/// Metadata of one version of a component (`RVN_COMPONENTS` KV, key `<component>`
/// holds the latest; the binary is in the object store under `<component>/<version>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub name: ComponentName,
    pub version: u64,
    /// SHA-256 of the binary, hex.
    pub hash: String,
    pub size: u64,
    pub exports: Vec<ExportedFunction>,
    pub created_at: TimestampMs,
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
