//! What leaves a mailbox for the caller: an answer (the outcome to the
//! caller's reply subject and to `RVN_RESULTS`, then the ack) or a rejection
//! (an error reply, the rejection stored in `RVN_RESULTS` like a result, a dead
//! letter, then the term). Results are stored under the worker and the key
//! (`<c>.<w>.<key>`: keys belong to a worker), so a duplicate that JetStream
//! swallows — a retried call — is answered at once from the bucket, a rejected
//! one too. Nothing here decides which: [`crate::decide`] and [`crate::attempt`] do.

use std::time::Duration;

use revenant_nats::invocations::InvocationMessage;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::ResultRecord;
use revenant_types::{WorkerId, now_ms};

use crate::context::WorkerEnv;

/// Answers with an error, stores it like a result, dead-letters and terminates a
/// message that can never succeed.
pub(crate) async fn reject(env: &WorkerEnv, msg: &InvocationMessage, error: ErrorBody) {
    let nats = &env.nats;
    tracing::info!(subject = msg.subject(), kind = %error.kind, message = %error.message, "invocation rejected");
    env.metrics.rejected(&error.kind);
    let outcome = InvocationOutcome::Err(error.clone());
    // A message whose subject names no worker has no place in the bucket.
    let store = async {
        if let Ok(id) = &msg.worker {
            let function = msg.function.as_deref().unwrap_or_default();
            store_result(env, id, msg, function, &outcome).await;
        }
    };
    let (_, ()) = tokio::join!(store, send_reply(env, msg, &outcome));
    if let Err(e) = nats.dead_letter(msg, &error).await {
        tracing::error!(error = %e, "could not dead-letter a rejected invocation; leaving it for redelivery");
        return;
    }
    if let Err(e) = msg.term().await {
        tracing::warn!(error = %e, "could not terminate a rejected invocation");
    }
}

/// Publishes the outcome to the caller and to `RVN_RESULTS` (concurrently: the oplog,
/// already committed, is the truth; the bucket is for late pickup), then acks.
pub(crate) async fn answer(
    env: &WorkerEnv,
    id: &WorkerId,
    msg: &InvocationMessage,
    function: &str,
    outcome: &InvocationOutcome,
) {
    // Callers whose reply was lost (e.g. their NATS node died) and whose retries JetStream
    // swallows as duplicates can only get the result from the bucket: it must get there.
    let (stored, ()) = tokio::join!(
        store_result(env, id, msg, function, outcome),
        send_reply(env, msg, outcome)
    );
    let status = match outcome {
        InvocationOutcome::Ok(_) => "ok",
        InvocationOutcome::Err(_) => "error",
    };
    env.metrics
        .answered(msg.shard, status, msg.received.elapsed().as_secs_f64());
    let acked = if stored {
        msg.ack().await
    } else {
        msg.nak(RESULT_RETRY).await
    };
    if let Err(e) = acked {
        tracing::warn!(worker = %id, error = %e, "could not ack invocation");
    }
}

/// Stores the outcome under the worker and the message's key; `false` when it could not.
async fn store_result(
    env: &WorkerEnv,
    id: &WorkerId,
    msg: &InvocationMessage,
    function: &str,
    outcome: &InvocationOutcome,
) -> bool {
    let record = ResultRecord {
        worker: id.clone(),
        function: function.to_owned(),
        outcome: outcome.clone(),
        completed_at: now_ms(),
    };
    match env
        .nats
        .results()
        .put(id, &msg.idempotency_key, &record)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(worker = %id, error = %e, "could not store result; the invocation will be redelivered and answered again");
            false
        }
    }
}

/// Publishes the outcome to the message's reply subject, if it has one.
async fn send_reply(env: &WorkerEnv, msg: &InvocationMessage, outcome: &InvocationOutcome) {
    if let Some(reply) = &msg.reply_to
        && let Err(e) = env.nats.reply_outcome(reply, outcome).await
    {
        tracing::warn!(subject = msg.subject(), error = %e, "could not send reply");
    }
}

/// When an invocation whose result could not be stored comes back to be answered again.
const RESULT_RETRY: Duration = Duration::from_secs(1);
