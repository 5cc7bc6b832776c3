//! The error body of every `/api/*` response (seed 002), and its HTTP mapping.
//!
//! `trackingId` is the request id of [`super::request_context`]; a 500 carries only
//! that id, while the whole error chain goes to the log under the same id.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_context::current_request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: `text` says what is wrong, `causes` lists each problem.
    #[error("{text}")]
    BadRequest { text: String, causes: Vec<String> },
    /// 401. `token_presented` tells a wrong credential from a missing one (RFC 6750 §3).
    #[error("authentication required")]
    Unauthorized { token_presented: bool },
    /// 401 for credentials sent in the body (a password, a refresh token): the text
    /// says which, and never why.
    #[error("{0}")]
    BadCredentials(String),
    #[error("forbidden")]
    Forbidden,
    /// 403: a portal session's call without its CSRF token, or with another one.
    #[error("the portal session's CSRF token is missing or wrong")]
    CsrfRefused,
    #[error("{0}")]
    NotFound(String),
    /// 405, with the methods the resource has (the `Allow` header).
    #[error("method not allowed")]
    MethodNotAllowed { allow: std::sync::Arc<str> },
    #[error("{0}")]
    Conflict(String),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: a rate limit refused the request before any work was done.
    #[error("too many requests")]
    RateLimited { retry_after_seconds: u64 },
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(text: impl Into<String>) -> Self {
        ApiError::BadRequest {
            text: text.into(),
            causes: Vec::new(),
        }
    }

    pub fn invalid(text: impl Into<String>, causes: Vec<String>) -> Self {
        ApiError::BadRequest {
            text: text.into(),
            causes,
        }
    }

    fn detail_code(&self) -> String {
        match self {
            ApiError::Unexpected(_) => "500.0 Internal Fault".to_owned(),
            other => {
                let status = other.status_code();
                format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
            }
        }
    }

    fn text(&self) -> String {
        match self {
            ApiError::Unauthorized {
                token_presented: false,
            } => "Authentication is required: send Authorization: Bearer <key or token>.".into(),
            ApiError::Unauthorized {
                token_presented: true,
            } => "The bearer credential is not valid.".into(),
            ApiError::Forbidden => {
                "The server understood the request but refuses to authorize it.".into()
            }
            ApiError::CsrfRefused => "A call with the portal session must carry the session's \
                                      CSRF token in the X-CSRF-Token header."
                .into(),
            ApiError::MethodNotAllowed { .. } => {
                "This resource does not support the method.".into()
            }
            ApiError::RateLimited { .. } => {
                "Too many requests; retry after the time in Retry-After.".into()
            }
            ApiError::Unavailable => "The service is temporarily unavailable.".into(),
            ApiError::Unexpected(_) => "An internal fault occurred.".into(),
            other => other.to_string(),
        }
    }
}

/// The body of every error of the API (seed 002).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "detailCode": "400 Bad Request",
    "trackingId": "e7eab60924f64aa284175b9fa3309599",
    "messages": [{"locale": "en-US", "localeOrigin": "DEFAULT", "text": "The client is invalid."}],
    "causes": [{"locale": "en-US", "localeOrigin": "DEFAULT", "text": "name: is required"}]
}))]
pub(super) struct ErrorBody {
    /// The HTTP status and its reason, e.g. `404 Not Found`; `500.0 Internal Fault` for
    /// a fault of the server.
    #[schema(example = "400 Bad Request")]
    detail_code: String,
    /// The request id (`X-Request-Id`) under which the server logged the request.
    #[schema(example = "e7eab60924f64aa284175b9fa3309599")]
    tracking_id: String,
    /// What went wrong: one message.
    messages: Vec<LocalizedText>,
    /// Each problem of a 400, prefixed with the field it concerns; empty otherwise.
    causes: Vec<LocalizedText>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LocalizedText {
    /// A BCP 47 language tag.
    #[schema(example = "en-US")]
    locale: &'static str,
    locale_origin: LocaleOrigin,
    text: String,
}

/// Seed 002's `localeOrigin`, how the locale was chosen: Tessera always answers in its
/// own, `DEFAULT` (seed 002's other value, `REQUEST`, would follow `Accept-Language`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum LocaleOrigin {
    Default,
}

impl LocalizedText {
    fn new(text: String) -> Self {
        Self {
            locale: "en-US",
            locale_origin: LocaleOrigin::Default,
            text,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CsrfRefused => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let tracking_id = current_request_id().unwrap_or_default();
        if let ApiError::Unexpected(error) = self {
            tracing::error!(request_id = %tracking_id, error = format!("{error:#}"), "request failed");
        }
        let causes = match self {
            ApiError::BadRequest { causes, .. } => causes.clone(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            detail_code: self.detail_code(),
            tracking_id,
            messages: vec![LocalizedText::new(self.text())],
            causes: causes.into_iter().map(LocalizedText::new).collect(),
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            ApiError::Unauthorized { token_presented } => {
                let challenge = if *token_presented {
                    r#"Bearer realm="tessera", error="invalid_token""#
                } else {
                    r#"Bearer realm="tessera""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            ApiError::BadCredentials(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="tessera""#));
            }
            ApiError::RateLimited {
                retry_after_seconds,
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_ref()));
            }
            _ => {}
        }
        response.json(body)
    }
}

impl From<crate::auth::Forbidden> for ApiError {
    fn from(_: crate::auth::Forbidden) -> Self {
        ApiError::Forbidden
    }
}

/// Where no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "No resource exists at this path.".into(),
    ))
}

/// Database errors from a store call: an exhausted pool or an unreachable database is
/// 503 (worth retrying), anything else 500.
pub fn from_store(error: anyhow::Error) -> ApiError {
    if crate::store::is_unavailable(&error) {
        tracing::warn!(error = format!("{error:#}"), "database unavailable");
        ApiError::Unavailable
    } else {
        ApiError::Unexpected(error)
    }
}
