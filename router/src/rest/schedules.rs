//! `/v1/components/{c}/workers/{w}/schedules[/{id}]`: scheduled invocations
//! and cron over HTTP, through the nats crate's `schedules` (as the CLI): POST
//! makes (or, with the same `name`, replaces) a schedule, GET lists them with
//! their next fire time and last firing, DELETE cancels one. Input is checked by
//! `revenant_types::schedule::ScheduleRequest`, so HTTP and the CLI accept and
//! refuse the same things (`invalid-schedule`, 400, saying what was expected).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use revenant_nats::headers;
use revenant_nats::schedules;
use revenant_types::ErrorKind;
use revenant_types::schedule::ScheduleRequest;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::workers::worker_id;
use crate::AppState;
use crate::error::ApiError;

/// Body of a schedule creation: the invocation and exactly one of `at`, `in`, `cron`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CreateSchedule {
    /// The exported function: `pkg:ns/iface.{fn}`, or the bare `fn` when unambiguous.
    pub function: String,
    /// The arguments, a JSON array (default `[]`).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub args: Option<Vec<serde_json::Value>>,
    /// Once, at this RFC 3339 time (`2026-12-01T09:30:00Z`).
    pub at: Option<String>,
    /// Once, after this duration (`90s`, `5m`, `1h30m`, `2d`).
    #[serde(rename = "in")]
    pub in_: Option<String>,
    /// Repeatedly: 6 cron fields, seconds first (`0 30 9 * * 1-5`), `@hourly`, `@daily`, `@every 10s` (nats-server 2.14+).
    pub cron: Option<String>,
    /// The IANA time zone of `cron` (default UTC), e.g. `Europe/Paris`.
    pub tz: Option<String>,
    /// The schedule's name (default: a new UUID); the same name again replaces it.
    pub name: Option<String>,
    /// `queue` (default: a firing waits for a running invocation) or `skip`.
    pub overlap: Option<String>,
    /// Skip (and record) firings later than this after their time, e.g. `5m` (default: no bound).
    pub catchup: Option<String>,
    /// A one-off's idempotency key (default `<id>@<time>`).
    pub idempotency_key: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorKind::InvalidSchedule, message.into())
}

/// Makes (or replaces) a scheduled invocation of the worker.
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/schedules", tag = "schedules",
    params(("component" = String, Path), ("worker" = String, Path)),
    request_body = CreateSchedule,
    responses((status = 201, description = "`{id, subject, sequence, idempotency-key}`: the schedule's id and holder"),
        (status = 400, description = "A bad time, duration, cron expression, time zone or name, or cron on a nats-server older than 2.14 (`invalid-schedule`)", body = super::ErrorJson)))]
pub async fn create(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let w = worker_id(&component, &worker)?;
    let body: CreateSchedule = serde_json::from_slice(&body).map_err(|e| {
        invalid(format!(
            "the body is not a schedule ({e}); expected {{\"function\": \"add\", \"args\": [1], \"in\": \"90s\"}} with one of at, in or cron, and optionally tz, name, overlap, catchup, idempotency-key"
        ))
    })?;
    let request = ScheduleRequest {
        at: body.at,
        in_: body.in_,
        cron: body.cron,
        tz: body.tz,
        name: body.name,
        overlap: body.overlap,
        catchup: body.catchup,
        idempotency_key: body.idempotency_key,
    };
    let args = serde_json::Value::Array(body.args.unwrap_or_default()).to_string();
    let mut spec = request
        .spec(
            w,
            body.function,
            args,
            Some(headers::CONTENT_TYPE_JSON.into()),
            &uuid::Uuid::new_v4().simple().to_string(),
            revenant_types::now_ms(),
        )
        .map_err(|e| invalid(e.0))?;
    // Its firings start a new trace, linked to this request's.
    let (span, trace) = crate::spans::schedule();
    spec.trace = trace;
    let put = schedules::put(state.nats(), &spec).await?;
    let cause = crate::spans::context_of(&headers);
    crate::spans::scheduled(span, &cause, &spec.worker, &spec.id);
    Ok((StatusCode::CREATED, Json(put)).into_response())
}

/// The worker's schedules (pending ones, and one-offs that fired), each with its next
/// fire time and last firing.
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/schedules", tag = "schedules",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "`{schedules: [{worker, id, schedule, time-zone, function, args, next, overlap, catchup-secs, pending, last-firing}]}`"),
        (status = 400, description = "A name is not valid", body = super::ErrorJson)))]
pub async fn list(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let w = worker_id(&component, &worker)?;
    let list = schedules::list(state.nats(), Some(&w)).await?;
    Ok(Json(json!({ "schedules": list })).into_response())
}

fn unknown(component: &str, worker: &str, id: &str) -> ApiError {
    ApiError::not_found(
        ErrorKind::UnknownSchedule,
        format!(
            "worker {component}/{worker} has no schedule {id:?}; GET /v1/components/{component}/workers/{worker}/schedules lists them"
        ),
    )
}

/// One schedule: its holder (while pending) and its last firing.
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/schedules/{id}", tag = "schedules",
    params(("component" = String, Path), ("worker" = String, Path), ("id" = String, Path, description = "`i-<key>` or `c-<name>`")),
    responses((status = 200, description = "`{worker, id, schedule, time-zone, function, args, next, overlap, catchup-secs, pending, last-firing}`"),
        (status = 404, description = "No such schedule (`unknown-schedule`)", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path((component, worker, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let w = worker_id(&component, &worker)?;
    revenant_types::schedule::check_id(&id).map_err(|e| invalid(e.0))?;
    match schedules::get(state.nats(), &w, &id).await? {
        Some(info) => Ok(Json(info).into_response()),
        None => Err(unknown(&component, &worker, &id)),
    }
}

/// Cancels a schedule: it never fires again.
#[utoipa::path(delete, path = "/v1/components/{component}/workers/{worker}/schedules/{id}", tag = "schedules",
    params(("component" = String, Path), ("worker" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Cancelled"),
        (status = 404, description = "No pending schedule of that id (`unknown-schedule`)", body = super::ErrorJson)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path((component, worker, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let w = worker_id(&component, &worker)?;
    revenant_types::schedule::check_id(&id).map_err(|e| invalid(e.0))?;
    if schedules::cancel(state.nats(), &w, &id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(unknown(&component, &worker, &id))
    }
}
