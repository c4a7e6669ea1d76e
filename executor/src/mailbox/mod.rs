//! One worker's mailbox: the driver of the invocation pipeline. It takes what
//! the shard hands it (invocations and control requests), asks
//! [`crate::decide`] what each invocation needs, and performs it: recover the
//! worker, reject, answer from the journal, hold, or type the arguments and run
//! it (racing control input, [`crate::control::race`]). It suspends the worker
//! after the idle timeout, and gives back to JetStream whatever it still holds
//! when it ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use revenant_nats::invocations::InvocationMessage;
use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ControlAction, WorkerStatus};
use tokio::sync::{mpsc, watch};

use crate::arguments::prepare;
use crate::context::{Input, WorkerEnv};
use crate::control;
use crate::decide::index::Journaled;
use crate::decide::{self, Decision};
use crate::delete;
use crate::inbox::{Invocation, Tail};
use crate::reply::{answer, reject};
use crate::schedule;
use crate::status::{RecoveredStatus, Summary, event, put_status};
use crate::worker::{Invoked, Worker, WorkerError};

mod group;
mod hold;
mod output;
mod snapshot;
mod wake;

use group::Group;

use output::stream_output;
use wake::{recover, settle_parked};

/// One worker's mailbox: recovers it on the first message, runs invocations in order,
/// suspends it after the idle timeout.
pub(crate) async fn mailbox(
    id: WorkerId,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    done: mpsc::UnboundedSender<WorkerId>,
    mut stop: watch::Receiver<bool>,
) {
    let nats = env.nats.clone();
    let (out_tx, events) = stream_output(&env, &id);
    let idle = Duration::from_millis(env.opts.idle_timeout_ms);
    let max_payload = nats.options().max_payload;
    let mut worker: Option<Worker> = None;
    // Invocations taken from `rx` but not run yet: those that arrived while one ran, and
    // every invocation while the worker is interrupted (the interrupted one first).
    let mut queue: VecDeque<InvocationMessage> = VecDeque::new();
    let mut keepalive = tokio::time::interval(control::KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recovered_status = RecoveredStatus::default();
    // When the mailbox ends, what it holds goes back to JetStream after this delay, all of
    // it alike and in arrival order (the head first), so nothing overtakes anything.
    let mut give_back = Duration::ZERO;
    // Invocations finished but not committed yet (group commit, `decide::group`).
    let mut group = Group::default();
    // Input taken from `rx` to see whether it joins the group, and that did not.
    let mut early: Option<Input> = None;
    'run: loop {
        recovered_status.start(&nats);
        // The tail a dropped worker was running goes first, then invocations parked while
        // it was suspended, then messages held in memory, then new input.
        let held = worker.as_ref().is_some_and(Worker::interrupted);
        let mut from_queue = false;
        let next = match worker.as_mut() {
            Some(_) if held => None,
            Some(w) => match w.tail() {
                Some(tail) => Some(Invocation::Tail(Tail::of(tail))),
                None => w.next_parked().map(Invocation::Parked),
            },
            None => None,
        }
        .or_else(|| {
            let m = if held { None } else { queue.pop_front() };
            from_queue = m.is_some();
            m.map(Invocation::Message)
        });
        let inv = match next {
            Some(inv) => inv,
            // Nothing else is waiting: what finished is committed and answered first.
            None if !group.is_empty() => match rx.try_recv() {
                Ok(Input::Invocation(m)) => Invocation::Message(m),
                other => {
                    early = other.ok();
                    if !group::close_and_snapshot(
                        &mut group,
                        &env,
                        &id,
                        worker.as_mut(),
                        &mut queue,
                    )
                    .await
                    {
                        give_back = DROPPED;
                        break 'run;
                    }
                    continue;
                }
            },
            None => {
                let idle_since = std::time::Instant::now();
                let input = if let Some(input) = early.take() {
                    input
                } else {
                    tokio::select! {
                        m = rx.recv() => match m { Some(m) => m, None => break },
                        // Too many workers in memory: those idle for a while leave first.
                        _ = env.room.pressure.notified(), if queue.is_empty() && worker.is_some() => {
                            let evictable = Duration::from_millis(env.opts.evict_idle_after_ms);
                            if !env.room.leaves(idle_since.elapsed(), evictable) {
                                continue;
                            }
                            tracing::debug!(worker = %id, "evicted: too many workers in memory");
                            recovered_status.settle(&nats).await;
                            if let Some(w) = &worker {
                                let status = decide::status_of(w.view(None).unloaded());
                                put_status(&nats, Summary::of(w), status).await;
                            }
                            break;
                        }
                        _ = tokio::time::sleep(idle), if queue.is_empty() => {
                            tracing::debug!(worker = %id, "idle; suspending");
                            recovered_status.settle(&nats).await;
                            if let Some(w) = &worker {
                                let status = decide::status_of(w.view(None).unloaded());
                                put_status(&nats, Summary::of(w), status).await;
                            }
                            break;
                        }
                        _ = keepalive.tick(), if !queue.is_empty() => {
                            control::keep_alive(None, &queue).await;
                            continue;
                        }
                        _ = stop.changed() => break,
                    }
                };
                match input {
                    Input::Control(cmd) => {
                        recovered_status.settle(&nats).await;
                        let flow = if cmd.action == ControlAction::Delete {
                            delete::handle(&env, &mut worker, &in_memory, &out_tx, cmd).await
                        } else {
                            control::handle(&env, &mut worker, &in_memory, &out_tx, cmd).await
                        };
                        match flow {
                            control::Flow::Continue => continue,
                            control::Flow::Drop => break,
                        }
                    }
                    Input::Invocation(m) => Invocation::Message(m),
                }
            }
        };
        // Anything but a plain invocation that runs as it is commits the open group first.
        if !group.is_empty()
            && !group::joins(&env, &id, &inv, worker.as_ref(), max_payload)
            && !group::close(&mut group, &env, &id, worker.as_mut(), &mut queue, true).await
        {
            if let Invocation::Message(m) = inv {
                queue.push_front(m);
            }
            give_back = DROPPED;
            break 'run;
        }
        // A fired timer or a promise completion does not queue behind invocations.
        let woken = wake::other_kind(&env, &id, &mut worker, &in_memory, &out_tx, &inv);
        match woken.await {
            None => {}
            Some((flow, status)) => {
                recovered_status.deferred = status.or(recovered_status.deferred.take());
                match flow {
                    control::Flow::Continue => continue,
                    control::Flow::Drop => break,
                }
            }
        }
        let arrival = inv.arrival();
        // Recovery is the one decision after which the mailbox decides again.
        let mut unrecoverable = false;
        let decision = loop {
            let view = worker.as_ref().map(|w| w.view(Some(arrival.key)));
            match decide::decide(&id, arrival, view, max_payload) {
                Decision::Recover => {
                    // A long recovery keeps what it holds alive (not redelivered meanwhile).
                    // Boxed: a recovery's future is large, and the mailbox's would be too.
                    let early = matches!(inv, Invocation::Message(_)); // see Worker::recover
                    let recovering =
                        Box::pin(recover(&env, &id, &mut worker, &in_memory, &out_tx, early));
                    match control::keep_alive_while(recovering, inv.message(), &queue).await {
                        Ok(status) => recovered_status.deferred = Some(status),
                        Err(WorkerError::Component(error)) => break Decision::Reject(error),
                        Err(e) => {
                            tracing::error!(worker = %id, error = %e, "could not recover worker");
                            unrecoverable = true;
                            break Decision::Recover;
                        }
                    }
                }
                other => break other,
            }
        };
        if unrecoverable {
            if let Invocation::Message(m) = inv {
                queue.push_front(m);
            }
            give_back = Duration::from_secs(1);
            break 'run;
        }
        // A recovered worker finishes what it was running before anything else.
        if let (Invocation::Message(_), Some(w)) = (&inv, worker.as_ref())
            && w.tail().is_some()
            && !matches!(decision, Decision::Reject(_))
        {
            let Invocation::Message(m) = inv else {
                unreachable!()
            };
            queue.push_front(m);
            continue;
        }
        // A firing of a schedule may be skipped (overlap skip, past its catch-up bound).
        let busy = from_queue || decision == Decision::Park;
        if matches!(decision, Decision::Run | Decision::Park)
            && let Some(skipped) =
                schedule::skipped_firing(&env, &id, worker.as_mut(), &inv, busy).await
        {
            match skipped {
                schedule::Skipped::Answer(outcome) => {
                    let function = inv.function().unwrap_or_default().to_owned();
                    // Journaled (`FiringSkipped`) before it is answered.
                    let journaled = worker.as_ref().map_or(Journaled::No, Worker::journaled);
                    answer(&env, &id, &inv, &function, &outcome, journaled).await;
                }
                schedule::Skipped::Reject(error) => reject(&env, &inv, error).await,
                schedule::Skipped::Retry => {}
            }
            continue;
        }
        // An ephemeral worker keeps no journal, and one loaded from a trimmed oplog no longer
        // holds the keys it answered before: such a key is in `RVN_RESULTS` (within its TTL).
        if decision == Decision::Run
            && worker.as_ref().is_some_and(Worker::asks_index)
            && let Ok(Some(record)) = nats.results().stored(&id, inv.key()).await
        {
            let function = inv.function().unwrap_or_default().to_owned();
            answer(&env, &id, &inv, &function, &record.outcome, Journaled::No).await;
            continue;
        }
        match decision {
            Decision::Recover | Decision::Run => {}
            Decision::Reject(error) => {
                if error.kind == ErrorKind::WorkerDeleted {
                    // Recovered only to be told it is gone: no record, nothing kept in memory.
                    recovered_status.deferred = None;
                    if worker.take().is_some() {
                        in_memory.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                reject(&env, &inv, error.clone()).await;
                settle_parked(&id, &mut worker, &inv, &InvocationOutcome::Err(error)).await;
                continue;
            }
            // A duplicate of a completed invocation, or any invocation of a failed worker:
            // answered, not dead-lettered (the input is fine).
            Decision::Answer(outcome) => {
                let function = inv.function().unwrap_or_default().to_owned();
                // From the journal's answered keys, or a failed worker's (not journaled).
                let journaled = match worker.as_ref() {
                    Some(w) if w.view(Some(inv.key())).completed.is_some() => w.journaled(),
                    _ => Journaled::No,
                };
                answer(&env, &id, &inv, &function, &outcome, journaled).await;
                settle_parked(&id, &mut worker, &inv, &outcome).await;
                continue;
            }
            Decision::Hold | Decision::Park => {
                let Invocation::Message(m) = inv else {
                    // Tails and parked invocations are only taken from a worker that can run.
                    tracing::error!(worker = %id, "a tail or parked invocation was held; it runs after the next recovery");
                    break 'run;
                };
                let w = worker.as_mut();
                if hold::hold_or_park(&env, &id, w, &mut queue, m, &decision, from_queue).await {
                    continue;
                }
                give_back = DROPPED;
                break;
            }
        }
        let w = worker
            .as_mut()
            .expect("a worker decided to run is in memory");
        let completions = w.completions();
        let (function, run) = match &inv {
            Invocation::Tail(tail) => {
                let run = Box::pin(async { w.run_tail().await.unwrap_or(Ok(Invoked::Suspended)) })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>;
                (tail.function.clone(), run)
            }
            _ => {
                let mut prepared = match w
                    .component()
                    .ok_or_else(no_instance)
                    .and_then(|c| prepare(c, inv.function(), inv.content_type(), inv.body()))
                {
                    Ok(p) => p,
                    Err(error) => {
                        reject(&env, &inv, error.clone()).await;
                        settle_parked(&id, &mut worker, &inv, &InvocationOutcome::Err(error)).await;
                        continue;
                    }
                };
                prepared.schedule = schedule::schedule_of(&env, &inv);
                let function = prepared.function.clone();
                let reply_to = inv.reply_to().map(str::to_owned);
                // Boxed: raced against control input, it would make the mailbox's future huge.
                let caller = inv.caller().cloned();
                // Its completion may share a commit with invocations run after it.
                if matches!(inv, Invocation::Message(_) | Invocation::Parked(_))
                    && !w.is_ephemeral()
                {
                    w.leave_next_completion_uncommitted();
                }
                let run = Box::pin(w.invoke(inv.key(), prepared, inv.trace(), reply_to, caller))
                    as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>;
                (function, run)
            }
        };
        let _ = nats
            .publish_event(
                &id,
                event(
                    "invocation-started",
                    serde_json::json!({ "function": function, "idempotency-key": inv.key() }),
                ),
            )
            .await;
        let raced = control::race(
            run,
            inv.message(),
            &mut rx,
            &mut queue,
            &completions,
            &id,
            &nats,
        )
        .await;
        let result = match raced {
            control::Raced::Done(result) => result,
            control::Raced::Stopped(cmd) => {
                // Not answered, not acked: it runs again, first, when the worker is resumed
                // (or, after a delete, is decided again: rejected as `worker-deleted`). A tail
                // or a parked invocation stays in the oplog (the tail of the reopened worker).
                if let Invocation::Message(m) = inv {
                    queue.push_front(m);
                }
                // What finished before it is committed (not what it journaled) and answered.
                if !group::close(&mut group, &env, &id, worker.as_mut(), &mut queue, false).await {
                    give_back = DROPPED;
                    break 'run;
                }
                recovered_status.settle(&nats).await;
                match wake::stopped(&env, &id, &mut worker, &in_memory, &out_tx, cmd).await {
                    control::Flow::Continue => continue,
                    control::Flow::Drop => break,
                }
            }
        };
        let w = worker.as_mut().expect("a worker that ran is in memory");
        match result {
            Ok(Invoked::Done(outcome)) => {
                let finished = decide::group::Finished {
                    plain: matches!(inv, Invocation::Message(_) | Invocation::Parked(_)),
                    ok: matches!(outcome, InvocationOutcome::Ok(_)) && w.failed().is_none(),
                    ephemeral: w.is_ephemeral(),
                };
                let next_ready = w.parked() > 0 || !queue.is_empty() || !rx.is_empty();
                let keep_open = decide::group::keep_open(finished, next_ready, group.len());
                // An ephemeral worker keeps no journal.
                let journaled = w.journaled();
                group.add(w, inv, function, outcome, journaled);
                if keep_open {
                    continue;
                }
                if !group::close(&mut group, &env, &id, Some(&mut *w), &mut queue, true).await {
                    env.metrics.worker_dropped();
                    give_back = DROPPED;
                    break;
                }
                if w.failed().is_some() {
                    recovered_status.settle(&nats).await;
                    put_status(&nats, Summary::of(w), WorkerStatus::Failed).await;
                }
                if w.is_ephemeral() {
                    // The next invocation gets a fresh instance.
                    control::set(&mut worker, None, &in_memory);
                    continue;
                }
                if let Err(e) = snapshot::if_due(&id, w).await {
                    tracing::error!(worker = %id, error = %e, "dropping worker");
                    env.metrics.worker_dropped();
                    give_back = DROPPED;
                    break;
                }
            }
            Ok(Invoked::Suspended) => {
                // The suspension's commit carried what finished before it: answered now.
                if !group::close(&mut group, &env, &id, Some(&mut *w), &mut queue, true).await {
                    give_back = DROPPED;
                    break;
                }
                // Durable in the oplog (started and suspended): its message is done with.
                if let Some(m) = inv.message() {
                    let _ = m.ack().await;
                }
                let _ = nats
                    .publish_event(&id, event("suspended", serde_json::json!({ "function": function, "idempotency-key": inv.key(), "waiting": w.waiting() })))
                    .await;
                recovered_status.settle(&nats).await;
                put_status(&nats, Summary::of(w), WorkerStatus::Suspended).await;
                // What waited behind it in memory is parked, so nothing is held meanwhile.
                let parking = w.completions();
                if let Err(e) = control::park_all(&mut queue, &parking).await {
                    tracing::error!(worker = %id, error = %e, "could not park an invocation; dropping worker");
                    break 'run;
                }
                // A suspended worker costs no memory: what arrives next recovers it.
                tracing::debug!(worker = %id, "suspended");
                break;
            }
            Err(e) => {
                // Fenced or the oplog is unreachable: this executor must let go of the worker.
                tracing::error!(worker = %id, error = %e, "dropping worker");
                env.metrics.worker_dropped();
                if let Invocation::Message(m) = inv {
                    queue.push_front(m);
                }
                // What finished before it may not be durable: it runs again, or is answered
                // from the journal, wherever the worker goes next.
                for m in group.give_back().into_iter().rev() {
                    queue.push_front(m);
                }
                give_back = DROPPED;
                break;
            }
        }
    }
    for m in group.give_back().into_iter().rev() {
        queue.push_front(m);
    }
    if let Some(Input::Invocation(m)) = early {
        queue.push_back(m);
    }
    if worker.take().is_some() {
        in_memory.fetch_sub(1, Ordering::Relaxed);
    }
    drop(out_tx);
    let _ = events.await;
    rx.close();
    // Whatever was queued behind goes back to JetStream at once (not after the ack wait),
    // to be redelivered to whoever runs the worker next. Control requests left unanswered
    // time out at the requester, which retries.
    for m in queue {
        let _ = m
            .nak(decide::redelivery_delay(give_back, m.delivered))
            .await;
    }
    while let Ok(input) = rx.try_recv() {
        if let Input::Invocation(m) = input {
            let _ = m
                .nak(decide::redelivery_delay(give_back, m.delivered))
                .await;
        }
    }
    let _ = done.send(id);
}

/// How long what a dropped worker held waits before it is redelivered (the oplog
/// append that failed may have been fenced by a new owner, who then gets it).
const DROPPED: Duration = Duration::from_millis(200);

/// The error of an invocation decided to run on a worker without an instance (a bug).
fn no_instance() -> ErrorBody {
    ErrorBody::new(
        ErrorKind::Internal,
        "the worker has no instance to run the invocation",
    )
}
