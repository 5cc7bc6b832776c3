//! `/api/v1/tenants/{tenantId}/members` (issue 10): a tenant's members and their roles,
//! listed, added by username (POST, issue 12: what the portal offers), put (added or
//! given new roles, by user id) and removed. A tenant admin manages its own tenant's
//! members; another tenant does not exist for it.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::openapi::{self as doc, Success};
use super::page::{ListQuery, Page};
use super::tenants::{tenant_error, tenant_id, tenant_not_found};
use super::users::{user_id, user_not_found};
use super::{audit_context, rfc3339, AppState};
use crate::changes::Change;
use crate::tenants::TenantId;
use crate::users::{
    self, AddMemberError, MemberDraft, MemberError, Membership, NewMemberDraft, PutOutcome, Roles,
    UserId, UserPosition,
};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, add, put, delete))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}/members")
            .get(list)
            .post(add),
    )
    .service(
        super::resource("/api/v1/tenants/{tenantId}/members/{userId}")
            .put(put)
            .delete(delete),
    );
}

/// A user's membership of a tenant.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Member, example = json!({
    "tenantId": "acme",
    "userId": "0f8fad5bd9cb469fa16570867728950e",
    "roles": ["admin"],
    "createdAt": "2026-01-31T09:15:00.000Z",
    "updatedAt": "2026-02-01T10:00:00.000Z"
}))]
pub struct MemberResponse {
    #[schema(value_type = String)]
    tenant_id: TenantId,
    #[schema(value_type = String)]
    user_id: UserId,
    #[schema(value_type = Vec<crate::users::Role>)]
    roles: Roles,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<Membership> for MemberResponse {
    fn from(member: Membership) -> Self {
        Self {
            tenant_id: member.tenant_id,
            user_id: member.user_id,
            roles: member.roles,
            created_at: rfc3339(member.created),
            updated_at: rfc3339(member.modified),
        }
    }
}

fn path_ids(path: &(String, String)) -> Result<(TenantId, UserId), ApiError> {
    Ok((tenant_id(&path.0)?, user_id(&path.1)?))
}

fn member_error(error: MemberError, tenant: &TenantId, user: &UserId) -> ApiError {
    match error {
        MemberError::TenantMissing => tenant_not_found(tenant),
        MemberError::UserMissing => user_not_found(user),
        MemberError::NotMember => ApiError::NotFound(format!(
            "User '{user}' is not a member of tenant '{tenant}'."
        )),
        MemberError::Unexpected(error) => from_store(error),
    }
}

/// List a tenant's members
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenantId}/members",
    tag = "members",
    operation_id = "listMembers",
    params(
        doc::TenantIdParam,
        ("limit" = Option<u32>, Query, nullable = false, description = "Members a page holds: 1 to 200, 50 when not given.",
            minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, nullable = false, description = "Where the page starts: the previous \
            page's `nextCursor`, as it was.", pattern = "^[A-Za-z0-9_-]+$"),
    ),
    responses(
        (status = 200, description = "A page of members.", body = Page<MemberResponse>),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    if query.tenant()?.is_some() {
        return Err(ApiError::invalid(
            "The query string is invalid.",
            vec!["tenantId: the tenant is named by the path".to_owned()],
        ));
    }
    let (limit, after) = (query.limit()?, query.after::<UserPosition>()?);
    let scope = caller.scope(None);
    let members = users::list_members(&state.store, &scope, &tenant, after.as_ref(), limit + 1)
        .await
        .map_err(|error| tenant_error(error, &tenant))?;
    let page = Page::of(
        members,
        limit,
        |member| UserPosition::of_member(member).to_string(),
        MemberResponse::from,
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Add a member by username
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenantId}/members",
    tag = "members",
    operation_id = "addMember",
    params(doc::TenantIdParam),
    request_body(content = NewMemberDraft, content_type = "application/json"),
    responses(
        (status = 201, description = "The membership.", body = MemberResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path)))]
async fn add(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiJson(draft): ApiJson<NewMemberDraft>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    let (username, roles) = draft
        .validate()
        .map_err(|problems| ApiError::invalid("The membership is invalid.", problems))?;
    let (audit, scope) = (audit_context(&caller), caller.scope(None));
    let now = Utc::now();
    let member = users::add_member(&state.store, &scope, &tenant, &username, roles, &audit, now)
        .await
        .map_err(|error| match error {
            AddMemberError::TenantMissing => tenant_not_found(&tenant),
            AddMemberError::UserMissing => {
                ApiError::NotFound(format!("No user has the username '{}'.", username.as_str()))
            }
            AddMemberError::AlreadyMember(user) => ApiError::Conflict(format!(
                "User '{}' ({user}) is a member of tenant '{tenant}' already; change its \
                 roles with PUT /api/v1/tenants/{tenant}/members/{user}.",
                username.as_str()
            )),
            AddMemberError::Unexpected(error) => from_store(error),
        })?;
    state.applied(Change::User(member.user_id.clone())).await;
    Ok(HttpResponse::Created().json(MemberResponse::from(member)))
}

/// Add a member, or set its roles
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenantId}/members/{userId}",
    tag = "members",
    operation_id = "putMember",
    params(doc::TenantIdParam, doc::UserIdParam),
    request_body(content = MemberDraft, content_type = "application/json"),
    responses(
        (status = 200, description = "The membership, with its new roles.", body = MemberResponse),
        (status = 201, description = "The membership, added.", body = MemberResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path.0)))]
async fn put(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(draft): ApiJson<MemberDraft>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = path_ids(&path)?;
    let roles = draft
        .roles()
        .map_err(|problems| ApiError::invalid("The membership is invalid.", problems))?;
    let (audit, scope) = (audit_context(&caller), caller.scope(None));
    let (member, outcome) = users::put_member(
        &state.store,
        &scope,
        &tenant,
        &user,
        roles,
        &audit,
        Utc::now(),
    )
    .await
    .map_err(|error| member_error(error, &tenant, &user))?;
    state.applied(Change::User(user)).await;
    let mut response = match outcome {
        PutOutcome::Added => HttpResponse::Created(),
        PutOutcome::Updated => HttpResponse::Ok(),
    };
    Ok(response.json(MemberResponse::from(member)))
}

/// Remove a member
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenantId}/members/{userId}",
    tag = "members",
    operation_id = "removeMember",
    params(doc::TenantIdParam, doc::UserIdParam),
    responses(
        (status = 200, description = "Removed.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(tenant_id = %crate::telemetry::untrusted(&path.0)))]
async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = path_ids(&path)?;
    let (audit, scope) = (audit_context(&caller), caller.scope(None));
    users::delete_member(&state.store, &scope, &tenant, &user, &audit, Utc::now())
        .await
        .map_err(|error| member_error(error, &tenant, &user))?;
    state.applied(Change::User(user)).await;
    Ok(HttpResponse::Ok().json(Success::TRUE))
}
