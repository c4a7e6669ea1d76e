//! One shard's consumer: takes the shard's invocations and control requests and
//! hands each to its worker's mailbox ([`crate::mailbox`]), starting a mailbox
//! when the worker has none. One invocation at a time per worker, in arrival
//! order; workers in parallel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures::StreamExt;
use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use revenant_types::oplog::ErrorBody;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::ExecutorOptions;
use crate::context::{Input, WorkerEnv};
use crate::decide;
use crate::inbox::Invocation;
use crate::mailbox::mailbox;
use crate::reply::reject;

type Mailbox = mpsc::UnboundedSender<Input>;

/// Consumes one shard, dispatching to per-worker mailboxes.
pub(crate) async fn run_shard(
    shard: u32,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let nats = env.nats.clone();
    let Some(mut messages) = take(shard, &env, &mut stop).await else {
        return;
    };
    let mut mailboxes: HashMap<WorkerId, Mailbox> = HashMap::new();
    let mut workers = JoinSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<WorkerId>();
    // Control requests for this shard's workers come here while the shard runs.
    let (control_tx, mut control_rx) = mpsc::unbounded_channel();
    let registration = env.controls.register(shard, control_tx);
    // A message the client cannot parse drops the connection: after each reconnect,
    // find such messages among this shard's deliveries and take them out.
    let mut reconnects = nats.reconnects();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Ok(()) = reconnects.changed() => match nats.quarantine_unreadable(shard).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(shard, quarantined = n, "unreadable invocations dead-lettered and deleted"),
                Err(e) => tracing::warn!(shard, error = %e, "could not look for unreadable invocations"),
            },
            Some(cmd) = control_rx.recv() => {
                let id = cmd.worker.clone();
                deliver(&mut mailboxes, id.clone(), Input::Control(cmd), |rx| {
                    workers.spawn(mailbox(id, env.clone(), in_memory.clone(), rx, done_tx.clone(), stop.clone()));
                });
            }
            Some(id) = done_rx.recv() => {
                // A mailbox ended (idle, failed or fenced); drop it unless it was replaced.
                if mailboxes.get(&id).is_some_and(|m| m.is_closed()) {
                    mailboxes.remove(&id);
                }
            }
            // Reap finished mailbox tasks, or every suspended worker would keep its task's memory.
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            msg = messages.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(shard, error = %e, "shard consumer error");
                        continue;
                    }
                    // Deliveries were lost on the way (`revenant_nats::deliveries`), or the
                    // pull ended: the consumer is taken again, as on takeover, so what is
                    // pending comes back in stream order before anything after it. What the
                    // mailboxes hold goes on; its redeliveries are answered as duplicates.
                    None => match take(shard, &env, &mut stop).await {
                        Some(m) => {
                            messages = m;
                            continue;
                        }
                        None => break,
                    },
                };
                if let Some(refusal) = msg.refused.clone() {
                    reject(&env, &Invocation::Message(msg), refusal.error).await;
                    continue;
                }
                let id = match &msg.worker {
                    Ok(id) => id.clone(),
                    Err(reason) => {
                        let error = ErrorBody::new(ErrorKind::InvalidName, reason.clone());
                        reject(&env, &Invocation::Message(msg), error).await;
                        continue;
                    }
                };
                if msg.delivered > 5 && msg.delivered % 5 == 0 {
                    tracing::warn!(worker = ?msg.worker, key = %msg.idempotency_key, delivered = msg.delivered, "an invocation keeps coming back");
                }
                if let Some(error) = decide::deliveries_exhausted(msg.delivered, env.opts.max_deliveries) {
                    reject(&env, &Invocation::Message(msg), error).await;
                    continue;
                }
                deliver(&mut mailboxes, id.clone(), Input::Invocation(msg), |rx| {
                    workers.spawn(mailbox(id, env.clone(), in_memory.clone(), rx, done_tx.clone(), stop.clone()));
                });
            }
        }
    }
    // Stopping: control requests now go unanswered (the requester retries with the next holder).
    drop(registration);
    drop(mailboxes);
    while workers.join_next().await.is_some() {}
}

type Messages = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = revenant_nats::Result<revenant_nats::invocations::InvocationMessage>,
            > + Send,
    >,
>;

/// Takes the shard's consumer over (see `Nats::shard_messages`), retrying until it can;
/// `None` when stopped first.
async fn take(shard: u32, env: &WorkerEnv, stop: &mut watch::Receiver<bool>) -> Option<Messages> {
    loop {
        let opened = tokio::select! {
            opened = env.nats.shard_messages(shard, consumer_settings(&env.opts)) => opened,
            _ = stop.changed() => return None,
        };
        match opened {
            Ok(m) => return Some(Box::pin(m)),
            Err(e) => {
                tracing::warn!(shard, error = %e, "could not open shard consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return None,
                }
            }
        }
    }
}

/// The shard consumer's settings: JetStream delivers an invocation once more than
/// `max-deliveries`, and that last delivery is dead-lettered, not tried
/// ([`decide::deliveries_exhausted`]).
fn consumer_settings(opts: &ExecutorOptions) -> revenant_nats::invocations::ShardConsumer {
    revenant_nats::invocations::ShardConsumer {
        max_ack_pending: opts.max_in_flight,
        max_deliver: opts.max_deliveries.saturating_add(1),
    }
}

/// Hands `input` to the worker's mailbox; `start` runs a new one when it has none (or it ended).
fn deliver(
    mailboxes: &mut HashMap<WorkerId, Mailbox>,
    id: WorkerId,
    input: Input,
    start: impl FnOnce(mpsc::UnboundedReceiver<Input>),
) {
    let input = match mailboxes.get(&id) {
        Some(mb) => match mb.send(input) {
            Ok(()) => return,
            Err(mpsc::error::SendError(input)) => input,
        },
        None => input,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(input);
    mailboxes.insert(id, tx);
    start(rx);
}
