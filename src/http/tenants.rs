//! `/api/v1/tenants/{tenantId}` (seed 000): upsert, read, delete. Creating, changing
//! and deleting tenants is the global admin's; a tenant admin may read its own.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{ApiPath, Caller, OptionalJson};
use super::openapi::{self as doc, Success};
use super::{audit_context, rfc3339, AppState};
use crate::store::UpsertOutcome;
use crate::tenants::{
    self, Metadata, Tenant, TenantChanges, TenantError, TenantId, UpsertTenantError,
};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(upsert, get, delete))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}")
            .put(upsert)
            .get(get)
            .delete(delete),
    );
}

/// Seed 000's `Tenant`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Tenant, example = json!({
    "id": "acme",
    "name": "Acme Corporation",
    "metadata": {"plan": "enterprise"},
    "createdAt": "2026-01-31T09:15:00.000Z",
    "updatedAt": "2026-02-01T10:00:00.000Z"
}))]
pub struct TenantResponse {
    #[schema(example = "acme")]
    id: String,
    /// `null` until an upsert names it.
    name: Option<String>,
    /// Free-form string pairs the API stores for the caller.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    metadata: Metadata,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
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

/// Create or update a tenant
///
/// Idempotently creates the tenant or changes it (seed 000's upsert): a field left out
/// keeps its value, `null` clears it. The body may be empty. The admin API key's only.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenantId}",
    tag = "tenants",
    operation_id = "upsertTenant",
    params(doc::TenantIdParam),
    request_body(content = TenantChanges, content_type = "application/json",
        description = "What to set; optional: without a body, a new tenant is made with \
            no name and no metadata, and an existing one is left as it is."),
    responses(
        (status = 200, description = "The tenant, updated.", body = TenantResponse),
        (status = 201, description = "The tenant, created.", body = TenantResponse),
        doc::ApiErrors,
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = [])),
)]
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

/// Get a tenant
///
/// A tenant admin may read its own tenant only.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenantId}",
    tag = "tenants",
    operation_id = "getTenant",
    params(doc::TenantIdParam),
    responses(
        (status = 200, description = "The tenant.", body = TenantResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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

/// Delete a tenant
///
/// The admin API key's only.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenantId}",
    tag = "tenants",
    operation_id = "deleteTenant",
    params(doc::TenantIdParam),
    responses(
        (status = 200, description = "Deleted.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
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
            Ok(HttpResponse::Ok().json(Success::TRUE))
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
