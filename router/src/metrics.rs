//! Prometheus metrics of the router: request counts and latency histograms by
//! method, route (the matched route pattern, or `gateway` for user-defined
//! routes) and status, rendered as Prometheus text on `/metrics` by the
//! registry the executor uses too ([`revenant_types::metrics`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use revenant_types::metrics::{LATENCY_BUCKETS, Registry};

use crate::AppState;

const REQUESTS: &str = "revenant_router_requests_total";
const DURATION: &str = "revenant_router_request_duration_seconds";

/// The router's registry.
#[derive(Debug)]
pub struct Metrics(Registry);

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::default();
        r.describe_counter(REQUESTS, "HTTP requests handled.");
        r.describe_histogram(DURATION, "HTTP request latency.", &LATENCY_BUCKETS);
        Self(r)
    }
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [("method", method), ("route", route), ("status", &status)];
        self.0.inc(REQUESTS, &labels, 1);
        self.0.observe(DURATION, &labels, seconds);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

/// Middleware: times every request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "gateway".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state.metrics().observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn render(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/v1/components", 200, 0.02);
        m.observe("GET", "/v1/components", 200, 0.2);
        let text = m.render();
        assert!(text.contains(
            "revenant_router_requests_total{method=\"GET\",route=\"/v1/components\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.025\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
    }
}
