//! The guest's output while its worker is in memory.

use revenant_types::WorkerId;
use tokio::sync::mpsc;

use crate::context::WorkerEnv;
use crate::durable::stdio::{EVENT_BUFFER, EventSink, Output};
use crate::status::event;

/// The guest's stdout, stderr and log lines, published as events while the worker lives.
pub(super) fn stream_output(
    env: &WorkerEnv,
    id: &WorkerId,
) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(EVENT_BUFFER);
    let nats = env.nats.clone();
    let id = id.clone();
    let events = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let (kind, fields) = out.event();
            let _ = nats.publish_event(&id, event(kind, fields)).await;
        }
    });
    (out_tx, events)
}
