//! `/api/v1/tenants/{tenantId}` (seed 000): upsert, read, delete. Creating, changing
//! and deleting tenants is the global admin's; a tenant admin may read its own.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{ApiPath, Caller, OptionalJson};
use super::{audit_context, rfc3339, AppState};
use crate::store::UpsertOutcome;
use crate::tenants::{
    self, Metadata, Tenant, TenantChanges, TenantError, TenantId, UpsertTenantError,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}")
            .route(web::put().to(upsert))
            .route(web::get().to(get))
            .route(web::delete().to(delete)),
    );
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantResponse {
    id: String,
    name: Option<String>,
    metadata: Metadata,
    created_at: String,
    updated_at: String,
}

impl From<Tenant> for TenantResponse {
    fn from(tenant: Tenant) -> Self {
        Self {
            id: tenant.id.to_string(),
            name: tenant.name,
            metadata: tenant.metadata,
            created_at: rfc3339(tenant.created_at),
            updated_at: rfc3339(tenant.updated_at),
        }
    }
}

pub(crate) fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw)
        .map_err(|problem| ApiError::invalid("The tenant id is invalid.", vec![problem]))
}

#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn upsert(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    OptionalJson(changes): OptionalJson<TenantChanges>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    let changes = changes.unwrap_or_default();
    let audit = audit_context(&caller);
    let (tenant, outcome) = tenants::upsert_tenant(&state.store, &id, &changes, &audit, Utc::now())
        .await
        .map_err(|error| match error {
            UpsertTenantError::Invalid(problems) => {
                ApiError::invalid("The tenant is invalid.", problems)
            }
            UpsertTenantError::Unexpected(error) => from_store(error),
        })?;
    let mut response = match outcome {
        UpsertOutcome::Created => HttpResponse::Created(),
        UpsertOutcome::Updated => HttpResponse::Ok(),
    };
    Ok(response.json(TenantResponse::from(tenant)))
}

#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&path)?;
    match tenants::get_tenant(&state.store, &caller.scope(None), &id).await {
        Ok(tenant) => Ok(HttpResponse::Ok().json(TenantResponse::from(tenant))),
        Err(error) => Err(tenant_error(error, &id)),
    }
}

#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = tenant_id(&path)?;
    let audit = audit_context(&caller);
    match tenants::delete_tenant(&state.store, &id, &audit, Utc::now()).await {
        Ok(()) => {
            state.changes.tenant_deleted(Utc::now()).await;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
        }
        Err(error) => Err(tenant_error(error, &id)),
    }
}

pub(crate) fn tenant_not_found(id: &TenantId) -> ApiError {
    ApiError::NotFound(format!("Tenant '{id}' does not exist."))
}

pub(crate) fn tenant_error(error: TenantError, id: &TenantId) -> ApiError {
    match error {
        TenantError::NotFound => tenant_not_found(id),
        TenantError::Unexpected(error) => from_store(error),
    }
}
