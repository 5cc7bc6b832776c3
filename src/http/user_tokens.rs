//! The session operations of the token API (seeds 001 and 003): `GET`/`HEAD`/`DELETE
//! /api/v1/tokens/me` (token info, verify, logout) and `POST /api/v1/tokens/switch` for
//! the user holding the token; `DELETE /api/v1/tokens/{userId}` (revoke every session of
//! a user) and `GET`/`PUT /api/v1/tokens/timeout` (the tenant's idle token timeout) for
//! admins. Seed 003's own paths, `/api/v2/tokens/…`, are the same handlers.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{bearer_token, ApiJson, ApiPath, ApiQuery, Caller};
use super::first_party_tokens::TokenResponse;
use super::openapi as doc;
use super::tenants::{tenant_id, tenant_not_found};
use super::token_body::{token_reply, TokenBody};
use super::{audit_context, rfc3339, AppState};
use crate::audit::AuditContext;
use crate::auth::{AuthError, UserCaller};
use crate::changes::Change;
use crate::ids::SessionId;
use crate::oauth::switch::SwitchTenantError;
use crate::sessions::idle_timeout::{self, IdleTimeout, IdleTimeoutError, SetIdleTimeout};
use crate::tenants::TenantId;
use crate::tokens::Activity;
use crate::users::{self, UserError, UserId};

/// A user id in the path: 32 hex digits, so the fixed paths beside it never match.
const USER_ID: &str = "{userId:[0-9a-f]{32}}";

/// This module's part of the OpenAPI document. Seed 003's `/api/v2` paths are the same
/// operations as `/api/v1`'s ([`SameOnV2`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(switch, me, verify, logout, revoke_all, get_timeout, put_timeout),
    modifiers(&SameOnV2)
)]
pub(super) struct Api;

/// Describes each `/api/v1/tokens/…` path that [`routes`] also serves under `/api/v2`
/// there too, with `V2` after its operation ids.
struct SameOnV2;

impl utoipa::Modify for SameOnV2 {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let on_both: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.as_str() != "/api/v1/tokens/switch")
            .map(|(path, item)| (path.replacen("/api/v1/", "/api/v2/", 1), item.clone()))
            .collect();
        for (path, mut item) in on_both {
            for operation in [
                &mut item.get,
                &mut item.head,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation.operation_id = operation.operation_id.take().map(|id| id + "V2");
            }
            openapi.paths.paths.insert(path, item);
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tokens/switch").post(switch));
    for version in ["v1", "v2"] {
        cfg.service(
            super::resource(&format!("/api/{version}/tokens/me"))
                .get(me)
                .head(verify)
                .delete(logout),
        )
        .service(
            super::resource(&format!("/api/{version}/tokens/timeout"))
                .get(get_timeout)
                .put(put_timeout),
        )
        .service(super::resource(&format!("/api/{version}/tokens/{USER_ID}")).delete(revoke_all));
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MeQuery {
    /// `true`: this call does not count as the session's activity (its idle timeout is
    /// not reset).
    #[serde(rename = "preserveIdleTTL", default)]
    preserve_idle_ttl: bool,
}

/// Seed 003's `TokenInfo`: the session the token stands for.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "userId": "0f8fad5bd9cb469fa16570867728950e",
    "username": "ada@example.com",
    "tenantId": "acme",
    "clientId": "tessera.acme",
    "sessionId": "9b2f6f0cb5a34c1f8d3c2a1b0e9d8c7f",
    "scope": "openid",
    "issuedAt": "2026-12-03T08:00:00.000Z",
    "expiresAt": "2026-12-03T08:12:30.000Z",
    "idleExpiresAt": "2026-12-03T08:30:00.000Z"
}))]
struct TokenInfo<'a> {
    #[schema(value_type = String)]
    user_id: &'a crate::users::UserId,
    username: &'a str,
    tenant_id: &'a str,
    client_id: &'a str,
    #[schema(value_type = String)]
    session_id: &'a SessionId,
    /// Space-separated.
    scope: &'a str,
    #[schema(format = DateTime)]
    issued_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    /// When the session ends if unused, where its tenant has an idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    idle_expires_at: Option<String>,
}

/// Seed 003's `IdleTokenTimeout`: the tenant's idle token timeout.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 1800}))]
struct IdleTokenTimeout {
    /// Whether sessions unused for the timeout end.
    enable_idle_token_timeout: bool,
    idle_token_timeout_seconds: u64,
}

impl MeQuery {
    fn activity(&self) -> Activity {
        if self.preserve_idle_ttl {
            Activity::Preserve
        } else {
            Activity::Touch
        }
    }
}

/// The user whose access token the request bears, while its session honours it.
async fn user_caller(
    state: &AppState,
    req: &HttpRequest,
    activity: Activity,
) -> Result<UserCaller, ApiError> {
    let token = bearer_token(req).ok_or(ApiError::Unauthorized {
        token_presented: false,
    })?;
    state
        .auth
        .user(token, activity, Utc::now())
        .await
        .map_err(|error| match error {
            AuthError::Invalid | AuthError::CsrfRefused => ApiError::Unauthorized {
                token_presented: true,
            },
            AuthError::Unavailable => ApiError::Unavailable,
            AuthError::Unexpected(error) => from_store(error),
        })
}

fn seconds(at: i64) -> String {
    rfc3339(DateTime::from_timestamp(at, 0).unwrap_or_default())
}

/// Fetch information about the current token
#[utoipa::path(
    get,
    path = "/api/v1/tokens/me",
    tag = "tokens",
    operation_id = "getTokensMe",
    params(MeQuery),
    responses(
        (status = 200, description = "The token's session.", body = TokenInfo, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::TokenApiErrors,
    ),
    security(("userAccessToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn me(
    state: web::Data<AppState>,
    req: HttpRequest,
    ApiQuery(query): ApiQuery<MeQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user_caller(&state, &req, query.activity()).await?;
    let username = match state.usernames.username(&state.store, &user.user_id).await {
        Ok(Some(username)) => username,
        Ok(None) => {
            return Err(ApiError::Unauthorized {
                token_presented: true,
            })
        }
        Err(error) => return Err(from_store(error)),
    };
    let info = TokenInfo {
        user_id: &user.user_id,
        username: username.as_str(),
        tenant_id: user.tenant_id.as_str(),
        client_id: &user.client_id,
        session_id: &user.session_id,
        scope: &user.scope,
        issued_at: seconds(user.issued_at),
        expires_at: seconds(user.expires_at),
        idle_expires_at: user.idle_expires_at.map(rfc3339),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(info))
}

/// Verify the current token
///
/// 200 while the token's session honours it.
#[utoipa::path(
    head,
    path = "/api/v1/tokens/me",
    tag = "tokens",
    operation_id = "headTokensMe",
    params(MeQuery),
    responses(
        (status = 200, description = "The token is valid."),
        doc::TokenApiErrors,
    ),
    security(("userAccessToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    ApiQuery(query): ApiQuery<MeQuery>,
) -> Result<HttpResponse, ApiError> {
    user_caller(&state, &req, query.activity()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

/// Applies the ended sessions here at once (the feed brings the rest with them).
async fn ended_here(state: &AppState, ended: Vec<SessionId>) {
    let ended_at_millis = Utc::now().timestamp_millis();
    for session in ended {
        state
            .applied(Change::SessionEnded {
                session,
                ended_at_millis,
            })
            .await;
    }
}

/// End the current token's session
///
/// Its access and refresh tokens stop working.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/me",
    tag = "tokens",
    operation_id = "deleteTokensMe",
    responses(
        (status = 200, description = "The session has ended."),

        (status = 401, response = doc::Unauthorized),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::InternalError),
        (status = 503, response = doc::ServiceUnavailable),
    ),
    security(("userAccessToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let user = user_caller(&state, &req, Activity::Preserve).await?;
    let ended = crate::sessions::logout(&state.store, &user.session_id, Utc::now())
        .await
        .map_err(from_store)?;
    ended_here(&state, ended).await;
    Ok(HttpResponse::Ok().finish())
}

/// Seed 001's `TokenSwitchTenantRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = TokenSwitchTenantRequest, example = json!({"tenantId": "acme"}))]
struct SwitchBody {
    /// A tenant the user is a member of.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    tenant_id: String,
}

/// Switch tenant
///
/// Moves the bearer user token's session to another tenant the user belongs to (seed
/// 001), with new tokens.
#[utoipa::path(
    post,
    path = "/api/v1/tokens/switch",
    tag = "tokens",
    operation_id = "tokensSwitchCreate",
    request_body(content(
        (SwitchBody = "application/json"),
        (SwitchBody = "application/vnd.api+json"),
        (SwitchBody = "application/x-www-form-urlencoded"),
        (SwitchBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The session's tokens, for the tenant switched to: JSON, or JSON:API's media type when `Accept` names it.",
            content((TokenResponse = "application/json"), (TokenResponse = "application/vnd.api+json")),
            headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("userAccessToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    TokenBody(body): TokenBody<SwitchBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&body.tenant_id)?;
    let user = user_caller(&state, &req, Activity::Touch).await?;
    let audit = AuditContext::new(
        format!("user:{}", user.user_id),
        super::request_context::current_request_id(),
    );
    let switched = state
        .oauth
        .switch_tenant(&user, &tenant, &audit, Utc::now())
        .await
        .map_err(|error| match error {
            SwitchTenantError::SessionGone => ApiError::Unauthorized {
                token_presented: true,
            },
            SwitchTenantError::Forbidden(_) => ApiError::Forbidden,
            SwitchTenantError::NoInternalClient => ApiError::Conflict(format!(
                "The built-in internal client of tenant '{tenant}', which issues its tokens, \
                 is disabled."
            )),
            SwitchTenantError::Unexpected(error) => from_store(error),
        })?;
    state
        .applied(Change::SessionSwitched(switched.session_id.clone()))
        .await;
    Ok(token_reply(&req, &TokenResponse::from(switched)))
}

/// Delete all tokens of a user
///
/// Ends every session of the user (a tenant admin: of its member).
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{userId}",
    tag = "tokens",
    operation_id = "deleteToken",
    params(doc::UserIdParam),
    responses(
        (status = 204, description = "Every session of the user has ended."),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 401, response = doc::Unauthorized),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::InternalError),
        (status = 503, response = doc::ServiceUnavailable),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %crate::telemetry::untrusted(&path)))]
async fn revoke_all(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("User '{path}' does not exist."));
    let id = UserId::parse(&path).map_err(|_| not_found())?;
    let ended = users::revoke_sessions(
        &state.store,
        &caller.scope(None),
        &id,
        &audit_context(&caller),
        Utc::now(),
    )
    .await
    .map_err(|error| match error {
        UserError::NotFound => not_found(),
        UserError::Unexpected(error) => from_store(error),
    })?;
    ended_here(&state, ended).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TimeoutQuery {
    /// The tenant: required with the admin API key; a tenant admin's own tenant (which it
    /// may name) when not given.
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    tenant_id: Option<String>,
}

/// The tenant whose timeout the caller acts on: a tenant admin's own (which it may also
/// name with `?tenantId=`), or the one the global admin names. A tenant admin naming
/// another tenant gets a 404, as for every other resource outside its tenant: acting on
/// its own tenant instead would change a timeout the caller did not mean to change.
fn timeout_tenant(caller: &Caller, query: TimeoutQuery) -> Result<TenantId, ApiError> {
    let named = query.tenant_id.as_deref().map(tenant_id).transpose()?;
    match (caller, named) {
        (Caller::TenantAdmin(own), Some(named)) if named != *own => Err(tenant_not_found(&named)),
        (Caller::TenantAdmin(own), _) => Ok(own.clone()),
        (Caller::GlobalAdmin, Some(named)) => Ok(named),
        (Caller::GlobalAdmin, None) => Err(ApiError::bad_request(
            "The admin API key has no tenant: name one with ?tenantId=.",
        )),
    }
}

fn timeout_body(timeout: IdleTimeout) -> IdleTokenTimeout {
    IdleTokenTimeout {
        enable_idle_token_timeout: timeout.enabled,
        idle_token_timeout_seconds: timeout.timeout_seconds,
    }
}

fn timeout_error(error: IdleTimeoutError, tenant: &TenantId) -> ApiError {
    match error {
        IdleTimeoutError::TenantMissing => tenant_not_found(tenant),
        IdleTimeoutError::Invalid(problem) => {
            ApiError::invalid("The idle token timeout is invalid.", vec![problem])
        }
        IdleTimeoutError::Unexpected(error) => from_store(error),
    }
}

/// Get the idle token timeout
///
/// The tenant's: a tenant admin's own, or the one the admin API key names.
#[utoipa::path(
    get,
    path = "/api/v1/tokens/timeout",
    tag = "tokens",
    operation_id = "getTokensTimeout",
    params(TimeoutQuery),
    responses(
        (status = 200, description = "The timeout.", body = IdleTokenTimeout),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn get_timeout(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<TimeoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = timeout_tenant(&caller, query)?;
    let timeout = idle_timeout::get(&state.store, &tenant, state.oauth.token_settings())
        .await
        .map_err(|error| timeout_error(error, &tenant))?;
    Ok(HttpResponse::Ok().json(timeout_body(timeout)))
}

/// Seed 003's `IdleTokenTimeout`, as a change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = IdleTokenTimeoutChange, example = json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 1800}))]
struct TimeoutBody {
    enable_idle_token_timeout: bool,
    /// At least `tokens.idle_timeout_min_seconds` (300 by default), at most 2592000
    /// (30 days); the current length when not given.
    #[schema(minimum = 300, maximum = 2592000)]
    idle_token_timeout_seconds: Option<u64>,
}

/// Update or enable/disable the idle token timeout
///
/// Sessions of the tenant unused for the timeout end.
#[utoipa::path(
    put,
    path = "/api/v1/tokens/timeout",
    tag = "tokens",
    operation_id = "putTokensTimeout",
    params(TimeoutQuery),
    request_body(content = TimeoutBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The timeout, as set.", body = IdleTokenTimeout),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn put_timeout(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<TimeoutQuery>,
    ApiJson(body): ApiJson<TimeoutBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = timeout_tenant(&caller, query)?;
    let change = SetIdleTimeout {
        enabled: body.enable_idle_token_timeout,
        timeout_seconds: body.idle_token_timeout_seconds,
    };
    let timeout = idle_timeout::set(
        &state.store,
        &tenant,
        change,
        state.oauth.token_settings(),
        &audit_context(&caller),
        Utc::now(),
    )
    .await
    .map_err(|error| timeout_error(error, &tenant))?;
    state.applied(Change::IdleTimeout(tenant)).await;
    Ok(HttpResponse::Ok().json(timeout_body(timeout)))
}
