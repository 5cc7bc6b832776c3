//! Tenant admin tokens (seed 000): `GET /api/v1/tenants/{tenantId}/token` for the global
//! admin, `GET /api/v1/tenant/token` to renew one's own; `DELETE` on the same paths
//! revokes every token of the tenant, or one's own chain. Portal links, which open a
//! tenant admin session in the browser: `GET /api/v1/tenants/{tenantId}/portal` (global
//! admin) and `GET /api/v1/tenant/portal` (in one's own chain).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{bearer_token, ApiPath, Caller};
use super::openapi::{self as doc, Success};
use super::tenants::{tenant_id, tenant_not_found};
use super::{audit_context, AppState};
use crate::metrics::TokenGrant;
use crate::tenants::TenantId;
use crate::tokens::portal_link::PortalLink;
use crate::tokens::tenant_admin::IssueError;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    for_tenant,
    revoke_for_tenant,
    renew,
    revoke_own,
    portal_for_tenant,
    own_portal
))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}/token")
            .get_with_effects(for_tenant)
            .delete(revoke_for_tenant),
    )
    .service(
        super::resource("/api/v1/tenant/token")
            .get_with_effects(renew)
            .delete(revoke_own),
    )
    .service(
        super::resource("/api/v1/tenants/{tenantId}/portal").get_with_effects(portal_for_tenant),
    )
    .service(super::resource("/api/v1/tenant/portal").get_with_effects(own_portal));
}

/// Seed 000's `PortalRedirect`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "redirectUrl": "https://auth.example.com/portal?token=eyJhbGciOiJFUzI1NiJ9...",
    "tenantId": "acme"
}))]
struct PortalRedirect<'a> {
    /// Opens a tenant admin session in the portal; for one use, soon.
    #[schema(format = "uri")]
    redirect_url: &'a str,
    tenant_id: &'a str,
}

/// Seed 000's `TenantToken`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9...", "tenantId": "acme"}))]
struct TenantToken<'a> {
    /// A tenant admin token (a JWT): `Authorization: Bearer` for the tenant's API.
    token: String,
    tenant_id: &'a str,
}

fn portal_response(tenant: &TenantId, link: &PortalLink) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(PortalRedirect {
            redirect_url: link.url(),
            tenant_id: tenant.as_str(),
        })
}

fn token_response(tenant: &TenantId, token: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TenantToken {
            token,
            tenant_id: tenant.as_str(),
        })
}

fn issue_error(error: IssueError) -> ApiError {
    match error {
        // A chain that reached its end, or a token revoked meanwhile: authenticate again.
        IssueError::ChainEnded | IssueError::Invalid(_) => ApiError::Unauthorized {
            token_presented: true,
        },
        IssueError::TenantMissing(tenant) => tenant_not_found(&tenant),
        IssueError::Unavailable => ApiError::Unavailable,
        IssueError::Unexpected(error) => from_store(error),
    }
}

/// The refusal of an endpoint that acts on the caller's own bearer tenant admin token, to
/// a caller without one: the admin API key, or a portal session (whose token stays in
/// its cookie: it is neither renewed nor handed out, and its chain may be the
/// application's).
fn tenant_token_only(caller: &Caller, instead: &str) -> ApiError {
    match caller {
        Caller::GlobalAdmin => ApiError::bad_request(format!(
            "This endpoint acts on the caller's tenant admin token; the admin API key has no \
             tenant. Use /api/v1/tenants/{{tenantId}}/{instead}."
        )),
        Caller::TenantAdmin(_) => ApiError::bad_request(
            "This endpoint acts on a tenant admin token sent as Authorization: Bearer; a \
             portal session has none to act on (it ends with POST /portal/logout).",
        ),
    }
}

/// Get a tenant admin token
///
/// A JWT scoped to the tenant, starting a new token chain. The admin API key's only.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenantId}/token",
    tag = "tenant-tokens",
    operation_id = "getTenantToken",
    params(doc::TenantIdParam),
    responses(
        (status = 200, description = "A tenant admin token.", body = TenantToken, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn for_tenant(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    let token = state
        .auth
        .tenant_tokens()
        .issue(&id, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    state.metrics.token_issued(TokenGrant::TenantAdmin);
    Ok(token_response(&id, token))
}

/// Renew one's tenant admin token
///
/// The next token of the chain of the bearer tenant admin token (the tenant is the
/// token's).
#[utoipa::path(
    get,
    path = "/api/v1/tenant/token",
    tag = "tenant-tokens",
    operation_id = "renewTenantToken",
    responses(
        (status = 200, description = "A tenant admin token.", body = TenantToken, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn renew(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (Caller::TenantAdmin(_), Some(token)) = (&caller, bearer_token(&req)) else {
        return Err(tenant_token_only(&caller, "token"));
    };
    let (tenant, renewed) = state
        .auth
        .tenant_tokens()
        .renew(token, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    state.metrics.token_issued(TokenGrant::TenantAdmin);
    Ok(token_response(&tenant, renewed))
}

/// Revoke one's tenant admin token
///
/// Ends the chain of the bearer tenant admin token.
#[utoipa::path(
    delete,
    path = "/api/v1/tenant/token",
    tag = "tenant-tokens",
    operation_id = "revokeOwnTenantToken",
    responses(
        (status = 200, description = "Revoked.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn revoke_own(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (Caller::TenantAdmin(_), Some(token)) = (&caller, bearer_token(&req)) else {
        return Err(tenant_token_only(&caller, "token"));
    };
    state
        .auth
        .tenant_tokens()
        .revoke_chain(token, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    Ok(HttpResponse::Ok().json(Success::TRUE))
}

/// Revoke every tenant admin token of a tenant
///
/// The admin API key's only.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenantId}/token",
    tag = "tenant-tokens",
    operation_id = "revokeTenantTokens",
    params(doc::TenantIdParam),
    responses(
        (status = 200, description = "Revoked.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn revoke_for_tenant(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    state
        .auth
        .tenant_tokens()
        .revoke_all(&id, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    Ok(HttpResponse::Ok().json(Success::TRUE))
}

/// Get a portal redirect URL
///
/// A link that opens a tenant admin session in the portal. The admin API key's only.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenantId}/portal",
    tag = "tenant-tokens",
    operation_id = "getPortalUrl",
    params(doc::TenantIdParam),
    responses(
        (status = 200, description = "The portal link.", body = PortalRedirect, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn portal_for_tenant(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    let link = state
        .auth
        .tenant_tokens()
        .portal_link(&id, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    Ok(portal_response(&id, &link))
}

/// Get a portal redirect URL (tenant admin token)
///
/// A portal link in the chain of the bearer tenant admin token.
#[utoipa::path(
    get,
    path = "/api/v1/tenant/portal",
    tag = "tenant-tokens",
    operation_id = "getPortalUrlJwtContext",
    responses(
        (status = 200, description = "The portal link.", body = PortalRedirect, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn own_portal(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (Caller::TenantAdmin(_), Some(token)) = (&caller, bearer_token(&req)) else {
        return Err(tenant_token_only(&caller, "portal"));
    };
    let (tenant, link) = state
        .auth
        .tenant_tokens()
        .portal_link_in_own_chain(token, &audit_context(&caller), Utc::now())
        .await
        .map_err(issue_error)?;
    Ok(portal_response(&tenant, &link))
}
