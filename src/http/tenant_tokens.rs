//! Tenant admin tokens (seed 000): `GET /api/v1/tenants/{tenantId}/token` for the global
//! admin, `GET /api/v1/tenant/token` to renew one's own.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use serde_json::json;

use super::error::{from_store, ApiError};
use super::extract::{bearer_token, GlobalAdmin};
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

/// The caller presented a valid tenant admin token of a tenant that still exists.
pub struct TenantAdmin(pub TenantId);

impl FromRequest for TenantAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered")
            .clone();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized {
                token_presented: false,
            })?;
            let tenant = tenant_token::verify(&state.keys, &state.issuer, &token, Utc::now())
                .await
                .map_err(|_| ApiError::Unauthorized {
                    token_presented: true,
                })?;
            match state.store.tenant(&tenant).await.map_err(from_store)? {
                Some(_) => Ok(TenantAdmin(tenant)),
                None => Err(ApiError::Unauthorized {
                    token_presented: true,
                }),
            }
        })
    }
}

fn token_response(state: &AppState, tenant: &TenantId) -> Result<HttpResponse, ApiError> {
    let lifetime = Duration::seconds(state.tenant_token_seconds as i64);
    let token = tenant_token::issue(&state.keys, &state.issuer, tenant, lifetime, Utc::now())?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "token": token, "tenantId": tenant.as_str() })))
}

#[tracing::instrument(skip_all, fields(tenant_id = %path))]
async fn for_tenant(
    _: GlobalAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&path)?;
    if state.store.tenant(&id).await.map_err(from_store)?.is_none() {
        return Err(tenant_not_found(&id));
    }
    token_response(&state, &id)
}

#[tracing::instrument(skip_all)]
async fn renew(
    TenantAdmin(tenant): TenantAdmin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    token_response(&state, &tenant)
}
