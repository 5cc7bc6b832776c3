//! Tenant admin tokens (seed 000): `GET /api/v1/tenants/{tenantId}/token` for the global
//! admin, `GET /api/v1/tenant/token` to renew one's own; `DELETE` on the same paths
//! revokes every token of the tenant, or one's own chain. Portal links, which open a
//! tenant admin session in the browser: `GET /api/v1/tenants/{tenantId}/portal` (global
//! admin) and `GET /api/v1/tenant/portal` (in one's own chain).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::json;

use super::error::{from_store, ApiError};
use super::extract::{bearer_token, ApiPath, Caller};
use super::tenants::{tenant_id, tenant_not_found};
use super::{audit_context, AppState};
use crate::metrics::TokenGrant;
use crate::tenants::TenantId;
use crate::tokens::portal_link::PortalLink;
use crate::tokens::tenant_admin::IssueError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}/token")
            .route(web::get().to(for_tenant))
            .route(web::delete().to(revoke_for_tenant)),
    )
    .service(
        super::resource("/api/v1/tenant/token")
            .route(web::get().to(renew))
            .route(web::delete().to(revoke_own)),
    )
    .service(
        super::resource("/api/v1/tenants/{tenantId}/portal")
            .route(web::get().to(portal_for_tenant)),
    )
    .service(super::resource("/api/v1/tenant/portal").route(web::get().to(own_portal)));
}

fn portal_response(tenant: &TenantId, link: &PortalLink) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "redirectUrl": link.url(), "tenantId": tenant.as_str() }))
}

fn token_response(tenant: &TenantId, token: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "token": token, "tenantId": tenant.as_str() }))
}

fn issue_error(error: IssueError) -> ApiError {
    match error {
        // A chain that reached its end, or a token revoked meanwhile: authenticate again.
        IssueError::ChainEnded | IssueError::Invalid(_) => ApiError::Unauthorized {
            token_presented: true,
        },
        IssueError::TenantMissing(tenant) => tenant_not_found(&tenant),
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
    Ok(HttpResponse::Ok().json(json!({ "success": true })))
}

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
    Ok(HttpResponse::Ok().json(json!({ "success": true })))
}

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
