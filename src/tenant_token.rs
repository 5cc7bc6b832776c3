//! Tenant admin tokens (seed 000): short-lived JWTs, signed with the active key, that
//! act as an admin of one tenant only, so browsers and scripts need not hold the global
//! admin key. They are RFC 9068 access tokens for Tessera's own API.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{JwtError, KeyService, Origin};
use crate::tenants::TenantId;
use crate::tokens::ACCESS_TOKEN_TYPE;

/// The scope that makes a token a tenant admin's.
pub const TENANT_ADMIN_SCOPE: &str = "tenant:admin";
/// The `client_id` of tokens Tessera issues to itself.
pub const SELF_CLIENT_ID: &str = "tessera";

#[derive(Debug, Serialize, Deserialize)]
struct TenantTokenClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    client_id: String,
    scope: String,
    tid: String,
}

/// The audience of tokens for Tessera's own API.
pub fn api_audience(issuer: &str) -> String {
    format!("{}/api", issuer.trim_end_matches('/'))
}

pub fn issue(
    keys: &KeyService,
    issuer: &str,
    tenant: &TenantId,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let claims = TenantTokenClaims {
        iss: issuer.to_owned(),
        sub: format!("tenant-admin:{tenant}"),
        aud: api_audience(issuer),
        exp: (now + lifetime).timestamp(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: crate::ids::random_id(),
        client_id: SELF_CLIENT_ID.to_owned(),
        scope: TENANT_ADMIN_SCOPE.to_owned(),
        tid: tenant.to_string(),
    };
    keys.sign(ACCESS_TOKEN_TYPE, &claims, now)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenantTokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("not a tenant admin token of this server")]
    NotATenantToken,
}

/// A valid tenant admin token: the tenant it administers and when it was issued.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedTenantToken {
    pub tenant: TenantId,
    /// Unix seconds; a token older than its tenant belongs to a deleted namesake.
    pub issued_at: i64,
}

/// The tenant a valid tenant admin token administers. Whether the tenant still exists,
/// and existed when the token was issued, is the caller's check.
pub async fn verify(
    keys: &KeyService,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedTenantToken, TenantTokenError> {
    let verified = keys.verify(token, now).await?;
    // Keys imported from another server only keep that server's tokens verifiable.
    if verified.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) || verified.origin != Origin::Generated {
        return Err(TenantTokenError::NotATenantToken);
    }
    let claims: TenantTokenClaims = serde_json::from_value(verified.claims.into())
        .map_err(|_| TenantTokenError::NotATenantToken)?;
    let scoped = claims
        .scope
        .split(' ')
        .any(|scope| scope == TENANT_ADMIN_SCOPE);
    // Only tokens Tessera issued to itself: a client's token never acts as a tenant
    // admin, whatever scopes and audience an admin allowed that client.
    let issued_by_tessera =
        claims.client_id == SELF_CLIENT_ID && claims.sub == format!("tenant-admin:{}", claims.tid);
    if claims.iss != issuer || claims.aud != api_audience(issuer) || !scoped || !issued_by_tessera {
        return Err(TenantTokenError::NotATenantToken);
    }
    // Admin rights get no clock-skew grace after `exp`.
    if claims.exp <= now.timestamp() {
        return Err(TenantTokenError::Jwt(JwtError::Expired));
    }
    let tenant = TenantId::parse(&claims.tid).map_err(|_| TenantTokenError::NotATenantToken)?;
    Ok(VerifiedTenantToken {
        tenant,
        issued_at: claims.iat,
    })
}
