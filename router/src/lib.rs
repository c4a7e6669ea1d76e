//! Revenant's router: the HTTP bridge. It turns HTTP requests into invocations
//! over NATS and back — a REST API for components, workers, invocations,
//! oplogs and live events, user-defined API routes that map a request onto a
//! worker function, an OpenAPI document, health and Prometheus metrics, and a
//! small web console. It is stateless: every definition lives in NATS, so any
//! number of routers can serve one namespace. It does not run workers (the
//! executor does), does not name subjects itself (`revenant-nats` does) and
//! never links wasmtime: component metadata (exports, parameter shapes, name
//! resolution) comes from `revenant-components` and the records in NATS.
//!
//! Layout:
//! - [`auth`]: bearer tokens (hashed, scoped read / invoke / admin) and the middleware that checks them.
//! - [`error`]: [`ApiError`] (`{kind, message}` with a status) and the library [`Error`].
//! - [`invoke`]: the invocation core: checks, publish, await / pending.
//! - [`rest`]: the `/v1` REST handlers (components, workers, invocations, oplog).
//! - [`events`]: Server-Sent Events of a worker's `rvn.events…`.
//! - [`gateway`]: user-defined API definitions: format, validation, matching, serving.
//! - [`openapi`]: the OpenAPI document.
//! - [`metrics`]: request counts and latencies in Prometheus text.
//! - [`console`]: the web console: its page and assets (no build step).
//! - [`spans`]: OpenTelemetry spans of requests and published invocations (export off: untouched).

pub mod auth;
pub mod console;
pub mod error;
pub mod events;
pub mod gateway;
pub mod invoke;
pub mod metrics;
pub mod openapi;
pub mod rest;
pub mod spans;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use revenant_nats::Nats;
use serde::{Deserialize, Serialize};

pub use error::{ApiError, Error, Result};

/// Router options. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RouterOptions {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: String,
    /// How long an invoke-and-await request waits before answering 202, ms. Default 30000.
    pub invoke_timeout_ms: u64,
    /// The longest wait a caller may ask for with `?timeout-ms=`, ms. Default 300000.
    pub max_invoke_timeout_ms: u64,
    /// API definition files (YAML or JSON) deployed at start. Default none.
    pub api_files: Vec<PathBuf>,
    /// How long an interrupt or resume waits for the executor holding the worker before
    /// answering 503, ms. Default 10000.
    pub control_timeout_ms: u64,
    /// Accepted bearer tokens, `<scope> sha256:<hex> [name]` each ([`auth`]). Default none:
    /// with neither these nor `token-file`, the router asks for no token.
    pub tokens: Vec<String>,
    /// A file of token entries, one per line, `#` comments. Default none.
    pub token_file: Option<PathBuf>,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            invoke_timeout_ms: 30_000,
            max_invoke_timeout_ms: 300_000,
            api_files: Vec::new(),
            control_timeout_ms: 10_000,
            tokens: Vec::new(),
            token_file: None,
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    nats: Nats,
    opts: RouterOptions,
    routes: gateway::RouteTable,
    metrics: metrics::Metrics,
    watch: tokio::task::JoinHandle<()>,
    replies: revenant_nats::reply::Replies,
    tokens: auth::Tokens,
    /// Component records by (name, version): a version's record never changes.
    records: std::sync::Mutex<
        std::collections::HashMap<
            (revenant_types::ComponentName, u64),
            revenant_types::records::ComponentRecord,
        >,
    >,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl AppState {
    /// Loads the deployed API definitions and keeps them current (a watch on `RVN_APIS`).
    pub async fn new(nats: Nats, opts: RouterOptions) -> Result<Self> {
        let tokens = auth::Tokens::load(&opts.tokens, opts.token_file.as_deref())?;
        let routes = gateway::RouteTable::default();
        let watch = gateway::watch(nats.clone(), routes.clone()).await?;
        let replies = nats.replies().await?;
        Ok(Self {
            inner: Arc::new(Inner {
                nats,
                opts,
                routes,
                metrics: metrics::Metrics::default(),
                watch,
                replies,
                tokens,
                records: Default::default(),
            }),
        })
    }

    /// Where invoke-and-await replies arrive (one subscription for the whole router).
    pub fn replies(&self) -> &revenant_nats::reply::Replies {
        &self.inner.replies
    }

    /// A component version's record, from NATS once and then from memory.
    pub async fn component_record(
        &self,
        name: &revenant_types::ComponentName,
        version: u64,
    ) -> revenant_nats::Result<Option<revenant_types::records::ComponentRecord>> {
        let key = (name.clone(), version);
        if let Some(r) = self.records().get(&key) {
            return Ok(Some(r.clone()));
        }
        let record = self.nats().components().record(name, version).await?;
        if let Some(r) = &record {
            self.records().insert(key, r.clone());
        }
        Ok(record)
    }

    fn records(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<
            (revenant_types::ComponentName, u64),
            revenant_types::records::ComponentRecord,
        >,
    > {
        self.inner.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn nats(&self) -> &Nats {
        &self.inner.nats
    }
    pub fn options(&self) -> &RouterOptions {
        &self.inner.opts
    }
    pub fn routes(&self) -> &gateway::RouteTable {
        &self.inner.routes
    }
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
    /// The accepted bearer tokens ([`auth`]).
    pub fn tokens(&self) -> &auth::Tokens {
        &self.inner.tokens
    }

    /// The wait for an invoke-and-await: `requested` (ms) capped, else the default.
    pub fn invoke_timeout(&self, requested: Option<u64>) -> Duration {
        let o = &self.inner.opts;
        Duration::from_millis(
            requested
                .unwrap_or(o.invoke_timeout_ms)
                .min(o.max_invoke_timeout_ms),
        )
    }
}

/// The whole HTTP application (testable without a socket).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(console::page))
        .route("/console/{*path}", get(console::asset))
        .route("/healthz", get(rest::health::healthz))
        .route("/readyz", get(rest::health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .nest("/v1", rest::routes())
        .fallback(gateway::serve_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(spans::server))
        .with_state(state)
}

/// Serves on `opts.listen` until `shutdown` completes, after deploying `opts.api_files`.
pub async fn serve(
    opts: RouterOptions,
    nats: Nats,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: opts.listen.clone(),
            source,
        })?;
    let state = AppState::new(nats, opts.clone()).await?;
    for path in &opts.api_files {
        let deployed = gateway::deploy_file(&state, path).await?;
        tracing::info!(path = %path.display(), apis = ?deployed, "deployed API definitions");
    }
    serve_listener(listener, state, shutdown).await
}

/// Serves `state` on an already bound listener until `shutdown` completes.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "router listening");
    }
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}
