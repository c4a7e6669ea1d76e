//! The call bridge: `<ns>.call.<c>.<w>` core NATS requests become invocations
//! whose reply goes to the requester, so `nats request` works without knowing
//! JetStream. A duplicate within JetStream's dedup window is not stored, so no
//! executor would answer it: the bridge answers it from `RVN_RESULTS` (another
//! worker's key at once with `key-conflict`, see [`Nats::answer_duplicate`]).

use std::time::Duration;

use futures::StreamExt;
use revenant_nats::Nats;
use revenant_types::ErrorKind;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use tokio::sync::watch;

use crate::decide;

/// How long a duplicate call waits for the original's result.
const DUPLICATE_WAIT: Duration = Duration::from_secs(120);

/// Bridges `<ns>.call.<c>.<w>` requests into invocations whose reply goes to the requester.
pub(crate) async fn call_bridge(nats: Nats, mut stop: watch::Receiver<bool>) {
    let mut calls = match nats.call_requests().await {
        Ok(c) => Box::pin(c),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to calls");
            return;
        }
    };
    loop {
        let call = tokio::select! {
            c = calls.next() => match c { Some(c) => c, None => return },
            _ = stop.changed() => return,
        };
        if let Some(refusal) = &call.refused {
            if let Err(e) = nats.dead_letter_call(&call, &refusal.error).await {
                tracing::warn!(error = %e, "could not dead-letter a refused call");
            }
            refuse(&nats, call.reply, refusal.error.clone()).await;
            continue;
        }
        let reply = call.reply;
        let worker = match call.worker {
            Ok(w) => w,
            Err(reason) => {
                refuse(&nats, reply, ErrorBody::new(ErrorKind::InvalidName, reason)).await;
                continue;
            }
        };
        let req = call.request;
        // RVN_INVOKE's max message size would refuse it; say so instead of "unavailable".
        let max = nats.options().max_payload;
        if req.body.len() > max {
            refuse(&nats, reply, decide::payload_too_large(req.body.len(), max)).await;
            continue;
        }
        match nats.publish_invocation(&worker, &req).await {
            // A duplicate within JetStream's dedup window is not stored, so no executor answers
            // this request: answer it from `RVN_RESULTS` once the original completes.
            Ok(p) if p.duplicate => {
                if let Some(reply) = reply.filter(|_| req.idempotency_key.is_some()) {
                    let nats = nats.clone();
                    tokio::spawn(async move {
                        let answered = nats
                            .answer_duplicate(&reply, &worker, &req, p.sequence, DUPLICATE_WAIT)
                            .await;
                        if let Err(e) = answered {
                            tracing::warn!(error = %e, "could not answer a duplicate call");
                        }
                    });
                }
            }
            Ok(_) => {}
            Err(e) => {
                let error = ErrorBody::new(ErrorKind::Unavailable, e.to_string());
                refuse(&nats, reply, error).await;
            }
        }
    }
}

/// Answers a call that was not published with `error`.
async fn refuse(nats: &Nats, reply: Option<String>, error: ErrorBody) {
    if let Some(reply) = reply
        && let Err(e) = nats
            .reply_outcome(&reply, &InvocationOutcome::Err(error))
            .await
    {
        tracing::warn!(error = %e, "could not answer a call");
    }
}
