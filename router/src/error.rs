//! Errors: [`ApiError`] is what an HTTP caller gets — a status and a JSON body
//! `{"kind": …, "message": …}` — and [`Error`] is the library's error for
//! starting the router (binding, loading API files).
//!
//! [`status_for_kind`] maps the executor's error kinds onto HTTP statuses; it
//! is the one place that decides which failures are the caller's (4xx) and
//! which are upstream (5xx).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use revenant_nats::workers::AdminError;

/// The library's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("API file {path}: {message}")]
    ApiFile { path: String, message: String },
    #[error("NATS: {0}")]
    Nats(#[from] revenant_nats::Error),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answered to an HTTP caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
    pub fn bad_request(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }
    pub fn not_found(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }
    pub fn conflict(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, message)
    }
    /// An invocation error with the executor's `kind`.
    pub fn from_kind(kind: &str, message: impl Into<String>) -> Self {
        Self::new(status_for_kind(kind), kind, message)
    }
    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind, "message": self.message })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<revenant_nats::Error> for ApiError {
    fn from(e: revenant_nats::Error) -> Self {
        match e {
            revenant_nats::Error::Name(e) => Self::bad_request("invalid-name", e.to_string()),
            e => Self::new(StatusCode::BAD_GATEWAY, "nats", e.to_string()),
        }
    }
}

impl From<revenant_types::NameError> for ApiError {
    fn from(e: revenant_types::NameError) -> Self {
        Self::bad_request("invalid-name", e.to_string())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let message = e.to_string();
        match e {
            AdminError::UnknownComponent(_) => Self::not_found("unknown-component", message),
            AdminError::UnknownWorker(_) => Self::not_found("unknown-worker", message),
            AdminError::AlreadyExists(_) => Self::conflict("worker-exists", message),
            AdminError::Nats(e) => e.into(),
        }
    }
}

/// The HTTP status for an invocation error kind reported by an executor.
pub fn status_for_kind(kind: &str) -> StatusCode {
    match kind {
        "invalid-json"
        | "invalid-arguments"
        | "invalid-wave"
        | "missing-function"
        | "unsupported-content-type"
        | "invalid-name"
        | "invalid-control" => StatusCode::BAD_REQUEST,
        "unknown-function" | "unknown-component" | "unknown-worker" => StatusCode::NOT_FOUND,
        "payload-too-large" => StatusCode::PAYLOAD_TOO_LARGE,
        "worker-failed" => StatusCode::CONFLICT,
        "deadline-exceeded" => StatusCode::GATEWAY_TIMEOUT,
        "unavailable" | "nats" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_faults_are_4xx_and_guest_faults_5xx() {
        assert_eq!(status_for_kind("invalid-arguments"), 400);
        assert_eq!(status_for_kind("unknown-function"), 404);
        assert_eq!(status_for_kind("worker-failed"), 409);
        assert_eq!(status_for_kind("unknown-worker"), 404);
        assert_eq!(status_for_kind("trap"), 500);
        assert_eq!(status_for_kind("deadline-exceeded"), 504);
        let e = ApiError::from_kind("invalid-json", "nope");
        assert_eq!(
            e.body(),
            serde_json::json!({"kind": "invalid-json", "message": "nope"})
        );
    }
}
