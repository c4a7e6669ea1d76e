//! The web console at `/`: one static page (vanilla JS, no build step) that
//! lists components and workers with their status, shows a worker's oplog
//! and follows its live events over SSE — all through the public REST API.

use axum::response::Html;

const PAGE: &str = include_str!("console.html");

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}
