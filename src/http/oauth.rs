//! `/oauth/token`, `/oauth/introspect`, `/oauth/revoke` and the server metadata
//! (RFC 8414), with the one mapping of [`OAuthError`] to HTTP (RFC 6749 §5.2).

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use crate::oauth::OAuthError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        ("/oauth/token", web::post().to(token)),
        ("/oauth/introspect", web::post().to(introspect)),
        ("/oauth/revoke", web::post().to(revoke)),
    ] {
        cfg.service(
            web::resource(path)
                .route(handler)
                .default_service(web::to(post_only)),
        );
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        cfg.service(super::resource(path).route(web::get().to(metadata)));
    }
    // RFC 8414 §3.1: an issuer with a path has its metadata at the well-known prefix
    // followed by that path.
    cfg.service(
        super::resource("/.well-known/oauth-authorization-server/{issuer_path:.*}")
            .route(web::get().to(metadata_of_path)),
    );
}

/// An `application/x-www-form-urlencoded` body, within the size limit.
pub struct FormBody(web::Bytes);

impl FromRequest for FormBody {
    type Error = OAuthError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, OAuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = is_form(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            // Read the body before judging it, so a refused request leaves the
            // connection usable for the next one.
            let body = bytes.await.map_err(|_| {
                OAuthError::InvalidRequest("The request body is too large or unreadable.".into())
            })?;
            if !is_form {
                return Err(OAuthError::InvalidRequest(
                    "The body must be application/x-www-form-urlencoded.".into(),
                ));
            }
            Ok(FormBody(body))
        })
    }
}

/// Whether the request says its body is `application/x-www-form-urlencoded`.
pub(super) fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded")
}

fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    FormBody(body): FormBody,
) -> Result<HttpResponse, OAuthError> {
    let response = state
        .oauth
        .token(
            authorization(&req),
            &body,
            state.caller_address(&req),
            Utc::now(),
        )
        .await?;
    Ok(no_store(HttpResponse::Ok().json(response)))
}

async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    FormBody(body): FormBody,
) -> Result<HttpResponse, OAuthError> {
    let response = state
        .oauth
        .introspect(
            authorization(&req),
            &body,
            state.caller_address(&req),
            Utc::now(),
        )
        .await?;
    Ok(no_store(HttpResponse::Ok().json(response)))
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    FormBody(body): FormBody,
) -> Result<HttpResponse, OAuthError> {
    state
        .oauth
        .revoke(
            authorization(&req),
            &body,
            state.caller_address(&req),
            Utc::now(),
        )
        .await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}

async fn post_only(_: web::Payload) -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::InvalidRequest(
        "This endpoint accepts POST only.".into(),
    ))
}

async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(state.oauth.metadata())
}

/// The metadata at `/.well-known/oauth-authorization-server/{path}`, where `path` is
/// the issuer's own path; anything else is 404.
async fn metadata_of_path(
    state: web::Data<AppState>,
    requested: web::Path<String>,
) -> Result<HttpResponse, super::ApiError> {
    let issuer_path = url::Url::parse(&state.issuer)
        .map(|issuer| issuer.path().trim_matches('/').to_owned())
        .unwrap_or_default();
    if issuer_path.is_empty() || requested.trim_end_matches('/') != issuer_path {
        return Err(super::ApiError::NotFound(
            "No resource exists at this path.".into(),
        ));
    }
    Ok(metadata(state).await)
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            // RFC 6749 §5.2 requires the challenge when Basic was used; every 401
            // carries it, so a client that tried the form learns how to authenticate.
            OAuthError::InvalidClient { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="tessera""#));
            }
            OAuthError::RateLimited {
                retry_after_seconds,
            }
            | OAuthError::Unavailable {
                retry_after_seconds,
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            _ => {}
        }
        no_store(response.json(json!({
            "error": self.to_string(),
            "error_description": self.description(),
        })))
    }
}
