//! The oplog: a worker's append-only journal. Every invocation, every result of
//! a non-deterministic host call and every status change is an [`OplogEntry`].
//! Recovery replays it: recorded invocations are re-run and journaled host calls
//! return their recorded responses.
//!
//! Compatibility: entries are stored with [`crate::codec`] (named MessagePack
//! fields, so fields can be added with `#[serde(default)]` and variants
//! appended). Never rename or remove a variant or field; the golden files in
//! `types/tests/golden/` fail the build when an old entry stops decoding.

use serde::{Deserialize, Serialize};

pub use crate::error_kind::ErrorKind;

/// 1-based position of an entry in its worker's oplog. Stable across batching:
/// a message holding several entries records the index of its first one.
pub type OplogIndex = u64;

/// Milliseconds since the Unix epoch, as seen by the executor that wrote the entry.
pub type TimestampMs = u64;

/// Milliseconds since the Unix epoch, now (the one wall-clock reading of the workspace).
pub fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How a host call is journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Reads the outside world (clocks, random): replay returns the recorded value.
    ReadRemote,
    /// Changes the outside world (HTTP, RPC, KV write): bracketed by
    /// `BeginRemoteWrite` / `EndRemoteWrite`; repeated on recovery when the end is missing.
    WriteRemote,
    /// Not journaled (ephemeral); kept for introspection only.
    Ephemeral,
}

/// A recorded HTTP request (method, URL, headers, body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequestRecord {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// A recorded HTTP response: status, headers and the full body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// The request or response of a journaled host call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostValue {
    Unit,
    U64(u64),
    /// `wasi:random/insecure-seed` and similar pairs.
    U64Pair(u64, u64),
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    Datetime {
        seconds: u64,
        nanoseconds: u32,
    },
    Text(String),
    HttpRequest(HttpRequestRecord),
    HttpResponse(HttpResponseRecord),
    /// The call failed; the guest saw this error.
    Error(String),
    /// Consecutive readings of one call journaled as one entry, in order
    /// (`wasi:clocks/monotonic-clock.now`: language runtimes read it many times per call).
    U64List(Vec<u64>),
}

/// The outcome of an invocation, as answered to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvocationOutcome {
    /// JSON text of the returned value.
    Ok(String),
    Err(ErrorBody),
}

/// The JSON error object `{ "kind": "...", "message": "..." }` callers receive.
/// `kind` is persisted as its wire string; any string decodes (see [`ErrorKind`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

/// The answer to a firing of `schedule` that was skipped for `reason`.
pub fn firing_skipped(schedule: &str, reason: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::FiringSkipped,
        format!("this firing of schedule {schedule} was skipped: {reason}"),
    )
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// W3C trace context carried with an invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Neither header set.
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none() && self.tracestate.is_none()
    }
}

/// The worker that awaits an invocation's outcome (worker-to-worker RPC): the callee's
/// executor sends the outcome to its inbox as an `Rvn-Kind: result` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerRecord {
    /// `<component>/<worker>`.
    pub worker: String,
    /// The workers (`<component>/<worker>`) waiting on this call, outermost first, the
    /// caller last: an await of any of them from here would close a cycle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

/// One journal entry. Variants are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OplogEntry {
    /// The worker was created: fixes its component version, args and env for life.
    Create {
        at: TimestampMs,
        component_version: u64,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// An invocation began. `args` is the JSON array of arguments as received.
    InvocationStarted {
        at: TimestampMs,
        idempotency_key: String,
        function: String,
        args: String,
        #[serde(default)]
        trace: TraceContext,
        /// Where its outcome goes (`Rvn-Reply-To`): a suspended invocation is answered
        /// after its message was acknowledged, by whichever executor resumes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// The worker awaiting its outcome, when another worker called it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<CallerRecord>,
        /// The schedule whose firing this is (`i-<key>`, `c-<name>`), if it is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<String>,
    },
    /// A journaled host call and what it returned.
    HostCall {
        function: String,
        request: HostValue,
        response: HostValue,
        durability: Durability,
    },
    /// The invocation finished; `outcome` is what every caller with its key gets.
    InvocationCompleted {
        at: TimestampMs,
        idempotency_key: String,
        outcome: InvocationOutcome,
        /// Guest fuel/time spent is not journaled; this is wall time for introspection.
        #[serde(default)]
        duration_us: u64,
    },
    /// A trap or host fault; `retry` is the attempt number it ends (1-based).
    /// It voids the host calls of that attempt. `fatal`: no retry follows and
    /// the worker is failed (retries exhausted, or replay diverged).
    Error {
        at: TimestampMs,
        message: String,
        retry: u32,
        #[serde(default)]
        fatal: bool,
    },
    /// The running invocation waits for what `waiting` names (`timer:<index>`,
    /// `promise:<index>`) and the instance was dropped; a wake-up resumes it by replay.
    Suspended {
        at: TimestampMs,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting: Vec<String>,
    },
    Resumed {
        at: TimestampMs,
    },
    Interrupted {
        at: TimestampMs,
    },
    /// The guest called `wasi:cli/exit`: the worker is over (every later invocation
    /// is answered `worker-failed`, saying it exited with `code`).
    Exited {
        at: TimestampMs,
        #[serde(default)]
        code: i32,
    },
    /// An invocation arrived while the worker was suspended: it is kept here (and its
    /// message acknowledged) and runs, in arrival order, once the worker goes on.
    PendingInvocation {
        at: TimestampMs,
        idempotency_key: String,
        function: String,
        /// The message body as received (arguments), with its content type.
        #[serde(default, with = "serde_bytes", skip_serializing_if = "Vec::is_empty")]
        body: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        #[serde(default)]
        trace: TraceContext,
        /// Its `RVN_INVOKE` stream sequence.
        #[serde(default)]
        stream_sequence: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<CallerRecord>,
    },
    PromiseCreated {
        at: TimestampMs,
        promise: u64,
    },
    PromiseCompleted {
        at: TimestampMs,
        promise: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    TimerScheduled {
        at: TimestampMs,
        fire_at: TimestampMs,
        subject: String,
    },
    /// An outgoing side effect is about to happen (e.g. an HTTP request).
    BeginRemoteWrite {
        function: String,
        request: HostValue,
    },
    /// Its response; `begin` is the index of the matching `BeginRemoteWrite`.
    EndRemoteWrite {
        begin: OplogIndex,
        response: HostValue,
    },
    BeginAtomicRegion,
    EndAtomicRegion {
        begin: OplogIndex,
    },
    /// A snapshot covering every entry up to `covers` is stored under `object`
    /// (`RVN_SNAPSHOTS`). Recovery may start from it: the guest's `load` gets the bytes,
    /// then the entries after `covers` are replayed. The fields after `covers` were
    /// added with the snapshot policy; entries written before decode with their defaults
    /// (version 0 and no host state: such a snapshot is never loaded).
    Snapshot {
        at: TimestampMs,
        object: String,
        covers: OplogIndex,
        /// The component version whose `save` wrote it (only that version `load`s it).
        #[serde(default)]
        component_version: u64,
        /// SHA-256 of the snapshot bytes, hex (checked before `load`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        digest: String,
        /// Its size in bytes.
        #[serde(default)]
        size: u64,
        /// The stream sequence of the last oplog message it covers: trimming purges the
        /// worker's subject below `covers_seq + 1`, which keeps this entry.
        #[serde(default)]
        covers_seq: u64,
        /// What the host knew of the worker at `covers` (creation, promises, timers),
        /// which trimming would otherwise take away with the entries that said it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host_state: Option<crate::snapshot::HostState>,
    },
    /// An update to `target_version` began (`mode` added later: older entries are `auto`).
    /// Without an `UpdateSucceeded` after it the worker stays on its version.
    UpdatePending {
        at: TimestampMs,
        target_version: u64,
        #[serde(default)]
        mode: crate::snapshot::UpdateMode,
    },
    UpdateSucceeded {
        at: TimestampMs,
        version: u64,
    },
    UpdateFailed {
        at: TimestampMs,
        version: u64,
        message: String,
    },
    /// A line the guest wrote to stdout/stderr or logged (introspection only; not replayed).
    Log {
        at: TimestampMs,
        stream: String,
        message: String,
    },
    /// The worker was deleted: replay forgets every entry before this one (a later
    /// `Create` starts a new worker), and invocations stored in `RVN_INVOKE` at stream
    /// sequence `before` or earlier belong to the deleted worker: they are rejected
    /// (`worker-deleted`), never run. Kept as the subject's last message when the
    /// oplog is purged, so the subject's sequence (the append fence) survives.
    Deleted {
        at: TimestampMs,
        before: u64,
    },
    /// The durable timer scheduled by the host call at index `timer` fired (its
    /// schedule message arrived): a worker suspended on it resumes.
    TimerFired {
        at: TimestampMs,
        timer: OplogIndex,
    },
    /// The outcome of the worker-to-worker call begun at index `call` (its
    /// `BeginRemoteWrite`, the call's `RpcStarted`) arrived in the inbox.
    RpcCompleted {
        at: TimestampMs,
        call: OplogIndex,
        outcome: InvocationOutcome,
    },
    /// A firing of schedule `schedule` was not applied (overlap `skip` while another
    /// invocation ran, or later than its catch-up bound): its key counts as answered
    /// with a `skipped` error, so a redelivery is not applied either.
    FiringSkipped {
        at: TimestampMs,
        schedule: String,
        idempotency_key: String,
        reason: String,
    },
}

impl OplogEntry {
    /// The answer this entry records for an idempotency key: an `InvocationCompleted`'s
    /// outcome, or a skipped firing's `firing-skipped` error. Replay's map of answered
    /// keys and late pickup from the journal (a result index without the key) both
    /// read answers through this one rule. Returns the key, the outcome and when.
    pub fn answer(&self) -> Option<(&str, InvocationOutcome, TimestampMs)> {
        match self {
            Self::InvocationCompleted {
                at,
                idempotency_key,
                outcome,
                ..
            } => Some((idempotency_key, outcome.clone(), *at)),
            Self::FiringSkipped {
                at,
                schedule,
                idempotency_key,
                reason,
            } => Some((
                idempotency_key,
                InvocationOutcome::Err(firing_skipped(schedule, reason)),
                *at,
            )),
            _ => None,
        }
    }

    /// The kebab-case kind name, as shown by `worker oplog`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::InvocationStarted { .. } => "invocation-started",
            Self::HostCall { .. } => "host-call",
            Self::InvocationCompleted { .. } => "invocation-completed",
            Self::Error { .. } => "error",
            Self::Suspended { .. } => "suspended",
            Self::Resumed { .. } => "resumed",
            Self::Interrupted { .. } => "interrupted",
            Self::Exited { .. } => "exited",
            Self::PendingInvocation { .. } => "pending-invocation",
            Self::PromiseCreated { .. } => "promise-created",
            Self::PromiseCompleted { .. } => "promise-completed",
            Self::TimerScheduled { .. } => "timer-scheduled",
            Self::BeginRemoteWrite { .. } => "begin-remote-write",
            Self::EndRemoteWrite { .. } => "end-remote-write",
            Self::BeginAtomicRegion => "begin-atomic-region",
            Self::EndAtomicRegion { .. } => "end-atomic-region",
            Self::Snapshot { .. } => "snapshot",
            Self::UpdatePending { .. } => "update-pending",
            Self::UpdateSucceeded { .. } => "update-succeeded",
            Self::UpdateFailed { .. } => "update-failed",
            Self::Log { .. } => "log",
            Self::Deleted { .. } => "deleted",
            Self::TimerFired { .. } => "timer-fired",
            Self::RpcCompleted { .. } => "rpc-completed",
            Self::FiringSkipped { .. } => "firing-skipped",
        }
    }

    /// A one-line human summary of the entry.
    pub fn summary(&self) -> String {
        fn short(s: &str) -> String {
            const MAX: usize = 120;
            if s.chars().count() > MAX {
                let cut: String = s.chars().take(MAX).collect();
                format!("{cut}…")
            } else {
                s.to_owned()
            }
        }
        match self {
            Self::Create {
                component_version,
                args,
                env,
                ..
            } => {
                format!(
                    "version {component_version}, args {args:?}, {} env vars",
                    env.len()
                )
            }
            Self::InvocationStarted {
                idempotency_key,
                function,
                args,
                schedule,
                ..
            } => {
                format!(
                    "{function}({}) key {idempotency_key}{}",
                    short(args.trim_start_matches('[').trim_end_matches(']')),
                    schedule
                        .as_ref()
                        .map(|s| format!(" (schedule {s})"))
                        .unwrap_or_default()
                )
            }
            Self::HostCall {
                function, response, ..
            } => format!("{function} -> {}", short(&format!("{response:?}"))),
            Self::InvocationCompleted {
                idempotency_key,
                outcome,
                ..
            } => match outcome {
                InvocationOutcome::Ok(v) => format!("ok {} (key {idempotency_key})", short(v)),
                InvocationOutcome::Err(e) => format!(
                    "error {}: {} (key {idempotency_key})",
                    e.kind,
                    short(&e.message)
                ),
            },
            Self::Error {
                message,
                retry,
                fatal,
                ..
            } => {
                format!(
                    "attempt {retry}{}: {}",
                    if *fatal { " (fatal)" } else { "" },
                    short(message)
                )
            }
            Self::PendingInvocation {
                idempotency_key,
                function,
                ..
            } => format!("{function} key {idempotency_key}"),
            Self::PromiseCreated { promise, .. } => format!("promise {promise}"),
            Self::PromiseCompleted { promise, data, .. } => {
                format!("promise {promise}, {} bytes", data.len())
            }
            Self::TimerScheduled {
                fire_at, subject, ..
            } => format!("fires at {fire_at} on {subject}"),
            Self::BeginRemoteWrite { function, request } => match request {
                HostValue::HttpRequest(r) => format!("{function} {} {}", r.method, short(&r.uri)),
                HostValue::Text(t) => format!("{function} {}", short(t)),
                other => format!("{function} {}", short(&format!("{other:?}"))),
            },
            Self::EndRemoteWrite { begin, response } => match response {
                HostValue::HttpResponse(r) => {
                    format!("begin {begin}: status {}, {} bytes", r.status, r.body.len())
                }
                HostValue::Text(t) => format!("begin {begin}: {}", short(t)),
                other => format!("begin {begin}: {}", short(&format!("{other:?}"))),
            },
            Self::EndAtomicRegion { begin } => format!("begin {begin}"),
            Self::Snapshot {
                object,
                covers,
                size,
                component_version,
                ..
            } => {
                format!("{object} covers 1..={covers} ({size} bytes, version {component_version})")
            }
            Self::UpdatePending {
                target_version,
                mode,
                ..
            } => format!("to version {target_version} ({})", mode.as_str()),
            Self::UpdateSucceeded { version, .. } => format!("version {version}"),
            Self::UpdateFailed {
                version, message, ..
            } => format!("version {version}: {}", short(message)),
            Self::Log {
                stream, message, ..
            } => format!("{stream}: {}", short(message.trim_end())),
            Self::Deleted { before, .. } => {
                format!("invocations up to stream sequence {before} are void")
            }
            Self::Suspended { waiting, .. } => format!("waiting for {}", waiting.join(", ")),
            Self::TimerFired { timer, .. } => format!("timer {timer}"),
            Self::RpcCompleted { call, outcome, .. } => match outcome {
                InvocationOutcome::Ok(v) => format!("call {call}: ok {}", short(v)),
                InvocationOutcome::Err(e) => {
                    format!("call {call}: error {}: {}", e.kind, short(&e.message))
                }
            },
            Self::FiringSkipped {
                schedule,
                idempotency_key,
                reason,
                ..
            } => format!("{schedule} key {idempotency_key}: {}", short(reason)),
            Self::Exited { code, .. } => format!("code {code}"),
            Self::Resumed { .. } | Self::Interrupted { .. } | Self::BeginAtomicRegion => {
                String::new()
            }
        }
    }
}
