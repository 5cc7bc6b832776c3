//! `/api/v1/users` (issue 10): create, list (every user, or a tenant's members), read,
//! update the profile, delete, and set a password. Creating, changing and deleting
//! users is the global admin's; a tenant admin reads the members of its own tenant.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::openapi::{self as doc, Success};
use super::page::{ListQuery, Page};
use super::{audit_context, rfc3339, AppState};
use crate::changes::Change;
use crate::users::{
    self, CreateUserError, Password, UpdateUserError, User, UserDraft, UserError, UserId,
    UserPosition, UserProfile, Username,
};

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete, set_password))]
pub(super) struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/users").post(create).get(list))
        .service(
            super::resource("/api/v1/users/{userId}")
                .get(get)
                .patch(update)
                .delete(delete),
        )
        .service(super::resource("/api/v1/users/{userId}/password").put(set_password));
}

/// A user as the API shows it: never a password or its hash (no type holds them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User, example = json!({
    "id": "0f8fad5bd9cb469fa16570867728950e",
    "username": "ada@example.com",
    "displayName": "Ada Lovelace",
    "email": "ada@example.com",
    "defaultTenantId": "acme",
    "enabled": true,
    "passwordChangedAt": "2026-01-31T09:15:00.000Z",
    "createdAt": "2026-01-31T09:15:00.000Z",
    "updatedAt": "2026-02-01T10:00:00.000Z"
}))]
pub struct UserResponse {
    #[schema(value_type = String, example = "0f8fad5bd9cb469fa16570867728950e")]
    id: UserId,
    #[schema(value_type = String, example = "ada@example.com")]
    username: Username,
    #[serde(flatten)]
    profile: UserProfile,
    #[schema(format = DateTime)]
    password_changed_at: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl UserResponse {
    /// The user as `caller` may see it: a tenant admin sees its members, but not which
    /// other tenant a member signs in to by default (that would name a tenant it has no
    /// business knowing of), so a foreign `defaultTenantId` shows as `null`.
    pub fn for_caller(mut user: User, caller: &Caller) -> Self {
        if let Caller::TenantAdmin(own) = caller {
            if user.profile.default_tenant_id.as_ref() != Some(own) {
                user.profile.default_tenant_id = None;
            }
        }
        Self::from(user)
    }
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            profile: user.profile,
            password_changed_at: rfc3339(user.password_changed_at),
            created_at: rfc3339(user.created),
            updated_at: rfc3339(user.modified),
        }
    }
}

/// A user's new password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPassword, example = json!({"password": "correct horse battery staple"}))]
struct PasswordBody {
    /// 8 to 256 characters.
    #[schema(value_type = String, format = Password, write_only, min_length = 8,
        max_length = 256, pattern = r"^[^\u0000]{8,256}$")]
    password: SecretString,
}

pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw)
        .map_err(|problem| ApiError::invalid("The user id is invalid.", vec![problem]))
}

pub(crate) fn user_not_found(id: &UserId) -> ApiError {
    ApiError::NotFound(format!("User '{id}' does not exist."))
}

fn invalid_user(problems: Vec<String>) -> ApiError {
    ApiError::invalid("The user is invalid.", problems)
}

fn default_tenant_missing(tenant: &crate::tenants::TenantId) -> ApiError {
    invalid_user(vec![format!("defaultTenantId: no tenant '{tenant}'")])
}

fn user_error(error: UserError, id: &UserId) -> ApiError {
    match error {
        UserError::NotFound => user_not_found(id),
        UserError::Unexpected(error) => from_store(error),
    }
}

/// Create a user
///
/// The admin API key's only.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "createUser",
    request_body(content = UserDraft, content_type = "application/json"),
    responses(
        (status = 201, description = "The user.", body = UserResponse),
        doc::ApiErrors,
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all)]
async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    ApiJson(draft): ApiJson<UserDraft>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let new = draft.for_creation().map_err(invalid_user)?;
    let audit = audit_context(&caller);
    let user = users::create_user(&state.store, new, &audit, Utc::now())
        .await
        .map_err(|error| match error {
            CreateUserError::UsernameTaken => ApiError::Conflict(
                "A user with this username exists already (usernames ignore case).".into(),
            ),
            CreateUserError::DefaultTenantMissing(tenant) => default_tenant_missing(&tenant),
            CreateUserError::Unexpected(error) => from_store(error),
        })?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

/// List users
///
/// Every user (the admin API key, or those of `tenantId`), or a tenant admin's members.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "listUsers",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users.", body = Page<UserResponse>),
        doc::ApiErrors,
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all)]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let scope = caller.scope(query.tenant()?);
    let after = query.after::<UserPosition>()?;
    let users = users::list_users(&state.store, &scope, after.as_ref(), limit + 1)
        .await
        .map_err(from_store)?;
    let page = Page::of(
        users,
        limit,
        |user| UserPosition::of_user(user).to_string(),
        |user| UserResponse::for_caller(user, &caller),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Get a user
///
/// A tenant admin sees its members only.
#[utoipa::path(
    get,
    path = "/api/v1/users/{userId}",
    tag = "users",
    operation_id = "getUser",
    params(doc::UserIdParam),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = []), ("tenantAdminToken" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %crate::telemetry::untrusted(&path)))]
async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    match users::get_user(&state.store, &caller.scope(None), &id).await {
        Ok(user) => Ok(HttpResponse::Ok().json(UserResponse::for_caller(user, &caller))),
        Err(error) => Err(user_error(error, &id)),
    }
}

/// Update a user's profile
///
/// A field left out keeps its value, `null` clears it; the username never changes and
/// the password has its own operation. The admin API key's only.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{userId}",
    tag = "users",
    operation_id = "updateUser",
    params(doc::UserIdParam),
    request_body(content = doc::UserChanges, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, updated.", body = UserResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %crate::telemetry::untrusted(&path)))]
async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiJson(draft): ApiJson<UserDraft>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = user_id(&path)?;
    let changes = draft.for_update().map_err(invalid_user)?;
    let audit = audit_context(&caller);
    match users::update_user(&state.store, &id, changes, &audit, Utc::now()).await {
        Ok(user) => {
            state.applied(Change::User(id)).await;
            Ok(HttpResponse::Ok().json(UserResponse::from(user)))
        }
        Err(UpdateUserError::NotFound) => Err(user_not_found(&id)),
        Err(UpdateUserError::DefaultTenantMissing(tenant)) => Err(default_tenant_missing(&tenant)),
        Err(UpdateUserError::Unexpected(error)) => Err(from_store(error)),
    }
}

/// Delete a user
///
/// Its sessions end. The admin API key's only.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{userId}",
    tag = "users",
    operation_id = "deleteUser",
    params(doc::UserIdParam),
    responses(
        (status = 200, description = "Deleted.", body = Success),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %crate::telemetry::untrusted(&path)))]
async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = user_id(&path)?;
    let audit = audit_context(&caller);
    match users::delete_user(&state.store, &id, &audit, Utc::now()).await {
        Ok(()) => {
            state.applied(Change::User(id)).await;
            Ok(HttpResponse::Ok().json(Success::TRUE))
        }
        Err(error) => Err(user_error(error, &id)),
    }
}

/// Set a user's password
///
/// The admin API key's only.
#[utoipa::path(
    put,
    path = "/api/v1/users/{userId}/password",
    tag = "users",
    operation_id = "setUserPassword",
    params(doc::UserIdParam),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        doc::ApiErrors,
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
    ),
    security(("adminApiKey" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %crate::telemetry::untrusted(&path)))]
async fn set_password(
    caller: Caller,
    state: web::Data<AppState>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_global()?;
    let id = user_id(&path)?;
    let password = Password::parse(body.password).map_err(|problem| {
        ApiError::invalid(
            "The password is invalid.",
            vec![format!("password: {problem}")],
        )
    })?;
    let audit = audit_context(&caller);
    match users::set_password(&state.store, &id, password, &audit, Utc::now()).await {
        Ok(user) => {
            state.applied(Change::User(id)).await;
            Ok(HttpResponse::Ok().json(UserResponse::from(user)))
        }
        Err(error) => Err(user_error(error, &id)),
    }
}
