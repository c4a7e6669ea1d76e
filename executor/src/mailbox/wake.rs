//! The mailbox's steps around running: bringing a worker into memory, a wake-up
//! (a fired timer, a promise completion), and journaling what a parked invocation
//! was answered without running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use revenant_nats::invocations::InvocationMessage;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ControlAction, WorkerStatus};

use crate::context::WorkerEnv;
use crate::control;
use crate::decide::{self, Kind};
use crate::durable::stdio::EventSink;
use crate::inbox::Invocation;
use crate::status::{Summary, event};
use crate::worker::{Worker, WorkerError};

/// Brings the worker into memory, building an instance while its oplog is read when
/// `early` (see [`Worker::recover`]); returns the status to record (deferred, see
/// [`RecoveredStatus`]).
pub(super) async fn recover(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    worker: &mut Option<Worker>,
    in_memory: &AtomicU64,
    out_tx: &EventSink,
    early: bool,
) -> Result<(Summary, WorkerStatus), WorkerError> {
    // A worker held without an instance gives up its place for the one recovered.
    if let Some(w) = worker.as_mut() {
        w.leave_room();
    }
    // Boxed: recovery (instantiate, replay) is a large future (clippy::large_futures).
    let w = Box::pin(Worker::recover(
        env.clone(),
        id.clone(),
        out_tx.clone(),
        early,
    ))
    .await?;
    let status = (Summary::of(&w), decide::status_of(w.view(None)));
    if worker.replace(w).is_none() {
        in_memory.fetch_add(1, Ordering::Relaxed);
    }
    Ok(status)
}

/// A fired timer or a promise completion: journaled and, when the worker was suspended
/// waiting for it, resumes it (the mailbox then runs its tail). Acked once durable.
/// `Err`: the worker's component cannot run; the message is to be rejected.
pub(super) async fn wake(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    worker: &mut Option<Worker>,
    in_memory: &AtomicU64,
    out_tx: &EventSink,
    m: &InvocationMessage,
    kind: Kind,
) -> Result<control::Flow, ErrorBody> {
    if worker.is_none() {
        match Box::pin(recover(env, id, worker, in_memory, out_tx, false)).await {
            Ok(_) => {}
            Err(WorkerError::Component(error)) => return Err(error),
            Err(e) => {
                tracing::error!(worker = %id, error = %e, "could not recover worker for a wake-up");
                let _ = m.nak(Duration::from_secs(1)).await;
                return Ok(control::Flow::Drop);
            }
        }
    }
    let w = worker.as_mut().expect("recovered");
    match w
        .wake(kind, crate::inbox::completion_payload(m, kind))
        .await
    {
        Ok(resumed) => {
            if resumed {
                let _ = env
                    .nats
                    .publish_event(
                        id,
                        event("resumed", serde_json::json!({ "by": format!("{kind:?}") })),
                    )
                    .await;
            }
            let _ = m.ack().await;
            Ok(control::Flow::Continue)
        }
        Err(e) => {
            tracing::error!(worker = %id, error = %e, "could not journal a wake-up; dropping worker");
            let _ = m.nak(Duration::from_millis(200)).await;
            Ok(control::Flow::Drop)
        }
    }
}

/// A parked invocation answered without running is journaled as answered, so that it
/// is not parked any more after a recovery.
pub(super) async fn settle_parked(
    id: &WorkerId,
    worker: &mut Option<Worker>,
    inv: &Invocation,
    outcome: &InvocationOutcome,
) {
    if let (Invocation::Parked(p), Some(w)) = (inv, worker.as_mut())
        && let Err(e) = w.record_answer(&p.idempotency_key, outcome).await
    {
        tracing::warn!(worker = %id, error = %e, "could not journal the answer of a parked invocation");
    }
}

/// Carries out the control request that cut a running invocation short: a delete, a
/// simulated crash (answered here), or an interrupt.
pub(super) async fn stopped(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    worker: &mut Option<Worker>,
    in_memory: &Arc<AtomicU64>,
    out_tx: &EventSink,
    cmd: crate::context::ControlCommand,
) -> control::Flow {
    match cmd.action {
        ControlAction::Delete => crate::delete::stopped(env, worker, in_memory, out_tx, cmd).await,
        ControlAction::SimulateCrash => {
            let (answer, flow) = control::crash(env, id, worker, in_memory, out_tx).await;
            control::reply(&env.nats, cmd.reply.as_deref(), answer).await;
            flow
        }
        _ => control::interrupt_stopped(env, worker, in_memory, out_tx, cmd).await,
    }
}

/// Handles a message that is not a plain invocation: a wake-up (journaled, see [`wake`])
/// or one whose kind is unreadable (rejected). `None` for a plain invocation, which the
/// mailbox goes on with; else the flow after it, and the status to record when the
/// woken worker stays in memory.
pub(super) async fn other_kind(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    worker: &mut Option<Worker>,
    in_memory: &Arc<AtomicU64>,
    out_tx: &EventSink,
    inv: &Invocation,
) -> Option<(control::Flow, Option<(Summary, WorkerStatus)>)> {
    let Invocation::Message(m) = inv else {
        return None;
    };
    let kind = match crate::inbox::kind(m) {
        Ok(Kind::Invoke) => return None,
        Ok(kind) => kind,
        Err(error) => {
            crate::reply::reject(env, inv, error).await;
            return Some((control::Flow::Continue, None));
        }
    };
    match Box::pin(wake(env, id, worker, in_memory, out_tx, m, kind)).await {
        Ok(flow) => {
            let status = worker
                .as_ref()
                .filter(|_| flow == control::Flow::Continue)
                .map(|w| (Summary::of(w), decide::status_of(w.view(None))));
            Some((flow, status))
        }
        Err(error) => {
            crate::reply::reject(env, inv, error).await;
            Some((control::Flow::Continue, None))
        }
    }
}
