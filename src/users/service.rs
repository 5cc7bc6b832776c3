//! What Tessera does with users and memberships, in the order it does it: creation
//! (the password hashed before the transaction opens), reads and listings, profile
//! updates, password changes, deletion, the members of a tenant, and the check of a
//! username and password at sign-in.
//!
//! Every write is one [`crate::store::WriteTx`] with its audit event. A user disabled,
//! deleted or given a new password loses all its sessions, and a member removed from
//! a tenant its sessions there, in that same transaction ([`crate::sessions::end`]).
//! Writers lock a
//! tenant before a user, the order a tenant's deletion takes them in, so they never
//! wait for each other in a circle. A user outside the caller's [`TenantScope`] (not a
//! member of its tenant) does not exist for it.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{
    Membership, NewUser, Password, ProfileChanges, Roles, User, UserId, UserPosition, Username,
};
use crate::audit::{Action, AuditContext};
use crate::ids::TenantScope;
use crate::password::{hash_password, verify_password};
use crate::sessions::{self, EndReason, Ending};
use crate::store::{InsertUser, Store};
use crate::tenants::{TenantError, TenantId};

/// Instants are stored in milliseconds; what is returned should equal what is read back.
fn millis(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("tenant '{0}' does not exist")]
    DefaultTenantMissing(TenantId),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates `new`, enabled unless it says otherwise.
#[tracing::instrument(skip_all)]
pub async fn create_user(
    store: &Store,
    new: NewUser,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<User, CreateUserError> {
    let now = millis(now);
    // argon2 runs before the transaction: it must never hold the write lock.
    let hash = hash_password(new.password.secret()).await?;
    let user = User {
        id: UserId::generate(),
        username: new.username,
        profile: new.profile,
        password_changed_at: now,
        version: 1,
        created: now,
        modified: now,
    };
    let mut tx = store.begin_write().await?;
    if let Some(tenant) = &user.profile.default_tenant_id {
        if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
            return Err(CreateUserError::DefaultTenantMissing(tenant.clone()));
        }
    }
    let record = audit.record(Action::UserCreated, user.id.as_str(), None);
    match Store::insert_user(
        &mut tx,
        &user.to_record(),
        &user.username.key(),
        &hash,
        &record,
    )
    .await?
    {
        InsertUser::Inserted => {
            tx.commit().await?;
            Ok(user)
        }
        InsertUser::UsernameTaken => Err(CreateUserError::UsernameTaken),
    }
}

/// Why a user could not be read, deleted or given a password.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The user `id`, if it is in `scope` (for one tenant: a member of it).
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn get_user(store: &Store, scope: &TenantScope, id: &UserId) -> Result<User, UserError> {
    let member_of = scope.tenant().map(TenantId::as_str);
    match store.user(id.as_str(), member_of).await? {
        Some(record) => Ok(User::try_from(record)?),
        None => Err(UserError::NotFound),
    }
}

/// At most `limit` users in `scope` (for one tenant: its members), in order of
/// creation, after `after` when given.
#[tracing::instrument(skip_all)]
pub async fn list_users(
    store: &Store,
    scope: &TenantScope,
    after: Option<&UserPosition>,
    limit: u32,
) -> anyhow::Result<Vec<User>> {
    let member_of = scope.tenant().map(TenantId::as_str);
    let records = store
        .users(member_of, after.map(UserPosition::as_after), limit)
        .await?;
    records.into_iter().map(User::try_from).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    #[error("no such user")]
    NotFound,
    #[error("tenant '{0}' does not exist")]
    DefaultTenantMissing(TenantId),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Lays `changes` over the stored profile and stores it, holding the user from the read
/// to the write, so concurrent updates apply one after the other.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn update_user(
    store: &Store,
    id: &UserId,
    changes: ProfileChanges,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<User, UpdateUserError> {
    let mut tx = store.begin_write().await?;
    if let Some(tenant) = changes.default_tenant_id.value() {
        if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
            return Err(UpdateUserError::DefaultTenantMissing(tenant.clone()));
        }
    }
    let Some(current) = Store::user_for_update(&mut tx, id.as_str()).await? else {
        return Err(UpdateUserError::NotFound);
    };
    let mut user = User::try_from(current)?;
    let was_enabled = user.profile.enabled;
    user.profile = changes.over(user.profile);
    let record = audit.record(Action::UserUpdated, id.as_str(), None);
    let stored = Store::update_user(
        &mut tx,
        &user.to_record(),
        &record,
        millis(now).timestamp_millis(),
    )
    .await?;
    if was_enabled && !user.profile.enabled {
        sessions::end(&mut tx, Ending::User(id), EndReason::UserDisabled, now).await?;
    }
    tx.commit().await?;
    Ok(User::try_from(stored)?)
}

/// Gives the user `id` a new password; its sessions end.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn set_password(
    store: &Store,
    id: &UserId,
    password: Password,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<User, UserError> {
    let hash = hash_password(password.secret()).await?;
    let mut tx = store.begin_write().await?;
    let record = audit.record(Action::UserPasswordChanged, id.as_str(), None);
    let changed_at = millis(now).timestamp_millis();
    match Store::set_password_hash(&mut tx, id.as_str(), &hash, &record, changed_at).await? {
        Some(stored) => {
            sessions::end(&mut tx, Ending::User(id), EndReason::PasswordChanged, now).await?;
            tx.commit().await?;
            Ok(User::try_from(stored)?)
        }
        None => Err(UserError::NotFound),
    }
}

/// Deletes the user `id` and its memberships; its sessions end.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn delete_user(
    store: &Store,
    id: &UserId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    let mut tx = store.begin_write().await?;
    let record = audit.record(Action::UserDeleted, id.as_str(), None);
    if Store::delete_user(&mut tx, id.as_str(), &record, now.timestamp_millis()).await? {
        // Last: the feed's sequence numbers are drawn late in the transaction, so the
        // window in which readers see them as a gap stays short (`changes::plan`).
        sessions::end(&mut tx, Ending::User(id), EndReason::UserDeleted, now).await?;
        tx.commit().await?;
        Ok(())
    } else {
        Err(UserError::NotFound)
    }
}

/// Ends every session of the user `id` in `scope` (for a tenant admin: the user's
/// sessions in its tenant, of a member of it), with its audit event: its refresh tokens
/// fail at once, its access tokens within the feed's second everywhere. Returns the
/// sessions ended (none, when none was going on).
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn revoke_sessions(
    store: &Store,
    scope: &TenantScope,
    id: &UserId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<Vec<sessions::SessionId>, UserError> {
    get_user(store, scope, id).await?;
    let mut tx = store.begin_write().await?;
    let record = audit.record(Action::UserSessionsRevoked, id.as_str(), scope.tenant());
    Store::record_audit(&mut tx, &record, now).await?;
    let which = match scope.tenant() {
        Some(tenant) => Ending::UserInTenant(id, tenant),
        None => Ending::User(id),
    };
    let ended = sessions::end(&mut tx, which, EndReason::RevokedAll, now).await?;
    tx.commit().await?;
    Ok(ended)
}

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// No such tenant, or not one the caller may reach.
    #[error("no such tenant")]
    TenantMissing,
    #[error("no such user")]
    UserMissing,
    /// The user exists but is not a member.
    #[error("no such membership")]
    NotMember,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Whether a put made the membership or changed its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Added,
    Updated,
}

/// Makes the user `user_id` a member of `tenant` with `roles`, or gives an existing
/// member these roles.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, user_id = %user_id))]
pub async fn put_member(
    store: &Store,
    scope: &TenantScope,
    tenant: &TenantId,
    user_id: &UserId,
    roles: Roles,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(Membership, PutOutcome), MemberError> {
    if !scope.includes(tenant) {
        return Err(MemberError::TenantMissing);
    }
    let now = millis(now);
    let mut tx = store.begin_write().await?;
    if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
        return Err(MemberError::TenantMissing);
    }
    if Store::user_for_update(&mut tx, user_id.as_str())
        .await?
        .is_none()
    {
        return Err(MemberError::UserMissing);
    }
    let current = Store::member_for_update(&mut tx, tenant.as_str(), user_id.as_str()).await?;
    let (created, outcome, action) = match current {
        Some(member) => (
            crate::store::from_millis(member.created_at),
            PutOutcome::Updated,
            Action::MemberUpdated,
        ),
        None => (now, PutOutcome::Added, Action::MemberAdded),
    };
    let membership = Membership {
        tenant_id: tenant.clone(),
        user_id: user_id.clone(),
        roles,
        created,
        modified: now,
    };
    let record = audit.record(action, user_id.as_str(), Some(tenant));
    let stored = Store::put_member(&mut tx, &membership.to_record(), &record).await?;
    tx.commit().await?;
    Ok((Membership::try_from(stored)?, outcome))
}

#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// No such tenant, or not one the caller may reach.
    #[error("no such tenant")]
    TenantMissing,
    #[error("no user has this username")]
    UserMissing,
    #[error("the user is a member already")]
    AlreadyMember(UserId),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Makes the user named `username` (case-insensitively) a member of `tenant` with
/// `roles`; a member already keeps its roles (changing them is [`put_member`]'s).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn add_member(
    store: &Store,
    scope: &TenantScope,
    tenant: &TenantId,
    username: &Username,
    roles: Roles,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<Membership, AddMemberError> {
    if !scope.includes(tenant) {
        return Err(AddMemberError::TenantMissing);
    }
    let now = millis(now);
    let mut tx = store.begin_write().await?;
    if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
        return Err(AddMemberError::TenantMissing);
    }
    let user = Store::user_by_username_for_update(&mut tx, &username.key())
        .await?
        .ok_or(AddMemberError::UserMissing)?;
    let user_id = UserId::parse(&user.id)
        .map_err(|problem| anyhow::anyhow!("a stored user id is invalid: {problem}"))?;
    if Store::member_for_update(&mut tx, tenant.as_str(), user_id.as_str())
        .await?
        .is_some()
    {
        return Err(AddMemberError::AlreadyMember(user_id));
    }
    let membership = Membership {
        tenant_id: tenant.clone(),
        user_id: user_id.clone(),
        roles,
        created: now,
        modified: now,
    };
    let record = audit.record(Action::MemberAdded, user_id.as_str(), Some(tenant));
    let stored = Store::put_member(&mut tx, &membership.to_record(), &record).await?;
    tx.commit().await?;
    Ok(Membership::try_from(stored)?)
}

/// Ends the membership of `user_id` in `tenant`, and its sessions there.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, user_id = %user_id))]
pub async fn delete_member(
    store: &Store,
    scope: &TenantScope,
    tenant: &TenantId,
    user_id: &UserId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(), MemberError> {
    if !scope.includes(tenant) {
        return Err(MemberError::TenantMissing);
    }
    let mut tx = store.begin_write().await?;
    if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
        return Err(MemberError::TenantMissing);
    }
    let record = audit.record(Action::MemberRemoved, user_id.as_str(), Some(tenant));
    let at = now.timestamp_millis();
    if Store::delete_member(&mut tx, tenant.as_str(), user_id.as_str(), &record, at).await? {
        let ending = Ending::UserInTenant(user_id, tenant);
        sessions::end(&mut tx, ending, EndReason::MembershipRemoved, now).await?;
        tx.commit().await?;
        Ok(())
    } else {
        Err(MemberError::NotMember)
    }
}

/// At most `limit` members of `tenant`, in the order they joined, after `after` when
/// given.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list_members(
    store: &Store,
    scope: &TenantScope,
    tenant: &TenantId,
    after: Option<&UserPosition>,
    limit: u32,
) -> Result<Vec<Membership>, TenantError> {
    crate::tenants::get_tenant(store, scope, tenant).await?;
    let records = store
        .members(tenant.as_str(), after.map(UserPosition::as_after), limit)
        .await?;
    Ok(records
        .into_iter()
        .map(Membership::try_from)
        .collect::<anyhow::Result<_>>()?)
}

/// The membership of `user_id` in `tenant`, if there is one.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, user_id = %user_id))]
pub async fn membership(
    store: &Store,
    tenant: &TenantId,
    user_id: &UserId,
) -> anyhow::Result<Option<Membership>> {
    store
        .member(tenant.as_str(), user_id.as_str())
        .await?
        .map(Membership::try_from)
        .transpose()
}

/// A user who proved its password, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user: User,
    /// When it signed in (a token's `auth_time`).
    pub auth_time: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Unknown user, wrong password or disabled user: one answer for all, so a caller
    /// cannot tell which (nor, for a disabled user, that the password was right).
    #[error("the username or password is not valid")]
    Refused,
    /// The password was right but the user is disabled. Only for callers that may say
    /// so (the token API's 403); it costs what a refusal costs.
    #[error("the user is disabled")]
    Disabled,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Checks a username and password at sign-in (the login page, the token API).
///
/// An unknown user costs what a wrong password costs: a hash is checked either way (a
/// dummy one when there is no user), so timing tells nothing about who exists. A
/// disabled user is refused after the same check ([`CredentialsError::Disabled`]). Text that no stored user or password
/// could match (a malformed username, a password out of bounds) is refused at once:
/// that depends only on the text, never on who exists.
#[tracing::instrument(skip_all)]
pub async fn verify_credentials(
    store: &Store,
    username: &str,
    password: &SecretString,
    now: DateTime<Utc>,
) -> Result<Authenticated, CredentialsError> {
    let (Ok(username), Ok(password)) =
        (Username::parse(username), Password::parse(password.clone()))
    else {
        return Err(CredentialsError::Refused);
    };
    let found = store.user_credentials(&username.key()).await?;
    let hash = found.as_ref().map(|(_, hash)| hash.as_str());
    let matches = verify_password(password.secret(), hash).await?;
    match found {
        Some((record, _)) if matches && record.enabled => Ok(Authenticated {
            user: User::try_from(record)?,
            auth_time: millis(now),
        }),
        Some(_) if matches => Err(CredentialsError::Disabled),
        _ => Err(CredentialsError::Refused),
    }
}
