//! Interrupt, resume and delete: the executor's side of `<ns>.control.<c>.<w>`
//! ([`revenant_nats::control`]). Every executor listens; [`control_bridge`]
//! hands a request to the shard task that holds the worker (registered in
//! [`ControlRegistry`](crate::context::ControlRegistry) while it runs) and ignores the others, so only the
//! holder answers. The shard passes it to the worker's mailbox as an
//! [`Input::Control`](crate::context::Input::Control), where:
//!
//! - **interrupt** while an invocation runs drops its future at once ([`race`];
//!   the epoch callback yields every tick, so a spinning guest stops within one
//!   tick, and one awaiting host IO stops too), throws the instance away and
//!   appends `Interrupted` (voiding that attempt's host calls). Its message is
//!   neither answered nor acked: it goes back to the head of the mailbox's queue;
//! - an interrupted worker holds every invocation in order (kept alive with
//!   progress acks, [`KEEPALIVE`]) and answers only duplicates of completed keys;
//! - **resume** appends `Resumed`, rebuilds the instance by replay and lets the
//!   mailbox run the held invocations, the interrupted one first, from its start;
//! - **delete** stops a running invocation like an interrupt; the rest of it is
//!   [`delete`](super::delete)'s.
//!
//! The state is durable: a worker recovered with a trailing `Interrupted` comes
//! back interrupted on any executor. It does not decide which executor holds a
//! shard ([`crate::shards`]) nor how a mailbox runs invocations ([`crate::mailbox`]);
//! what a request does to a worker is decided by [`crate::decide::control`].
//! Time-travel requests (`<ns>.inspect.<c>.<w>`) are routed the same way but change
//! nothing, so they bypass the mailbox ([`inspect`]).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::Nats;
use revenant_nats::invocations::InvocationMessage;
use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::ErrorBody;
use revenant_types::records::{ControlAction, WorkerState, WorkerStatus};
use tokio::sync::watch;

use crate::context::{ControlCommand, WorkerEnv};
use crate::decide::{self, ControlDecision};
use crate::durable::CommitError;
use crate::durable::stdio::EventSink;
use crate::status::{Summary, event, put_status};
use crate::worker::{Worker, WorkerError};

mod inspect;
mod race;
mod update;

pub(crate) use inspect::inspect_bridge;
pub(crate) use race::{Raced, race};

/// How often invocations held in a mailbox (running, queued behind the running one, or
/// held by an interrupt) are reported in progress: well inside the shard consumer's ack wait.
pub(crate) const KEEPALIVE: Duration =
    Duration::from_millis(revenant_nats::invocations::ACK_WAIT.as_millis() as u64 / 3);

/// Listens on `<ns>.control.*.*` and hands each request for a shard this executor
/// holds to that shard; requests for other shards are left to their holder.
pub(crate) async fn control_bridge(env: Arc<WorkerEnv>, mut stop: watch::Receiver<bool>) {
    let nats = env.nats.clone();
    let mut requests = match nats.control_requests().await {
        Ok(r) => Box::pin(r),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to control requests");
            return;
        }
    };
    loop {
        let request = tokio::select! {
            r = requests.next() => match r { Some(r) => r, None => return },
            _ = stop.changed() => return,
        };
        let worker = match request.worker {
            Ok(w) => w,
            Err(reason) => {
                // No shard to hold: every executor says so (the requester takes the first).
                reply(
                    &nats,
                    request.reply.as_deref(),
                    Err(ErrorBody::new(ErrorKind::InvalidName, reason)),
                )
                .await;
                continue;
            }
        };
        let Some(shard) = env.controls.route(nats.shard_of(&worker)) else {
            continue;
        };
        let action = match request.action {
            Ok(a) => a,
            Err(reason) => {
                reply(
                    &nats,
                    request.reply.as_deref(),
                    Err(ErrorBody::new(ErrorKind::InvalidControl, reason)),
                )
                .await;
                continue;
            }
        };
        tracing::info!(worker = %worker, action = action.as_str(), "control request");
        // A shard that is stopping drops it: the requester times out and retries.
        let _ = shard.send(ControlCommand {
            worker,
            action,
            reply: request.reply,
        });
    }
}

pub(crate) async fn reply(nats: &Nats, to: Option<&str>, answer: Result<WorkerState, ErrorBody>) {
    let Some(to) = to else { return };
    let sent = match &answer {
        Ok(state) => nats.reply_state(to, state).await,
        Err(error) => nats.reply_error(to, error).await,
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not answer a control request");
    }
}

pub(crate) fn state(id: &WorkerId, status: WorkerStatus) -> WorkerState {
    WorkerState {
        worker: id.dotted(),
        status,
        interrupted: status == WorkerStatus::Interrupted,
        recovered_ms: None,
    }
}

/// A simulated crash: what this executor holds of the worker is dropped (an invocation
/// running was cut short by [`race`] and stays at the head of the queue, unanswered and
/// unacked), and the worker is recovered from its oplog the way a new owner recovers it
/// after a real crash ([`Worker::recover`]: oplog read, component load, replay). The
/// answer carries how long that took; a `recovered` event says it too.
pub(crate) async fn crash(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
) -> (Result<WorkerState, ErrorBody>, Flow) {
    set(slot, None, in_memory);
    let started = std::time::Instant::now();
    let w = match Box::pin(Worker::recover(
        env.clone(),
        id.clone(),
        events.clone(),
        false,
    ))
    .await
    {
        Ok(w) => w,
        Err(e) => {
            let (error, flow) = oplog_error(id, &e);
            return (Err(error), flow);
        }
    };
    let recovered_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = decide::status_of(w.view(None));
    let summary = Summary::of(&w);
    set(slot, Some(w), in_memory);
    tracing::info!(worker = %id, recovered_ms, "simulated crash: recovered");
    put_status(&env.nats, summary, status).await;
    let fields = serde_json::json!({ "recovered-ms": recovered_ms, "simulated-crash": true });
    let _ = env.nats.publish_event(id, event("recovered", fields)).await;
    let answer = WorkerState {
        recovered_ms: Some(recovered_ms),
        ..state(id, status)
    };
    (Ok(answer), Flow::Continue)
}

/// Keeps the mailbox's worker and the executor's count of workers in memory in step.
pub(crate) fn set(slot: &mut Option<Worker>, worker: Option<Worker>, in_memory: &AtomicU64) {
    match (slot.is_some(), worker.is_some()) {
        (false, true) => {
            in_memory.fetch_add(1, Ordering::Relaxed);
        }
        (true, false) => {
            in_memory.fetch_sub(1, Ordering::Relaxed);
        }
        _ => {}
    }
    *slot = worker;
}

/// What the mailbox does after a control command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The worker's oplog cannot be written (fenced or unreachable): let the worker go.
    Drop,
}

pub(crate) fn oplog_error(id: &WorkerId, e: &WorkerError) -> (ErrorBody, Flow) {
    let flow = if matches!(e, WorkerError::Commit(_)) {
        Flow::Drop
    } else {
        Flow::Continue
    };
    tracing::error!(worker = %id, error = %e, "control request failed");
    let error = match e {
        WorkerError::Component(_) => e.to_error_body(),
        other => ErrorBody::new(ErrorKind::Unavailable, other.to_string()),
    };
    (error, flow)
}

/// Handles a control command while no invocation runs. A worker not in memory is
/// read from its oplog (without an instance) and kept only if it is interrupted,
/// failed, or was just resumed.
pub(crate) async fn handle(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
    cmd: ControlCommand,
) -> Flow {
    let id = cmd.worker.clone();
    let (answer, flow) = apply(env, slot, in_memory, events, &cmd).await;
    reply(&env.nats, cmd.reply.as_deref(), answer).await;
    if let Some(w) = slot.as_ref()
        && w.failed().is_none()
        && !w.interrupted()
        && w.component().is_none()
    {
        // Opened only to look: not usable for invocations, recovered by the next one.
        set(slot, None, in_memory);
    }
    if flow == Flow::Drop {
        tracing::error!(worker = %id, "dropping worker");
    }
    flow
}

async fn apply(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
    cmd: &ControlCommand,
) -> (Result<WorkerState, ErrorBody>, Flow) {
    let id = &cmd.worker;
    if slot.is_none() {
        match Worker::open(env.clone(), id.clone(), events.clone()).await {
            Ok(Some(w)) => set(slot, Some(w), in_memory),
            Ok(None) => {}
            Err(e) => {
                let (error, flow) = oplog_error(id, &e);
                return (Err(error), flow);
            }
        }
    }
    let view = slot.as_ref().map(|w| w.view(None));
    let changed = match (decide::control(id, cmd.action, view), slot.as_mut()) {
        (ControlDecision::Refuse(error), _) => return (Err(error), Flow::Continue),
        (ControlDecision::Unchanged(status), _) => {
            return (Ok(state(id, status)), Flow::Continue);
        }
        (ControlDecision::Interrupt, Some(w)) => w.interrupt().await,
        (ControlDecision::Resume, Some(w)) => w.resume().await,
        (ControlDecision::Snapshot, Some(w)) => return snapshot(id, w).await,
        (ControlDecision::Crash, Some(_)) => return crash(env, id, slot, in_memory, events).await,
        (ControlDecision::Update { to, mode }, Some(w)) => {
            return update::apply(env, id, w, to, mode).await;
        }
        (ControlDecision::Delete, _) => {
            unreachable!("the mailbox hands deletes to the delete module")
        }
        (_, None) => unreachable!("a control decision to change a worker has a worker"),
    };
    let Some(w) = slot.as_mut() else {
        unreachable!("the worker stays in its slot while it changes")
    };
    match changed {
        Ok(_) => {
            if let Some(message) = w.failed() {
                // Resuming replayed the oplog and replay failed.
                let error = decide::worker_failed(id, message);
                put_status(&env.nats, Summary::of(w), WorkerStatus::Failed).await;
                return (Err(error), Flow::Continue);
            }
            let status = decide::status_of(w.view(None));
            announce(env, id, Summary::of(w), cmd.action, status).await;
            (Ok(state(id, status)), Flow::Continue)
        }
        Err(e) => {
            set(slot, None, in_memory);
            let (error, flow) = oplog_error(id, &e);
            (Err(error), flow)
        }
    }
}

/// Records the new status in `RVN_WORKERS` and publishes an `interrupted` / `resumed` event.
async fn announce(
    env: &WorkerEnv,
    id: &WorkerId,
    w: Summary,
    action: ControlAction,
    status: WorkerStatus,
) {
    put_status(&env.nats, w, status).await;
    let kind = match action {
        ControlAction::Interrupt => "interrupted",
        ControlAction::Resume => "resumed",
        ControlAction::Delete => "deleted",
        ControlAction::Snapshot => "snapshot",
        ControlAction::Update { .. } => "updated",
        ControlAction::SimulateCrash => "recovered",
    };
    let _ = env
        .nats
        .publish_event(id, event(kind, serde_json::json!({})))
        .await;
}

/// Takes a snapshot on demand: the worker is recovered first when only its oplog was read.
async fn snapshot(id: &WorkerId, w: &mut Worker) -> (Result<WorkerState, ErrorBody>, Flow) {
    let taken = match w.ensure_instance().await {
        Ok(()) => w.snapshot().await,
        Err(e) => Err(e),
    };
    match taken {
        Ok(Ok(_)) => (
            Ok(state(id, decide::status_of(w.view(None)))),
            Flow::Continue,
        ),
        Ok(Err(why)) => {
            let error = ErrorBody::new(
                ErrorKind::Unavailable,
                format!("no snapshot of {id} was taken: {why}"),
            );
            (Err(error), Flow::Continue)
        }
        Err(e) => {
            let (error, flow) = oplog_error(id, &e);
            (Err(error), flow)
        }
    }
}

/// Interrupts a worker whose running invocation [`race`] just dropped: the worker
/// (whose journal may hold the dropped attempt's uncommitted entries, or a commit
/// cut short) is dropped and read again from its oplog, then marked interrupted.
/// Retries briefly when fenced, in case the dropped commit landed after the read.
pub(crate) async fn interrupt_stopped(
    env: &Arc<WorkerEnv>,
    slot: &mut Option<Worker>,
    in_memory: &AtomicU64,
    events: &EventSink,
    cmd: ControlCommand,
) -> Flow {
    set(slot, None, in_memory);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let opened = Worker::open(env.clone(), cmd.worker.clone(), events.clone()).await;
        let fenced = match opened {
            // It failed just before the interrupt (e.g. its last retry): nothing to hold.
            Ok(Some(w)) if w.failed().is_some() => {
                set(slot, Some(w), in_memory);
                break;
            }
            Ok(Some(mut w)) => match w.interrupt().await {
                Err(WorkerError::Commit(CommitError::Fenced { .. })) => true,
                Err(e) => {
                    let (error, flow) = oplog_error(&cmd.worker, &e);
                    reply(&env.nats, cmd.reply.as_deref(), Err(error)).await;
                    return flow;
                }
                Ok(_) => {
                    set(slot, Some(w), in_memory);
                    break;
                }
            },
            Ok(None) => {
                reply(
                    &env.nats,
                    cmd.reply.as_deref(),
                    Err(decide::unknown_worker(&cmd.worker)),
                )
                .await;
                return Flow::Continue;
            }
            Err(e) => {
                let (error, flow) = oplog_error(&cmd.worker, &e);
                reply(&env.nats, cmd.reply.as_deref(), Err(error)).await;
                return flow;
            }
        };
        if fenced && attempt >= 3 {
            let message = format!(
                "worker {} could not be interrupted: its oplog was appended by someone else (another executor holds it now)",
                cmd.worker
            );
            reply(
                &env.nats,
                cmd.reply.as_deref(),
                Err(ErrorBody::new(ErrorKind::Unavailable, message)),
            )
            .await;
            return Flow::Drop;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let w = slot.as_ref().expect("set above");
    if let Some(message) = w.failed() {
        let error = decide::worker_failed(&cmd.worker, message);
        reply(&env.nats, cmd.reply.as_deref(), Err(error)).await;
        return Flow::Continue;
    }
    tracing::info!(worker = %cmd.worker, "running invocation interrupted");
    let summary = Summary::of(w);
    announce(
        env,
        &cmd.worker,
        summary,
        ControlAction::Interrupt,
        WorkerStatus::Interrupted,
    )
    .await;
    reply(
        &env.nats,
        cmd.reply.as_deref(),
        Ok(state(&cmd.worker, WorkerStatus::Interrupted)),
    )
    .await;
    Flow::Continue
}

/// Tells JetStream the held invocations are still being worked on.
/// Parks every message of `queue` in order, journaled with one commit
/// ([`crate::worker::Completions::park_all`]), and acks each once parked; on an error
/// all of them stay queued.
pub(crate) async fn park_all(
    queue: &mut VecDeque<InvocationMessage>,
    parking: &crate::worker::Completions,
) -> Result<(), crate::durable::CommitError> {
    if queue.is_empty() {
        return Ok(());
    }
    parking
        .park_all(queue.iter().map(crate::inbox::parked).collect())
        .await?;
    for m in queue.drain(..) {
        if let Err(e) = m.ack().await {
            tracing::warn!(error = %e, "could not ack a parked invocation (it is parked: a redelivery is answered from the oplog)");
        }
    }
    Ok(())
}

/// Runs `work` while keeping `running` and `queue` alive (in progress) every [`KEEPALIVE`].
pub(crate) async fn keep_alive_while<F: Future>(
    work: F,
    running: Option<&InvocationMessage>,
    queue: &VecDeque<InvocationMessage>,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = keepalive.tick() => keep_alive(running, queue).await,
        }
    }
}

pub(crate) async fn keep_alive(
    running: Option<&InvocationMessage>,
    queue: &VecDeque<InvocationMessage>,
) {
    for m in running.into_iter().chain(queue) {
        if let Err(e) = m.in_progress().await {
            tracing::warn!(error = %e, "could not keep a held invocation alive");
        }
    }
}
