//! The first-party token API (seed 001): `POST /api/v1/tokens` signs a user in with a
//! password ([`crate::login::LoginService::sign_in_with_password`]) and
//! `POST /api/v1/tokens/refresh` rotates its refresh token
//! ([`crate::oauth::OAuthServer::refresh_first_party`], the refresh grant's own path).
//! Bodies in every format of [`TokenBody`]; replies from [`token_reply`], never cached.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::openapi as doc;
use super::token_body::{token_reply, TokenBody};
use super::AppState;
use crate::audit::AuditContext;
use crate::clients::ClientId;
use crate::login::{PasswordSignIn, PasswordSignInError};
use crate::oauth::switch::SwitchedTokens;
use crate::oauth::OAuthError;
use crate::tenants::TenantId;
use crate::tokens::access::UserTokens;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(obtain, refresh))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tokens").post(obtain))
        .service(super::resource("/api/v1/tokens/refresh").post(refresh));
}

/// Seed 001's `TokenRequest`: a sign-in with a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"username": "ada@example.com", "password": "correct horse battery staple", "tenantId": "acme"}))]
struct TokenRequest {
    #[schema(example = "ada@example.com")]
    username: String,
    #[schema(value_type = String, format = Password, write_only)]
    password: SecretString,
    /// The tenant to sign in to (the user's default tenant when not given); the user
    /// must be a member.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        example = "acme"
    )]
    tenant_id: Option<String>,
    /// The internal client of the tenant to issue the tokens (the tenant's built-in one
    /// when not given).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z0-9._~-]*[A-Za-z0-9_~-][A-Za-z0-9._~-]*$"
    )]
    client_id: Option<String>,
}

/// Seed 001's `TokenRefreshRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"refreshToken": "rt_5Zb0s0oJ2QmQyq3o3QbL3w..."}))]
struct TokenRefreshRequest {
    /// The session's refresh token; it is rotated (the next one is in the answer).
    #[schema(value_type = String, write_only)]
    refresh_token: SecretString,
}

/// Seed 001's token responses: a session's tokens.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SessionTokens, example = json!({
    "accessToken": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9...",
    "refreshToken": "rt_5Zb0s0oJ2QmQyq3o3QbL3w...",
    "tokenType": "Bearer",
    "expiresIn": 750,
    "tenantId": "acme",
    "sessionId": "9b2f6f0cb5a34c1f8d3c2a1b0e9d8c7f"
}))]
pub(crate) struct TokenResponse {
    /// A JWT: `Authorization: Bearer` for the token API and the application's APIs.
    access_token: String,
    /// Present when the client gets refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
    tenant_id: String,
    session_id: String,
}

impl From<SwitchedTokens> for TokenResponse {
    fn from(tokens: SwitchedTokens) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
            tenant_id: tokens.tenant_id.to_string(),
            session_id: tokens.session_id.to_string(),
        }
    }
}

impl From<UserTokens> for TokenResponse {
    fn from(tokens: UserTokens) -> Self {
        Self {
            access_token: tokens.access.access_token,
            refresh_token: tokens.refresh_token.map(|token| token.expose().to_owned()),
            token_type: "Bearer",
            expires_in: tokens.access.expires_in,
            tenant_id: tokens.session.tenant_id.to_string(),
            session_id: tokens.session.session_id.to_string(),
        }
    }
}

/// An optional id field: absent or empty (a form's blank field) is none.
fn optional<T>(
    field: &str,
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    raw.filter(|raw| !raw.is_empty())
        .map(|raw| {
            parse(&raw).map_err(|problem| {
                ApiError::invalid(
                    format!("The request body is invalid: {field}: {problem}"),
                    vec![format!("{field}: {problem}")],
                )
            })
        })
        .transpose()
}

/// Obtain a token
///
/// Signs a user in with a password and starts a session (seed 001): in the user's
/// default tenant, or the one named.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    operation_id = "tokensCreate",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/vnd.api+json"),
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The session's tokens: JSON, or JSON:API's media type when `Accept` names it.",
            content((TokenResponse = "application/json"), (TokenResponse = "application/vnd.api+json")),
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(()),
)]
async fn obtain(
    req: HttpRequest,
    state: web::Data<AppState>,
    TokenBody(body): TokenBody<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = PasswordSignIn {
        username: body.username,
        password: body.password,
        tenant_id: optional("tenantId", body.tenant_id, TenantId::parse)?,
        client_id: optional("clientId", body.client_id, ClientId::parse)?,
    };
    let audit = AuditContext::new(
        "tessera".into(),
        super::request_context::current_request_id(),
    );
    let tokens = state
        .login
        .sign_in_with_password(request, &audit, state.caller_address(&req), Utc::now())
        .await
        .map_err(|error| match error {
            PasswordSignInError::InvalidClient(cause) => {
                ApiError::invalid(format!("The request body is invalid: {cause}"), vec![cause])
            }
            PasswordSignInError::TooManyAttempts(retry) => ApiError::RateLimited {
                retry_after_seconds: retry.0,
            },
            PasswordSignInError::Refused => {
                ApiError::BadCredentials(crate::login::REFUSED_CREDENTIALS.into())
            }
            PasswordSignInError::Forbidden => ApiError::Forbidden,
            PasswordSignInError::Unavailable => ApiError::Unavailable,
            PasswordSignInError::Unexpected(error) => from_store(error),
        })?;
    Ok(token_reply(&req, &TokenResponse::from(tokens)))
}

/// Refresh a token
///
/// Rotates the session's refresh token: the former one stops working (seed 001).
#[utoipa::path(
    post,
    path = "/api/v1/tokens/refresh",
    tag = "tokens",
    operation_id = "tokensRefreshCreate",
    request_body(content(
        (TokenRefreshRequest = "application/json"),
        (TokenRefreshRequest = "application/vnd.api+json"),
        (TokenRefreshRequest = "application/x-www-form-urlencoded"),
        (TokenRefreshRequest = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The session's tokens: JSON, or JSON:API's media type when `Accept` names it.",
            content((TokenResponse = "application/json"), (TokenResponse = "application/vnd.api+json")),
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::TokenApiErrors,
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(()),
)]
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    TokenBody(body): TokenBody<TokenRefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state
        .oauth
        .refresh_first_party(body.refresh_token.expose_secret(), Utc::now())
        .await
        .map_err(|error| match error {
            OAuthError::InvalidGrant(text) => ApiError::BadCredentials(text),
            OAuthError::RateLimited {
                retry_after_seconds,
            } => ApiError::RateLimited {
                retry_after_seconds,
            },
            OAuthError::Unavailable { .. } => ApiError::Unavailable,
            OAuthError::ServerError => {
                ApiError::Unexpected(anyhow::anyhow!("the refresh failed (logged above)"))
            }
            other => ApiError::bad_request(other.description()),
        })?;
    Ok(token_reply(&req, &TokenResponse::from(tokens)))
}
