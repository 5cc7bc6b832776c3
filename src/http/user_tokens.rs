//! The session operations of the token API (seeds 001 and 003): `GET`/`HEAD`/`DELETE
//! /api/v1/tokens/me` (token info, verify, logout) and `POST /api/v1/tokens/switch` for
//! the user holding the token; `DELETE /api/v1/tokens/{userId}` (revoke every session of
//! a user) and `GET`/`PUT /api/v1/tokens/timeout` (the tenant's idle token timeout) for
//! admins. Seed 003's own paths, `/api/v2/tokens/…`, are the same handlers.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::error::{from_store, ApiError};
use super::extract::{bearer_token, ApiJson, ApiPath, ApiQuery, Caller};
use super::first_party_tokens::TokenResponse;
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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/tokens/switch").route(web::post().to(switch)));
    for version in ["v1", "v2"] {
        cfg.service(
            super::resource(&format!("/api/{version}/tokens/me"))
                .route(web::get().to(me))
                .route(web::head().to(verify))
                .route(web::delete().to(logout)),
        )
        .service(
            super::resource(&format!("/api/{version}/tokens/timeout"))
                .route(web::get().to(get_timeout))
                .route(web::put().to(put_timeout)),
        )
        .service(
            super::resource(&format!("/api/{version}/tokens/{USER_ID}"))
                .route(web::delete().to(revoke_all)),
        );
    }
}

#[derive(Deserialize)]
struct MeQuery {
    /// `true`: this call does not count as the session's activity.
    #[serde(rename = "preserveIdleTTL", default)]
    preserve_idle_ttl: bool,
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
    let mut info = json!({
        "userId": user.user_id,
        "username": username.as_str(),
        "tenantId": user.tenant_id.as_str(),
        "clientId": user.client_id,
        "sessionId": user.session_id,
        "scope": user.scope,
        "issuedAt": seconds(user.issued_at),
        "expiresAt": seconds(user.expires_at),
    });
    if let Some(at) = user.idle_expires_at {
        info["idleExpiresAt"] = json!(rfc3339(at));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(info))
}

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

#[tracing::instrument(skip_all)]
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let user = user_caller(&state, &req, Activity::Preserve).await?;
    let ended = crate::sessions::logout(&state.store, &user.session_id, Utc::now())
        .await
        .map_err(from_store)?;
    ended_here(&state, ended).await;
    Ok(HttpResponse::Ok().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SwitchBody {
    tenant_id: String,
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeoutQuery {
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

fn timeout_body(timeout: IdleTimeout) -> serde_json::Value {
    json!({
        "enableIdleTokenTimeout": timeout.enabled,
        "idleTokenTimeoutSeconds": timeout.timeout_seconds,
    })
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeoutBody {
    enable_idle_token_timeout: bool,
    idle_token_timeout_seconds: Option<u64>,
}

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
