//! The `/v1` REST API: components, workers, invocations, oplogs, time travel, executors,
//! API definitions, promises, schedules, subscriptions. Handlers are thin: they parse the request, call
//! `revenant-nats` / `revenant-executor` or the [`crate::invoke`] core and
//! render JSON. Every one is annotated for the OpenAPI document.

pub mod apis;
pub mod components;
pub mod executors;
pub mod health;
pub mod inspect;
pub mod invocations;
pub mod promises;
pub mod schedules;
pub mod subscriptions;
pub mod workers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorJson {
    /// A stable, kebab-case error kind (`revenant_types::ErrorKind`), e.g. `unknown-function`;
    /// new kinds may be added, so clients must accept ones they do not know.
    pub kind: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// The `/v1` routes.
pub fn routes() -> Router<AppState> {
    use components as c;
    use invocations as i;
    use workers as w;
    Router::new()
        .route("/components", get(c::list))
        .route(
            "/components/{component}",
            get(c::get)
                .post(c::upload)
                .layer(DefaultBodyLimit::max(c::MAX_COMPONENT_BYTES)),
        )
        .route(
            "/components/{component}/versions/{version}",
            get(c::version),
        )
        .route(
            "/components/{component}/versions/{version}/wasm",
            get(c::download),
        )
        .route("/workers", get(w::list))
        .route(
            "/components/{component}/workers",
            get(w::list_of_component).post(w::create),
        )
        .route(
            "/components/{component}/workers/{worker}",
            get(w::get).delete(w::delete),
        )
        .route(
            "/components/{component}/workers/{worker}/interrupt",
            post(w::interrupt),
        )
        .route(
            "/components/{component}/workers/{worker}/resume",
            post(w::resume),
        )
        .route(
            "/components/{component}/workers/{worker}/simulate-crash",
            post(w::simulate_crash),
        )
        .route(
            "/components/{component}/workers/{worker}/snapshot",
            post(w::snapshot),
        )
        .route(
            "/components/{component}/workers/{worker}/update",
            post(w::update),
        )
        .route(
            "/components/{component}/workers/{worker}/oplog",
            get(w::oplog),
        )
        .route(
            "/components/{component}/workers/{worker}/inspect",
            get(inspect::inspect),
        )
        .route("/executors", get(executors::list))
        .route(
            "/components/{component}/workers/{worker}/events",
            get(crate::events::events),
        )
        .route(
            "/components/{component}/workers/{worker}/invoke/{function}",
            post(i::invoke),
        )
        .route(
            "/components/{component}/workers/{worker}/enqueue/{function}",
            post(i::enqueue),
        )
        .route(
            "/components/{component}/workers/{worker}/invocations/{key}",
            get(i::poll_worker),
        )
        .route("/invocations/{key}", get(i::poll))
        .route("/apis", get(apis::list).post(apis::deploy))
        .route("/apis/{name}", get(apis::get).delete(apis::delete))
        .route(
            "/components/{component}/workers/{worker}/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/components/{component}/workers/{worker}/schedules/{id}",
            get(schedules::get).delete(schedules::cancel),
        )
        .route(
            "/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/subscriptions/{name}",
            get(subscriptions::get).delete(subscriptions::delete),
        )
        .route("/subscriptions/{name}/{action}", post(subscriptions::act))
        .route("/promises", get(promises::list))
        .route("/promises/{component}/{worker}/{index}", get(promises::get))
        .route(
            "/promises/{component}/{worker}/{index}/complete",
            post(promises::complete),
        )
}
