//! Issuing JWT access tokens (RFC 9068): to clients for themselves, and to clients for
//! a user's session (`sub` = the user, `sid`, `auth_time`). Both carry the client's
//! configured claims (seed 004) and the tenant (`tid`).

use chrono::{DateTime, Duration, Utc};

use super::{AccessClaims, Audience, ACCESS_TOKEN_TYPE};
use crate::clients::Client;
use crate::clients::{scope_string, ScopeToken};
use crate::ids::{SessionId, TenantId, UserId};
use crate::keys::KeyService;

#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// What a user's session is handed: its access token, its refresh token (when the
/// session has a refresh family), and the session it belongs to.
#[derive(Debug)]
pub struct UserTokens {
    pub access: IssuedToken,
    pub refresh_token: Option<super::OpaqueToken>,
    pub session: UserSession,
}

/// What a token is issued for, besides the client.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The client itself (`sub` is the client id): the `client_credentials` grant.
    Client,
    /// A user signed in to a tenant, in one session.
    User(&'a UserSession),
}

/// The user side of a session's access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub auth_time: DateTime<Utc>,
}

/// What every access token needs to be issued.
pub struct Issue<'a> {
    pub keys: &'a KeyService,
    pub issuer: &'a str,
    pub client: &'a Client,
    pub scopes: &'a [ScopeToken],
    pub audiences: &'a [String],
    /// Seconds.
    pub lifetime: i64,
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
    let issue = Issue {
        keys,
        issuer,
        client,
        scopes,
        audiences,
        lifetime,
    };
    issue_token(&issue, Subject::Client, now)
}

/// A token for `user` in its session through `issue.client` (RFC 9068 §2.2: `sub` is
/// the user, `auth_time` its sign-in; `sid` names the session so ending it ends the
/// token at Tessera).
pub fn issue_for_user(
    issue: &Issue<'_>,
    user: &UserSession,
    now: DateTime<Utc>,
) -> anyhow::Result<IssuedToken> {
    issue_token(issue, Subject::User(user), now)
}

fn issue_token(
    issue: &Issue<'_>,
    subject: Subject<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<IssuedToken> {
    let client = issue.client;
    let scope = scope_string(issue.scopes);
    let (sub, tid, sid, auth_time) = match subject {
        Subject::Client => (
            client.id.to_string(),
            client.tenant_id.to_string(),
            None,
            None,
        ),
        Subject::User(user) => (
            user.user_id.to_string(),
            user.tenant_id.to_string(),
            Some(user.session_id.to_string()),
            Some(user.auth_time.timestamp()),
        ),
    };
    let claims = AccessClaims {
        iss: issue.issuer.to_owned(),
        sub,
        aud: Audience::of(issue.audiences),
        exp: (now + Duration::seconds(issue.lifetime)).timestamp(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: crate::ids::random_id(),
        client_id: client.id.to_string(),
        scope: scope.clone(),
        tid,
        sid,
        auth_time,
        extra: client
            .settings
            .claims
            .iter()
            .map(|claim| (claim.claim_type.clone(), claim.value.clone().into()))
            .collect(),
    };
    let access_token = issue.keys.sign(ACCESS_TOKEN_TYPE, &claims, now)?;
    Ok(IssuedToken {
        access_token,
        expires_in: issue.lifetime,
        scope,
    })
}
