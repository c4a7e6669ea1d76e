//! Serving time-travel requests on `<ns>.inspect.*.*` ([`revenant_nats::inspect`]):
//! like a control request, only the executor holding the worker's shard answers;
//! unlike one, it changes nothing, so it does not go through the worker's mailbox
//! (it would wait behind a running invocation) but runs beside it on a throwaway
//! instance ([`Worker::inspect`]). At most [`AT_ONCE`] run at a time: each replays
//! a worker's history.

use std::sync::Arc;

use futures::StreamExt;
use revenant_nats::Nats;
use revenant_types::ErrorKind;
use revenant_types::inspect::Inspection;
use revenant_types::oplog::ErrorBody;
use tokio::sync::{Semaphore, watch};

use crate::context::WorkerEnv;
use crate::worker::Worker;

/// How many inspections an executor runs at once; more wait their turn.
const AT_ONCE: usize = 2;

/// Listens on `<ns>.inspect.*.*` and answers each request for a shard this executor holds.
pub(crate) async fn inspect_bridge(env: Arc<WorkerEnv>, mut stop: watch::Receiver<bool>) {
    let nats = env.nats.clone();
    let mut requests = match nats.inspect_requests().await {
        Ok(r) => Box::pin(r),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to inspect requests");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(AT_ONCE));
    loop {
        let request = tokio::select! {
            r = requests.next() => match r { Some(r) => r, None => return },
            _ = stop.changed() => return,
        };
        let worker = match request.worker {
            Ok(w) => w,
            Err(reason) => {
                let e = ErrorBody::new(ErrorKind::InvalidName, reason);
                answer(&nats, request.reply.as_deref(), Err(&e)).await;
                continue;
            }
        };
        if env.controls.route(nats.shard_of(&worker)).is_none() {
            continue;
        }
        let at = match request.at {
            Ok(at) => at,
            Err(reason) => {
                let e = ErrorBody::new(ErrorKind::InvalidRequest, reason);
                answer(&nats, request.reply.as_deref(), Err(&e)).await;
                continue;
            }
        };
        tracing::info!(worker = %worker, at, "inspect request");
        let (env, permits, reply) = (env.clone(), permits.clone(), request.reply);
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let outcome = match Worker::inspect(env.clone(), worker.clone(), at).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(worker = %worker, at, error = %e, "inspection failed");
                    Err(ErrorBody::new(ErrorKind::Unavailable, e.to_string()))
                }
            };
            answer(&env.nats, reply.as_deref(), outcome.as_ref()).await;
        });
    }
}

async fn answer(nats: &Nats, to: Option<&str>, outcome: Result<&Inspection, &ErrorBody>) {
    let Some(to) = to else { return };
    if let Err(e) = nats.reply_inspection(to, outcome).await {
        tracing::warn!(error = %e, "could not answer an inspect request");
    }
}
