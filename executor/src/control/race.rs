//! Running an invocation while the mailbox keeps taking in what arrives
//! ([`race`]): see [`super`].

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::Nats;
use revenant_nats::invocations::InvocationMessage;
use revenant_types::oplog::ErrorBody;
use revenant_types::records::{ControlAction, WorkerStatus};
use revenant_types::{ErrorKind, WorkerId};
use tokio::sync::mpsc;

use super::{KEEPALIVE, keep_alive, park_all, reply, state};
use crate::context::{ControlCommand, Input};
use crate::decide::Kind;
use crate::worker::Completions;

/// How a running invocation ended.
pub(crate) enum Raced<T> {
    /// It finished.
    Done(T),
    /// An interrupt, a delete or a simulated crash came first: the invocation's future
    /// is dropped.
    Stopped(ControlCommand),
}

/// Runs an invocation (of message `running`) while taking in what reaches the
/// mailbox: invocations are queued behind it, a resume is answered (the worker is
/// running), an interrupt or a delete drops the invocation at once. A long invocation and
/// those queued behind it are reported in progress every [`KEEPALIVE`].
/// Promise completions and call results for the running worker are journaled
/// ([`Completions`]) and acked, so its guest wakes; fired timers need nothing (the guest
/// waits on the clock) and are acked.
///
/// What journals while the invocation runs (completions, parking) runs beside it, never
/// in place of polling it: the guest may be in the middle of a commit, holding the
/// journal's writer, which it releases only when polled.
pub(crate) async fn race<F: Future>(
    run: F,
    running: Option<&InvocationMessage>,
    rx: &mut mpsc::UnboundedReceiver<Input>,
    queue: &mut VecDeque<InvocationMessage>,
    completions: &Completions,
    id: &WorkerId,
    nats: &Nats,
) -> Raced<F::Output> {
    let mut run = std::pin::pin!(run);
    let mut open = true;
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Journaling beside the run; a park gives back the messages it could not park. One
    // park at a time, so that parked invocations keep their arrival order.
    let mut beside = futures::stream::FuturesUnordered::new();
    let mut parking = false;
    loop {
        tokio::select! {
            out = &mut run => {
                // A completion beside the run waits for a commit to carry its entry; the
                // run's own completion may be left to the mailbox's group commit, so one is
                // made here. Concurrently with the work beside, which may hold the journal's
                // writer while it parks: awaited one after the other, they would deadlock.
                let needs_carry = !beside.is_empty();
                let carry = async {
                    if needs_carry
                        && let Err(e) = completions.commit().await
                    {
                        tracing::warn!(worker = %id, error = %e, "could not commit what a completion waits for");
                    }
                };
                let drain = async {
                    while let Some(unparked) = beside.next().await {
                        requeue(queue, unparked);
                    }
                };
                tokio::join!(carry, drain);
                return Raced::Done(out);
            }
            Some(unparked) = beside.next(), if !beside.is_empty() => {
                if let Some(unparked) = unparked {
                    parking = false;
                    requeue(queue, Some(unparked));
                }
            }
            _ = keepalive.tick() => {
                keep_alive(running, queue).await;
            }
            input = rx.recv(), if open => match input {
                // The shard is stopping: the running invocation finishes first.
                None => open = false,
                Some(Input::Invocation(m)) => match crate::inbox::kind(&m) {
                    Ok(kind @ (Kind::Complete(_) | Kind::Result(_))) => {
                        beside.push(journal_completion(completions.clone(), m, kind, id.clone()));
                    }
                    Ok(Kind::Timer(_)) => {
                        let _ = m.ack().await;
                    }
                    _ => {
                        queue.push_back(m);
                        // Past the bound, what waits is parked in the oplog and acked: one
                        // slow worker does not hold its shard's consumer.
                        if queue.len() > completions.max_held() && !parking {
                            parking = true;
                            beside.push(park_beside(completions.clone(), std::mem::take(queue), id.clone()));
                        }
                    }
                },
                Some(Input::Control(cmd)) => match cmd.action {
                    ControlAction::Interrupt | ControlAction::Delete | ControlAction::SimulateCrash => {
                        return Raced::Stopped(cmd);
                    }
                    ControlAction::Resume => {
                        reply(nats, cmd.reply.as_deref(), Ok(state(id, WorkerStatus::Running))).await;
                    }
                    ControlAction::Snapshot | ControlAction::Update { .. } => {
                        let busy = "the worker is running an invocation; snapshots and updates happen between invocations: retry";
                        reply(nats, cmd.reply.as_deref(), Err(ErrorBody::new(ErrorKind::Unavailable, busy))).await;
                    }
                },
            },
        }
    }
}

/// Journaling beside a run: a park's output is what it could not park, a completion's nothing.
type Beside = std::pin::Pin<Box<dyn Future<Output = Option<VecDeque<InvocationMessage>>> + Send>>;

/// Journals a promise completion or a call result and acks its message (naks it when
/// the journal could not take it).
fn journal_completion(
    completions: Completions,
    m: InvocationMessage,
    kind: Kind,
    id: WorkerId,
) -> Beside {
    Box::pin(async move {
        let payload = crate::inbox::completion_payload(&m, kind);
        let acked = match completions.complete(kind, payload).await {
            Ok(()) => m.ack().await,
            Err(e) => {
                tracing::warn!(worker = %id, error = %e, "could not journal a completion");
                m.nak(Duration::from_millis(200)).await
            }
        };
        if let Err(e) = acked {
            tracing::warn!(worker = %id, error = %e, "could not ack a completion");
        }
        None
    })
}

/// Parks `batch` (see [`Completions::park`]); gives back what it could not park.
fn park_beside(
    completions: Completions,
    mut batch: VecDeque<InvocationMessage>,
    id: WorkerId,
) -> Beside {
    Box::pin(async move {
        if let Err(e) = park_all(&mut batch, &completions).await {
            tracing::warn!(worker = %id, error = %e, "could not park held invocations");
        }
        Some(batch)
    })
}

/// Messages a park gave back go before those that arrived since.
fn requeue(queue: &mut VecDeque<InvocationMessage>, unparked: Option<VecDeque<InvocationMessage>>) {
    for m in unparked.into_iter().flatten().rev() {
        queue.push_front(m);
    }
}
