//! What the API does with clients and their secrets, in the order it does it:
//! creation (with its first secret), reads and listings, updates (validated as a
//! whole, applied only to the version they were based on), deletion, and the secrets
//! of a client (listed masked, added, deleted). Every function sees only the clients
//! in the caller's [`TenantScope`]; one outside it does not exist.

use chrono::{DateTime, Utc};

use super::record::{read_client, read_secrets};
use super::secrets::{ClientSecret, NewSecret, SecretHasher, SecretName, StoredSecret};
use super::LimitSettings;
use super::{
    Client, ClientDraft, ClientId, ClientPosition, ClientSearch, ClientSettings, ClientType,
};
use crate::audit::{Action, AuditContext};
use crate::ids::TenantId;
use crate::ids::TenantScope;
use crate::store::{to_millis, InsertClient, InsertSecret, Store};

/// Instants are stored in milliseconds; what is returned should equal what is read back.
fn millis(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// How new clients and secrets are made: the hasher of their secrets and the caps on
/// how many there may be.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    pub hasher: SecretHasher,
    pub limits: LimitSettings,
}

/// A new client and, for a confidential one, its first secret: the only time it is known.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<ClientSecret>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateClientError {
    #[error("tenant '{0}' does not exist")]
    TenantMissing(TenantId),
    #[error("a tenant has at most {0} clients")]
    TooMany(usize),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn create_client(
    store: &Store,
    policy: &ClientPolicy,
    tenant_id: TenantId,
    settings: ClientSettings,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<CreatedClient, CreateClientError> {
    let now = millis(now);
    let (initial, secret) = match settings.client_type {
        ClientType::Confidential => {
            let (initial, secret) =
                NewSecret::generate(SecretName::initial(), None, &policy.hasher);
            (Some(initial), Some(secret))
        }
        ClientType::Public => (None, None),
    };
    let client = Client {
        id: ClientId::generate(),
        tenant_id,
        settings,
        created: now,
        modified: now,
        version: 1,
    };
    let initial = initial.as_ref().map(NewSecret::record);
    let record = audit.record(
        Action::ClientCreated,
        client.id.as_str(),
        Some(&client.tenant_id),
    );
    match store
        .insert_client(
            &client.to_record()?,
            initial.as_ref(),
            policy.limits.clients_per_tenant,
            &record,
            now,
        )
        .await?
    {
        InsertClient::Inserted => Ok(CreatedClient { client, secret }),
        InsertClient::TenantMissing => Err(CreateClientError::TenantMissing(client.tenant_id)),
        InsertClient::TooMany(max) => Err(CreateClientError::TooMany(max)),
    }
}

/// `accessTokenValiditySeconds` of a tenant's built-in internal client.
pub const BUILTIN_ACCESS_TOKEN_VALIDITY_SECONDS: u32 = 900;

/// The settings of a tenant's built-in internal client: the client of the first-party
/// token API when a sign-in names none. Internal, `OFFLINE` (its sessions get refresh
/// tokens), no grant types and no secret: it cannot authenticate at `/oauth/token`,
/// its tokens come and are refreshed only through `/api/v1/tokens`. An admin may
/// change it like any client (its `accessTokenValiditySeconds`, for one).
pub fn builtin_settings() -> ClientSettings {
    ClientSettings {
        name: "Tessera token API".into(),
        description: "The tenant's built-in internal client of /api/v1/tokens.".into(),
        business_name: None,
        homepage_url: None,
        access_token_validity_seconds: BUILTIN_ACCESS_TOKEN_VALIDITY_SECONDS,
        refresh_token_validity_seconds: super::DEFAULT_REFRESH_TOKEN_VALIDITY_SECONDS,
        redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        access_type: super::AccessType::Offline,
        client_type: ClientType::Confidential,
        internal: true,
        enabled: true,
        strong_auth_supported: false,
        claims_supported: false,
        allowed_scopes: Vec::new(),
        claims: Vec::new(),
    }
}

/// The built-in internal client of `tenant_id`, created the first time it is asked for
/// (for tenants old and new alike; concurrent first asks store one). `None`: no such
/// tenant. `audit` is the request that needed it; the actor is `tessera`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn builtin_client(
    store: &Store,
    tenant_id: &TenantId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Client>> {
    if let Some(row) = store.builtin_client(tenant_id).await? {
        return Ok(Some(row.try_into()?));
    }
    let now = millis(now);
    let client = Client {
        id: ClientId::generate(),
        tenant_id: tenant_id.clone(),
        settings: builtin_settings(),
        created: now,
        modified: now,
        version: 1,
    };
    let audit = AuditContext::new("tessera".into(), audit.request_id.clone());
    let record = audit.record(Action::ClientCreated, client.id.as_str(), Some(tenant_id));
    if !store
        .insert_builtin_client(&client.to_record()?, &record, now)
        .await?
    {
        return Ok(None);
    }
    tracing::info!("built-in internal client ready");
    store
        .builtin_client(tenant_id)
        .await?
        .map(Client::try_from)
        .transpose()
}

/// Why a client could not be read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no such client")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The client `id`, if it is in `scope`.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn get_client(
    store: &Store,
    scope: &TenantScope,
    id: &ClientId,
) -> Result<Client, ClientError> {
    read_client(store, id, scope)
        .await?
        .ok_or(ClientError::NotFound)
}

/// At most `limit` clients in `scope` matching `search` when given, in order of
/// creation, after `after` when given.
#[tracing::instrument(skip_all)]
pub async fn list_clients(
    store: &Store,
    scope: &TenantScope,
    search: Option<&ClientSearch>,
    after: Option<&ClientPosition>,
    limit: u32,
) -> anyhow::Result<Vec<Client>> {
    let after = after.map(|position| (to_millis(position.created), &position.id));
    let search = search.map(ClientSearch::as_str);
    let rows = store.clients(scope, search, after, limit).await?;
    rows.into_iter().map(Client::try_from).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateClientError {
    #[error("no such client")]
    NotFound,
    #[error("the client is invalid")]
    Invalid(Vec<String>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Lays `changes` over the stored client, validates the result as a whole and stores
/// it, in one transaction that holds the client from the read to the write: two
/// concurrent updates apply one after the other, neither losing the other's changes.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn update_client(
    store: &Store,
    scope: &TenantScope,
    id: &ClientId,
    changes: ClientDraft,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<Client, UpdateClientError> {
    let now = millis(now);
    let mut tx = store.begin_write().await?;
    let current: Client = Store::client_for_update(&mut tx, id, scope)
        .await?
        .ok_or(UpdateClientError::NotFound)?
        .try_into()?;
    let settings = changes
        .over(ClientDraft::from(&current.settings))
        .validate()
        .map_err(UpdateClientError::Invalid)?;
    let problems = current.settings.update_problems(&settings);
    if !problems.is_empty() {
        return Err(UpdateClientError::Invalid(problems));
    }
    let updated = Client {
        settings,
        ..current
    };
    let record = audit.record(
        Action::ClientUpdated,
        updated.id.as_str(),
        Some(&updated.tenant_id),
    );
    let stored = Store::update_client(&mut tx, &updated.to_record()?, &record, now).await?;
    tx.commit().await?;
    Ok(stored.try_into()?)
}

#[derive(Debug, thiserror::Error)]
pub enum AddSecretError {
    #[error("a PUBLIC client has no secrets")]
    PublicClient,
    #[error("the client already has a secret named '{0}'")]
    DuplicateName(String),
    #[error("a client has at most {0} secrets")]
    TooMany(usize),
    #[error("no such client")]
    ClientMissing,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a caller asks of a new secret: its name and when, if ever, it expires.
#[derive(Debug)]
pub struct RequestedSecret {
    pub name: SecretName,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Adds a named secret to the client `client_id` in `scope`; the secret is returned in
/// clear this once.
#[tracing::instrument(skip_all, fields(client_id = %client_id))]
pub async fn add_secret(
    store: &Store,
    policy: &ClientPolicy,
    scope: &TenantScope,
    client_id: &ClientId,
    requested: RequestedSecret,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(StoredSecret, ClientSecret), AddSecretError> {
    let client = read_client(store, client_id, scope)
        .await?
        .ok_or(AddSecretError::ClientMissing)?;
    if client.settings.client_type == ClientType::Public {
        return Err(AddSecretError::PublicClient);
    }
    let (new, secret) = NewSecret::generate(requested.name, requested.expires_at, &policy.hasher);
    let now = millis(now);
    let mut tx = store.begin_write().await?;
    match Store::insert_secret(
        &mut tx,
        &client.id,
        &new.record(),
        policy.limits.secrets_per_client,
        now,
    )
    .await?
    {
        InsertSecret::Inserted(stored) => {
            let target = format!("{}/{}", client.id, stored.id);
            let record = audit.record(Action::ClientSecretAdded, &target, Some(&client.tenant_id));
            Store::record_audit(&mut tx, &record, now).await?;
            tx.commit().await?;
            Ok((stored.into(), secret))
        }
        InsertSecret::DuplicateName => {
            Err(AddSecretError::DuplicateName(new.name.as_str().to_owned()))
        }
        InsertSecret::TooMany(max) => Err(AddSecretError::TooMany(max)),
        InsertSecret::ClientMissing => Err(AddSecretError::ClientMissing),
    }
}

/// Deletes the client `id` in `scope` and, with it, its secrets.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn delete_client(
    store: &Store,
    scope: &TenantScope,
    id: &ClientId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(), ClientError> {
    let mut tx = store.begin_write().await?;
    let Some(tenant) = Store::delete_client(&mut tx, id, scope).await? else {
        return Err(ClientError::NotFound);
    };
    let tenant = TenantId::parse(&tenant).map_err(anyhow::Error::msg)?;
    let record = audit.record(Action::ClientDeleted, id.as_str(), Some(&tenant));
    Store::record_audit(&mut tx, &record, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A client and its secrets, oldest first (as stored: hashes, never the secrets).
#[derive(Debug)]
pub struct ClientWithSecrets {
    pub client: Client,
    pub secrets: Vec<StoredSecret>,
}

/// The client `id` in `scope` with its secrets.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn client_with_secrets(
    store: &Store,
    scope: &TenantScope,
    id: &ClientId,
) -> Result<ClientWithSecrets, ClientError> {
    let client = get_client(store, scope, id).await?;
    let secrets = read_secrets(store, &client.id).await?;
    Ok(ClientWithSecrets { client, secrets })
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteSecretError {
    #[error("no such client")]
    ClientMissing,
    #[error("the client has no such secret")]
    SecretMissing,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Deletes the secret `secret_id` of the client `client_id` in `scope`.
#[tracing::instrument(skip_all, fields(client_id = %client_id, secret_id))]
pub async fn delete_secret(
    store: &Store,
    scope: &TenantScope,
    client_id: &ClientId,
    secret_id: i64,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(), DeleteSecretError> {
    let client = read_client(store, client_id, scope)
        .await?
        .ok_or(DeleteSecretError::ClientMissing)?;
    let target = format!("{}/{secret_id}", client.id);
    let record = audit.record(
        Action::ClientSecretDeleted,
        &target,
        Some(&client.tenant_id),
    );
    if store
        .delete_secret(&client.id, secret_id, &record, now)
        .await?
    {
        Ok(())
    } else {
        Err(DeleteSecretError::SecretMissing)
    }
}
