//! OAuth clients (seed 002, with seed 004's scopes and claims): their ids and settings,
//! their registration metadata (grant types, scope tokens, redirect URIs), the rules a
//! creation or an update must satisfy, their stored form, their named secrets, and
//! [`ClientAuthenticator`], the one place a presented client secret is checked.

mod authenticator;
mod draft;
mod metadata;
mod record;
pub mod secrets;
mod service;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::serialize_as_str;
pub use crate::ids::ClientId;
use crate::ids::TenantId;

pub use authenticator::{
    spawn_use_flush, AuthenticatedClient, ClientAuthError, ClientAuthenticator,
    LAST_USED_FLUSH_INTERVAL,
};
pub use draft::{ClientDraft, REQUIRED_ON_CREATION};
pub use metadata::{
    scope_string, GrantType, RedirectUri, ScopeToken, MAX_REDIRECT_URI_LEN, MAX_SCOPE_TOKEN_LEN,
};
pub use service::{
    add_secret, builtin_client, builtin_settings, client_with_secrets, create_client,
    delete_client, delete_secret, get_client, list_clients, update_client, AddSecretError,
    ClientError, ClientPolicy, ClientWithSecrets, CreateClientError, CreatedClient,
    DeleteSecretError, RequestedSecret, UpdateClientError,
};

/// `[limits]`. Caps on what one tenant or client may accumulate.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub clients_per_tenant: usize,
    pub secrets_per_client: usize,
}

pub const MAX_ACCESS_TOKEN_VALIDITY_SECONDS: u32 = 86_400;
pub const MAX_REFRESH_TOKEN_VALIDITY_SECONDS: u32 = 31_536_000;
/// What `refreshTokenValiditySeconds` is when a client does not say.
pub const DEFAULT_REFRESH_TOKEN_VALIDITY_SECONDS: u32 = 86_400;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_DESCRIPTION_LEN: usize = 2048;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_REDIRECT_URIS: usize = 32;
pub const MAX_SCOPES: usize = 64;
pub const MAX_CLAIMS: usize = 64;
pub const MAX_CLAIM_TYPE_LEN: usize = 128;
pub const MAX_CLAIM_VALUE_LEN: usize = 2048;
/// Claims every token gets from Tessera itself; a client may not set them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "tid",
    "sid",
    "auth_time",
    // RFC 7662 §2.2 members of the introspection answer, where the claims also appear.
    "active",
    "token_type",
];

/// Seed 002's `accessType`: whether the client may act while the user is away
/// (`OFFLINE`, refresh tokens) or not (`ONLINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum AccessType {
    Online,
    Offline,
}

impl AccessType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "ONLINE" => Ok(AccessType::Online),
            "OFFLINE" => Ok(AccessType::Offline),
            _ => Err(format!("'{raw}' is not ONLINE or OFFLINE")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::Online => "ONLINE",
            AccessType::Offline => "OFFLINE",
        }
    }
}

/// RFC 6749 §2.1. A `PUBLIC` client has no secret and must use PKCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "CONFIDENTIAL" => Ok(ClientType::Confidential),
            "PUBLIC" => Ok(ClientType::Public),
            _ => Err(format!("'{raw}' is not CONFIDENTIAL or PUBLIC")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "CONFIDENTIAL",
            ClientType::Public => "PUBLIC",
        }
    }
}

/// A claim put into every token of the client (seed 004): `{"type", "value"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "role", "value": "admin"}))]
pub struct Claim {
    /// The claim's name: 1 to 128 characters, not blank.
    #[serde(rename = "type")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    pub claim_type: String,
    /// At most 2048 characters.
    #[schema(max_length = 2048)]
    pub value: String,
}

/// Everything about a client that its admin writes, validated. Serialised, it is the
/// client's API form (seed 002's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSettings {
    pub name: String,
    pub description: String,
    pub business_name: Option<String>,
    pub homepage_url: Option<String>,
    pub access_token_validity_seconds: u32,
    pub refresh_token_validity_seconds: u32,
    /// As registered (a creation's schema says which URIs may be).
    #[schema(value_type = Vec<String>)]
    pub redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub access_type: AccessType,
    #[serde(rename = "type")]
    pub client_type: ClientType,
    pub internal: bool,
    pub enabled: bool,
    pub strong_auth_supported: bool,
    pub claims_supported: bool,
    pub allowed_scopes: Vec<ScopeToken>,
    pub claims: Vec<Claim>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub tenant_id: TenantId,
    pub settings: ClientSettings,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Bumped by every update; an update applies only to the version it was based on.
    pub version: i64,
}

/// Where a listing of clients goes on from: the last client shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPosition {
    pub created: DateTime<Utc>,
    pub id: ClientId,
}

impl ClientPosition {
    pub fn of(client: &Client) -> Self {
        Self {
            created: client.created,
            id: client.id.clone(),
        }
    }
}

impl fmt::Display for ClientPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.created.timestamp_millis(), self.id)
    }
}

impl std::str::FromStr for ClientPosition {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (millis, id) = text.split_once(' ').ok_or(())?;
        Ok(Self {
            created: DateTime::from_timestamp_millis(millis.parse().map_err(drop)?).ok_or(())?,
            id: ClientId::parse(id).map_err(drop)?,
        })
    }
}

/// What a listing of clients is narrowed to: those whose name or id contains this text,
/// ignoring case. Held as typed: the database folds the case of both sides with the same
/// `LOWER`, so text and names compare alike whatever letters that folds (ASCII only on
/// SQLite). The longest is [`ClientSearch::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSearch(String);

impl ClientSearch {
    pub const MAX_LEN: usize = 200;

    /// `None` for an empty text (no narrowing: what a blank search box sends).
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err(format!("at most {} characters", Self::MAX_LEN));
        }
        Ok((!raw.is_empty()).then(|| ClientSearch(raw.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

serialize_as_str!(AccessType, ClientType, GrantType, RedirectUri, ScopeToken);

/// URL-safe base64 of `bytes`, the text form of generated secrets.
fn url_safe(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_kept_as_typed_and_bounded() {
        assert_eq!(ClientSearch::parse(""), Ok(None));
        let search = ClientSearch::parse("Demo ÄPI").unwrap().unwrap();
        assert_eq!(search.as_str(), "Demo ÄPI");
        assert!(ClientSearch::parse(&"é".repeat(ClientSearch::MAX_LEN)).is_ok());
        assert!(ClientSearch::parse(&"a".repeat(ClientSearch::MAX_LEN + 1)).is_err());
    }

    #[test]
    fn positions_round_trip() {
        let position = ClientPosition {
            created: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            id: ClientId::generate(),
        };
        assert_eq!(position.to_string().parse(), Ok(position));
        assert!("nonsense".parse::<ClientPosition>().is_err());
    }
}
