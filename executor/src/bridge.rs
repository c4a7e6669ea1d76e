//! The call bridge: `<ns>.call.<c>.<w>` core NATS requests become invocations
//! whose reply goes to the requester, so `nats request` works without knowing
//! JetStream. A duplicate within JetStream's dedup window is not stored, so no
//! executor would answer it: the bridge answers it from `RVN_RESULTS`.

use std::time::Duration;

use futures::StreamExt;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::{Nats, headers};
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::outcome_status_and_body;
use tokio::sync::watch;

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
        let worker = match call.worker {
            Ok(w) => w,
            Err(reason) => {
                if let Some(reply) = &call.reply {
                    let body = revenant_types::records::error_json(&ErrorBody::new(
                        "invalid-name",
                        reason,
                    ));
                    let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
                }
                continue;
            }
        };
        let req: InvocationRequest = call.request;
        // RVN_INVOKE's max message size would refuse it; say so instead of "unavailable".
        let max = nats.options().max_payload;
        if req.body.len() > max {
            if let Some(reply) = &call.reply {
                let body = revenant_types::records::error_json(&ErrorBody::new(
                    "payload-too-large",
                    format!(
                        "invocation payload is {} bytes; the limit is {max} bytes",
                        req.body.len()
                    ),
                ));
                let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
            }
            continue;
        }
        match nats.publish_invocation(&worker, &req).await {
            // A duplicate within JetStream's dedup window is not stored, so no executor answers
            // this request: answer it from `RVN_RESULTS` once the original completes.
            Ok(p) if p.duplicate => {
                if let (Some(reply), Some(key)) = (call.reply, req.idempotency_key) {
                    tokio::spawn(answer_duplicate(nats.clone(), reply, key));
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(reply) = &call.reply {
                    let body = revenant_types::records::error_json(&ErrorBody::new(
                        "unavailable",
                        e.to_string(),
                    ));
                    let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
                }
            }
        }
    }
}

/// How long a duplicate call waits for the original's result.
const DUPLICATE_WAIT: Duration = Duration::from_secs(120);

/// Replies to a duplicate call with the result stored for its key.
async fn answer_duplicate(nats: Nats, reply: String, key: String) {
    let outcome = match nats.watch_result(&key).await {
        Ok(results) => {
            let mut results = Box::pin(results);
            match tokio::time::timeout(DUPLICATE_WAIT, results.next()).await {
                Ok(Some(r)) => r.outcome,
                _ => InvocationOutcome::Err(ErrorBody::new(
                    "timeout",
                    format!(
                        "the invocation with idempotency key {key} is a duplicate and its result did not arrive within {DUPLICATE_WAIT:?}"
                    ),
                )),
            }
        }
        Err(e) => InvocationOutcome::Err(ErrorBody::new("unavailable", e.to_string())),
    };
    let (status, body) = outcome_status_and_body(&outcome);
    let _ = nats.reply(&reply, status, body).await;
}
