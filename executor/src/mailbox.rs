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
use crate::decide::{self, Arrival, Decision};
use crate::delete;
use crate::durable::stdio::Output;
use crate::reply::{answer, reject};
use crate::status::{RecoveredStatus, Summary, event, put_status};
use crate::worker::{Worker, WorkerError};

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
    'run: loop {
        recovered_status.start(&nats);
        let held = worker.as_ref().is_some_and(Worker::interrupted);
        let next = if held { None } else { queue.pop_front() };
        let from_queue = next.is_some();
        let msg = match next {
            Some(m) => m,
            None => {
                let input = tokio::select! {
                    m = rx.recv() => match m { Some(m) => m, None => break },
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
                    Input::Invocation(m) => m,
                }
            }
        };
        let arrival = Arrival {
            key: &msg.idempotency_key,
            body_len: msg.body.len(),
            stream_sequence: msg.stream_sequence,
        };
        // Recovery is the one decision after which the mailbox decides again.
        let decision = loop {
            let view = worker.as_ref().map(|w| w.view(Some(arrival.key)));
            match decide::decide(&id, arrival, view, max_payload) {
                Decision::Recover => {
                    match Worker::recover(env.clone(), id.clone(), out_tx.clone()).await {
                        Ok(w) => {
                            let status = decide::status_of(w.view(None));
                            recovered_status.deferred = Some((Summary::of(&w), status));
                            if worker.replace(w).is_none() {
                                in_memory.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(WorkerError::Component(error)) => break Decision::Reject(error),
                        Err(e) => {
                            tracing::error!(worker = %id, error = %e, "could not recover worker");
                            let _ = msg.nak(Duration::from_secs(1)).await;
                            break 'run;
                        }
                    }
                }
                other => break other,
            }
        };
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
                reject(&env, &msg, error).await;
                continue;
            }
            // A duplicate of a completed invocation, or any invocation of a failed worker:
            // answered, not dead-lettered (the input is fine).
            Decision::Answer(outcome) => {
                let function = msg.function.as_deref().unwrap_or_default();
                answer(&env, &id, &msg, function, &outcome).await;
                continue;
            }
            // It goes back where it came from: the head of the queue, or behind it.
            Decision::Hold if from_queue => {
                queue.push_front(msg);
                continue;
            }
            Decision::Hold => {
                queue.push_back(msg);
                continue;
            }
        }
        let w = worker
            .as_mut()
            .expect("a worker decided to run is in memory");
        let prepared = match w
            .component()
            .ok_or_else(no_instance)
            .and_then(|c| prepare(c, &msg))
        {
            Ok(p) => p,
            Err(error) => {
                reject(&env, &msg, error).await;
                continue;
            }
        };
        let function = prepared.function.clone();
        let _ = nats
            .publish_event(&id, event("invocation-started", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key })))
            .await;
        // Boxed: raced against control input, it would make the mailbox's future huge.
        let run = Box::pin(w.invoke(&msg.idempotency_key, prepared, msg.trace.clone()));
        let result = match control::race(run, &msg, &mut rx, &mut queue, &nats, &id).await {
            control::Raced::Done(result) => result,
            control::Raced::Stopped(cmd) => {
                // Not answered, not acked: it runs again, first, when the worker is resumed
                // (or, after a delete, is decided again: rejected as `worker-deleted`).
                queue.push_front(msg);
                recovered_status.settle(&nats).await;
                let stopped = if cmd.action == ControlAction::Delete {
                    delete::stopped(&env, &mut worker, &in_memory, &out_tx, cmd).await
                } else {
                    control::interrupt_stopped(&env, &mut worker, &in_memory, &out_tx, cmd).await
                };
                match stopped {
                    control::Flow::Continue => continue,
                    control::Flow::Drop => break,
                }
            }
        };
        match result {
            Ok(outcome) => {
                let ok = matches!(outcome, InvocationOutcome::Ok(_));
                let _ = nats
                    .publish_event(&id, event("invocation-finished", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key, "ok": ok })))
                    .await;
                answer(&env, &id, &msg, &function, &outcome).await;
                if w.failed().is_some() {
                    recovered_status.settle(&nats).await;
                    put_status(&nats, Summary::of(w), WorkerStatus::Failed).await;
                }
            }
            Err(e) => {
                // Fenced or the oplog is unreachable: this executor must let go of the worker.
                tracing::error!(worker = %id, error = %e, "dropping worker");
                env.metrics.worker_dropped();
                let _ = msg.nak(Duration::from_millis(200)).await;
                break;
            }
        }
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
        let _ = m.nak(Duration::ZERO).await;
    }
    while let Ok(input) = rx.try_recv() {
        if let Input::Invocation(m) = input {
            let _ = m.nak(Duration::ZERO).await;
        }
    }
    let _ = done.send(id);
}

/// The error of an invocation decided to run on a worker without an instance (a bug).
fn no_instance() -> ErrorBody {
    ErrorBody::new(
        ErrorKind::Internal,
        "the worker has no instance to run the invocation",
    )
}

/// The guest's stdout and stderr, published as events while the worker lives.
fn stream_output(
    env: &WorkerEnv,
    id: &WorkerId,
) -> (mpsc::UnboundedSender<Output>, tokio::task::JoinHandle<()>) {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Output>();
    let nats = env.nats.clone();
    let id = id.clone();
    let events = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let line = String::from_utf8_lossy(&out.data).into_owned();
            let _ = nats
                .publish_event(
                    &id,
                    event(out.stream.as_str(), serde_json::json!({ "data": line })),
                )
                .await;
        }
    });
    (out_tx, events)
}
