//! `/v1/subscriptions[/{name}[/pause|resume|retry|skip]]`: subscriptions of
//! JetStream streams into workers over HTTP, through the nats crate's
//! `subscriptions` (as the CLI): POST adds one (checked against the component's
//! exports and the stream: `invalid-subscription`, 400, saying what was
//! expected), GET lists them with their lag or shows one, the actions change
//! one, DELETE removes it and its consumer.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use revenant_nats::subscriptions::NewSubscription;
use revenant_types::ErrorKind;
use revenant_types::subscription::SubscriptionSpec;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

/// Body of a subscription: the stream, the component function and the worker template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CreateSubscription {
    /// `[A-Za-z0-9_-]{1,128}`.
    pub name: String,
    /// The source JetStream stream (it must exist).
    pub stream: String,
    /// Subject filters within the stream (default: all its subjects).
    #[serde(default)]
    pub filters: Vec<String>,
    pub component: String,
    /// The worker-name template: `orders-{token:2}`, `{token:-1}`, `{header:Tenant}`.
    pub worker: String,
    /// Any export (the JSON payload is its arguments), or `revenant:api/subscriber.handle`
    /// (the default: the whole message).
    pub function: Option<String>,
    /// Messages in flight at most (default 256).
    pub window: Option<u32>,
    /// `block-key` (default) or `dead-letter`.
    pub on_failure: Option<String>,
    /// `new` (default), `all`, `seq:<n>` or an RFC 3339 time.
    pub start: Option<String>,
    #[serde(default)]
    pub paused: bool,
}

/// Adds a subscription.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions",
    request_body = CreateSubscription,
    responses((status = 201, description = "The subscription as stored"),
        (status = 400, description = "A bad name, template, window, filter, start or function, a stream that does not exist, a name taken (`invalid-subscription`)", body = super::ErrorJson)))]
pub async fn create(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: CreateSubscription = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidSubscription,
            format!(
                "the body is not a subscription ({e}); expected {{\"name\": \"clicks\", \"stream\": \"CLICKS\", \"filters\": [\"clicks.>\"], \"component\": \"sessions\", \"worker\": \"{{token:2}}\", \"function\": \"add\"}} and optionally window, on-failure, start, paused"
            ),
        )
    })?;
    let new = NewSubscription {
        name: b.name,
        stream: b.stream,
        filters: b.filters,
        component: b.component,
        worker: b.worker,
        function: b.function,
        window: b.window,
        on_failure: b.on_failure,
        start: b.start,
        paused: b.paused,
    };
    let spec = state.nats().add_subscription(&new).await?;
    Ok((StatusCode::CREATED, Json(spec)).into_response())
}

/// Every subscription with its forwarder's status (lag, counts, blocked keys).
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    responses((status = 200, description = "`{subscriptions: [{spec, status}]}`; status has owner, pending, in-flight, oldest-age-ms, applied, dead-lettered, blocked")))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let all = state.nats().list_subscriptions().await?;
    let items: Vec<_> = all
        .iter()
        .map(|(spec, status)| json!({"spec": spec, "status": status}))
        .collect();
    Ok(Json(json!({ "subscriptions": items })).into_response())
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(
        ErrorKind::UnknownSubscription,
        format!("there is no subscription named {name}; GET /v1/subscriptions lists them"),
    )
}

/// One subscription with its status.
#[utoipa::path(get, path = "/v1/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path)),
    responses((status = 200, description = "`{spec, status}`"),
        (status = 404, description = "No such subscription (`unknown-subscription`)", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let spec = state
        .nats()
        .subscription(&name)
        .await?
        .ok_or_else(|| unknown(&name))?;
    let status = state.nats().subscription_status(&name).await?;
    Ok(Json(json!({"spec": spec, "status": status})).into_response())
}

/// Changes a subscription: `pause`, `resume`, `retry` (blocked keys try their failed
/// message again) or `skip` (blocked keys dead-letter it and go on).
#[utoipa::path(post, path = "/v1/subscriptions/{name}/{action}", tag = "subscriptions",
    params(("name" = String, Path), ("action" = String, Path, description = "pause, resume, retry or skip")),
    responses((status = 200, description = "The subscription as stored"),
        (status = 400, description = "Not an action (`invalid-subscription`)", body = super::ErrorJson),
        (status = 404, description = "No such subscription (`unknown-subscription`)", body = super::ErrorJson)))]
pub async fn act(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let change: fn(&mut SubscriptionSpec) = match action.as_str() {
        "pause" => |s| s.paused = true,
        "resume" => |s| s.paused = false,
        "retry" => |s| s.retries += 1,
        "skip" => |s| s.skips += 1,
        other => {
            return Err(ApiError::bad_request(
                ErrorKind::InvalidSubscription,
                format!(
                    "{other:?} is not an action on a subscription; expected pause, resume, retry or skip"
                ),
            ));
        }
    };
    let spec = state.nats().update_subscription(&name, change).await?;
    Ok(Json(spec).into_response())
}

/// Deletes a subscription and its consumer (the stream is not touched).
#[utoipa::path(delete, path = "/v1/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription (`unknown-subscription`)", body = super::ErrorJson)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if state.nats().delete_subscription(&name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(unknown(&name))
    }
}
