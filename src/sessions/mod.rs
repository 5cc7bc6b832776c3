//! Users' sessions (issue 10): a user signed in to a tenant through a client, from the
//! authorization code exchange (and, next, the token API) until it ends. A session is
//! also its refresh token family (RFC 9700 §4.14): ending it revokes every refresh
//! token of it at once and, through the `sid` of its access tokens, those too.
//!
//! This module owns starting a session ([`start`]), ending sessions ([`end`]: one, all
//! of a user's, or a user's in one tenant) and the refresh rules: what a presented
//! refresh token gets is a pure decision in [`refresh`]; [`refresh::refresh`] loads,
//! decides and stores (a rotation conditionally, the rest under lock); [`switch`] moves a session to another
//! tenant; [`idle_timeout`] is a tenant's idle token timeout (what it does to sessions
//! is checked where their tokens are, [`crate::tokens::session_state`]). Rows live in
//! `store/sessions.rs`.
//!
//! Ending writes a [`crate::store::Change::SessionEnded`] per session in the same
//! transaction; every process then refuses the session's access tokens (see
//! [`crate::tokens::TokenVerifier`]) within one feed poll.

pub mod idle_timeout;
pub mod refresh;
mod seal;
pub mod switch;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clients::{scope_string, GrantType, ScopeToken};
use crate::clients::{AccessType, Client};
use crate::store::{RefreshTokenRecord, SessionFilter, SessionRecord, Store, WriteTx};
use crate::tenants::TenantId;
use crate::tokens::{OpaqueToken, TokenSettings};

pub use crate::ids::{SessionId, UserId};

/// What starts a session: who signed in, where, through which client, for what, when.
#[derive(Debug, Clone)]
pub struct StartSession {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub client: Arc<Client>,
    pub scope: Vec<ScopeToken>,
    /// When the user authenticated (a token's `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// Whether the session gets a refresh family: for a grant, [`offers_refresh`]; for
    /// the first-party token API, an `OFFLINE` internal client.
    pub refresh_token: bool,
}

/// A session just started.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub session_id: SessionId,
    /// The first refresh token, in clear: shown once, to the client, never stored. Only
    /// for a client with the `REFRESH_TOKEN` grant and `accessType: OFFLINE`.
    pub refresh_token: Option<OpaqueToken>,
    /// Seconds until `refresh_token` expires.
    pub refresh_expires_in: Option<u64>,
}

/// Whether sessions of `client` get refresh tokens: only a client allowed the grant and
/// meant to act while the user is away (seed 002's `accessType: OFFLINE`).
pub fn offers_refresh(client: &Client) -> bool {
    client
        .settings
        .grant_types
        .contains(&GrantType::RefreshToken)
        && client.settings.access_type == AccessType::Offline
}

/// Whether first-party sessions (the token API's sign-in and switch) of the internal
/// `client` get refresh tokens: `OFFLINE` suffices, the token API being their grant.
pub fn first_party_offers_refresh(client: &Client) -> bool {
    client.settings.internal && client.settings.access_type == AccessType::Offline
}

/// Starts a session, and its refresh family when `request.refresh_token` says so.
/// In the caller's write transaction, so a code exchange (code used, session started)
/// is one atomic unit. Two inserts at most; the session id is for the access token
/// (see [`crate::tokens::access::issue_for_user`]).
#[tracing::instrument(skip_all, fields(client_id = %request.client.id))]
pub async fn start(
    tx: &mut WriteTx,
    request: StartSession,
    settings: &TokenSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<StartedSession> {
    let now_millis = now.timestamp_millis();
    let session_id = SessionId::generate();
    let family_expires_at = now + settings.refresh_family_lifetime();
    let session = SessionRecord {
        id: session_id.as_str().to_owned(),
        user_id: request.user_id.as_str().to_owned(),
        tenant_id: request.tenant_id.as_str().to_owned(),
        client_id: request.client.id.as_str().to_owned(),
        scope: scope_string(&request.scope),
        auth_time: request.auth_time.timestamp_millis(),
        created_at: now_millis,
        last_active_at: now_millis,
        family_expires_at: family_expires_at.timestamp_millis(),
        ended_at: None,
        end_reason: None,
        switched_at: None,
    };
    Store::insert_session(tx, &session).await?;
    if !request.refresh_token {
        return Ok(StartedSession {
            session_id,
            refresh_token: None,
            refresh_expires_in: None,
        });
    }
    let (token, expires_at) = first_refresh_token(
        tx,
        &session_id,
        &request.client,
        &session.scope,
        family_expires_at,
        now,
    )
    .await?;
    Ok(StartedSession {
        session_id,
        refresh_token: Some(token),
        refresh_expires_in: Some(seconds_until(expires_at, now)),
    })
}

/// Stores the first refresh token of a family (a new session, or one that moved to
/// another client at a switch): unused, no successor. Returns it in clear, once, and
/// when it expires.
async fn first_refresh_token(
    tx: &mut WriteTx,
    session_id: &SessionId,
    client: &Client,
    scope: &str,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<(OpaqueToken, DateTime<Utc>)> {
    let token = OpaqueToken::generate();
    let expires_at = refresh::token_expiry(client, family_expires_at, now);
    Store::insert_refresh_token(
        tx,
        &RefreshTokenRecord {
            token_hash: token.hash().as_str().to_owned(),
            session_id: session_id.as_str().to_owned(),
            client_id: client.id.as_str().to_owned(),
            scope: scope.to_owned(),
            created_at: now.timestamp_millis(),
            expires_at: expires_at.timestamp_millis(),
            used_at: None,
            successor_hash: None,
            successor_sealed: None,
        },
    )
    .await?;
    Ok((token, expires_at))
}

/// Whole seconds from `now` until `at`, none when it has passed.
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (at - now).num_seconds().max(0) as u64
}

/// Which sessions [`end`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending<'a> {
    Session(&'a SessionId),
    /// Every session of the user (disabled, deleted, new password, revoke-all).
    User(&'a UserId),
    /// The user's sessions in one tenant (its membership there ended).
    UserInTenant(&'a UserId, &'a TenantId),
}

/// Why a session ended, as stored (`end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    /// A used refresh token of the family was presented again (RFC 9700 §4.14.2).
    RefreshTokenReuse,
    /// A refresh token of the family was revoked (RFC 7009).
    Revoked,
    /// The authorization code that started it was presented again (RFC 6749 §4.1.2).
    CodeReplayed,
    UserDisabled,
    UserDeleted,
    PasswordChanged,
    MembershipRemoved,
    /// Every session of the user was revoked (issue 11).
    RevokedAll,
    /// Unused for longer than its tenant's idle token timeout (seed 003).
    IdleTimeout,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::RefreshTokenReuse => "refresh_token_reuse",
            EndReason::Revoked => "revoked",
            EndReason::CodeReplayed => "code_replayed",
            EndReason::UserDisabled => "user_disabled",
            EndReason::UserDeleted => "user_deleted",
            EndReason::PasswordChanged => "password_changed",
            EndReason::MembershipRemoved => "membership_removed",
            EndReason::RevokedAll => "revoked_all",
            EndReason::IdleTimeout => crate::tokens::session_state::IDLE_TIMEOUT_REASON,
        }
    }
}

/// Ends the sessions `which` names that are still going, in the caller's transaction:
/// their refresh tokens fail from the commit on, and a change per session tells every
/// process to refuse their access tokens. Returns the sessions ended (none, if all had
/// ended already). Make it the transaction's last step: the changes draw their sequence
/// numbers then, so the window in which other processes see them as a gap stays short
/// (`changes::plan`). After the commit, apply each [`Change::SessionEnded`] to this
/// process so it takes effect here at once (`ChangeFeed::committed`, or the ended ids
/// straight into the verifier's deny-list, as the OAuth server does).
///
/// [`Change::SessionEnded`]: crate::store::Change::SessionEnded
#[tracing::instrument(skip_all, fields(reason = reason.as_str()))]
pub async fn end(
    tx: &mut WriteTx,
    which: Ending<'_>,
    reason: EndReason,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<SessionId>> {
    let filter = match which {
        Ending::Session(id) => SessionFilter::One(id.as_str()),
        Ending::User(user) => SessionFilter::User(user.as_str()),
        Ending::UserInTenant(user, tenant) => SessionFilter::UserInTenant {
            user: user.as_str(),
            tenant: tenant.as_str(),
        },
    };
    let ended = Store::end_sessions(tx, filter, reason.as_str(), now.timestamp_millis()).await?;
    if !ended.is_empty() {
        tracing::info!(count = ended.len(), "sessions ended");
    }
    ended
        .iter()
        .map(|id| {
            SessionId::parse(id).map_err(|problem| anyhow::anyhow!("corrupt session id: {problem}"))
        })
        .collect()
}

/// Logout (`DELETE /api/v1/tokens/me`): ends `session` in a transaction of its own.
/// Returns it when it was still going on.
#[tracing::instrument(skip_all, fields(session_id = %session))]
pub async fn logout(
    store: &Store,
    session: &SessionId,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<SessionId>> {
    let mut tx = store.begin_write().await?;
    let ended = end(&mut tx, Ending::Session(session), EndReason::Logout, now).await?;
    tx.commit().await?;
    Ok(ended)
}
