//! User and tenant membership rows, in plain values (text ids, Unix milliseconds, roles
//! as JSON text): [`crate::users`] turns them into its types and back. The writes are
//! steps of a [`WriteTx`] the users service composes ("lock the tenant, lock the user,
//! write"), each writing its audit event in the same transaction. The feed's `user`
//! changes are written by triggers (migration 0006).

use super::audit::{insert_audit_record, AuditRecord};
use super::{for_update, on_pool, on_tx, Store, WriteTx};

macro_rules! user_columns {
    () => {
        "id, username, display_name, email, default_tenant_id, enabled, password_changed_at, \
         version, created_at, updated_at"
    };
}

macro_rules! member_columns {
    () => {
        "tenant_id, user_id, roles, created_at, updated_at"
    };
}

/// What decides whether a user may start a session in a tenant, as
/// [`Store::lock_sign_in`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct SignInState {
    pub enabled: bool,
    /// Unix milliseconds.
    pub password_changed_at: i64,
    pub member: bool,
}

/// A `users` row, without its password hash: only [`Store::user_credentials`] reads that.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub default_tenant_id: Option<String>,
    pub enabled: bool,
    pub password_changed_at: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRecord,
    password_hash: String,
}

/// A `tenant_members` row; `roles` is a JSON array of texts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRecord {
    pub tenant_id: String,
    pub user_id: String,
    pub roles: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a listing goes on from: the `(created_at, id)` of the last row shown.
pub type After<'a> = Option<(i64, &'a str)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertUser {
    Inserted,
    /// Another user has the same `username_key`.
    UsernameTaken,
}

impl Store {
    /// Stores a new user with its password hash, unless its username key is taken.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn insert_user(
        tx: &mut WriteTx,
        user: &UserRecord,
        username_key: &str,
        password_hash: &str,
        audit: &AuditRecord,
    ) -> anyhow::Result<InsertUser> {
        let inserted = on_tx!(tx, conn => {
            let inserted = sqlx::query(
                "INSERT INTO users (id, username, username_key, display_name, email, \
                   default_tenant_id, enabled, password_hash, password_changed_at, version, \
                   created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (username_key) DO NOTHING",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(username_key)
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(&user.default_tenant_id)
            .bind(user.enabled)
            .bind(password_hash)
            .bind(user.password_changed_at)
            .bind(user.version)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0;
            if inserted {
                insert_audit_record!(conn, audit, user.created_at)?;
            }
            Ok::<_, sqlx::Error>(inserted)
        })?;
        Ok(if inserted {
            InsertUser::Inserted
        } else {
            InsertUser::UsernameTaken
        })
    }

    /// The user `id`; with `member_of`, only if it is a member of that tenant.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn user(
        &self,
        id: &str,
        member_of: Option<&str>,
    ) -> anyhow::Result<Option<UserRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE id = $1 AND ($2 IS NULL OR EXISTS \
                 (SELECT 1 FROM tenant_members m WHERE m.user_id = users.id AND m.tenant_id = $2))"
            ))
            .bind(id)
            .bind(member_of)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Users in order of creation, after `after` when given; with `member_of`, only the
    /// members of that tenant.
    #[tracing::instrument(skip_all)]
    pub async fn users(
        &self,
        member_of: Option<&str>,
        after: After<'_>,
        limit: u32,
    ) -> anyhow::Result<Vec<UserRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", user_columns!(), " FROM users \
                 WHERE ($1 IS NULL OR EXISTS (SELECT 1 FROM tenant_members m \
                                              WHERE m.user_id = users.id AND m.tenant_id = $1)) \
                   AND ($2 IS NULL OR created_at > $2 OR (created_at = $2 AND id > $3)) \
                 ORDER BY created_at, id LIMIT $4"
            ))
            .bind(member_of)
            .bind(after.map(|(created, _)| created))
            .bind(after.map(|(_, id)| id))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }

    /// The user with this username key and its password hash, for a sign-in.
    #[tracing::instrument(skip_all)]
    pub async fn user_credentials(
        &self,
        username_key: &str,
    ) -> anyhow::Result<Option<(UserRecord, String)>> {
        let row: Option<CredentialsRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", user_columns!(), ", password_hash FROM users WHERE username_key = $1"
            ))
            .bind(username_key)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|row| (row.user, row.password_hash)))
    }

    /// The user `id`, locked until `tx` ends.
    pub async fn user_for_update(tx: &mut WriteTx, id: &str) -> anyhow::Result<Option<UserRecord>> {
        Ok(
            for_update!(tx, concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
            conn => |query| {
                sqlx::query_as(query).bind(id).fetch_optional(conn).await
            })?,
        )
    }

    /// The user whose username key is `username_key`, locked until `tx` ends.
    pub async fn user_by_username_for_update(
        tx: &mut WriteTx,
        username_key: &str,
    ) -> anyhow::Result<Option<UserRecord>> {
        Ok(for_update!(tx,
        concat!("SELECT ", user_columns!(), " FROM users WHERE username_key = $1"),
        conn => |query| {
            sqlx::query_as(query).bind(username_key).fetch_optional(conn).await
        })?)
    }

    /// Writes the profile of `user` (display name, email, default tenant, enabled) over
    /// the stored row, read with [`Store::user_for_update`] in the same `tx`.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn update_user(
        tx: &mut WriteTx,
        user: &UserRecord,
        audit: &AuditRecord,
        now: i64,
    ) -> anyhow::Result<UserRecord> {
        Ok(on_tx!(tx, conn => {
            let row: UserRecord = sqlx::query_as(concat!(
                "UPDATE users SET display_name = $1, email = $2, default_tenant_id = $3, \
                   enabled = $4, version = version + 1, updated_at = $5 \
                 WHERE id = $6 RETURNING ", user_columns!(), ""
            ))
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(&user.default_tenant_id)
            .bind(user.enabled)
            .bind(now)
            .bind(&user.id)
            .fetch_one(&mut *conn)
            .await?;
            insert_audit_record!(conn, audit, now)?;
            Ok::<_, sqlx::Error>(row)
        })?)
    }

    /// Replaces the password hash of the user `id`; `None` if there is no such user.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn set_password_hash(
        tx: &mut WriteTx,
        id: &str,
        password_hash: &str,
        audit: &AuditRecord,
        now: i64,
    ) -> anyhow::Result<Option<UserRecord>> {
        Ok(on_tx!(tx, conn => {
            let row: Option<UserRecord> = sqlx::query_as(concat!(
                "UPDATE users SET password_hash = $1, password_changed_at = $2, \
                   version = version + 1, updated_at = $2 \
                 WHERE id = $3 RETURNING ", user_columns!(), ""
            ))
            .bind(password_hash)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if row.is_some() {
                insert_audit_record!(conn, audit, now)?;
            }
            Ok::<_, sqlx::Error>(row)
        })?)
    }

    /// Deletes the user `id` and, through foreign keys, its memberships. Returns whether
    /// it existed.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn delete_user(
        tx: &mut WriteTx,
        id: &str,
        audit: &AuditRecord,
        now: i64,
    ) -> anyhow::Result<bool> {
        Ok(on_tx!(tx, conn => {
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if deleted {
                insert_audit_record!(conn, audit, now)?;
            }
            Ok::<_, sqlx::Error>(deleted)
        })?)
    }

    /// The membership of `user_id` in `tenant_id`, if any.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, user_id = %user_id))]
    pub async fn member(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> anyhow::Result<Option<MemberRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", member_columns!(), " FROM tenant_members \
                 WHERE tenant_id = $1 AND user_id = $2"
            ))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The memberships of `tenant_id` in order of creation, after `after` when given.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
    pub async fn members(
        &self,
        tenant_id: &str,
        after: After<'_>,
        limit: u32,
    ) -> anyhow::Result<Vec<MemberRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", member_columns!(), " FROM tenant_members WHERE tenant_id = $1 \
                   AND ($2 IS NULL OR created_at > $2 OR (created_at = $2 AND user_id > $3)) \
                 ORDER BY created_at, user_id LIMIT $4"
            ))
            .bind(tenant_id)
            .bind(after.map(|(created, _)| created))
            .bind(after.map(|(_, id)| id))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }

    /// The tenant of the user's oldest membership, if it has any.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn first_membership(&self, user_id: &str) -> anyhow::Result<Option<String>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT tenant_id FROM tenant_members WHERE user_id = $1 \
                 ORDER BY created_at, tenant_id LIMIT 1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The user's state for a session about to start in `tenant_id`, read in the `tx`
    /// that starts it. On PostgreSQL the user's row and membership are share-locked
    /// first (as [`Store::lock_authorization_code`] does), so a concurrent disable,
    /// password change or removal either commits before (and the sign-in is refused)
    /// or waits for the session to commit (and then ends it).
    #[tracing::instrument(skip_all, fields(user_id = %user_id, tenant_id = %tenant_id))]
    pub async fn lock_sign_in(
        tx: &mut WriteTx,
        user_id: &str,
        tenant_id: &str,
    ) -> anyhow::Result<Option<SignInState>> {
        if let WriteTx::Postgres(pg) = tx {
            let conn = &mut **pg;
            sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR SHARE")
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            sqlx::query(
                "SELECT 1 FROM tenant_members WHERE tenant_id = $1 AND user_id = $2 FOR SHARE",
            )
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
        }
        Ok(on_tx!(tx, conn => {
            sqlx::query_as(
                "SELECT u.enabled, u.password_changed_at, \
                   EXISTS (SELECT 1 FROM tenant_members m \
                           WHERE m.tenant_id = $2 AND m.user_id = u.id) AS member \
                 FROM users u WHERE u.id = $1",
            )
            .bind(user_id)
            .bind(tenant_id)
            .fetch_optional(conn)
            .await
        })?)
    }

    /// The membership, locked until `tx` ends.
    pub async fn member_for_update(
        tx: &mut WriteTx,
        tenant_id: &str,
        user_id: &str,
    ) -> anyhow::Result<Option<MemberRecord>> {
        Ok(for_update!(tx, concat!(
            "SELECT ", member_columns!(), " FROM tenant_members WHERE tenant_id = $1 AND user_id = $2"
        ), conn => |query| {
            sqlx::query_as(query).bind(tenant_id).bind(user_id).fetch_optional(conn).await
        })?)
    }

    /// Stores `member`: a new membership, or new roles for one read with
    /// [`Store::member_for_update`] in the same `tx` (its `created_at` stays).
    #[tracing::instrument(skip_all, fields(tenant_id = %member.tenant_id, user_id = %member.user_id))]
    pub async fn put_member(
        tx: &mut WriteTx,
        member: &MemberRecord,
        audit: &AuditRecord,
    ) -> anyhow::Result<MemberRecord> {
        Ok(on_tx!(tx, conn => {
            let row: MemberRecord = sqlx::query_as(concat!(
                "INSERT INTO tenant_members (", member_columns!(), ") VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, user_id) \
                 DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at \
                 RETURNING ", member_columns!(), ""
            ))
            .bind(&member.tenant_id)
            .bind(&member.user_id)
            .bind(&member.roles)
            .bind(member.created_at)
            .bind(member.updated_at)
            .fetch_one(&mut *conn)
            .await?;
            insert_audit_record!(conn, audit, member.updated_at)?;
            Ok::<_, sqlx::Error>(row)
        })?)
    }

    /// Ends the membership of `user_id` in `tenant_id`. Returns whether it existed.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, user_id = %user_id))]
    pub async fn delete_member(
        tx: &mut WriteTx,
        tenant_id: &str,
        user_id: &str,
        audit: &AuditRecord,
        now: i64,
    ) -> anyhow::Result<bool> {
        Ok(on_tx!(tx, conn => {
            let deleted = sqlx::query("DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if deleted {
                insert_audit_record!(conn, audit, now)?;
            }
            Ok::<_, sqlx::Error>(deleted)
        })?)
    }

    /// Whether the tenant `id` exists, locking it until `tx` ends, so it cannot be
    /// deleted before what `tx` writes about it (a member, a default tenant) commits.
    /// Writers lock a tenant before a user, as a tenant's deletion does.
    pub async fn lock_tenant(tx: &mut WriteTx, id: &str) -> anyhow::Result<bool> {
        let found: Option<String> = for_update!(tx, "SELECT id FROM tenants WHERE id = $1",
        conn => |query| {
            sqlx::query_scalar(query).bind(id).fetch_optional(conn).await
        })?;
        Ok(found.is_some())
    }
}
