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
use super::token_body::{token_reply, TokenBody};
use super::AppState;
use crate::audit::AuditContext;
use crate::clients::ClientId;
use crate::login::{PasswordSignIn, PasswordSignInError};
use crate::oauth::switch::SwitchedTokens;
use crate::oauth::OAuthError;
use crate::tenants::TenantId;
use crate::tokens::access::UserTokens;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tokens").route(web::post().to(obtain)))
        .service(super::resource("/api/v1/tokens/refresh").route(web::post().to(refresh)));
}

/// Seed 001's `TokenRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenRequest {
    username: String,
    password: SecretString,
    tenant_id: Option<String>,
    client_id: Option<String>,
}

/// Seed 001's `TokenRefreshRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenRefreshRequest {
    refresh_token: SecretString,
}

/// Seed 001's token responses: a session's tokens.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    token_type: &'static str,
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
            PasswordSignInError::Unexpected(error) => from_store(error),
        })?;
    Ok(token_reply(&req, &TokenResponse::from(tokens)))
}

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
