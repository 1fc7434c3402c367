//! The one place where errors become HTTP responses: `{"detail": ...}` with the right status.
//! 5xx bodies are opaque (`{"detail": "Internal server error", "request_id": ...}`); the cause
//! goes to the log with the same request id.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use agentry_app::AppError;
use serde_json::{Value, json};

use crate::request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 in FastAPI's shape: `{"detail": [{"loc", "msg", "type"}]}`.
    #[error("validation failed")]
    Validation(Vec<ValidationIssue>),
    #[error("{detail}")]
    Status { status: StatusCode, detail: String },
    /// A refusal whose body carries more than `detail` (MFA flags, the 402 paywall object).
    #[error("{status}")]
    Body { status: StatusCode, body: Value },
    /// 429 or 503 with `Retry-After` (seconds): come back later, nothing was done.
    #[error("{detail}")]
    RetryLater {
        status: StatusCode,
        detail: String,
        retry_after: u64,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationIssue {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl ApiError {
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Status {
            status,
            detail: detail.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// 422 for text holding a NUL character (in the body, the query or the path).
    pub fn nul(location: &str) -> Self {
        ApiError::validation(
            location,
            "value_error",
            "Text must not contain NUL characters (\\u0000)",
        )
    }

    /// 422 for a body whose JSON does not fit the route's type, as `JsonConfig` reports it.
    pub fn body_value(msg: impl Into<String>) -> Self {
        ApiError::validation("body", "value_error", msg)
    }

    fn validation(location: &str, kind: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![ValidationIssue {
            loc: vec![location.to_owned()],
            msg: msg.into(),
            kind: kind.to_owned(),
        }])
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::BadRequest(detail) => ApiError::status(StatusCode::BAD_REQUEST, detail),
            AppError::Invalid { field, message } => ApiError::Validation(vec![ValidationIssue {
                loc: match field.strip_prefix("query.") {
                    Some(name) => vec!["query".to_owned(), name.to_owned()],
                    None => vec!["body".to_owned(), field],
                },
                msg: message,
                kind: "value_error".to_owned(),
            }]),
            AppError::Unauthorized(detail) => ApiError::status(StatusCode::UNAUTHORIZED, detail),
            AppError::MfaRequired => ApiError::Body {
                status: StatusCode::UNAUTHORIZED,
                body: json!({"detail": "MFA token required", "mfa_required": true}),
            },
            AppError::PaymentRequired(detail) => ApiError::Body {
                status: StatusCode::PAYMENT_REQUIRED,
                body: json!({ "detail": detail }),
            },
            AppError::Forbidden(detail) => ApiError::status(StatusCode::FORBIDDEN, detail),
            AppError::MfaSetupRequired => ApiError::Body {
                status: StatusCode::FORBIDDEN,
                body: json!({
                    "detail": "MFA setup required by your organization",
                    "mfa_setup_required": true
                }),
            },
            AppError::NotFound(detail) => ApiError::status(StatusCode::NOT_FOUND, detail),
            AppError::Conflict(detail) => ApiError::status(StatusCode::CONFLICT, detail),
            AppError::TooLarge(detail) => ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, detail),
            AppError::TooManyRequests {
                detail,
                retry_after,
            } => ApiError::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                detail,
                retry_after,
            },
            AppError::Busy { retry_after } => ApiError::RetryLater {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: "The server is busy checking passwords. Please try again shortly."
                    .to_owned(),
                retry_after,
            },
            AppError::BadGateway(detail) => ApiError::status(StatusCode::BAD_GATEWAY, detail),
            AppError::ServiceUnavailable(detail) => {
                ApiError::status(StatusCode::SERVICE_UNAVAILABLE, detail)
            }
            AppError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            AppError::Store(cause) => ApiError::Internal(cause.to_string()),
            AppError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Status { status, .. }
            | ApiError::Body { status, .. }
            | ApiError::RetryLater { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let status = self.status_code();
        let body = match self {
            ApiError::Validation(issues) => json!({ "detail": issues }),
            ApiError::Status { detail, .. } => json!({ "detail": detail }),
            ApiError::RetryLater {
                detail,
                retry_after,
                ..
            } => {
                return HttpResponse::build(status)
                    .insert_header((header::RETRY_AFTER, retry_after.to_string()))
                    .json(json!({ "detail": detail }));
            }
            ApiError::Body { body, .. } => body.clone(),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "service unavailable");
                json!({ "detail": "Service unavailable", "request_id": request_id::current() })
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                json!({ "detail": "Internal server error", "request_id": request_id::current() })
            }
        };
        HttpResponse::build(status).json(body)
    }
}

/// `web::JsonConfig` error handler: malformed or mistyped JSON is 422 (FastAPI's behaviour),
/// an oversized body 413, a body that is not JSON 415.
pub fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &error {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected a JSON body (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(cause) if cause.is_data() => {
            ApiError::validation("body", "value_error", cause.to_string())
        }
        JsonPayloadError::Deserialize(cause) => ApiError::validation(
            "body",
            "json_invalid",
            format!("JSON decode error: {cause}"),
        ),
        JsonPayloadError::Payload(cause) => ApiError::status(
            StatusCode::BAD_REQUEST,
            format!("Cannot read the body: {cause}"),
        ),
        other => ApiError::status(StatusCode::BAD_REQUEST, other.to_string()),
    };
    api.into()
}

/// `web::PathConfig` error handler.
pub fn path_error(error: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::validation("path", "value_error", error.to_string()).into()
}

/// `web::QueryConfig` error handler.
pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::validation("query", "value_error", error.to_string()).into()
}

/// `ErrorHandlers` default: an error response that is not JSON yet (actix's own 405 for a
/// wrong method, a 400 from the HTTP parser...) gets a `{"detail": reason}` body.
pub fn ensure_json_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail: Value = if status.is_server_error() {
        json!({ "detail": "Internal server error", "request_id": request_id::current() })
    } else {
        json!({ "detail": status.canonical_reason().unwrap_or("Error") })
    };
    let (req, mut res) = res.into_parts();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res = res.set_body(detail.to_string());
    let res = ServiceResponse::new(req, res)
        .map_into_boxed_body()
        .map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}
