//! The router's spans (ARCHITECTURE.md "Tracing"): a server span per HTTP request,
//! continuing the caller's `traceparent` when it sent one, and a producer span per
//! invocation published (a client span when its outcome is awaited), whose context the invocation message carries to the
//! executor. Spans are built only while export is on ([`trace::enabled`]); otherwise
//! requests pass untouched and invocations carry the caller's context as it came.

use std::time::SystemTime;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue};
use revenant_nats::headers::{TRACEPARENT, TRACESTATE};
use revenant_types::WorkerId;
use revenant_types::oplog::TraceContext;
use revenant_types::trace::{self, Kind, Placed, Service, SpanRecord};

/// The trace context of a request's headers.
pub fn context_of(headers: &HeaderMap) -> TraceContext {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    TraceContext {
        traceparent: get(TRACEPARENT),
        tracestate: get(TRACESTATE),
    }
}

/// Middleware: the request's server span. Handlers see its context in the request's
/// `traceparent` / `tracestate`, so what they publish is its child.
pub async fn server(mut req: Request, next: Next) -> Response {
    if !trace::enabled() {
        return next.run(req).await;
    }
    let started = SystemTime::now();
    let place = Placed::child_of(&context_of(req.headers()));
    let own = place.context();
    for (name, value) in [
        (TRACEPARENT, &own.traceparent),
        (TRACESTATE, &own.tracestate),
    ] {
        match value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            Some(v) => req.headers_mut().insert(name, v),
            None => req.headers_mut().remove(name),
        };
    }
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let target = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status();
    let mut span = SpanRecord::new(format!("{method} {route}"), Kind::Server, place, started)
        .attr("http.request.method", method)
        .attr("http.route", route)
        .attr("url.path", target)
        .attr("http.response.status_code", status.as_u16().to_string());
    if status.is_server_error() {
        span.error = Some(status.to_string());
    }
    trace::emit(Service::Router, span);
    response
}

/// An invocation about to be published with `context`: its producer span, and the
/// context the message carries (the span's; `context` itself while export is off).
pub fn publish(context: &TraceContext) -> (Option<(Placed, SystemTime)>, TraceContext) {
    if !trace::enabled() {
        return (None, context.clone());
    }
    let place = Placed::child_of(context);
    let carried = place.context();
    (Some((place, SystemTime::now())), carried)
}

/// Emits the span [`publish`] began, once the message is published (`awaited`: and
/// its outcome awaited, a client span then).
pub fn published(
    span: Option<(Placed, SystemTime)>,
    awaited: bool,
    worker: &WorkerId,
    function: &str,
    key: &str,
) {
    let Some((place, started)) = span else {
        return;
    };
    let (verb, kind) = match awaited {
        true => ("invoke", Kind::Client),
        false => ("publish", Kind::Producer),
    };
    let name = format!("{verb} {}", worker.component);
    let span = SpanRecord::new(name, kind, place, started)
        .attr("messaging.system", "nats")
        .attr("rvn.worker", worker.to_string())
        .attr("rvn.function", function)
        .attr("rvn.idempotency_key", key);
    trace::emit(Service::Router, span);
}

/// A schedule a request makes: its span, the root of a new trace that
/// every firing continues, and the context the holder carries (none while export is off).
pub fn schedule() -> (Option<(Placed, SystemTime)>, TraceContext) {
    if !trace::enabled() {
        return (None, TraceContext::default());
    }
    let place = Placed::root();
    let carried = place.context();
    (Some((place, SystemTime::now())), carried)
}

/// Emits the span [`schedule`] began, linked to the request's, once the holder is put.
pub fn scheduled(
    span: Option<(Placed, SystemTime)>,
    cause: &TraceContext,
    worker: &WorkerId,
    id: &str,
) {
    let Some((place, started)) = span else {
        return;
    };
    let mut span = SpanRecord::new(
        format!("schedule {}", worker.component),
        Kind::Producer,
        place,
        started,
    )
    .attr("messaging.system", "nats")
    .attr("rvn.worker", worker.to_string())
    .attr("rvn.schedule", id);
    if let Some(cause) = cause.traceparent.as_deref().and_then(trace::SpanIds::parse) {
        span.links.push(cause);
    }
    trace::emit(Service::Router, span);
}
