//! `GET /v1/components/{c}/workers/{w}/inspect?at=<index>`: time travel — the
//! worker's state as of an oplog index. The executor holding the worker replays its
//! oplog up to `at` on a throwaway instance ([`revenant_nats::inspect`]) and answers
//! every invocation started by then with what the replay returned; the live worker
//! and its oplog are not touched.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use revenant_types::ErrorKind;
use serde::Deserialize;
use utoipa::IntoParams;

use super::workers::worker_id;
use crate::AppState;
use crate::error::ApiError;

/// The index to travel to.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InspectQuery {
    /// The oplog index to replay up to, inclusive.
    pub at: Option<u64>,
}

/// The worker's state as of oplog index `at` (replayed on a throwaway instance).
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/inspect", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path), InspectQuery),
    responses((status = 200, description = "`{worker, at, last-index, component-version, failed, interrupted, invocations: [{started, idempotency-key, function, args, replayed, result, recorded, message}]}`; `replayed` is replayed, diverged, failed, running or snapshot"),
        (status = 400, description = "No `at`, or an index the oplog does not have (or trimmed)", body = super::ErrorJson),
        (status = 404, description = "No such worker", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn inspect(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
    Query(q): Query<InspectQuery>,
) -> Result<Response, ApiError> {
    let id = worker_id(&component, &worker)?;
    let at = q.at.ok_or_else(|| {
        ApiError::bad_request(
            ErrorKind::InvalidRequest,
            "say which oplog index to travel to: ?at=<index> (see GET …/oplog)",
        )
    })?;
    // Replaying a long history takes longer than a control request.
    let timeout = Duration::from_millis(state.options().control_timeout_ms.saturating_mul(3));
    let inspection = state.nats().inspect(&id, at, timeout).await?;
    Ok(Json(inspection).into_response())
}
