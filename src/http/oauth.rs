//! `/oauth/token`, `/oauth/introspect`, `/oauth/revoke` and the server metadata
//! (RFC 8414), with the one mapping of [`OAuthError`] to HTTP (RFC 6749 §5.2).

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;

use super::openapi as doc;
use super::AppState;
use crate::oauth::{OAuthError, SUPPORTED_GRANTS};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(token, introspect, revoke, metadata, openid_configuration))]
pub(super) struct Api;

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
    cfg.service(super::resource("/.well-known/oauth-authorization-server").get(metadata))
        .service(super::resource("/.well-known/openid-configuration").get(openid_configuration));
    // RFC 8414 §3.1: an issuer with a path has its metadata at the well-known prefix
    // followed by that path.
    cfg.service(
        super::resource("/.well-known/oauth-authorization-server/{issuer_path:.*}")
            .get(metadata_of_path),
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

/// The form of `POST /oauth/token` (RFC 6749 §4.1.3, §4.4.2, §6): read by
/// [`crate::oauth::Form`] and each grant's parser; this type only describes it. A
/// parameter sent empty counts as omitted; none may be repeated but `resource`.
/// Parameters that are not `Option`s but have `serde(default)` are optional, never
/// `null` (a form has no `null`); an empty one counts as omitted (RFC 6749 §3.1, §3.2), so
/// every pattern admits the empty string.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"grant_type": "client_credentials", "scope": "read"}))]
struct TokenForm {
    #[schema(schema_with = grant_type_schema)]
    grant_type: String,
    /// Space-separated scope tokens: those asked for (client credentials), or a subset of
    /// the session's (refresh). Each must be allowed to the client. Empty, like absent,
    /// asks for the default.
    #[serde(default)]
    #[schema(pattern = r"^([\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*)?$")]
    scope: String,
    /// `authorization_code`: the code the authorization endpoint issued.
    #[serde(default)]
    code: String,
    /// `authorization_code`: the `redirect_uri` of the authorization request, if it named
    /// one (a URI; empty, like every empty parameter, counts as omitted).
    #[serde(default)]
    redirect_uri: String,
    /// `authorization_code`: the PKCE verifier (RFC 7636 §4.1) of the request's challenge.
    #[serde(default)]
    /// 43–128 characters of `A-Z a-z 0-9 - . _ ~`. Not a pattern here: the other grants
    /// ignore the parameter, whatever it holds.
    code_verifier: String,
    /// `refresh_token`: the refresh token to use (it is rotated).
    #[serde(default)]
    refresh_token: String,
    /// RFC 8707: the resources (audiences) the token is for, each one this server
    /// serves; may be repeated.
    #[serde(default)]
    resource: Vec<String>,
    /// `client_secret_post`, or a public client: the client's id.
    #[serde(default)]
    client_id: String,
    /// `client_secret_post`: the client's secret (never with HTTP Basic).
    #[serde(default)]
    client_secret: String,
}

/// The grants `/oauth/token` serves ([`SUPPORTED_GRANTS`]).
fn grant_type_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            SUPPORTED_GRANTS.iter().map(|grant| grant.grant_type()),
        ))
}

/// The form of `POST /oauth/introspect` (RFC 7662 §2.1) and `POST /oauth/revoke`
/// (RFC 7009 §2.1); described here, read by [`crate::oauth::Form`].
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9...", "token_type_hint": "access_token"}))]
struct TokenOperationForm {
    /// The access token or refresh token.
    #[schema(min_length = 1)]
    token: String,
    /// Which kind `token` is, to look there first: `access_token` or `refresh_token`
    /// (RFC 7009 §2.1). Any other value is ignored and every kind is searched, as
    /// RFC 7009 §2.1 and RFC 7662 §2.1 let a server do.
    #[serde(default)]
    #[schema(example = "refresh_token")]
    token_type_hint: String,
    /// `client_secret_post`, or (revocation) a public client: the client's id.
    #[serde(default)]
    client_id: String,
    /// `client_secret_post`: the client's secret (never with HTTP Basic).
    #[serde(default)]
    client_secret: String,
}

/// The token (RFC 6749 §4.1.4, §4.4.3, §5.1)
///
/// Issues a token for the grant named: `client_credentials` (a confidential client's
/// own), `authorization_code` (a user's, with PKCE) or `refresh_token` (rotating it).
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    operation_id = "oauthToken",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token.", body = crate::oauth::grants::TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::OAuthErrors,
    ),
    security((), ("clientBasic" = [])),
)]
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

/// Token introspection (RFC 7662)
///
/// Whether a token of the caller's own tenant is active, and its claims. A confidential
/// client authenticates; any token it may not see is `{"active": false}`.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    operation_id = "oauthIntrospect",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state.", body = crate::oauth::Introspection),
        doc::OAuthErrors,
    ),
    security(("clientBasic" = []), ()),
)]
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

/// Token revocation (RFC 7009)
///
/// Revokes one of the client's tokens: an access token, or a refresh token with its
/// whole session. An unknown or invalid token is no error (RFC 7009 §2.2).
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    operation_id = "oauthRevoke",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke."),
        doc::OAuthErrors,
    ),
    security((), ("clientBasic" = [])),
)]
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

/// Another method than POST: 405 with `Allow` (RFC 9110 §15.5.6), and the OAuth error
/// body every answer of these endpoints has.
async fn post_only(_: web::Payload) -> HttpResponse {
    let mut response =
        OAuthError::InvalidRequest("This endpoint accepts POST only.".into()).error_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// Authorization server metadata (RFC 8414)
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "metadata",
    operation_id = "getServerMetadata",
    responses(
        (status = 200, description = "What this server serves.",
            body = crate::oauth::ServerMetadata),
    ),
    security(()),
)]
async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(state.oauth.metadata())
}

/// Authorization server metadata, at OpenID Connect's well-known path
///
/// The same document as `/.well-known/oauth-authorization-server`, for clients that look
/// here (RFC 8414 §5).
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "metadata",
    operation_id = "getOpenIdConfiguration",
    responses(
        (status = 200, description = "What this server serves.",
            body = crate::oauth::ServerMetadata),
    ),
    security(()),
)]
async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(state).await
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
        no_store(response.json(OAuthErrorBody {
            error: self.to_string(),
            error_description: self.description(),
        }))
    }
}

/// RFC 6749 §5.2's error response, the body of every error of `/oauth/*`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "error": "invalid_grant",
    "error_description": "The refresh token is invalid, expired or revoked."
}))]
pub(super) struct OAuthErrorBody {
    /// The error code.
    #[schema(schema_with = error_code_schema)]
    error: String,
    /// For people: what was wrong, in RFC 6749 §5.2's character set.
    #[schema(pattern = r"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$")]
    error_description: String,
}

/// The codes `/oauth/token`, `/oauth/introspect` and `/oauth/revoke` answer with: RFC 6749
/// §5.2's, RFC 8707's `invalid_target`, and the registry's `temporarily_unavailable` and
/// `server_error` for a 503 and a 500.
pub(super) const ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "temporarily_unavailable",
    "server_error",
];

fn error_code_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ERROR_CODES.iter().copied()))
        .examples([serde_json::json!("invalid_grant")])
}
