//! Tenant admin tokens (seed 000): `GET /api/v1/tenants/{tenantId}/token` for the global
//! admin, `GET /api/v1/tenant/token` to renew one's own.

use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use serde_json::json;

use super::error::{from_store, ApiError};
use super::extract::Caller;
use super::tenants::{tenant_id, tenant_not_found};
use super::AppState;
use crate::tenant_token;
use crate::tenants::TenantId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}/token").route(web::get().to(for_tenant)),
    )
    .service(super::resource("/api/v1/tenant/token").route(web::get().to(renew)));
}

fn token_response(state: &AppState, tenant: &TenantId) -> Result<HttpResponse, ApiError> {
    let lifetime = Duration::seconds(state.tenant_token_seconds as i64);
    let token = tenant_token::issue(&state.keys, &state.issuer, tenant, lifetime, Utc::now())?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "token": token, "tenantId": tenant.as_str() })))
}

#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn for_tenant(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    if state.store.tenant(&id).await.map_err(from_store)?.is_none() {
        return Err(tenant_not_found(&id));
    }
    token_response(&state, &id)
}

#[tracing::instrument(skip_all)]
async fn renew(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match caller {
        Caller::TenantAdmin(tenant) => token_response(&state, &tenant),
        Caller::GlobalAdmin => Err(ApiError::bad_request(
            "This endpoint renews a tenant admin token; the admin API key has no tenant. \
             Use GET /api/v1/tenants/{tenantId}/token.",
        )),
    }
}
