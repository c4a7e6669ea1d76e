//! The driver of scheduled invocations' firings in a worker's mailbox: reads a
//! firing's schedule and policy from the message ([`crate::decide::schedule`]
//! decides), journals a skipped one (`FiringSkipped`; the mailbox answers it with
//! `firing-skipped` and acks it: a redelivery is answered the same, never run), tags
//! an applied one's `InvocationStarted` with its schedule id, counts firings and
//! their lateness, and records each schedule's last firing in `RVN_SCHEDULES`
//! for `schedule list`. The mailbox calls it from a few hook lines.

use revenant_nats::headers;
use revenant_nats::invocations::InvocationMessage;
use revenant_nats::schedules;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::schedule::{FiringOutcome, FiringRecord};
use revenant_types::{ErrorKind, WorkerId, now_ms};

use crate::context::WorkerEnv;
use crate::decide::schedule::{Firing, FiringDecision, decide_firing, firing, skipped};
use crate::inbox::Invocation;
use crate::worker::Worker;

/// What the mailbox does with a firing [`skipped_firing`] took.
#[derive(Debug)]
pub(crate) enum Skipped {
    /// Answer it with this outcome (a skip, journaled) and ack it.
    Answer(InvocationOutcome),
    /// Reject it with this error (its policy headers cannot be read).
    Reject(ErrorBody),
    /// Nothing more: it could not be journaled and goes back to JetStream (nak'ed).
    Retry,
}

/// The schedule id of a fired copy (`Nats-Scheduler` names a holder of this namespace
/// that is not a durable timer), if `m` is one.
fn schedule_id(env: &WorkerEnv, m: &InvocationMessage) -> Option<String> {
    let scheduler = m.header(headers::SCHEDULER)?;
    let (_, id) = env.nats.namespace().parse_schedule_subject(scheduler)?;
    (!id.starts_with("t-")).then_some(id)
}

fn firing_of(env: &WorkerEnv, m: &InvocationMessage) -> Option<Result<Firing, ErrorBody>> {
    let id = schedule_id(env, m)?;
    let lateness = schedules::lateness(m.header(headers::SCHEDULED_AT), m.stored_at_ms(), now_ms());
    Some(firing(
        id,
        m.header(headers::OVERLAP),
        m.header(headers::CATCHUP),
        lateness,
    ))
}

/// The schedule whose firing `inv` is, to journal with its start.
pub(crate) fn schedule_of(env: &WorkerEnv, inv: &Invocation) -> Option<String> {
    inv.message().and_then(|m| schedule_id(env, m))
}

/// Takes `inv` if it is a firing to skip (journaled here) or one with unreadable
/// policy headers; `None` when it is to be run as decided. `busy`: the worker was
/// running another invocation when it arrived. Called only for an invocation decided
/// to run or to be parked (so the worker is in memory and the key is new).
pub(crate) async fn skipped_firing(
    env: &WorkerEnv,
    id: &WorkerId,
    worker: Option<&mut Worker>,
    inv: &Invocation,
    busy: bool,
) -> Option<Skipped> {
    let m = inv.message()?;
    let f = match firing_of(env, m)? {
        Ok(f) => f,
        Err(error) => return Some(Skipped::Reject(error)),
    };
    let reason = match decide_firing(&f, busy) {
        FiringDecision::Apply => {
            env.metrics.firing("applied", f.lateness);
            return None;
        }
        FiringDecision::Skip(reason) => reason,
    };
    let w = worker?;
    env.metrics.firing("skipped", f.lateness);
    tracing::info!(worker = %id, schedule = %f.schedule, key = inv.key(), %reason, "firing skipped");
    let error = skipped(&f.schedule, &reason);
    if let Err(e) = w.skip_firing(&f.schedule, inv.key(), &reason, &error).await {
        tracing::error!(worker = %id, error = %e, "could not journal a skipped firing; it is redelivered");
        let _ = m.nak(std::time::Duration::from_millis(200)).await;
        return Some(Skipped::Retry);
    }
    Some(Skipped::Answer(InvocationOutcome::Err(error)))
}

/// Records the outcome of a firing as its schedule's last (for `schedule list`); does
/// nothing for an invocation that is not a firing.
pub(crate) async fn record(
    env: &WorkerEnv,
    id: &WorkerId,
    inv: &Invocation,
    outcome: &InvocationOutcome,
) {
    let Some(m) = inv.message() else {
        return;
    };
    let Some(schedule) = schedule_id(env, m) else {
        return;
    };
    let (outcome, message) = match outcome {
        InvocationOutcome::Ok(_) => (FiringOutcome::Ok, None),
        InvocationOutcome::Err(e) if e.kind == ErrorKind::FiringSkipped => {
            (FiringOutcome::Skipped, Some(e.message.clone()))
        }
        InvocationOutcome::Err(e) => (FiringOutcome::Error, Some(e.message.clone())),
    };
    let now = now_ms();
    let record = FiringRecord {
        at: now,
        idempotency_key: inv.key().to_owned(),
        outcome,
        message,
        lateness_ms: schedules::lateness(m.header(headers::SCHEDULED_AT), m.stored_at_ms(), now)
            .map(|d| d.as_millis() as u64),
        next: m
            .header(headers::SCHEDULE_NEXT)
            .filter(|n| *n != "purge")
            .map(str::to_owned),
    };
    if let Err(e) = schedules::record_firing(&env.nats, id, &schedule, &record).await {
        tracing::warn!(worker = %id, %schedule, error = %e, "could not record a schedule's last firing");
    }
}
