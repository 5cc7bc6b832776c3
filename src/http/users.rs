//! `/api/v1/users` (issue 10): create, list (every user, or a tenant's members), read,
//! update the profile, delete, and set a password. Creating, changing and deleting
//! users is the global admin's; a tenant admin reads the members of its own tenant.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::error::{from_store, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{ListQuery, Page};
use super::{audit_context, rfc3339, AppState};
use crate::changes::Change;
use crate::users::{
    self, CreateUserError, Password, UpdateUserError, User, UserDraft, UserError, UserId,
    UserPosition, UserProfile, Username,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/v1/users")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/api/v1/users/{userId}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(super::resource("/api/v1/users/{userId}/password").route(web::put().to(set_password)));
}

/// A user as the API shows it: never a password or its hash (no type holds them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    id: UserId,
    username: Username,
    #[serde(flatten)]
    profile: UserProfile,
    password_changed_at: String,
    created_at: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
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
            Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true })))
        }
        Err(error) => Err(user_error(error, &id)),
    }
}

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
