//! What leaves a mailbox for the caller: an answer (the outcome to the
//! caller's reply subject and to `RVN_RESULTS`, then the ack) or a rejection
//! (an error reply, a dead letter, then the term). Nothing here decides which:
//! [`crate::decide`] and [`crate::attempt`] do. A parked invocation or a tail has
//! no message: it is answered the same way, with nothing to ack (a parked one's
//! answer is journaled by the mailbox instead).

use std::time::Duration;

use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::ResultRecord;
use revenant_types::{WorkerId, now_ms};

use crate::context::WorkerEnv;
use crate::inbox::Invocation;

/// Answers with an error, dead-letters and terminates a message that can never succeed.
pub(crate) async fn reject(env: &WorkerEnv, inv: &Invocation, error: ErrorBody) {
    let nats = &env.nats;
    tracing::info!(key = inv.key(), kind = %error.kind, message = %error.message, "invocation rejected");
    env.metrics.rejected(&error.kind);
    if let Some(reply) = inv.reply_to() {
        let outcome = InvocationOutcome::Err(error.clone());
        if let Err(e) = nats.reply_outcome(reply, &outcome).await {
            tracing::warn!(error = %e, "could not send rejection");
        }
    }
    let Some(msg) = inv.message() else {
        return;
    };
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
    inv: &Invocation,
    function: &str,
    outcome: &InvocationOutcome,
) {
    let nats = &env.nats;
    let record = ResultRecord {
        worker: id.clone(),
        function: function.to_owned(),
        outcome: outcome.clone(),
        completed_at: now_ms(),
    };
    // Callers whose reply was lost (e.g. their NATS node died) and whose retries JetStream
    // swallows as duplicates can only get the result from the bucket: it must get there.
    let store = async {
        match nats.results().put(inv.key(), &record).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(worker = %id, error = %e, "could not store result; the invocation will be redelivered and answered again");
                false
            }
        }
    };
    let reply = async {
        if let Some(reply) = inv.reply_to()
            && let Err(e) = nats.reply_outcome(reply, outcome).await
        {
            tracing::warn!(worker = %id, error = %e, "could not send reply");
        }
    };
    let (stored, ()) = tokio::join!(store, reply);
    let status = match outcome {
        InvocationOutcome::Ok(_) => "ok",
        InvocationOutcome::Err(_) => "error",
    };
    let Some(msg) = inv.message() else {
        return;
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

/// When an invocation whose result could not be stored comes back to be answered again.
const RESULT_RETRY: Duration = Duration::from_secs(1);
