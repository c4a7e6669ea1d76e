//! What leaves a mailbox for the caller: an answer (the outcome to the
//! caller's reply subject, indexed in `RVN_RESULTS` as [`crate::decide::index`]
//! says, then the ack) or a rejection (an error reply, the rejection stored in
//! `RVN_RESULTS` like a result, a dead letter, then the term). A journaled outcome
//! is already in the worker's oplog, where a duplicate that JetStream swallows — a
//! retried call — finds it; what no oplog holds (rejections, a failed worker's
//! answers, an ephemeral worker's results) is stored under the worker and the key
//! (`<c>.<w>.<key>`: keys belong to a worker) before the ack. Nothing here decides
//! which: [`crate::decide`] and [`crate::attempt`] do.
//! A parked invocation or a tail has no message: it is answered the same way,
//! with nothing to ack or dead-letter (a parked one's answer is journaled by the
//! mailbox instead). An invocation another worker awaits (`Rvn-Caller`) is also
//! answered in that worker's inbox, durably: until that publish is acknowledged the
//! invocation is not acked, so a lost result comes back with the redelivery.

use std::time::Duration;

use revenant_types::oplog::{ErrorBody, InvocationOutcome, TraceContext};
use revenant_types::records::ResultRecord;
use revenant_types::{WorkerId, now_ms};

use crate::context::WorkerEnv;
use crate::decide::{self, index::Indexing, index::Journaled};
use crate::inbox::Invocation;

/// Answers with an error, stores it like a result, dead-letters (unless a subscription
/// sent it: its forwarder records the source message) and terminates a message that
/// can never succeed.
pub(crate) async fn reject(env: &WorkerEnv, inv: &Invocation, error: ErrorBody) {
    let nats = &env.nats;
    tracing::info!(key = inv.key(), kind = %error.kind, message = %error.message, "invocation rejected");
    env.metrics.rejected(&error.kind);
    let outcome = InvocationOutcome::Err(error.clone());
    // A message whose subject names no worker has no place in the bucket, nor one
    // whose key the ingress rules refused (it cannot be a KV key).
    let key_usable = inv
        .message()
        .and_then(|m| m.refused.as_ref())
        .is_none_or(|r| r.key_usable);
    let store = async {
        if let Some(Ok(id)) = inv.message().map(|m| &m.worker)
            && key_usable
        {
            let function = inv.function().unwrap_or_default();
            store_result(env, id, inv, function, &outcome).await;
        }
    };
    let worker = inv.message().and_then(|m| m.worker.as_ref().ok());
    let ((), sent) = tokio::join!(store, send_reply(env, worker, inv, &outcome));
    let Some(msg) = inv.message() else {
        return;
    };
    if !sent {
        // The calling worker waits for this answer: it comes back to be rejected again.
        let _ = msg.nak(RESULT_RETRY).await;
        return;
    }
    // A subscription's forwarder records the source message as its policy says.
    let from_subscription = msg.header(revenant_nats::headers::SUBSCRIPTION).is_some();
    if !from_subscription && let Err(e) = nats.dead_letter(msg, &error).await {
        tracing::error!(error = %e, "could not dead-letter a rejected invocation; leaving it for redelivery");
        return;
    }
    if let Err(e) = msg.term().await {
        tracing::warn!(error = %e, "could not terminate a rejected invocation");
    }
}

/// Publishes the outcome to the caller, indexes it in `RVN_RESULTS` as
/// [`decide::index`] says, then acks. `journaled`: where the outcome is besides (in the
/// worker's oplog, committed before this, a caller whose reply was lost finds it; an
/// outcome no oplog holds must be in the index before the ack).
pub(crate) async fn answer(
    env: &WorkerEnv,
    id: &WorkerId,
    inv: &Invocation,
    function: &str,
    outcome: &InvocationOutcome,
    journaled: Journaled,
) {
    let requested = inv
        .message()
        .is_some_and(|m| m.header(revenant_nats::headers::RESULT_INDEX).is_some());
    let indexing = decide::index::indexing(env.opts.results_index, journaled, requested);
    let before_ack = async {
        indexing != Indexing::BeforeAck || store_result(env, id, inv, function, outcome).await
    };
    let (stored, sent, ()) = tokio::join!(
        before_ack,
        send_reply(env, Some(id), inv, outcome),
        crate::schedule::record(env, id, inv, outcome)
    );
    if indexing == Indexing::AfterAck {
        let (nats, id, key) = (env.nats.clone(), id.clone(), inv.key().to_owned());
        let record = result_record(&id, function, outcome);
        tokio::spawn(async move {
            if let Err(e) = nats.results().put(&id, &key, &record).await {
                tracing::debug!(worker = %id, key, error = %e, "could not index a result (it stays in the oplog)");
            }
        });
    }
    let stored = stored && sent;
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

/// Stores the outcome under the worker and the invocation's key; `false` when it could not.
async fn store_result(
    env: &WorkerEnv,
    id: &WorkerId,
    inv: &Invocation,
    function: &str,
    outcome: &InvocationOutcome,
) -> bool {
    let record = result_record(id, function, outcome);
    match env.nats.results().put(id, inv.key(), &record).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(worker = %id, error = %e, "could not store result; the invocation will be redelivered and answered again");
            false
        }
    }
}

fn result_record(id: &WorkerId, function: &str, outcome: &InvocationOutcome) -> ResultRecord {
    ResultRecord {
        worker: id.clone(),
        function: function.to_owned(),
        outcome: outcome.clone(),
        completed_at: now_ms(),
    }
}

/// Publishes the outcome to the invocation's reply subject, if it has one, and to the
/// inbox of the worker awaiting it, if one does; `false` when that inbox could not
/// get it (the invocation must come back to be answered again). With span export on,
/// both carry the invocation span's context (of `worker`'s invocation).
async fn send_reply(
    env: &WorkerEnv,
    worker: Option<&WorkerId>,
    inv: &Invocation,
    outcome: &InvocationOutcome,
) -> bool {
    let trace = match worker {
        Some(w) if revenant_types::trace::enabled() => {
            revenant_types::trace::invocation_span(&w.to_string(), inv.key(), &inv.trace())
                .context()
        }
        _ => TraceContext::default(),
    };
    let reply = async {
        if let Some(reply) = inv.reply_to()
            && let Err(e) = env.nats.reply_traced(reply, outcome, &trace).await
        {
            tracing::warn!(key = inv.key(), error = %e, "could not send reply");
        }
    };
    let caller = async {
        let Some(caller) = inv.caller() else {
            return true;
        };
        let Ok(caller) = WorkerId::parse_path(&caller.worker) else {
            return true;
        };
        match env
            .nats
            .send_call_result(&caller, inv.key(), outcome, &trace)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(key = inv.key(), caller = %caller, error = %e, "could not send a call's result to its caller; it is sent again");
                false
            }
        }
    };
    let ((), sent) = tokio::join!(reply, caller);
    sent
}

/// When an invocation whose result could not be stored comes back to be answered again.
const RESULT_RETRY: Duration = Duration::from_secs(1);
