//! `GET /api/v1/audit-events`: the audit trail, newest first, scoped to the caller, with
//! the `action`, `since` and `until` filters.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiQuery, Caller};
use super::openapi as doc;
use super::page::{ListQuery, Page};
use super::{rfc3339, AppState};
use crate::audit::{self, AuditEvent, AuditFilter};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/audit-events").get(list));
}

/// One change, as the audit trail keeps it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditEvent, example = json!({
    "id": 42,
    "occurredAt": "2026-12-03T08:00:00.000Z",
    "actor": "admin",
    "action": "oauth_client.created",
    "targetId": "2c9180835d2e5168015d32f890ca1581",
    "tenantId": "acme",
    "requestId": "e7eab60924f64aa284175b9fa3309599"
}))]
struct AuditEventResponse {
    id: i64,
    #[schema(format = DateTime)]
    occurred_at: String,
    /// Who made the change: `admin`, `tenant:{id}`, `user:{id}` or `tessera`.
    actor: String,
    /// What was done, e.g. `oauth_client.created`.
    action: String,
    /// The id of what changed.
    target_id: String,
    /// The tenant it concerns, if any.
    tenant_id: Option<String>,
    /// The request that made the change (`X-Request-Id`), if any.
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
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AuditListQuery {
    /// Only this tenant's events (a tenant admin sees only its own tenant's anyway).
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    tenant_id: Option<String>,
    /// Events a page holds: 1 to 200, 50 when not given.
    #[param(nullable = false, minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Where the page starts: the previous page's `nextCursor`, as it was.
    #[param(nullable = false, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// Only events of this action, e.g. `oauth_client.created`; empty (a form's blank
    /// field) filters nothing.
    #[param(
        nullable = false,
        pattern = "^([a-z0-9_.]{1,64})?$",
        example = "oauth_client.created"
    )]
    action: Option<String>,
    /// RFC 3339, inclusive; empty (a form's blank field) sets no bound.
    #[param(
        nullable = false,
        pattern = r"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$"
    )]
    since: Option<String>,
    /// RFC 3339, exclusive; later than `since`; empty sets no bound.
    #[param(
        nullable = false,
        pattern = r"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$"
    )]
    until: Option<String>,
}

/// List audit events
///
/// The changes the caller may see, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit-events",
    tag = "audit",
    operation_id = "listAuditEvents",
    params(AuditListQuery),
    responses(
        (status = 200, description = "A page of events.", body = Page<AuditEventResponse>),
        doc::ApiErrors,
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
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
