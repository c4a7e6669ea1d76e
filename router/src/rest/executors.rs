//! `GET /v1/executors`: the live executors with the shards they hold, from their
//! heartbeats in `RVN_EXECUTORS` (what `revenant status` shows), for dashboards
//! and the console's overview.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;

/// Which heartbeats count.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case")]
#[into_params(parameter_in = Query)]
pub struct ExecutorsQuery {
    /// Heartbeats older than this (ms) count as dead (default 3000).
    pub max_age_ms: Option<u64>,
}

/// Every live executor (`id`, `shards`, `workers-in-memory`, `heartbeat-at`, …) and the
/// namespace's shard count.
#[utoipa::path(get, path = "/v1/executors", tag = "executors", params(ExecutorsQuery),
    responses((status = 200, description = "`{executors, shards, now}`: the live executors' heartbeat records, the shard count, the router's clock (ms)")))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ExecutorsQuery>,
) -> Result<Response, ApiError> {
    let live = state
        .nats()
        .executors()
        .live(q.max_age_ms.unwrap_or(3_000))
        .await?;
    Ok(Json(json!({
        "executors": live,
        "shards": state.nats().options().shards,
        "now": revenant_types::now_ms(),
    }))
    .into_response())
}
