//! `/v1/components…`: upload a component (raw body or multipart), list them,
//! get one (every version, exports with WIT signatures), download a binary.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use revenant_nats::registry::UploadError;
use revenant_types::ComponentName;
use revenant_types::ErrorKind;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// Largest component binary accepted, bytes.
pub const MAX_COMPONENT_BYTES: usize = 256 << 20;

fn name(component: &str) -> Result<ComponentName, ApiError> {
    Ok(ComponentName::new(component)?)
}

fn unknown(c: &ComponentName) -> ApiError {
    ApiError::not_found(
        ErrorKind::UnknownComponent,
        format!("component {c} does not exist; upload it with POST /v1/components/{c}"),
    )
}

/// Latest version of every component.
#[utoipa::path(get, path = "/v1/components", tag = "components",
    responses((status = 200, description = "The latest version's metadata of every component")))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = state.nats().components().list().await?;
    Ok(Json(list).into_response())
}

/// One component: its latest version and every version's metadata.
#[utoipa::path(get, path = "/v1/components/{component}", tag = "components",
    params(("component" = String, Path, description = "Component name")),
    responses((status = 200, description = "`{name, latest, versions}`; exports carry WIT signatures"),
        (status = 404, description = "No such component", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path(component): Path<String>,
) -> Result<Response, ApiError> {
    let c = name(&component)?;
    let versions = state.nats().components().versions(&c).await?.versions;
    let latest = versions.last().cloned().ok_or_else(|| unknown(&c))?;
    let signatures: Vec<String> = latest.exports.iter().map(|e| e.signature()).collect();
    Ok(Json(json!({
        "name": c, "latest": latest, "signatures": signatures, "versions": versions,
    }))
    .into_response())
}

/// One version's metadata.
#[utoipa::path(get, path = "/v1/components/{component}/versions/{version}", tag = "components",
    params(("component" = String, Path), ("version" = u64, Path)),
    responses((status = 200, description = "The version's metadata"),
        (status = 404, description = "No such component or version", body = super::ErrorJson)))]
pub async fn version(
    State(state): State<AppState>,
    Path((component, version)): Path<(String, u64)>,
) -> Result<Response, ApiError> {
    let c = name(&component)?;
    let record = state
        .nats()
        .components()
        .record(&c, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorKind::UnknownVersion,
                format!("component {c} has no version {version}"),
            )
        })?;
    Ok(Json(record).into_response())
}

/// A version's binary.
#[utoipa::path(get, path = "/v1/components/{component}/versions/{version}/wasm", tag = "components",
    params(("component" = String, Path), ("version" = u64, Path)),
    responses((status = 200, description = "The component binary", content_type = "application/wasm"),
        (status = 404, description = "No such component or version", body = super::ErrorJson)))]
pub async fn download(
    State(state): State<AppState>,
    Path((component, version)): Path<(String, u64)>,
) -> Result<Response, ApiError> {
    let c = name(&component)?;
    if state
        .nats()
        .components()
        .record(&c, version)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            ErrorKind::UnknownVersion,
            format!("component {c} has no version {version}"),
        ));
    }
    let bytes = state.nats().components().binary(&c, version).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// Uploads a new version: the raw binary as the body, or a multipart form
/// whose first file part is the binary.
#[utoipa::path(post, path = "/v1/components/{component}", tag = "components",
    params(("component" = String, Path, description = "Component name ([A-Za-z0-9_-]{1,128})")),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The wasm32-wasip2 component (or multipart/form-data with a file part)"),
    responses((status = 201, description = "The new version's metadata, exports with WIT signatures"),
        (status = 400, description = "Not a valid component, or imports Revenant does not provide", body = super::ErrorJson)))]
pub async fn upload(
    State(state): State<AppState>,
    Path(component): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = name(&component)?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if multipart {
        let mut form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request(ErrorKind::InvalidMultipart, e.body_text()))?;
        let mut found = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(ErrorKind::InvalidMultipart, e.body_text()))?
        {
            let data = field
                .bytes()
                .await
                .map_err(|e| ApiError::bad_request(ErrorKind::InvalidMultipart, e.body_text()))?;
            if !data.is_empty() {
                found = Some(data);
                break;
            }
        }
        found.ok_or_else(|| {
            ApiError::bad_request(
                ErrorKind::MissingComponent,
                "the multipart form has no non-empty part; send the .wasm file as a form field",
            )
        })?
    } else {
        Bytes::from_request(request, &state)
            .await
            .map_err(|e| ApiError::new(e.status(), ErrorKind::InvalidBody, e.body_text()))?
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            ErrorKind::MissingComponent,
            "the body is empty; send the wasm32-wasip2 component binary as the body",
        ));
    }
    let record = state
        .nats()
        .components()
        .upload(&c, bytes.into())
        .await
        .map_err(|e| match e {
            UploadError::Nats(e) => ApiError::from(e),
            UploadError::Invalid(e) => {
                ApiError::bad_request(ErrorKind::InvalidComponent, e.to_string())
            }
        })?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}
