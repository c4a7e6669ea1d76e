//! Time travel, decided purely: what a request for a worker's state "as of" an
//! oplog index means ([`revenant_types::inspect`]), without any IO. The driver
//! ([`crate::worker`]'s throwaway replay, served by [`crate::control`]) reads the
//! oplog, asks [`cut`] for the prefix to replay, replays the plan
//! ([`crate::replay::plan`]) of that prefix on a throwaway instance — whose journal
//! is fenced on sequence 0, so nothing it might commit can reach the oplog — and
//! hands what each re-run returned to [`inspection`].
//!
//! Rules:
//! - indexes start at 1; an index past the oplog's end, or below its first kept
//!   entry (the history a snapshot covers is trimmed), is refused saying which
//!   indexes can be asked for;
//! - the prefix ends at `at` inclusive, whatever entry that is: an invocation that
//!   started by then and had not completed was *running* then and is not re-run;
//! - every invocation started by `at` is listed, oldest first, with the outcome the
//!   oplog recorded by then: one that completed with an error was not re-run (its
//!   effects were discarded, [`crate::replay`]), one covered by the snapshot the
//!   instance was loaded from was not either, the others were re-run and show what
//!   they returned — or how they diverged from what was recorded
//!   ([`crate::attempt::check_replayed`]); after a divergence nothing more is re-run;
//! - a `Deleted` tombstone is a fresh start: what came before it is not listed.

use std::collections::HashMap;

use revenant_types::ErrorKind;
use revenant_types::inspect::{InspectedInvocation, Replayed};
use revenant_types::oplog::{ErrorBody, InvocationOutcome, OplogEntry, OplogIndex};

use crate::attempt::{self, CallResult};

/// The entries to replay for a state as of `at`: the oplog's entries up to `at`
/// inclusive, or why that cannot be asked (see the module docs).
pub fn cut(
    entries: Vec<(OplogIndex, OplogEntry)>,
    at: OplogIndex,
    worker: &str,
) -> Result<Vec<(OplogIndex, OplogEntry)>, ErrorBody> {
    let (Some((first, _)), Some((last, _))) = (entries.first(), entries.last()) else {
        return Err(ErrorBody::new(
            ErrorKind::UnknownWorker,
            format!("worker {worker} does not exist (it has no oplog)"),
        ));
    };
    let (first, last) = (*first, *last);
    if at == 0 || at > last {
        return Err(ErrorBody::new(
            ErrorKind::InvalidRequest,
            format!(
                "worker {worker}'s oplog has indexes {first} to {last}; index {at} is not one of them"
            ),
        ));
    }
    if at < first {
        return Err(ErrorBody::new(
            ErrorKind::InvalidRequest,
            format!(
                "worker {worker}'s history before index {first} was trimmed (a snapshot covers it); ask for an index from {first} to {last}"
            ),
        ));
    }
    Ok(entries.into_iter().take_while(|(i, _)| *i <= at).collect())
}

/// An invocation started in the replayed prefix, with its outcome recorded by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub started: OplogIndex,
    pub idempotency_key: String,
    pub function: String,
    pub args: String,
    pub recorded: Option<InvocationOutcome>,
}

/// Every invocation started in `prefix`, oldest first (a start again of the open
/// invocation's key — a retry after recovery — replaces it).
pub fn started(prefix: &[(OplogIndex, OplogEntry)]) -> Vec<Started> {
    let mut out: Vec<Started> = Vec::new();
    let mut open: Option<usize> = None;
    for (index, entry) in prefix {
        match entry {
            OplogEntry::InvocationStarted {
                idempotency_key,
                function,
                args,
                ..
            } => {
                let s = Started {
                    started: *index,
                    idempotency_key: idempotency_key.clone(),
                    function: function.clone(),
                    args: args.clone(),
                    recorded: None,
                };
                match open.filter(|&i| out[i].idempotency_key == *idempotency_key) {
                    Some(i) => out[i] = s,
                    None => {
                        out.push(s);
                        open = Some(out.len() - 1);
                    }
                }
            }
            OplogEntry::InvocationCompleted {
                idempotency_key,
                outcome,
                ..
            } => {
                if let Some(i) = open.filter(|&i| out[i].idempotency_key == *idempotency_key) {
                    out[i].recorded = Some(outcome.clone());
                    open = None;
                }
            }
            OplogEntry::Deleted { .. } => {
                out.clear();
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// What the driver got re-running one invocation: its result and any recorded host
/// calls it left unused (a divergence).
#[derive(Debug)]
pub struct Rerun {
    pub result: CallResult,
    pub leftover: Option<String>,
}

/// The listed invocations with what replaying each gave. `covers`: the index the
/// snapshot the instance was loaded from covers (0 for a full replay); `reruns`: the
/// re-run invocations by their start index.
pub fn inspection(
    listed: Vec<Started>,
    covers: OplogIndex,
    mut reruns: HashMap<OplogIndex, Rerun>,
) -> Vec<InspectedInvocation> {
    let mut diverged = false;
    listed
        .into_iter()
        .map(|s| {
            let (replayed, result, message) = match (&s.recorded, reruns.remove(&s.started)) {
                _ if s.started <= covers => (Replayed::Snapshot, None, None),
                (None, _) => (Replayed::Running, None, None),
                (Some(InvocationOutcome::Err(_)), _) => (Replayed::Failed, None, None),
                (Some(InvocationOutcome::Ok(_)), None) => {
                    let why = if diverged {
                        "not re-run: the replay stopped at an earlier divergence"
                    } else {
                        "not re-run: the replay stopped before it (the worker was failed)"
                    };
                    (Replayed::Diverged, None, Some(why.to_owned()))
                }
                (recorded @ Some(InvocationOutcome::Ok(_)), Some(rerun)) => {
                    let returned = match &rerun.result {
                        CallResult::Returned(json) => Some(json.clone()),
                        _ => None,
                    };
                    match attempt::check_replayed(
                        &s.function,
                        s.started,
                        recorded.as_ref(),
                        rerun.result,
                        rerun.leftover,
                    ) {
                        Ok(()) => (Replayed::Replayed, returned, None),
                        Err(m) => {
                            diverged = true;
                            (Replayed::Diverged, returned, Some(m))
                        }
                    }
                }
            };
            InspectedInvocation {
                started: s.started,
                idempotency_key: s.idempotency_key,
                function: s.function,
                args: s.args,
                replayed,
                result,
                recorded: s.recorded,
                message,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
