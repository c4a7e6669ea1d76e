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
//!   (their ids may have left the worker), with the payloads of `PromiseCompleted`.

use std::collections::{HashMap, VecDeque};

use revenant_types::host;
use revenant_types::oplog::{
    HostValue, InvocationOutcome, OplogEntry, OplogIndex, TimestampMs, TraceContext,
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
    /// The index the next appended entry gets.
    pub next_index: OplogIndex,
}

impl ReplayPlan {
    /// The tail invocation that started but never completed, if any.
    pub fn incomplete(&self) -> Option<&ReplayInvocation> {
        self.invocations.last().filter(|i| i.outcome.is_none())
    }
}

/// Computes the plan from the whole oplog (entries with their indexes, in order).
pub fn plan(entries: impl IntoIterator<Item = (OplogIndex, OplogEntry)>) -> ReplayPlan {
    let mut plan = ReplayPlan {
        next_index: 1,
        ..ReplayPlan::default()
    };
    let mut current: Option<ReplayInvocation> = None;
    for (index, entry) in entries {
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
            }
            OplogEntry::InvocationStarted {
                idempotency_key,
                function,
                args,
                trace,
                reply_to,
                ..
            } => {
                unpark(&mut plan.parked, &idempotency_key);
                // A started invocation left open by a crash is superseded by a new start only
                // if it is the same key (a retry after recovery); keep the newer one.
                current = Some(ReplayInvocation {
                    started: index,
                    idempotency_key,
                    function,
                    args,
                    host_calls: VecDeque::new(),
                    outcome: None,
                    failed_attempts: current
                        .take()
                        .map(|c| c.failed_attempts)
                        .unwrap_or_default(),
                    reply_to,
                    trace,
                });
            }
            entry @ (OplogEntry::HostCall { .. } | OplogEntry::BeginRemoteWrite { .. }) => {
                if let OplogEntry::HostCall { function, .. } = &entry
                    && function == host::PROMISE_CREATE
                {
                    plan.promises.push(index);
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
                }
                plan.interrupted = true;
            }
            OplogEntry::Resumed { .. } => {
                plan.interrupted = false;
                plan.suspended = None;
            }
            OplogEntry::Suspended { waiting, .. } => plan.suspended = Some(waiting),
            OplogEntry::PendingInvocation {
                idempotency_key,
                function,
                body,
                content_type,
                reply_to,
                trace,
                stream_sequence,
                ..
            } => plan.parked.push_back(ParkedInvocation {
                idempotency_key,
                function,
                body,
                content_type,
                reply_to,
                trace,
                stream_sequence,
            }),
            OplogEntry::PromiseCompleted { promise, data, .. } => {
                plan.promise_payloads.entry(promise).or_insert(data);
            }
            OplogEntry::TimerFired { timer, .. } => plan.timers_fired.push(timer),
            OplogEntry::Exited { .. } => plan.exited = true,
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
    plan
}

/// A start or completion with `key` ends the wait of the first invocation parked with it.
fn unpark(parked: &mut VecDeque<ParkedInvocation>, key: &str) {
    if let Some(i) = parked.iter().position(|p| p.idempotency_key == key) {
        parked.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use revenant_types::oplog::{Durability, ErrorBody, ErrorKind};

    use super::*;

    fn started(key: &str) -> OplogEntry {
        OplogEntry::InvocationStarted {
            at: 0,
            idempotency_key: key.into(),
            function: "add".into(),
            args: "[1]".into(),
            trace: Default::default(),
            reply_to: None,
        }
    }
    fn call(v: u64) -> OplogEntry {
        OplogEntry::HostCall {
            function: revenant_types::host::RANDOM_U64.into(),
            request: HostValue::Unit,
            response: HostValue::U64(v),
            durability: Durability::ReadRemote,
        }
    }
    fn done(key: &str, ok: bool) -> OplogEntry {
        OplogEntry::InvocationCompleted {
            at: 0,
            idempotency_key: key.into(),
            outcome: if ok {
                InvocationOutcome::Ok("1".into())
            } else {
                InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, "boom"))
            },
            duration_us: 0,
        }
    }
    fn indexed(entries: Vec<OplogEntry>) -> Vec<(OplogIndex, OplogEntry)> {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e))
            .collect()
    }

    #[test]
    fn completed_invocations_replay_with_their_host_calls() {
        let create = OplogEntry::Create {
            at: 1,
            component_version: 2,
            args: vec![],
            env: vec![],
        };
        let p = plan(indexed(vec![
            create,
            started("a"),
            call(7),
            done("a", true),
            started("b"),
            done("b", true),
        ]));
        assert_eq!(p.create.as_ref().unwrap().component_version, 2);
        assert_eq!(p.invocations.len(), 2);
        assert_eq!(p.invocations[0].host_calls.len(), 1);
        assert_eq!(p.invocations[0].host_calls[0].0, 3);
        assert!(p.incomplete().is_none());
        assert_eq!(p.completed.len(), 2);
        assert_eq!(p.next_index, 7);
    }

    #[test]
    fn an_error_voids_the_attempt_and_failed_invocations_are_not_rerun() {
        let err = |fatal| OplogEntry::Error {
            at: 0,
            message: "trap".into(),
            retry: 1,
            fatal,
        };
        let p = plan(indexed(vec![
            started("a"),
            call(1),
            err(false),
            call(2),
            done("a", true),
        ]));
        assert_eq!(p.invocations[0].host_calls.len(), 1);
        assert_eq!(p.invocations[0].failed_attempts, 1);
        assert!(matches!(
            p.invocations[0].host_calls[0].1,
            OplogEntry::HostCall {
                response: HostValue::U64(2),
                ..
            }
        ));

        let p = plan(indexed(vec![
            started("a"),
            err(false),
            err(true),
            done("a", false),
        ]));
        assert!(p.invocations.is_empty());
        assert_eq!(p.failed.as_deref(), Some("trap"));
        assert!(matches!(p.completed["a"], InvocationOutcome::Err(_)));
    }

    #[test]
    fn an_interrupt_voids_the_attempt_and_holds_until_resumed() {
        let interrupted = OplogEntry::Interrupted { at: 0 };
        let p = plan(indexed(vec![
            started("a"),
            done("a", true),
            started("b"),
            call(1),
            interrupted.clone(),
        ]));
        assert!(p.interrupted);
        let tail = p.incomplete().unwrap();
        assert_eq!(tail.idempotency_key, "b");
        assert!(
            tail.host_calls.is_empty(),
            "the stopped attempt's calls are void"
        );
        assert_eq!(tail.failed_attempts, 0, "an interrupt is not a failure");

        // Resumed: no longer held; the new attempt's calls are the ones replayed.
        let p = plan(indexed(vec![
            started("b"),
            call(1),
            interrupted.clone(),
            OplogEntry::Resumed { at: 0 },
            call(2),
        ]));
        assert!(!p.interrupted);
        assert!(matches!(
            p.incomplete().unwrap().host_calls[0].1,
            OplogEntry::HostCall {
                response: HostValue::U64(2),
                ..
            }
        ));

        // An idle worker interrupted: nothing to void, still held; completed work stays.
        let p = plan(indexed(vec![started("a"), done("a", true), interrupted]));
        assert!(p.interrupted && p.incomplete().is_none());
        assert_eq!(p.invocations.len(), 1);
    }

    #[test]
    fn a_tombstone_forgets_everything_before_it_and_keeps_its_sequence() {
        let create = OplogEntry::Create {
            at: 1,
            component_version: 2,
            args: vec!["x".into()],
            env: vec![],
        };
        let err = OplogEntry::Error {
            at: 0,
            message: "trap".into(),
            retry: 1,
            fatal: true,
        };
        let end = OplogEntry::EndRemoteWrite {
            begin: 3,
            response: HostValue::U64(200),
        };
        let deleted = OplogEntry::Deleted { at: 9, before: 42 };
        let p = plan(indexed(vec![
            create,
            started("a"),
            done("a", true),
            end,
            started("b"),
            call(1),
            err,
            OplogEntry::Interrupted { at: 0 },
            deleted,
        ]));
        assert_eq!(
            p,
            ReplayPlan {
                deleted_before: Some(42),
                next_index: 10,
                ..ReplayPlan::default()
            },
            "no creation, invocations, outcomes, failure, interrupt or remote ends survive"
        );
    }

    #[test]
    fn a_worker_created_again_after_a_tombstone_keeps_the_tombstones_sequence() {
        let create = |version| OplogEntry::Create {
            at: 1,
            component_version: version,
            args: vec![],
            env: vec![],
        };
        let p = plan(indexed(vec![
            create(1),
            started("a"),
            done("a", true),
            OplogEntry::Deleted { at: 9, before: 42 },
            create(2),
            started("b"),
            call(5),
            done("b", true),
        ]));
        assert_eq!(p.create.as_ref().unwrap().component_version, 2);
        assert_eq!(p.deleted_before, Some(42));
        assert_eq!(p.invocations.len(), 1);
        assert_eq!(p.invocations[0].idempotency_key, "b");
        assert!(
            !p.completed.contains_key("a"),
            "the old worker's keys are gone"
        );
        assert_eq!(p.next_index, 9);

        // An invocation left open by the old worker is not the new one's tail.
        let p = plan(indexed(vec![
            started("a"),
            call(1),
            OplogEntry::Deleted { at: 9, before: 7 },
        ]));
        assert!(p.incomplete().is_none() && p.create.is_none());
    }

    #[test]
    fn the_tail_is_incomplete_and_remote_ends_are_indexed_by_begin() {
        let begin = OplogEntry::BeginRemoteWrite {
            function: "http".into(),
            request: HostValue::Unit,
        };
        let end = OplogEntry::EndRemoteWrite {
            begin: 3,
            response: HostValue::U64(200),
        };
        let p = plan(indexed(vec![
            started("a"),
            done("a", true),
            begin,
            call(1),
            end,
            started("b"),
            call(5),
        ]));
        // "b" superseded nothing; the begin/call after "a" belong to no invocation.
        let tail = p.incomplete().unwrap();
        assert_eq!(tail.idempotency_key, "b");
        assert_eq!(tail.host_calls.len(), 1);
        assert_eq!(p.remote_ends[&3], HostValue::U64(200));
    }

    fn parked(key: &str) -> OplogEntry {
        OplogEntry::PendingInvocation {
            at: 0,
            idempotency_key: key.into(),
            function: "add".into(),
            body: b"[1]".to_vec(),
            content_type: None,
            reply_to: Some("_INBOX.x".into()),
            trace: Default::default(),
            stream_sequence: 9,
        }
    }

    #[test]
    fn a_suspended_tail_keeps_its_host_calls_and_parked_invocations_wait_their_turn() {
        let promise = OplogEntry::HostCall {
            function: host::PROMISE_CREATE.into(),
            request: HostValue::Unit,
            response: HostValue::U64(3),
            durability: Durability::ReadRemote,
        };
        let suspended = OplogEntry::Suspended {
            at: 0,
            waiting: vec!["promise:3".into()],
        };
        let entries = vec![
            started("a"),
            call(1),
            promise,
            suspended,
            parked("b"),
            parked("c"),
            parked("a"),
        ];
        let p = plan(indexed(entries.clone()));
        assert_eq!(p.suspended, Some(vec!["promise:3".to_string()]));
        let tail = p.incomplete().expect("the suspended invocation is the tail");
        assert_eq!((tail.idempotency_key.as_str(), tail.host_calls.len()), ("a", 2));
        assert_eq!(p.promises, vec![3]);
        let keys: Vec<&str> = p.parked.iter().map(|i| i.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["b", "c", "a"]);

        // Completed and resumed: the tail finishes, then "b" runs; the duplicate of "a"
        // parked behind is answered (a completion without a start), "c" still waits.
        let mut more = entries;
        more.extend([
            OplogEntry::PromiseCompleted {
                at: 0,
                promise: 3,
                data: b"ok".to_vec(),
            },
            OplogEntry::Resumed { at: 0 },
            done("a", true),
            started("b"),
            done("b", true),
            done("a", true),
        ]);
        let p = plan(indexed(more));
        assert_eq!(p.suspended, None);
        assert_eq!(p.promise_payloads[&3], b"ok");
        let keys: Vec<&str> = p.parked.iter().map(|i| i.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["c"]);
        assert_eq!(p.parked[0].reply_to.as_deref(), Some("_INBOX.x"));
        assert!(p.incomplete().is_none());
    }
}
