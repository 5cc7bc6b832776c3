//! A client as the store keeps it ([`ClientRecord`]: lists and claims as JSON text,
//! instants in milliseconds) and back, written once for every read and write; and the
//! reads that return clients and their secrets in their domain form.

use anyhow::Context;

use super::secrets::StoredSecret;
use super::{
    AccessType, Client, ClientId, ClientSettings, ClientType, GrantType, RedirectUri, ScopeToken,
    TenantId,
};
use crate::ids::TenantScope;
use crate::store::{from_millis, to_millis, ClientRecord, Store};

fn parse_list<T>(json: &str, parse: impl Fn(&str) -> Result<T, String>) -> anyhow::Result<Vec<T>> {
    let texts: Vec<String> = serde_json::from_str(json)?;
    texts
        .iter()
        .map(|text| parse(text).map_err(anyhow::Error::msg))
        .collect()
}

fn list_text<'a>(items: impl Iterator<Item = &'a str>) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&items.collect::<Vec<_>>())?)
}

impl TryFrom<ClientRecord> for Client {
    type Error = anyhow::Error;

    fn try_from(row: ClientRecord) -> anyhow::Result<Self> {
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

impl Client {
    /// The row this client is stored as.
    pub fn to_record(&self) -> anyhow::Result<ClientRecord> {
        let settings = &self.settings;
        Ok(ClientRecord {
            id: self.id.as_str().to_owned(),
            tenant_id: self.tenant_id.as_str().to_owned(),
            name: settings.name.clone(),
            description: settings.description.clone(),
            business_name: settings.business_name.clone(),
            homepage_url: settings.homepage_url.clone(),
            access_token_validity_seconds: settings.access_token_validity_seconds.into(),
            refresh_token_validity_seconds: settings.refresh_token_validity_seconds.into(),
            redirect_uris: list_text(settings.redirect_uris.iter().map(RedirectUri::as_str))?,
            grant_types: list_text(settings.grant_types.iter().map(|g| g.as_str()))?,
            access_type: settings.access_type.as_str().to_owned(),
            client_type: settings.client_type.as_str().to_owned(),
            internal: settings.internal,
            enabled: settings.enabled,
            strong_auth_supported: settings.strong_auth_supported,
            claims_supported: settings.claims_supported,
            allowed_scopes: list_text(settings.allowed_scopes.iter().map(ScopeToken::as_str))?,
            claims: serde_json::to_string(&settings.claims)?,
            version: self.version,
            created_at: to_millis(self.created),
            updated_at: to_millis(self.modified),
        })
    }
}

/// The stored client `id`, if it is in `scope`.
pub(super) async fn read_client(
    store: &Store,
    id: &ClientId,
    scope: &TenantScope,
) -> anyhow::Result<Option<Client>> {
    store
        .client(id, scope)
        .await?
        .map(Client::try_from)
        .transpose()
}

/// The stored secrets of the client `id`, oldest first.
pub(super) async fn read_secrets(
    store: &Store,
    id: &ClientId,
) -> anyhow::Result<Vec<StoredSecret>> {
    let rows = store.client_secrets(id).await?;
    Ok(rows.into_iter().map(StoredSecret::from).collect())
}
