//! `/v1/promises…`: complete a promise, read one, list the pending ones. The
//! router talks to the promise store (`revenant_nats::promises`) itself: a
//! completion is a CAS write in `RVN_PROMISES` followed by the wake message to
//! the worker's inbox, so no executor has to be reachable for it to succeed.
//!
//! A record is shown as `{"id", "state", "created-at", "completed-at"}` plus the
//! payload: under `"payload"` as JSON when it is JSON, otherwise under
//! `"payload-base64"` as standard base64 (see `PromiseRecord::to_json`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use revenant_nats::promises::{Completion, PromiseError};
use revenant_types::promise::{PromiseIdError, PromiseState};
use revenant_types::{ErrorKind, PromiseId};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;

/// Filters of the pending-promise listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only promises of this component's workers.
    pub component: Option<String>,
    /// Only promises of workers of this name.
    pub worker: Option<String>,
}

impl From<PromiseIdError> for ApiError {
    fn from(e: PromiseIdError) -> Self {
        Self::bad_request(ErrorKind::InvalidPromiseId, e.to_string())
    }
}

impl From<PromiseError> for ApiError {
    fn from(e: PromiseError) -> Self {
        match e {
            PromiseError::Other(e) => e.into(),
            e => e.to_error_body().into(),
        }
    }
}

fn promise_id(component: &str, worker: &str, index: &str) -> Result<PromiseId, ApiError> {
    Ok(PromiseId::parse_parts(component, worker, index)?)
}

/// The answer to a completion: 200 `{"completed": true}` when this request completed
/// it, 409 `promise-already-completed` when someone did before.
pub fn completion_response(id: &PromiseId, c: Completion) -> Result<Response, ApiError> {
    match c {
        Completion::Completed => Ok(Json(json!({ "completed": true })).into_response()),
        Completion::AlreadyCompleted => Err(ApiError::from_kind(
            ErrorKind::PromiseAlreadyCompleted,
            format!(
                "promise {id} was already completed; its payload stays the first one (GET /v1/promises/{}/{}/{} shows it)",
                id.worker.component, id.worker.worker, id.index
            ),
        )),
    }
}

/// Completes a promise with the request body (any bytes, usually JSON) as its payload.
/// The first completion wins; the worker awaiting the promise is woken.
#[utoipa::path(post, path = "/v1/promises/{component}/{worker}/{index}/complete", tag = "promises",
    params(("component" = String, Path), ("worker" = String, Path),
        ("index" = u64, Path, description = "The oplog index in the promise id `<component>/<worker>/<index>`")),
    request_body(content = String, description = "The payload (usually JSON)", content_type = "application/json"),
    responses((status = 200, description = "`{\"completed\": true}`: this request completed it"),
        (status = 400, description = "Not a promise id", body = super::ErrorJson),
        (status = 404, description = "No such promise (`unknown-promise`)", body = super::ErrorJson),
        (status = 409, description = "Already completed (`promise-already-completed`); the first payload stays", body = super::ErrorJson),
        (status = 413, description = "The payload is too large", body = super::ErrorJson)))]
pub async fn complete(
    State(state): State<AppState>,
    Path((component, worker, index)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = promise_id(&component, &worker, &index)?;
    let completion = state.nats().promises().complete(&id, body).await?;
    completion_response(&id, completion)
}

/// A promise's record: state, times and (once completed) its payload — as JSON under
/// `payload` when it is JSON, otherwise as standard base64 under `payload-base64`.
#[utoipa::path(get, path = "/v1/promises/{component}/{worker}/{index}", tag = "promises",
    params(("component" = String, Path), ("worker" = String, Path), ("index" = u64, Path)),
    responses((status = 200, description = "`{id, state, created-at, completed-at, payload | payload-base64}`"),
        (status = 400, description = "Not a promise id", body = super::ErrorJson),
        (status = 404, description = "No such promise", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path((component, worker, index)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let id = promise_id(&component, &worker, &index)?;
    let record = state.nats().promises().get(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            ErrorKind::UnknownPromise,
            format!("promise {id} does not exist"),
        )
    })?;
    Ok(Json(record.to_json(&id)).into_response())
}

/// The pending promises (of a component, of workers of a name, or both), by id.
#[utoipa::path(get, path = "/v1/promises", tag = "promises", params(ListQuery),
    responses((status = 200, description = "`{promises: [{id, state, created-at, completed-at}]}`, pending ones only"),
        (status = 400, description = "A filter is not a valid name", body = super::ErrorJson)))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let all = state
        .nats()
        .promises()
        .list(q.component.as_deref(), q.worker.as_deref())
        .await?;
    let promises: Vec<_> = all
        .iter()
        .filter(|(_, r)| r.state == PromiseState::Pending)
        .map(|(id, r)| r.to_json(id))
        .collect();
    Ok(Json(json!({ "promises": promises })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_completion_is_200_and_a_later_one_409_saying_so() {
        let id: PromiseId = "approval/a1/5".parse().unwrap();
        assert_eq!(
            completion_response(&id, Completion::Completed)
                .unwrap()
                .status(),
            200
        );
        let e = completion_response(&id, Completion::AlreadyCompleted).unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(e.kind, ErrorKind::PromiseAlreadyCompleted);
        assert!(
            e.message.contains("approval/a1/5 was already completed"),
            "{}",
            e.message
        );
    }

    #[test]
    fn store_errors_keep_their_kind_and_status() {
        let id: PromiseId = "approval/a1/5".parse().unwrap();
        let e: ApiError = PromiseError::Unknown(id.clone()).into();
        assert_eq!(
            (e.status.as_u16(), e.kind),
            (404, ErrorKind::UnknownPromise)
        );
        let e: ApiError = PromiseError::TooLarge { id, len: 9, max: 1 }.into();
        assert_eq!(e.status, 413);
        let e: ApiError = "a/b".parse::<PromiseId>().unwrap_err().into();
        assert_eq!(
            (e.status.as_u16(), e.kind),
            (400, ErrorKind::InvalidPromiseId)
        );
    }
}
