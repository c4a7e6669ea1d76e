//! The promise service: completes promises for any NATS client. A core request
//! on `<ns>.promise.<c>.<w>.<index>` with the payload as its body completes
//! that promise through the promise store (`revenant_nats::promises`: CAS
//! write, then the wake message to the worker's inbox) and is answered
//! `Rvn-Status: ok` with `{"completed": true}` (this request completed it) or
//! `{"completed": false}` (it was completed before; the first payload stays),
//! or `Rvn-Status: error` with `{"kind", "message"}`: `invalid-promise-id`,
//! `unknown-promise`, `payload-too-large`, `unavailable`.
//!
//! Every executor subscribes in the queue group `executors`, so one of them
//! answers each request; which one does not matter (the store, not the
//! worker's owner, decides). Each request is served in a task of its own, so a
//! slow completion does not hold up the next.

use futures::StreamExt;
use revenant_nats::Nats;
use revenant_nats::promises::PromiseRequest;
use revenant_types::ErrorKind;
use revenant_types::oplog::ErrorBody;
use tokio::sync::watch;

/// Serves `<ns>.promise.*.*.*` requests until `stop` changes.
pub(crate) async fn run(nats: Nats, mut stop: watch::Receiver<bool>) {
    let mut requests = match nats.promise_requests().await {
        Ok(r) => Box::pin(r),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to promise completions");
            return;
        }
    };
    loop {
        let request = tokio::select! {
            r = requests.next() => match r { Some(r) => r, None => return },
            _ = stop.changed() => return,
        };
        let nats = nats.clone();
        tokio::spawn(async move { serve(&nats, request).await });
    }
}

async fn serve(nats: &Nats, request: PromiseRequest) {
    let answered = match request.id {
        Err(reason) => {
            let error = ErrorBody::new(ErrorKind::InvalidPromiseId, reason);
            answer_error(nats, request.reply.as_deref(), &error).await
        }
        Ok(id) => match nats.promises().complete(&id, request.payload).await {
            Ok(completion) => match request.reply.as_deref() {
                Some(reply) => nats.reply_completion(reply, completion).await,
                None => Ok(()),
            },
            Err(e) => {
                tracing::debug!(promise = %id, error = %e, "promise completion refused");
                answer_error(nats, request.reply.as_deref(), &e.to_error_body()).await
            }
        },
    };
    if let Err(e) = answered {
        tracing::warn!(error = %e, "could not answer a promise completion");
    }
}

async fn answer_error(
    nats: &Nats,
    reply: Option<&str>,
    error: &ErrorBody,
) -> revenant_nats::Result<()> {
    match reply {
        Some(reply) => nats.reply_error(reply, error).await,
        None => Ok(()),
    }
}
