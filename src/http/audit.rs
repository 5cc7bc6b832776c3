//! `GET /api/v1/audit-events`: the audit trail, newest first, scoped to the caller, with
//! the `action`, `since` and `until` filters.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiQuery, Caller};
use super::page::{ListQuery, Page};
use super::{rfc3339, AppState};
use crate::audit::{self, AuditEvent, AuditFilter};

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

/// The query of the list: paging, the `tenantId` filter, and the event filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditListQuery {
    tenant_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    action: Option<String>,
    /// RFC 3339, inclusive.
    since: Option<String>,
    /// RFC 3339, exclusive.
    until: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = AuditFilter::parse(
        query.action.as_deref(),
        query.since.as_deref(),
        query.until.as_deref(),
    )
    .map_err(|problems| ApiError::invalid("The query string is invalid.", problems))?;
    let query = ListQuery::new(query.tenant_id, query.limit, query.cursor);
    let limit = query.limit()?;
    let scope = caller.scope(query.tenant()?);
    let before = query.after::<i64>()?;
    let events = audit::list_events(&state.store, &scope, &filter, before, limit + 1)
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
