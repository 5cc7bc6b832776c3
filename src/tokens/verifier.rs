//! The one verifier of the tokens Tessera issued, with a check per purpose.
//!
//! Every purpose requires: a published, unrevoked key of the header's algorithm and a
//! valid signature (see [`KeyService::verify`]), `typ: at+jwt`, this server's `iss`, an
//! `exp` still ahead by this server's clock (no leeway: a token past its `exp` is over
//! here, whatever a resource server's skew allows), `nbf` and `iat` not further ahead
//! than the clock-skew leeway, and a `jti` not on the deny-list. Then each purpose adds
//! its own rules on audience, client and scope. A user's token (one with a session,
//! `sid`, issued to a client) must also be honoured by its session, whatever the
//! purpose: not ended, still in the token's tenant, not idle too long (see
//! [`SessionStates`]); each such use counts as activity unless the caller says not.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::claims::{
    api_audience, AccessClaims, ACCESS_TOKEN_TYPE, SELF_CLIENT_ID, TENANT_ADMIN_SCOPE,
};
use super::session_state::{Activity, SessionRefusal, SessionStates};
use super::DenyList;
use crate::keys::{JwtError, KeyService, Origin};

/// What a token is being accepted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An access token issued through a client: what introspection reports on.
    ClientAccess,
    /// A tenant admin token, for Tessera's own API.
    TenantAdmin,
    /// Any token Tessera issued and still honours, whatever it is for (revocation
    /// decides by whom it was issued to).
    Any,
    /// A user's access token, from any client, for the token API (`/api/v1/tokens/me`,
    /// the switch, logout): one for the default audience or Tessera's API. A token a
    /// client narrowed to another resource (RFC 8707) is that resource's alone: were
    /// Tessera to take it, the resource server could switch or end the user's session.
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("revoked")]
    Revoked,
    #[error("not a token for this purpose")]
    WrongPurpose,
    /// The session's state could not be read: no answer either way.
    #[error("the session state cannot be read")]
    Unavailable,
}

/// A token that passed every check of its purpose.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub kid: String,
    pub origin: Origin,
    /// For a user's token whose tenant has an idle timeout: when its session dies if
    /// not used again.
    pub idle_expires_at: Option<DateTime<Utc>>,
}

pub struct TokenVerifier {
    keys: Arc<KeyService>,
    deny_list: Arc<DenyList>,
    ended_sessions: Arc<DenyList>,
    sessions: Arc<SessionStates>,
    issuer: String,
    api_audience: String,
    default_audience: String,
    leeway_seconds: i64,
}

impl TokenVerifier {
    pub fn new(
        keys: Arc<KeyService>,
        deny_list: Arc<DenyList>,
        ended_sessions: Arc<DenyList>,
        sessions: Arc<SessionStates>,
        issuer: &str,
        default_audience: &str,
        leeway_seconds: u64,
    ) -> Self {
        TokenVerifier {
            keys,
            deny_list,
            ended_sessions,
            sessions,
            issuer: issuer.to_owned(),
            api_audience: api_audience(issuer),
            default_audience: default_audience.to_owned(),
            leeway_seconds: leeway_seconds as i64,
        }
    }

    /// The session states this verifier consults.
    pub fn sessions(&self) -> &SessionStates {
        &self.sessions
    }

    /// [`TokenVerifier::verify_with`], the use counting as activity.
    pub async fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, TokenError> {
        self.verify_with(token, purpose, Activity::Touch, now).await
    }

    /// `token`, if it passes every check of `purpose` at `now`; for a user's token,
    /// `activity` says whether this use counts as its session's activity.
    pub async fn verify_with(
        &self,
        token: &str,
        purpose: Purpose,
        activity: Activity,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, TokenError> {
        let verified = self.keys.verify(token, now).await?;
        if verified.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::WrongPurpose);
        }
        let claims: AccessClaims = serde_json::from_value(verified.claims.into())
            .map_err(|_| TokenError::Jwt(JwtError::Malformed))?;
        let mut token = VerifiedToken {
            claims,
            kid: verified.kid,
            origin: verified.origin,
            idle_expires_at: None,
        };
        self.check_common(&token.claims, now)?;
        self.check_purpose(&token, purpose)?;
        if is_user_token(&token.claims) {
            token.idle_expires_at = self
                .sessions
                .check(&token.claims, activity, now)
                .await
                .map_err(|refusal| match refusal {
                    SessionRefusal::Refused => TokenError::Revoked,
                    SessionRefusal::Unexpected(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "cannot read a session's state"
                        );
                        TokenError::Unavailable
                    }
                })?;
        }
        Ok(token)
    }

    fn check_common(&self, claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let now = now.timestamp();
        if claims.iss != self.issuer {
            return Err(TokenError::WrongPurpose);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + self.leeway_seconds {
            return Err(TokenError::IssuedInFuture);
        }
        // A revoked token cannot come back when the deny-list forgets it at `exp`: by
        // then the check above refuses it.
        if self.deny_list.is_denied(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        if claims
            .sid
            .as_deref()
            .is_some_and(|sid| self.ended_sessions.is_denied(sid))
        {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }

    fn check_purpose(&self, token: &VerifiedToken, purpose: Purpose) -> Result<(), TokenError> {
        let claims = &token.claims;
        let fits = match purpose {
            // A client's token never acts as a tenant admin, and a tenant admin token is
            // nothing a client's resource server should accept.
            Purpose::ClientAccess => claims.client_id != SELF_CLIENT_ID,
            Purpose::Any => true,
            Purpose::User => {
                is_user_token(claims)
                    && (claims.aud.contains(&self.default_audience)
                        || claims.aud.contains(&self.api_audience))
            }
            // Only tokens Tessera issued to itself, for its API, with a key it generated:
            // keys imported from another server only keep that server's tokens
            // verifiable.
            Purpose::TenantAdmin => {
                claims.client_id == SELF_CLIENT_ID
                    && claims.sub == format!("tenant-admin:{}", claims.tid)
                    && claims.aud.contains(&self.api_audience)
                    && claims.has_scope(TENANT_ADMIN_SCOPE)
                    && token.origin == Origin::Generated
            }
        };
        fits.then_some(()).ok_or(TokenError::WrongPurpose)
    }
}

/// A token of a user's session, issued to a client (tenant admin tokens also carry a
/// `sid`, their chain, but are Tessera's own).
fn is_user_token(claims: &AccessClaims) -> bool {
    claims.sid.is_some() && claims.client_id != SELF_CLIENT_ID
}
