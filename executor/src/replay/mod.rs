//! The replay plan: what recovering a worker means, computed from its oplog
//! without any IO. The worker driver instantiates the component and re-runs
//! [`ReplayPlan::invocations`] in order, feeding each its recorded host calls.
//!
//! Rules (the durability contract, ARCHITECTURE.md "Durability semantics"):
//! - an invocation that completed `Ok` is re-run with its recorded host calls;
//! - an `Error` entry voids the host calls of the attempt it ends, so a retry
//!   starts from the state before the invocation and runs live;
//! - an invocation that completed with an error outcome is not re-run: its
//!   partial effects were discarded when the instance was rebuilt;
//! - an invocation that started but never completed (the executor died) is the
//!   tail: re-run with what it recorded, then carried on live;
//! - an `Interrupted` entry voids the host calls of the attempt it stopped (like
//!   an `Error`, without counting as a failed attempt), so after the `Resumed`
//!   that invocation runs again from its start; an `Interrupted` with no later
//!   `Resumed` leaves the worker interrupted;
//! - `EndRemoteWrite` responses are looked up by their `BeginRemoteWrite` index
//!   (their position depends on timing), so a recorded response is never fetched again;
//! - a `Deleted` tombstone is a fresh start: everything before it (the creation,
//!   invocations, outcomes, failure, interrupt, remote ends) is forgotten; only its
//!   `before` is kept ([`ReplayPlan::deleted_before`]), also across a later `Create`,
//!   so that invocations of the deleted worker are never run on the new one;
//! - a `Suspended` entry with no `Resumed` after it leaves the worker suspended
//!   (the tail invocation waits for what it names; nothing is instantiated); the
//!   tail keeps its host calls, so on resume it replays up to its wait and goes on;
//! - a `PendingInvocation` (parked while the worker was suspended) waits its turn
//!   until a start or a completion with its key follows it;
//! - promises are remembered whatever happens to the attempt that created them
//!   (their ids may have left the worker), with the payloads of `PromiseCompleted`;
//! - worker-to-worker calls that await an outcome are remembered with their target
//!   (a new owner of a worker suspended on one asks the callee's results for it), and
//!   an `RpcCompleted` outcome is kept like a promise's payload, under the call's index;
//! - `Snapshot` entries are listed ([`ReplayPlan::snapshots`]); the recovery picks its
//!   base ([`crate::decide::snapshot::recovery_bases`]). An oplog trimmed below its first
//!   snapshot has no `Create`: that snapshot's host state says how the worker was created
//!   and which promises and fired timers it had;
//! - an `UpdateSucceeded` moves the worker to its version from there on (an
//!   `UpdatePending` without one changes nothing: the update never happened); after a
//!   snapshot-mode update the history before it is never replayed (no full replay).

use std::collections::{HashMap, VecDeque};

use revenant_types::host;
use revenant_types::snapshot::{HostState, UpdateMode};

use crate::decide::snapshot::SnapshotRef;
use revenant_types::oplog::{
    CallerRecord, HostValue, InvocationOutcome, OplogEntry, OplogIndex, TimestampMs, TraceContext,
};

/// How the worker was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInfo {
    pub at: TimestampMs,
    pub component_version: u64,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// One invocation to re-run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayInvocation {
    pub started: OplogIndex,
    /// When it first started (its `InvocationStarted`; a retry's later start keeps it).
    pub started_at: TimestampMs,
    pub idempotency_key: String,
    pub function: String,
    pub args: String,
    /// Host calls of the last attempt, in order (`HostCall` and `BeginRemoteWrite`).
    pub host_calls: VecDeque<(OplogIndex, OplogEntry)>,
    /// `None` for the tail invocation that never completed.
    pub outcome: Option<InvocationOutcome>,
    /// Attempts that ended in an `Error` entry.
    pub failed_attempts: u32,
    /// Where its outcome goes.
    pub reply_to: Option<String>,
    pub trace: TraceContext,
    /// The worker awaiting its outcome, when another worker called it.
    pub caller: Option<CallerRecord>,
    /// What its last attempt waited for when the worker was suspended (`promise:3`):
    /// a replay of it has shown its output up to that wait.
    pub suspended_at: Vec<String>,
}

/// An invocation that arrived while the worker was suspended (a `PendingInvocation`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedInvocation {
    pub idempotency_key: String,
    pub function: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub reply_to: Option<String>,
    pub trace: TraceContext,
    pub stream_sequence: u64,
    pub caller: Option<CallerRecord>,
}

/// Everything recovery needs to know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayPlan {
    pub create: Option<CreateInfo>,
    /// Invocations to re-run, in order; at most the last has no outcome.
    pub invocations: Vec<ReplayInvocation>,
    /// Outcome of every completed invocation, by idempotency key.
    pub completed: HashMap<String, InvocationOutcome>,
    /// `EndRemoteWrite` responses by the index of their `BeginRemoteWrite`.
    pub remote_ends: HashMap<OplogIndex, HostValue>,
    /// Set when the worker is failed (a fatal error); replay stops there.
    pub failed: Option<String>,
    /// Set when the guest exited.
    pub exited: bool,
    /// Set by an `Interrupted` entry with no `Resumed` after it: invocations are held.
    pub interrupted: bool,
    /// Set by a `Deleted` tombstone: invocations stored in `RVN_INVOKE` at this stream
    /// sequence or earlier belong to the deleted worker.
    pub deleted_before: Option<u64>,
    /// Set by a `Suspended` entry with no `Resumed` after it: what the tail waits for.
    pub suspended: Option<Vec<String>>,
    /// Invocations parked while suspended and not run yet, in arrival order.
    pub parked: VecDeque<ParkedInvocation>,
    /// Indexes of the promises the worker created.
    pub promises: Vec<OplogIndex>,
    /// Payloads of completed promises by index.
    pub promise_payloads: HashMap<OplogIndex, Vec<u8>>,
    /// Timers whose `TimerFired` is journaled.
    pub timers_fired: Vec<OplogIndex>,
    /// The target (`<component>/<worker>`) of each call that awaits an outcome not
    /// journaled yet, by the index of its `RpcStarted`.
    pub rpc_calls: HashMap<OplogIndex, String>,
    /// The index the next appended entry gets.
    pub next_index: OplogIndex,
    /// The `Snapshot` entries left in the oplog, oldest first.
    pub snapshots: Vec<SnapshotRef>,
    /// The oplog still begins with its `Create` (not trimmed): a full replay is possible.
    pub from_start: bool,
    /// How many entries the plan was computed from (what the recovery read).
    pub entries: usize,
}

impl ReplayPlan {
    /// The tail invocation that started but never completed, if any.
    pub fn incomplete(&self) -> Option<&ReplayInvocation> {
        self.invocations.last().filter(|i| i.outcome.is_none())
    }

    /// Whether the worker needs an instance now: not failed, interrupted or suspended
    /// (those wait without one until they are resumed, if ever).
    pub fn needs_instance(&self) -> bool {
        self.failed.is_none() && !self.interrupted && self.suspended.is_none()
    }
}

/// Computes the plan from the whole oplog (entries with their indexes, in order).
pub fn plan(entries: impl IntoIterator<Item = (OplogIndex, OplogEntry)>) -> ReplayPlan {
    let mut plan = ReplayPlan {
        next_index: 1,
        ..ReplayPlan::default()
    };
    let mut current: Option<ReplayInvocation> = None;
    let mut read = 0;
    let mut update_mode = UpdateMode::Auto;
    for (index, entry) in entries {
        read += 1;
        plan.next_index = index + 1;
        match entry {
            OplogEntry::Create {
                at,
                component_version,
                args,
                env,
            } => {
                plan.create = Some(CreateInfo {
                    at,
                    component_version,
                    args,
                    env,
                });
                plan.from_start = true;
            }
            OplogEntry::Snapshot {
                at,
                object,
                covers,
                component_version,
                digest,
                size,
                covers_seq,
                host_state,
            } => {
                // A trimmed oplog starts at a snapshot: what the purged entries said of the
                // worker comes from its host state.
                if let Some(host) = host_state.as_ref().filter(|_| plan.create.is_none()) {
                    adopt_host_state(&mut plan, host, component_version);
                }
                plan.snapshots.push(SnapshotRef {
                    index,
                    at,
                    object,
                    covers,
                    covers_seq,
                    component_version,
                    digest,
                    size,
                    host_state,
                });
            }
            OplogEntry::InvocationStarted {
                at,
                idempotency_key,
                function,
                args,
                trace,
                reply_to,
                caller,
                ..
            } => {
                unpark(&mut plan.parked, &idempotency_key);
                let started_at = current
                    .as_ref()
                    .filter(|c| c.idempotency_key == idempotency_key)
                    .map_or(at, |c| c.started_at);
                // A started invocation left open by a crash is superseded by a new start only
                // if it is the same key (a retry after recovery); keep the newer one.
                current = Some(ReplayInvocation {
                    started: index,
                    started_at,
                    idempotency_key,
                    function,
                    args,
                    host_calls: VecDeque::new(),
                    suspended_at: Vec::new(),
                    outcome: None,
                    failed_attempts: current
                        .take()
                        .map(|c| c.failed_attempts)
                        .unwrap_or_default(),
                    reply_to,
                    trace,
                    caller,
                });
            }
            entry @ (OplogEntry::HostCall { .. } | OplogEntry::BeginRemoteWrite { .. }) => {
                if let OplogEntry::HostCall { function, .. } = &entry
                    && function == host::PROMISE_CREATE
                {
                    plan.promises.push(index);
                }
                if let Some(target) = crate::decide::awaited_target(&entry) {
                    plan.rpc_calls.insert(index, target);
                }
                if let Some(inv) = current.as_mut() {
                    inv.host_calls.push_back((index, entry));
                }
            }
            OplogEntry::EndRemoteWrite { begin, response } => {
                plan.remote_ends.insert(begin, response);
            }
            OplogEntry::Error { message, fatal, .. } => {
                if let Some(inv) = current.as_mut() {
                    inv.host_calls.clear();
                    inv.suspended_at.clear();
                    inv.failed_attempts += 1;
                }
                if fatal {
                    plan.failed = Some(message);
                }
            }
            OplogEntry::InvocationCompleted {
                idempotency_key,
                outcome,
                ..
            } => {
                unpark(&mut plan.parked, &idempotency_key);
                plan.completed
                    .insert(idempotency_key.clone(), outcome.clone());
                match current.take() {
                    Some(mut inv) if inv.idempotency_key == idempotency_key => {
                        if matches!(outcome, InvocationOutcome::Ok(_)) {
                            inv.outcome = Some(outcome);
                            plan.invocations.push(inv);
                        }
                    }
                    // A completion without its start (e.g. an answer recorded for a rejected
                    // duplicate) has nothing to re-run.
                    other => current = other,
                }
            }
            OplogEntry::Interrupted { .. } => {
                if let Some(inv) = current.as_mut() {
                    inv.host_calls.clear();
                    inv.suspended_at.clear();
                }
                plan.interrupted = true;
            }
            OplogEntry::Resumed { .. } => {
                plan.interrupted = false;
                plan.suspended = None;
            }
            OplogEntry::Suspended { waiting, .. } => {
                if let Some(inv) = current.as_mut() {
                    inv.suspended_at = waiting.clone();
                }
                plan.suspended = Some(waiting);
            }
            OplogEntry::PendingInvocation {
                idempotency_key,
                function,
                body,
                content_type,
                reply_to,
                trace,
                stream_sequence,
                caller,
                ..
            } => plan.parked.push_back(ParkedInvocation {
                idempotency_key,
                function,
                body,
                content_type,
                reply_to,
                trace,
                stream_sequence,
                caller,
            }),
            OplogEntry::PromiseCompleted { promise, data, .. } => {
                plan.promise_payloads.entry(promise).or_insert(data);
            }
            OplogEntry::RpcCompleted { call, outcome, .. } => {
                plan.rpc_calls.remove(&call);
                plan.promise_payloads
                    .entry(call)
                    .or_insert_with(|| crate::decide::encode_outcome(&outcome));
            }
            OplogEntry::TimerFired { timer, .. } => plan.timers_fired.push(timer),
            // A skipped firing is answered as skipped, never run (decide::schedule).
            OplogEntry::FiringSkipped { .. } => {
                if let Some((key, outcome, _)) = entry.answer() {
                    plan.completed.insert(key.to_owned(), outcome);
                }
            }
            OplogEntry::UpdatePending { mode, .. } => update_mode = mode,
            OplogEntry::UpdateSucceeded { version, .. } => {
                if let Some(create) = plan.create.as_mut() {
                    create.component_version = version;
                }
                // The history before a snapshot update is never replayed on the new version.
                if update_mode == UpdateMode::Snapshot {
                    plan.from_start = false;
                }
            }
            OplogEntry::Exited { code, .. } => {
                plan.exited = true;
                plan.failed = Some(crate::attempt::exited_message(code));
            }
            OplogEntry::Deleted { before, .. } => {
                current = None;
                plan = ReplayPlan {
                    deleted_before: Some(before),
                    next_index: plan.next_index,
                    ..ReplayPlan::default()
                };
            }
            _ => {}
        }
    }
    if let Some(inv) = current
        && plan.failed.is_none()
    {
        plan.invocations.push(inv);
    }
    plan.entries = read;
    plan
}

/// The creation, promises and fired timers a snapshot recorded, for an oplog whose
/// entries before it were purged.
fn adopt_host_state(plan: &mut ReplayPlan, host: &HostState, component_version: u64) {
    plan.create = Some(CreateInfo {
        at: host.created_at,
        component_version,
        args: host.args.clone(),
        env: host.env.clone(),
    });
    plan.promises.extend(&host.promises);
    for (index, payload) in &host.promise_payloads {
        plan.promise_payloads
            .entry(*index)
            .or_insert_with(|| payload.to_vec());
    }
    plan.timers_fired.extend(&host.timers_fired);
}

/// A start or completion with `key` ends the wait of the first invocation parked with it.
fn unpark(parked: &mut VecDeque<ParkedInvocation>, key: &str) {
    if let Some(i) = parked.iter().position(|p| p.idempotency_key == key) {
        parked.remove(i);
    }
}

#[cfg(test)]
mod tests;
