//! `/v1/apis…`: deploy (validated against the components' signatures), list,
//! get and delete user-defined API definitions. A body may be JSON or YAML.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use revenant_types::ErrorKind;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::gateway::{self, definition::ApiFile};

/// Every deployed API definition.
#[utoipa::path(get, path = "/v1/apis", tag = "apis",
    responses((status = 200, description = "The definitions, as deployed")))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let apis: Vec<_> = state
        .nats()
        .apis()
        .list()
        .await?
        .into_iter()
        .filter_map(|(_, json)| {
            serde_json::from_slice::<gateway::definition::StoredApi>(&json).ok()
        })
        .map(|a| a.definition())
        .collect();
    Ok(Json(apis).into_response())
}

/// One API definition.
#[utoipa::path(get, path = "/v1/apis/{name}", tag = "apis",
    params(("name" = String, Path)),
    responses((status = 200, description = "The definition"),
        (status = 404, description = "No such API", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let json = state.nats().apis().get(&name).await?.ok_or_else(|| {
        ApiError::not_found(ErrorKind::UnknownApi, format!("no API named {name}"))
    })?;
    let api: gateway::definition::StoredApi = serde_json::from_slice(&json).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::CorruptApi,
            format!("stored API {name} cannot be decoded: {e}; deploy it again"),
        )
    })?;
    Ok(Json(api.definition()).into_response())
}

/// Deploys (creates or replaces) API definitions: one, or a list, as JSON or YAML.
#[utoipa::path(post, path = "/v1/apis", tag = "apis",
    request_body(content = String, description = "An API definition (or a list) as JSON or YAML: {name, routes: [{method, path, component, worker, function, args, response}]}"),
    responses((status = 201, description = "Deployed: the definitions"),
        (status = 400, description = "Invalid, or does not fit the function's signature", body = super::ErrorJson),
        (status = 409, description = "A route is already served by another API", body = super::ErrorJson)))]
pub async fn deploy(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request(ErrorKind::InvalidApi, "the body is not UTF-8 text"))?;
    let defs = ApiFile::parse(text).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidApi,
            format!("not an API definition: {e}; expected {{name, routes: [{{method, path, component, worker, function, args}}]}}"),
        )
    })?;
    let mut deployed = Vec::new();
    for def in defs {
        deployed.push(gateway::deploy(&state, def).await?.definition());
    }
    let body = if deployed.len() == 1 {
        json!(deployed[0])
    } else {
        json!(deployed)
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Deletes an API definition.
#[utoipa::path(delete, path = "/v1/apis/{name}", tag = "apis",
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such API", body = super::ErrorJson)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if gateway::delete(&state, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            ErrorKind::UnknownApi,
            format!("no API named {name}"),
        ))
    }
}
