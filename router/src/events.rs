//! `GET /v1/components/{c}/workers/{w}/events`: a worker's live events
//! (stdout, stderr, log lines, invocation started / finished) from
//! `rvn.events.<c>.<w>` as Server-Sent Events. Each SSE event's `event:` is
//! the event's `kind` and its `data:` the JSON the executor published. Events
//! are live only: nothing is replayed from before the subscription.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::AppState;
use crate::error::ApiError;
use crate::rest::workers::worker_id;

/// Converts one published event (JSON bytes) to an SSE event named after its `kind`.
pub fn sse_event(payload: &[u8]) -> Event {
    let text = String::from_utf8_lossy(payload).into_owned();
    let kind = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "message".to_owned());
    Event::default().event(kind).data(text)
}

/// Live events of a worker as Server-Sent Events.
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/events", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "text/event-stream; `event:` is the kind (stdout, stderr, log, invocation-started, invocation-finished), `data:` the event JSON", content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = worker_id(&component, &worker)?;
    let events = state.nats().subscribe_events(&id).await?;
    // A first comment makes proxies and clients see the stream open at once.
    let opened = futures::stream::once(async {
        Ok::<_, Infallible>(Event::default().comment("subscribed"))
    });
    let stream = opened.chain(events.map(|p| Ok::<_, Infallible>(sse_event(&p))));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
