//! An invocation that cannot run yet: held in memory behind the one running (or
//! while the worker is interrupted), or parked in the worker's oplog while it is
//! suspended.

use std::collections::VecDeque;

use revenant_nats::invocations::InvocationMessage;
use revenant_types::WorkerId;

use crate::context::WorkerEnv;
use crate::control;
use crate::decide::Decision;
use crate::inbox;
use crate::worker::Worker;

/// Holds `m` (back where it came from: the head of `queue` when `from_queue`, else
/// behind it; past the bound, everything held is parked in the oplog, in order, and
/// acked) or, for [`Decision::Park`], parks it and acks it. `false` when parking
/// failed: the worker must be dropped (`m` is back at the head of `queue`).
pub(super) async fn hold_or_park(
    env: &WorkerEnv,
    id: &WorkerId,
    worker: Option<&mut Worker>,
    queue: &mut VecDeque<InvocationMessage>,
    m: InvocationMessage,
    decision: &Decision,
    from_queue: bool,
) -> bool {
    if *decision == Decision::Hold {
        if from_queue {
            queue.push_front(m)
        } else {
            queue.push_back(m)
        }
        if queue.len() > env.opts.max_held_per_worker
            && let Some(w) = worker
            && let parking = w.completions()
            && let Err(e) = control::park_all(queue, &parking).await
        {
            tracing::warn!(worker = %id, error = %e, "could not park held invocations");
        }
        return true;
    }
    let w = worker.expect("a worker decided to park is in memory");
    match w.park(inbox::parked(&m)).await {
        Ok(()) => {
            let _ = m.ack().await;
            true
        }
        Err(e) => {
            tracing::error!(worker = %id, error = %e, "could not park an invocation; dropping worker");
            queue.push_front(m);
            false
        }
    }
}
