//! Mapping of core and request errors to HTTP answers with a JSON `{"error": …}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api::{ErrorBody, ErrorKind};
use crate::core::CoreError;

/// An error answer: a status and a message meant for the user.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: Option<ErrorKind>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::UnknownItem(_) => StatusCode::NOT_FOUND,
            CoreError::BadRequest(_) | CoreError::Unreadable { .. } => StatusCode::BAD_REQUEST,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::ShuttingDown | CoreError::Upgrading(_) => StatusCode::SERVICE_UNAVAILABLE,
            CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %e, "control request failed");
        }
        let kind = match &e {
            CoreError::Unreadable { kind, .. } => *kind,
            _ => None,
        };
        ApiError {
            kind,
            ..ApiError::new(status, e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                kind: self.kind,
            }),
        )
            .into_response()
    }
}
