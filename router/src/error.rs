//! Errors: [`ApiError`] is what an HTTP caller gets — a status and a JSON body
//! `{"kind": …, "message": …}` — and [`Error`] is the library's error for
//! starting the router (binding, loading API files).
//!
//! [`status_for_kind`] maps every [`ErrorKind`] onto an HTTP status (an
//! exhaustive match: a new kind does not compile until it has one); it is the
//! one place that decides which failures are the caller's (4xx) and which are
//! upstream (5xx).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use revenant_nats::ControlError;
use revenant_nats::workers::AdminError;
use revenant_types::ErrorKind;

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
    /// A bearer-token entry (`--token`, `--token-file`) that cannot be used.
    #[error("router tokens, {path}: {message}")]
    Tokens { path: String, message: String },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answered to an HTTP caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorKind,
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
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }
    pub fn not_found(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }
    pub fn conflict(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, message)
    }
    /// An error with the status [`status_for_kind`] gives its kind (e.g. an invocation's).
    pub fn from_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(status_for_kind(&kind), kind, message)
    }
    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind, "message": self.message })
    }
}

impl From<revenant_types::oplog::ErrorBody> for ApiError {
    fn from(e: revenant_types::oplog::ErrorBody) -> Self {
        Self::from_kind(e.kind, e.message)
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
            revenant_nats::Error::Name(e) => {
                Self::bad_request(ErrorKind::InvalidName, e.to_string())
            }
            revenant_nats::Error::BadSchedule(m) => {
                Self::bad_request(ErrorKind::InvalidSchedule, m)
            }
            revenant_nats::Error::BadSubscription(m) => {
                Self::bad_request(ErrorKind::InvalidSubscription, m)
            }
            revenant_nats::Error::NoSubscription(m) => {
                Self::not_found(ErrorKind::UnknownSubscription, m)
            }
            e => Self::new(StatusCode::BAD_GATEWAY, ErrorKind::Nats, e.to_string()),
        }
    }
}

impl From<revenant_types::NameError> for ApiError {
    fn from(e: revenant_types::NameError) -> Self {
        Self::bad_request(ErrorKind::InvalidName, e.to_string())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let message = e.to_string();
        match e {
            AdminError::UnknownComponent(_) => {
                Self::not_found(ErrorKind::UnknownComponent, message)
            }
            AdminError::UnknownWorker(_) => Self::not_found(ErrorKind::UnknownWorker, message),
            AdminError::AlreadyExists(_) => Self::conflict(ErrorKind::WorkerExists, message),
            AdminError::Control { source, .. } => source.into(),
            AdminError::Nats(e) => e.into(),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            e @ ControlError::NoExecutor { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                e.to_string(),
            ),
            ControlError::Refused(e) => e.into(),
            ControlError::Other(e) => e.into(),
        }
    }
}

/// The HTTP status for an error kind: the caller's faults are 4xx, a failed
/// invocation or the router's own fault 500, an unreachable upstream 502/503/504.
/// A kind this build does not know (from a newer executor) is a 500.
pub fn status_for_kind(kind: &ErrorKind) -> StatusCode {
    use ErrorKind as K;
    match kind {
        K::InvalidJson
        | K::InvalidArguments
        | K::InvalidWave
        | K::MissingFunction
        | K::UnsupportedContentType
        | K::InvalidName
        | K::InvalidControl
        | K::InvalidMessage
        | K::InvalidRequest
        | K::InvalidBody
        | K::InvalidMultipart
        | K::InvalidComponent
        | K::MissingComponent
        | K::InvalidStatus
        | K::InvalidIdempotencyKey
        | K::InvalidReplyTo
        | K::InvalidHeader
        | K::InvalidApi
        | K::InvalidSchedule
        | K::InvalidSubscription
        | K::InvalidPromiseId => StatusCode::BAD_REQUEST,
        K::UnknownFunction
        | K::UnknownComponent
        | K::UnknownWorker
        | K::UnknownPromise
        | K::UnknownVersion
        | K::UnknownApi
        | K::UnknownSchedule
        | K::UnknownSubscription
        | K::NoRoute
        | K::NoResult => StatusCode::NOT_FOUND,
        K::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        K::Unauthorized => StatusCode::UNAUTHORIZED,
        K::Forbidden => StatusCode::FORBIDDEN,
        K::WorkerDeleted => StatusCode::GONE,
        K::WorkerFailed
        | K::WorkerExited
        | K::WorkerExists
        | K::KeyConflict
        | K::RouteConflict
        | K::FiringSkipped
        | K::UpdateFailed
        | K::PromiseAlreadyCompleted => StatusCode::CONFLICT,
        K::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        K::FunctionError | K::ResultTooLarge | K::SubscriptionFailed => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        K::Unavailable | K::Nats | K::InvalidReply => StatusCode::BAD_GATEWAY,
        K::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        K::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        K::Trap
        | K::Divergence
        | K::Timeout
        | K::Internal
        | K::CorruptApi
        | K::ResponseTemplate
        | K::DeliveryExhausted
        | K::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_faults_are_4xx_and_guest_faults_5xx() {
        assert_eq!(status_for_kind(&ErrorKind::InvalidArguments), 400);
        assert_eq!(status_for_kind(&ErrorKind::UnknownFunction), 404);
        assert_eq!(status_for_kind(&ErrorKind::WorkerFailed), 409);
        assert_eq!(status_for_kind(&ErrorKind::UnknownWorker), 404);
        assert_eq!(status_for_kind(&ErrorKind::UnknownPromise), 404);
        assert_eq!(status_for_kind(&ErrorKind::PromiseAlreadyCompleted), 409);
        assert_eq!(status_for_kind(&ErrorKind::WorkerDeleted), 410);
        assert_eq!(status_for_kind(&ErrorKind::Trap), 500);
        assert_eq!(status_for_kind(&ErrorKind::DeadlineExceeded), 504);
        assert_eq!(status_for_kind(&ErrorKind::Other("cycle".into())), 500);
        let e = ApiError::from_kind(ErrorKind::InvalidJson, "nope");
        assert_eq!(
            e.body(),
            serde_json::json!({"kind": "invalid-json", "message": "nope"})
        );
    }

    #[test]
    fn every_known_kind_has_a_4xx_or_5xx_status() {
        for kind in ErrorKind::KNOWN {
            let status = status_for_kind(kind);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{kind}: {status}"
            );
        }
    }
}
