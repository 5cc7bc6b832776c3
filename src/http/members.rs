//! `/api/v1/tenants/{tenantId}/members` (issue 10): a tenant's members and their roles,
//! listed, added by username (POST, issue 12: what the portal offers), put (added or
//! given new roles, by user id) and removed. A tenant admin manages its own tenant's
//! members; another tenant does not exist for it.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/tenants/{tenantId}/members")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .service(
        super::resource("/api/v1/tenants/{tenantId}/members/{userId}")
            .route(web::put().to(put))
            .route(web::delete().to(delete)),
    );
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberResponse {
    tenant_id: TenantId,
    user_id: UserId,
    roles: Roles,
    created_at: String,
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
}
