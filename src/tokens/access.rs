//! Issuing JWT access tokens (RFC 9068) to clients.

use chrono::{DateTime, Duration, Utc};

use super::{AccessClaims, Audience, ACCESS_TOKEN_TYPE};
use crate::clients::Client;
use crate::clients::{scope_string, ScopeToken};
use crate::keys::KeyService;

#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// A token for the client itself (`sub` is the client id): the `client_credentials`
/// grant. It lives `lifetime` seconds.
pub fn issue_for_client(
    keys: &KeyService,
    issuer: &str,
    client: &Client,
    scopes: &[ScopeToken],
    audiences: &[String],
    lifetime: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<IssuedToken> {
    let scope = scope_string(scopes);
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: client.id.to_string(),
        aud: Audience::of(audiences),
        exp: (now + Duration::seconds(lifetime)).timestamp(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: crate::ids::random_id(),
        client_id: client.id.to_string(),
        scope: scope.clone(),
        tid: client.tenant_id.to_string(),
        sid: None,
        auth_time: None,
        extra: client
            .settings
            .claims
            .iter()
            .map(|claim| (claim.claim_type.clone(), claim.value.clone().into()))
            .collect(),
    };
    let access_token = keys.sign(ACCESS_TOKEN_TYPE, &claims, now)?;
    Ok(IssuedToken {
        access_token,
        expires_in: lifetime,
        scope,
    })
}
