//! OAuth client rows. Lists, arrays and claims are JSON text; every change records its
//! audit event in the same transaction.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::audit::record_audit;
use super::{for_update, from_millis, on_pool, on_tx, to_millis, BeginWrite, Store, WriteTx};
use crate::audit::{Action, AuditContext};
use crate::auth::TenantScope;
use crate::clients::secrets::NewSecret;
use crate::clients::{AccessType, Client, ClientId, ClientPosition, ClientSettings, ClientType};
use crate::oauth::{GrantType, RedirectUri, ScopeToken};
use crate::tenants::TenantId;

macro_rules! columns {
    () => {
        "id, tenant_id, name, description, business_name, homepage_url, \
         access_token_validity_seconds, refresh_token_validity_seconds, redirect_uris, \
         grant_types, access_type, client_type, internal, enabled, strong_auth_supported, \
         claims_supported, allowed_scopes, claims, version, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    tenant_id: String,
    name: String,
    description: String,
    business_name: Option<String>,
    homepage_url: Option<String>,
    access_token_validity_seconds: i64,
    refresh_token_validity_seconds: i64,
    redirect_uris: String,
    grant_types: String,
    access_type: String,
    client_type: String,
    internal: bool,
    enabled: bool,
    strong_auth_supported: bool,
    claims_supported: bool,
    allowed_scopes: String,
    claims: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

fn parse_list<T>(json: &str, parse: impl Fn(&str) -> Result<T, String>) -> anyhow::Result<Vec<T>> {
    let texts: Vec<String> = serde_json::from_str(json)?;
    texts
        .iter()
        .map(|text| parse(text).map_err(anyhow::Error::msg))
        .collect()
}

impl TryFrom<ClientRow> for Client {
    type Error = anyhow::Error;

    fn try_from(row: ClientRow) -> anyhow::Result<Self> {
        let corrupt = || format!("corrupt oauth_clients row {}", row.id);
        let settings = ClientSettings {
            name: row.name,
            description: row.description,
            business_name: row.business_name,
            homepage_url: row.homepage_url,
            access_token_validity_seconds: row.access_token_validity_seconds.try_into()?,
            refresh_token_validity_seconds: row.refresh_token_validity_seconds.try_into()?,
            redirect_uris: parse_list(&row.redirect_uris, RedirectUri::parse)
                .with_context(corrupt)?,
            grant_types: parse_list(&row.grant_types, GrantType::parse).with_context(corrupt)?,
            access_type: AccessType::parse(&row.access_type).map_err(anyhow::Error::msg)?,
            client_type: ClientType::parse(&row.client_type).map_err(anyhow::Error::msg)?,
            internal: row.internal,
            enabled: row.enabled,
            strong_auth_supported: row.strong_auth_supported,
            claims_supported: row.claims_supported,
            allowed_scopes: parse_list(&row.allowed_scopes, ScopeToken::parse)
                .with_context(corrupt)?,
            claims: serde_json::from_str(&row.claims).with_context(corrupt)?,
        };
        Ok(Client {
            id: ClientId::parse(&row.id).map_err(anyhow::Error::msg)?,
            tenant_id: TenantId::parse(&row.tenant_id).map_err(anyhow::Error::msg)?,
            settings,
            created: from_millis(row.created_at),
            modified: from_millis(row.updated_at),
            version: row.version,
        })
    }
}

/// The settings as column values, in the order of `columns!()` from `name` on.
struct SettingsColumns {
    redirect_uris: String,
    grant_types: String,
    allowed_scopes: String,
    claims: String,
}

impl SettingsColumns {
    fn of(settings: &ClientSettings) -> anyhow::Result<Self> {
        let texts = |items: Vec<&str>| serde_json::to_string(&items);
        Ok(Self {
            redirect_uris: texts(
                settings
                    .redirect_uris
                    .iter()
                    .map(RedirectUri::as_str)
                    .collect(),
            )?,
            grant_types: texts(settings.grant_types.iter().map(|g| g.as_str()).collect())?,
            allowed_scopes: texts(
                settings
                    .allowed_scopes
                    .iter()
                    .map(ScopeToken::as_str)
                    .collect(),
            )?,
            claims: serde_json::to_string(&settings.claims)?,
        })
    }
}

/// Binds the sixteen settings values, `name` to `claims`, to `$query`.
macro_rules! bind_settings {
    ($query:expr, $settings:expr, $columns:expr) => {
        $query
            .bind(&$settings.name)
            .bind(&$settings.description)
            .bind(&$settings.business_name)
            .bind(&$settings.homepage_url)
            .bind(i64::from($settings.access_token_validity_seconds))
            .bind(i64::from($settings.refresh_token_validity_seconds))
            .bind(&$columns.redirect_uris)
            .bind(&$columns.grant_types)
            .bind($settings.access_type.as_str())
            .bind($settings.client_type.as_str())
            .bind($settings.internal)
            .bind($settings.enabled)
            .bind($settings.strong_auth_supported)
            .bind($settings.claims_supported)
            .bind(&$columns.allowed_scopes)
            .bind(&$columns.claims)
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertClient {
    Inserted,
    TenantMissing,
    /// The tenant has this many clients already, its cap.
    TooMany(usize),
}

impl Store {
    /// Stores a new client with its first secret, if any, unless its tenant has
    /// `max_clients` already.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_client(
        &self,
        client: &Client,
        initial_secret: Option<&NewSecret>,
        max_clients: usize,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InsertClient> {
        let columns = SettingsColumns::of(&client.settings)?;
        let now = to_millis(now);
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Lock the tenant's row first (PostgreSQL's READ COMMITTED would let two
            // creations both count one under the cap), so the cap holds on both databases;
            // its `client_count` is kept by triggers (migration 0009).
            let count: Option<i64> = sqlx::query_scalar(
                "UPDATE tenants SET client_count = client_count WHERE id = $1 RETURNING client_count",
            )
            .bind(client.tenant_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(count) = count else {
                return Ok(InsertClient::TenantMissing);
            };
            if count >= i64::try_from(max_clients).unwrap_or(i64::MAX) {
                return Ok(InsertClient::TooMany(max_clients));
            }
            let inserted = bind_settings!(
                sqlx::query(concat!(
                    "INSERT INTO oauth_clients (", columns!(), ") VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                      $17, $18, $19, $20, $21)"
                ))
                .bind(client.id.as_str())
                .bind(client.tenant_id.as_str()),
                client.settings,
                columns
            )
            .bind(client.version)
            .bind(to_millis(client.created))
            .bind(to_millis(client.modified))
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(error) if error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
                    Ok(InsertClient::TenantMissing)
                }
                Err(error) => Err(error),
                Ok(_) => {
                    if let Some(secret) = initial_secret {
                        sqlx::query(
                            "INSERT INTO client_secrets \
                               (client_id, name, display_prefix, secret_hash, expires_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(client.id.as_str())
                        .bind(secret.name.as_str())
                        .bind(&secret.display_prefix)
                        .bind(&secret.hash)
                        .bind(secret.expires_at.map(to_millis))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    record_audit!(tx, audit, Action::ClientCreated, client.id.as_str(),
                                  Some(client.tenant_id.as_str()), now)?;
                    tx.commit().await?;
                    Ok(InsertClient::Inserted)
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
    ) -> anyhow::Result<Option<Client>> {
        let row: Option<ClientRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients \
                 WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
            ))
            .bind(id.as_str())
            .bind(scope.tenant().map(TenantId::as_str))
            .fetch_optional(pool)
            .await
        })?;
        row.map(Client::try_from).transpose()
    }

    /// Clients in `scope` in order of creation, after `after` when given.
    #[tracing::instrument(skip_all)]
    pub async fn clients(
        &self,
        scope: &TenantScope,
        after: Option<&ClientPosition>,
        limit: u32,
    ) -> anyhow::Result<Vec<Client>> {
        let rows: Vec<ClientRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM oauth_clients \
                 WHERE ($1 IS NULL OR tenant_id = $1) \
                   AND ($2 IS NULL OR created_at > $2 OR (created_at = $2 AND id > $3)) \
                 ORDER BY created_at, id LIMIT $4"
            ))
            .bind(scope.tenant().map(TenantId::as_str))
            .bind(after.map(|position| to_millis(position.created)))
            .bind(after.map(|position| position.id.as_str()))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(Client::try_from).collect()
    }

    /// The client in `scope`, locked until `tx` ends, so an update reads what it
    /// replaces.
    pub async fn client_for_update(
        tx: &mut WriteTx,
        id: &ClientId,
        scope: &TenantScope,
    ) -> anyhow::Result<Option<Client>> {
        let row: Option<ClientRow> = for_update!(tx, concat!(
            "SELECT ", columns!(), " FROM oauth_clients \
             WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
        ), conn => |query| {
            sqlx::query_as(query)
                .bind(id.as_str())
                .bind(scope.tenant().map(TenantId::as_str))
                .fetch_optional(conn)
                .await
        })?;
        row.map(Client::try_from).transpose()
    }

    /// Writes `settings` over `current` (read with [`Store::client_for_update`] in the
    /// same `tx`), with its audit event.
    #[tracing::instrument(skip_all, fields(client_id = %current.id))]
    pub async fn update_client(
        tx: &mut WriteTx,
        current: &Client,
        settings: &ClientSettings,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Client> {
        let columns = SettingsColumns::of(settings)?;
        let now = to_millis(now);
        let row: ClientRow = on_tx!(tx, conn => {
            let row: ClientRow = bind_settings!(
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
                settings,
                columns
            )
            .bind(now)
            .bind(current.id.as_str())
            .fetch_one(&mut *conn)
            .await?;
            record_audit!(conn, audit, Action::ClientUpdated, current.id.as_str(),
                          Some(current.tenant_id.as_str()), now)?;
            Ok::<_, sqlx::Error>(row)
        })?;
        Client::try_from(row)
    }

    /// Deletes the client in `scope` and, through foreign keys, its secrets. Returns
    /// whether it existed.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn delete_client(
        &self,
        id: &ClientId,
        scope: &TenantScope,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = to_millis(now);
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let tenant: Option<String> = sqlx::query_scalar(
                "DELETE FROM oauth_clients WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2) \
                 RETURNING tenant_id",
            )
            .bind(id.as_str())
            .bind(scope.tenant().map(TenantId::as_str))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(tenant) = &tenant {
                record_audit!(tx, audit, Action::ClientDeleted, id.as_str(), Some(tenant.as_str()), now)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(tenant.is_some())
        })?;
        Ok(deleted)
    }
}
