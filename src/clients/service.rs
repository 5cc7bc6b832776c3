//! What the API and the token endpoint do with clients, in the order they do it:
//! creation (with its first secret), updates (validated as a whole, applied only to
//! the version they were based on) and new secrets.

use chrono::{DateTime, Utc};

use super::secrets::{ClientSecret, NewSecret, SecretHasher, SecretName, StoredSecret};
use super::LimitSettings;
use super::{Client, ClientDraft, ClientId, ClientSettings, ClientType};
use crate::audit::AuditContext;
use crate::auth::TenantScope;
use crate::store::{InsertClient, InsertSecret, Store};
use crate::tenants::TenantId;

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
    match store
        .insert_client(
            &client,
            initial.as_ref(),
            policy.limits.clients_per_tenant,
            audit,
            now,
        )
        .await?
    {
        InsertClient::Inserted => Ok(CreatedClient { client, secret }),
        InsertClient::TenantMissing => Err(CreateClientError::TenantMissing(client.tenant_id)),
        InsertClient::TooMany(max) => Err(CreateClientError::TooMany(max)),
    }
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
    let current = Store::client_for_update(&mut tx, id, scope)
        .await?
        .ok_or(UpdateClientError::NotFound)?;
    let settings = changes
        .over(ClientDraft::from(&current.settings))
        .validate()
        .map_err(UpdateClientError::Invalid)?;
    let problems = current.settings.update_problems(&settings);
    if !problems.is_empty() {
        return Err(UpdateClientError::Invalid(problems));
    }
    let updated = Store::update_client(&mut tx, &current, &settings, audit, now).await?;
    tx.commit().await?;
    Ok(updated)
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

/// Adds a named secret to `client`; the secret is returned in clear this once.
#[tracing::instrument(skip_all, fields(client_id = %client.id))]
pub async fn add_secret(
    store: &Store,
    policy: &ClientPolicy,
    client: &Client,
    name: SecretName,
    expires_at: Option<DateTime<Utc>>,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(StoredSecret, ClientSecret), AddSecretError> {
    if client.settings.client_type == ClientType::Public {
        return Err(AddSecretError::PublicClient);
    }
    let (new, secret) = NewSecret::generate(name, expires_at, &policy.hasher);
    match store
        .insert_secret(
            client,
            &new,
            policy.limits.secrets_per_client,
            audit,
            millis(now),
        )
        .await?
    {
        InsertSecret::Inserted(stored) => Ok((stored, secret)),
        InsertSecret::DuplicateName => {
            Err(AddSecretError::DuplicateName(new.name.as_str().to_owned()))
        }
        InsertSecret::TooMany(max) => Err(AddSecretError::TooMany(max)),
        InsertSecret::ClientMissing => Err(AddSecretError::ClientMissing),
    }
}
