//! `update` control requests: moving a worker to another component version
//! ([`Worker::update`]) and answering with its state, or why it stayed.

use std::sync::Arc;

use revenant_types::oplog::ErrorBody;
use revenant_types::records::{WorkerState, WorkerStatus};
use revenant_types::snapshot::UpdateMode;
use revenant_types::{ErrorKind, WorkerId};

use super::{Flow, oplog_error, state};
use crate::context::WorkerEnv;
use crate::decide;
use crate::status::{Summary, put_status};
use crate::worker::{Updated, Worker};

pub(super) async fn apply(
    env: &Arc<WorkerEnv>,
    id: &WorkerId,
    w: &mut Worker,
    to: u64,
    mode: UpdateMode,
) -> (Result<WorkerState, ErrorBody>, Flow) {
    let updated = match w.ensure_instance().await {
        Ok(()) => w.update(to, mode).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(Updated::To(_)) => {
            let status = decide::status_of(w.view(None));
            put_status(&env.nats, Summary::of(w), status).await;
            (Ok(state(id, status)), Flow::Continue)
        }
        Ok(Updated::Refused(error)) => (Err(error), Flow::Continue),
        Ok(Updated::Failed(why)) => {
            let version = w.component_version();
            let error = ErrorBody::new(
                ErrorKind::UpdateFailed,
                format!("{id} stays on version {version}: {why}"),
            );
            if w.failed().is_some() {
                put_status(&env.nats, Summary::of(w), WorkerStatus::Failed).await;
            }
            (Err(error), Flow::Continue)
        }
        Err(e) => {
            let (error, flow) = oplog_error(id, &e);
            (Err(error), flow)
        }
    }
}
