//! OAuth client rows. Lists, arrays and claims are JSON text; every change records its
//! audit event in the same transaction (a deletion, in the [`WriteTx`] of its service,
//! which learns the client's tenant from it).

use chrono::{DateTime, Utc};

use super::audit::{insert_audit_record, AuditRecord};
use super::secrets::{NewSecretRecord, OwnedSecretRecord};
use super::{for_update, on_pool, on_tx, to_millis, BeginWrite, Store, WriteTx};
use crate::ids::{ClientId, TenantId, TenantScope};

macro_rules! columns {
    () => {
        "id, tenant_id, name, description, business_name, homepage_url, \
         access_token_validity_seconds, refresh_token_validity_seconds, redirect_uris, \
         grant_types, access_type, client_type, internal, enabled, strong_auth_supported, \
         claims_supported, allowed_scopes, claims, version, created_at, updated_at"
    };
}

/// One stored client: the columns of `oauth_clients` in the order of `columns!()`.
/// Lists and claims are JSON text; `crate::clients` converts to and from its `Client`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub business_name: Option<String>,
    pub homepage_url: Option<String>,
    pub access_token_validity_seconds: i64,
    pub refresh_token_validity_seconds: i64,
    pub redirect_uris: String,
    pub grant_types: String,
    pub access_type: String,
    pub client_type: String,
    pub internal: bool,
    pub enabled: bool,
    pub strong_auth_supported: bool,
    pub claims_supported: bool,
    pub allowed_scopes: String,
    pub claims: String,
    pub version: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Binds the sixteen settings columns of `$record`, `name` to `claims`, to `$query`.
macro_rules! bind_settings {
    ($query:expr, $record:expr) => {
        $query
            .bind(&$record.name)
            .bind(&$record.description)
            .bind(&$record.business_name)
            .bind(&$record.homepage_url)
            .bind($record.access_token_validity_seconds)
            .bind($record.refresh_token_validity_seconds)
            .bind(&$record.redirect_uris)
            .bind(&$record.grant_types)
            .bind(&$record.access_type)
            .bind(&$record.client_type)
            .bind($record.internal)
            .bind($record.enabled)
            .bind($record.strong_auth_supported)
            .bind($record.claims_supported)
            .bind(&$record.allowed_scopes)
            .bind(&$record.claims)
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertClient {
    Inserted,
    TenantMissing,
    /// The tenant has this many clients already, its cap.
    TooMany(usize),
}

/// The slots a tenant's clients are counted in on PostgreSQL (`tenant_client_slots`,
/// migration 0014, which makes this many rows per tenant).
const CLIENT_COUNT_SLOTS: i64 = 16;

/// The creation of a client on PostgreSQL, in one statement (so one round trip, with no
/// transaction to open or commit around it), `$skip_locked` either `"SKIP LOCKED"` or
/// `""`. It counts the client in one of its tenant's slots still under its share of the
/// cap `$22` (`$22 / $23` each, one more for the first `$22 % $23`: the shares sum to
/// the cap), locked to the commit, so creations in one tenant run side by side, each
/// in a slot of its own, and the cap holds: a slot at its share takes no more. The
/// tenant's row is locked (`FOR KEY SHARE`, as the foreign key would) before the slot,
/// in the order a deletion of the tenant takes them, so the two never deadlock. A cap
/// lowered below what a tenant has may leave some of its slots above their shares and
/// others under: the sum then refuses creations while the tenant is at or above the cap
/// (exact but for creations racing in that state, which do not see each other's
/// uncommitted counts; once every slot is back within its share, the slots' locks make
/// it exact again). Nothing is inserted when no slot has room (or the tenant does not exist); the
/// secret, when given (`$24`), and the audit event go with the client.
macro_rules! create_client_in_a_slot {
    ($skip_locked:literal) => {
        concat!(
            "WITH tenant AS (SELECT id FROM tenants WHERE id = $2 FOR KEY SHARE), \
             slot AS (\
               SELECT slot FROM tenant_client_slots \
               WHERE tenant_id = (SELECT id FROM tenant) \
                 AND clients < $22 / $23 + CASE WHEN slot < $22 % $23 THEN 1 ELSE 0 END \
               ORDER BY random() LIMIT 1 FOR UPDATE ",
            $skip_locked,
            "), \
             client AS (\
               INSERT INTO oauth_clients (",
            columns!(),
            ", count_slot) \
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                      $17, $18, $19, $20, $21, slot FROM slot \
               WHERE (SELECT SUM(clients) FROM tenant_client_slots WHERE tenant_id = $2) < $22 \
               RETURNING id), \
             secret AS (\
               INSERT INTO client_secrets \
                 (client_id, name, display_prefix, secret_hash, expires_at, created_at) \
               SELECT id, $24, $25, $26, $27, $28 FROM client WHERE $24 IS NOT NULL), \
             audit AS (\
               INSERT INTO audit_events \
                 (occurred_at, actor, action, target_id, tenant_id, request_id) \
               SELECT $28, $29, $30, $31, $32, $33 FROM client) \
             SELECT COUNT(*) FROM client"
        )
    };
}

impl Store {
    /// Stores a new client with its first secret, if any, and its audit event, unless
    /// its tenant has `max_clients` already (exact under concurrent creations on both
    /// databases). On PostgreSQL in one statement that counts the client in one of the
    /// tenant's slots ([`create_client_in_a_slot!`]); on SQLite in a transaction that
    /// counts it in the tenant's row.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_client(
        &self,
        client: &ClientRecord,
        initial_secret: Option<&NewSecretRecord<'_>>,
        max_clients: usize,
        audit: &AuditRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InsertClient> {
        let now = to_millis(now);
        let cap = i64::try_from(max_clients).unwrap_or(i64::MAX);
        let pool = match self {
            Store::Sqlite(pool) => {
                return insert_client_sqlite(pool, client, initial_secret, max_clients, audit, now)
                    .await
            }
            Store::Postgres(pool) => pool,
        };
        // Among the slots with room an unlocked one; only when every slot with room is
        // taken by a creation still committing, wait for one of them.
        for query in [
            create_client_in_a_slot!("SKIP LOCKED"),
            create_client_in_a_slot!(""),
        ] {
            let inserted: i64 = bind_settings!(
                sqlx::query_scalar(query)
                    .bind(&client.id)
                    .bind(&client.tenant_id),
                client
            )
            .bind(client.version)
            .bind(client.created_at)
            .bind(client.updated_at)
            .bind(cap)
            .bind(CLIENT_COUNT_SLOTS)
            .bind(initial_secret.map(|secret| secret.name))
            .bind(initial_secret.map(|secret| secret.display_prefix))
            .bind(initial_secret.map(|secret| secret.hash))
            .bind(initial_secret.and_then(|secret| secret.expires_at))
            .bind(now)
            .bind(&audit.actor)
            .bind(audit.action)
            .bind(&audit.target_id)
            .bind(audit.tenant_id.as_deref())
            .bind(audit.request_id.as_deref())
            .fetch_one(pool)
            .await?;
            if inserted == 1 {
                return Ok(InsertClient::Inserted);
            }
        }
        let tenant_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)")
                .bind(&client.tenant_id)
                .fetch_one(pool)
                .await?;
        Ok(if tenant_exists {
            InsertClient::TooMany(max_clients)
        } else {
            InsertClient::TenantMissing
        })
    }

    /// The built-in internal client of the tenant `tenant_id`, if it has one yet.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
    pub async fn builtin_client(
        &self,
        tenant_id: &TenantId,
    ) -> anyhow::Result<Option<ClientRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients WHERE tenant_id = $1 AND builtin"
            ))
            .bind(tenant_id.as_str())
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Stores `client` as its tenant's built-in internal client (migration 0011), with
    /// its audit event, unless the tenant has one already (of two racing insertions one
    /// stores nothing). Not counted against `limits.clients_per_tenant`. Returns `false`
    /// when the tenant does not exist.
    #[tracing::instrument(skip_all, fields(tenant_id = %client.tenant_id))]
    pub async fn insert_builtin_client(
        &self,
        client: &ClientRecord,
        audit: &AuditRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = to_millis(now);
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = bind_settings!(
                sqlx::query(concat!(
                    "INSERT INTO oauth_clients (", columns!(), ", builtin) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                      $17, $18, $19, $20, $21, TRUE) ON CONFLICT DO NOTHING"
                ))
                .bind(&client.id)
                .bind(&client.tenant_id),
                client
            )
            .bind(client.version)
            .bind(client.created_at)
            .bind(client.updated_at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(error) if error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
                    Ok(false)
                }
                Err(error) => Err(error),
                Ok(done) => {
                    if done.rows_affected() == 1 {
                        insert_audit_record!(tx, audit, now)?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }
            }
        })?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn client(
        &self,
        id: &ClientId,
        scope: &TenantScope,
    ) -> anyhow::Result<Option<ClientRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients \
                 WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
            ))
            .bind(id.as_str())
            .bind(scope.tenant().map(TenantId::as_str))
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Up to `limit` clients active since `since_millis` (created, changed, or with a
    /// secret used since then), in id order after the id `after`, with their secrets:
    /// what a process loads at start so its first requests find their clients cached.
    #[tracing::instrument(skip_all)]
    pub async fn active_clients(
        &self,
        since_millis: i64,
        after: &str,
        limit: u32,
    ) -> anyhow::Result<(Vec<ClientRecord>, Vec<OwnedSecretRecord>)> {
        macro_rules! page {
            () => {
                "SELECT id FROM oauth_clients WHERE id > $1 \
                   AND (created_at >= $2 OR updated_at >= $2 OR id IN \
                        (SELECT client_id FROM client_secrets WHERE last_used_at >= $2)) \
                 ORDER BY id LIMIT $3"
            };
        }
        let limit = i64::from(limit);
        Ok(on_pool!(self, pool => {
            let clients = sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients WHERE id IN (", page!(), ") ORDER BY id"
            ))
            .bind(after)
            .bind(since_millis)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let secrets = sqlx::query_as(concat!(
                "SELECT client_id, ", super::secrets::secret_columns!(), " FROM client_secrets \
                 WHERE client_id IN (", page!(), ") ORDER BY client_id, id"
            ))
            .bind(after)
            .bind(since_millis)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((clients, secrets))
        })?)
    }

    /// Clients in `scope` whose name or id contains `search` ignoring case, in order of
    /// creation, after the client `after` (its `created_at` and id) when given. `LOWER`
    /// folds both sides alike: ASCII letters on SQLite, others too on PostgreSQL (as its
    /// collation says); `LIKE` with an escape character is portable, `ILIKE` is not.
    #[tracing::instrument(skip_all)]
    pub async fn clients(
        &self,
        scope: &TenantScope,
        search: Option<&str>,
        after: Option<(i64, &ClientId)>,
        limit: u32,
    ) -> anyhow::Result<Vec<ClientRecord>> {
        let pattern = search.map(|text| format!("%{}%", escape_like(text)));
        // The text folded by Rust too (all of Unicode): SQLite's LOWER leaves `É` as it
        // is, so "CAFÉ" finds "Café" only this way, and "Äpi" finds "Äpi" only the other.
        let folded = search.map(|text| format!("%{}%", escape_like(&text.to_lowercase())));
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients \
                 WHERE ($1 IS NULL OR tenant_id = $1) \
                   AND ($2 IS NULL OR created_at > $2 OR (created_at = $2 AND id > $3)) \
                   AND ($5 IS NULL OR LOWER(name) LIKE LOWER($5) ESCAPE '\\' \
                        OR LOWER(name) LIKE $6 ESCAPE '\\' \
                        OR LOWER(id) LIKE LOWER($5) ESCAPE '\\') \
                 ORDER BY created_at, id LIMIT $4"
            ))
            .bind(scope.tenant().map(TenantId::as_str))
            .bind(after.map(|(created_at, _)| created_at))
            .bind(after.map(|(_, id)| id.as_str()))
            .bind(i64::from(limit))
            .bind(pattern.as_deref())
            .bind(folded.as_deref())
            .fetch_all(pool)
            .await
        })?)
    }

    /// The client in `scope`, locked until `tx` ends, so an update reads what it
    /// replaces.
    pub async fn client_for_update(
        tx: &mut WriteTx,
        id: &ClientId,
        scope: &TenantScope,
    ) -> anyhow::Result<Option<ClientRecord>> {
        Ok(for_update!(tx, concat!(
            "SELECT ", columns!(), " FROM oauth_clients \
             WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
        ), conn => |query| {
            sqlx::query_as(query)
                .bind(id.as_str())
                .bind(scope.tenant().map(TenantId::as_str))
                .fetch_optional(conn)
                .await
        })?)
    }

    /// Writes the settings columns of `updated` over its row (read with
    /// [`Store::client_for_update`] in the same `tx`) and moves its version on, with its
    /// audit event; returns the row as stored.
    #[tracing::instrument(skip_all, fields(client_id = %updated.id))]
    pub async fn update_client(
        tx: &mut WriteTx,
        updated: &ClientRecord,
        audit: &AuditRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<ClientRecord> {
        let now = to_millis(now);
        Ok(on_tx!(tx, conn => {
            let row: ClientRecord = bind_settings!(
                sqlx::query_as(concat!(
                    "UPDATE oauth_clients SET \
                       name = $1, description = $2, business_name = $3, homepage_url = $4, \
                       access_token_validity_seconds = $5, refresh_token_validity_seconds = $6, \
                       redirect_uris = $7, grant_types = $8, access_type = $9, client_type = $10, \
                       internal = $11, enabled = $12, strong_auth_supported = $13, \
                       claims_supported = $14, allowed_scopes = $15, claims = $16, \
                       version = version + 1, updated_at = $17 \
                     WHERE id = $18 RETURNING ", columns!(), ""
                )),
                updated
            )
            .bind(now)
            .bind(&updated.id)
            .fetch_one(&mut *conn)
            .await?;
            insert_audit_record!(conn, audit, now)?;
            Ok::<_, sqlx::Error>(row)
        })?)
    }

    /// Deletes the client in `scope` and, through foreign keys, its secrets, in `tx`
    /// (whose audit event names the tenant this returns). Returns the client's tenant
    /// if it existed.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn delete_client(
        tx: &mut WriteTx,
        id: &ClientId,
        scope: &TenantScope,
    ) -> anyhow::Result<Option<String>> {
        Ok(on_tx!(tx, conn => {
            sqlx::query_scalar(
                "DELETE FROM oauth_clients WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2) \
                 RETURNING tenant_id",
            )
            .bind(id.as_str())
            .bind(scope.tenant().map(TenantId::as_str))
            .fetch_optional(&mut *conn)
            .await
        })?)
    }
}

/// [`Store::insert_client`] on SQLite: one writer at a time, so the tenant's one count
/// (`tenants.client_count`, kept by a trigger, migration 0009) is exact and costs no
/// waiting beyond the write lock the transaction holds anyway.
async fn insert_client_sqlite(
    pool: &sqlx::SqlitePool,
    client: &ClientRecord,
    initial_secret: Option<&NewSecretRecord<'_>>,
    max_clients: usize,
    audit: &AuditRecord,
    now: i64,
) -> anyhow::Result<InsertClient> {
    let mut tx = pool.begin_write().await?;
    insert_audit_record!(tx, audit, now)?;
    let inserted = bind_settings!(
        sqlx::query(concat!(
            "INSERT INTO oauth_clients (",
            columns!(),
            ") VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
              $17, $18, $19, $20, $21)"
        ))
        .bind(&client.id)
        .bind(&client.tenant_id),
        client
    )
    .bind(client.version)
    .bind(client.created_at)
    .bind(client.updated_at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(error)
            if error
                .as_database_error()
                .is_some_and(|e| e.is_foreign_key_violation()) =>
        {
            tx.rollback().await?;
            return Ok(InsertClient::TenantMissing);
        }
        Err(error) => return Err(error.into()),
        Ok(_) => {}
    }
    if let Some(secret) = initial_secret {
        sqlx::query(
            "INSERT INTO client_secrets \
               (client_id, name, display_prefix, secret_hash, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(secret.name)
        .bind(secret.display_prefix)
        .bind(secret.hash)
        .bind(secret.expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    // Counted by the insert's trigger; a refusal rolls the count back with the rest.
    let count: i64 = sqlx::query_scalar("SELECT client_count FROM tenants WHERE id = $1")
        .bind(&client.tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    if count > i64::try_from(max_clients).unwrap_or(i64::MAX) {
        tx.rollback().await?;
        return Ok(InsertClient::TooMany(max_clients));
    }
    tx.commit().await?;
    Ok(InsertClient::Inserted)
}

/// `text` with `LIKE`'s wildcards (`%`, `_`) and its escape character (`\`) escaped, so
/// it matches only itself.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_match_only_themselves() {
        assert_eq!(escape_like("demo"), "demo");
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
    }
}
