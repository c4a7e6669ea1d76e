//! `/v1/…/invoke/{function}` (invoke and await), `/v1/…/enqueue/{function}`
//! (publish and return 202), `/v1/…/workers/{worker}/invocations/{key}` and
//! `/v1/invocations/{key}` (poll a result).
//! The `Idempotency-Key` request header is the invocation's key end to end;
//! without one the router makes one and returns it in the same header. Keys
//! belong to a worker: the same key sent to another worker is `key-conflict`
//! (409); sent again with other arguments it is answered with the original's
//! result and the response header `Rvn-Duplicate: arguments-differ`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use revenant_types::ErrorKind;
use revenant_types::oplog::TraceContext;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::workers::worker_id;
use crate::AppState;
use crate::error::ApiError;
use crate::invoke::{self, Call, CallOutcome};

/// The request header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Invoke options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case")]
#[into_params(parameter_in = Query)]
pub struct InvokeQuery {
    /// How long to wait for the result before answering 202, ms (default: the router's).
    pub timeout_ms: Option<u64>,
}

/// The idempotency key of a request (or a fresh one) and its trace context.
/// The invocation an invoke or enqueue request describes.
fn call(
    component: &str,
    worker: &str,
    function: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Call, ApiError> {
    let (idempotency_key, trace) = key_and_trace(headers)?;
    Ok(Call {
        worker: worker_id(component, worker)?,
        function,
        args: json_body(body)?,
        idempotency_key,
        trace,
    })
}

pub fn key_and_trace(headers: &HeaderMap) -> Result<(String, TraceContext), ApiError> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = match get(IDEMPOTENCY_KEY) {
        Some(k) if k.is_empty() || k.len() > revenant_nats::ingress::MAX_KEY_LEN => {
            return Err(ApiError::bad_request(
                ErrorKind::InvalidIdempotencyKey,
                "the Idempotency-Key header must be 1 to 256 visible ASCII characters",
            ));
        }
        Some(k) => k,
        None => invoke::new_key(),
    };
    Ok((key, crate::spans::context_of(headers)))
}

/// A request body as JSON arguments (`null` when empty).
pub fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidJson,
            format!("the request body is not valid JSON ({e}); expected a JSON array of arguments or an object keyed by parameter name"),
        )
    })
}

/// Renders an outcome; every answer carries the idempotency key.
pub fn respond(outcome: CallOutcome, key: &str) -> Response {
    let mut response = match outcome {
        CallOutcome::Ok(v) => Json(v).into_response(),
        CallOutcome::Err(e) => e.into_response(),
        CallOutcome::Pending => {
            let location = invoke::location(key);
            let body = json!({
                "status": "pending",
                "idempotency-key": key,
                "location": location,
                "message": "not finished yet; GET the location for the result, or retry with the same Idempotency-Key",
            });
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(body),
            )
                .into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(key) {
        response.headers_mut().insert(IDEMPOTENCY_KEY, v);
    }
    response
}

/// Invokes a function and awaits its result (202 + Location after the timeout).
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/invoke/{function}", tag = "invocations",
    params(("component" = String, Path), ("worker" = String, Path),
        ("function" = String, Path, description = "Full name `pkg:ns/iface.{fn}` or the bare `fn`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same key → same result, one effect"),
        InvokeQuery),
    request_body(content = serde_json::Value, description = "A JSON array of arguments, or an object keyed by parameter name"),
    responses((status = 200, description = "The returned value as JSON"),
        (status = 202, description = "Still running: poll the Location"),
        (status = 400, description = "Malformed JSON or arguments that do not fit the signature", body = super::ErrorJson),
        (status = 404, description = "Unknown component or function", body = super::ErrorJson),
        (status = 500, description = "The invocation failed (trap)", body = super::ErrorJson)))]
pub async fn invoke(
    State(state): State<AppState>,
    Path((component, worker, function)): Path<(String, String, String)>,
    Query(q): Query<InvokeQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let call = call(&component, &worker, function, &headers, &body)?;
    let key = call.idempotency_key.clone();
    let (outcome, arguments_differ) =
        invoke::invoke_marked(&state, &call, state.invoke_timeout(q.timeout_ms)).await?;
    let mut response = respond(outcome, &key);
    if arguments_differ {
        response.headers_mut().insert(
            revenant_nats::headers::DUPLICATE,
            HeaderValue::from_static(revenant_nats::headers::DUPLICATE_ARGUMENTS_DIFFER),
        );
    }
    Ok(response)
}

/// Publishes an invocation and returns at once (202 + Location to poll).
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/enqueue/{function}", tag = "invocations",
    params(("component" = String, Path), ("worker" = String, Path), ("function" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = serde_json::Value, description = "A JSON array of arguments, or an object keyed by parameter name"),
    responses((status = 202, description = "Enqueued: poll the Location"),
        (status = 400, description = "Malformed JSON or wrong arity", body = super::ErrorJson),
        (status = 404, description = "Unknown component or function", body = super::ErrorJson)))]
pub async fn enqueue(
    State(state): State<AppState>,
    Path((component, worker, function)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let call = call(&component, &worker, function, &headers, &body)?;
    let key = call.idempotency_key.clone();
    invoke::enqueue(&state, &call).await?;
    Ok(respond(CallOutcome::Pending, &key))
}

/// The result of an invocation by idempotency key (from `RVN_RESULTS`), whichever
/// worker it was sent to; a key several workers used is refused (ask the worker's route).
#[utoipa::path(get, path = "/v1/invocations/{key}", tag = "invocations",
    params(("key" = String, Path, description = "The idempotency key")),
    responses((status = 200, description = "The returned value as JSON"),
        (status = 404, description = "No result (yet): pending, unknown or expired", body = super::ErrorJson),
        (status = 409, description = "Several workers have a result under this key", body = super::ErrorJson)))]
pub async fn poll(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let workers = state.nats().results().workers_with(&key).await?;
    match workers.as_slice() {
        [] => Err(no_result(&key)),
        [w] => poll_result(&state, w, &key).await,
        several => Err(ApiError::from_kind(
            ErrorKind::KeyConflict,
            format!(
                "idempotency key {key:?} has results of {} workers ({}); ask one: GET /v1/components/<component>/workers/<worker>/invocations/<key>",
                several.len(),
                several
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The result of a worker's invocation by idempotency key (from `RVN_RESULTS`).
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/invocations/{key}", tag = "invocations",
    params(("component" = String, Path), ("worker" = String, Path),
        ("key" = String, Path, description = "The idempotency key")),
    responses((status = 200, description = "The returned value as JSON"),
        (status = 404, description = "No result (yet): pending, unknown or expired", body = super::ErrorJson)))]
pub async fn poll_worker(
    State(state): State<AppState>,
    Path((component, worker, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    poll_result(&state, &worker_id(&component, &worker)?, &key).await
}

async fn poll_result(
    state: &AppState,
    w: &revenant_types::WorkerId,
    key: &str,
) -> Result<Response, ApiError> {
    let record = state
        .nats()
        .results()
        .get(w, key)
        .await?
        .ok_or_else(|| no_result(key))?;
    Ok(respond(invoke::outcome(&record.outcome), key))
}

fn no_result(key: &str) -> ApiError {
    ApiError::not_found(
        ErrorKind::NoResult,
        format!(
            "no result for idempotency key {key:?} yet: the invocation is still running, was never made, or its result expired"
        ),
    )
}
