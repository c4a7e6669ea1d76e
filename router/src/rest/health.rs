//! `/healthz` (the process answers) and `/readyz` (NATS connected, streams and
//! buckets present).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use revenant_types::ErrorKind;
use serde_json::json;

use crate::AppState;

/// Liveness: always 200 while the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 when NATS is connected and every stream and bucket exists, else 503.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready, with the reason")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.nats().readiness().await {
        Ok(missing) if missing.is_empty() => Json(json!({ "status": "ready" })).into_response(),
        Ok(missing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "kind": ErrorKind::NotReady,
                "message": format!("missing streams or buckets: {}; start an executor or run `revenant up` to provision them", missing.join(", ")),
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "kind": ErrorKind::NotReady, "message": e.to_string() })),
        )
            .into_response(),
    }
}
