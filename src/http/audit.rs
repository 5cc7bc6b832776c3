//! `GET /api/v1/audit-events`: the audit trail, newest first, scoped to the caller.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{ApiQuery, Caller};
use super::page::{ListQuery, Page};
use super::{rfc3339, AppState};
use crate::audit::{self, AuditEvent};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/audit-events").route(web::get().to(list)));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditEventResponse {
    id: i64,
    occurred_at: String,
    actor: String,
    action: String,
    target_id: String,
    tenant_id: Option<String>,
    request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: rfc3339(event.occurred_at),
            actor: event.actor,
            action: event.action,
            target_id: event.target_id,
            tenant_id: event.tenant_id.map(|tenant| tenant.to_string()),
            request_id: event.request_id,
        }
    }
}

#[tracing::instrument(skip_all)]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let scope = caller.scope(query.tenant()?);
    let before = query.after::<i64>()?;
    let events = audit::list_events(&state.store, &scope, before, limit + 1)
        .await
        .map_err(from_store)?;
    let page = Page::of(
        events,
        limit,
        |event| event.id.to_string(),
        AuditEventResponse::from,
    );
    Ok(HttpResponse::Ok().json(page))
}
