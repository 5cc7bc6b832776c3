//! Switching a session to another tenant (seed 001, `POST /api/v1/tokens/switch`): the
//! same session (`sid`), now in the new tenant through that tenant's internal client.
//! The user must be enabled and a member of the new tenant. Every refresh token of the
//! session dies and a new one is issued; access tokens of the tenant it left are
//! refused from the commit on (see [`crate::tokens::session_state`]: a token must carry
//! the session's current tenant and be issued no earlier than the second of the switch).
//!
//! One write transaction: the user and membership share-locked first (as the code
//! exchange does, so a concurrent disable or removal is either seen or waits), then the
//! session's refresh tokens and its row (the order a refresh locks them in), the update,
//! the new refresh token, and the change on the feed last.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{first_party_offers_refresh, first_refresh_token, SessionId, UserId};
use crate::clients::{scope_string, Client, ScopeToken};
use crate::store::{from_millis, Store};
use crate::tenants::TenantId;
use crate::tokens::OpaqueToken;

/// What a switch needs: whose session, from which tenant (the presented token's), to
/// which, and the new tenant's internal client.
#[derive(Debug)]
pub struct Switch<'a> {
    pub session_id: &'a SessionId,
    pub user_id: &'a UserId,
    pub from_tenant: &'a TenantId,
    pub to_tenant: &'a TenantId,
    pub client: &'a Arc<Client>,
}

/// A switch that succeeded.
#[derive(Debug)]
pub struct Switched {
    /// The scopes of the new tokens: the session's that the new client allows.
    pub scope: Vec<ScopeToken>,
    pub auth_time: DateTime<Utc>,
    /// In clear, shown once; only for a client that gets refresh tokens.
    pub refresh_token: Option<OpaqueToken>,
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The session ended, expired, or moved meanwhile: the token no longer stands for
    /// it.
    #[error("the session is not in the token's tenant any more")]
    SessionGone,
    /// The user is not an enabled member of the new tenant.
    #[error("not a member of the tenant")]
    NotMember,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Moves the session to `request.to_tenant`, in one transaction.
#[tracing::instrument(skip_all, fields(session_id = %request.session_id, tenant_id = %request.to_tenant))]
pub async fn switch(
    store: &Store,
    request: Switch<'_>,
    now: DateTime<Utc>,
) -> Result<Switched, SwitchError> {
    let now_millis = now.timestamp_millis();
    let mut tx = store.begin_write().await?;
    if !Store::enabled_member_in(
        &mut tx,
        request.user_id.as_str(),
        request.to_tenant.as_str(),
    )
    .await?
    {
        return Err(SwitchError::NotMember);
    }
    Store::lock_refresh_tokens_of(&mut tx, request.session_id.as_str()).await?;
    let session = Store::session_for_update(&mut tx, request.session_id.as_str())
        .await?
        .ok_or(SwitchError::SessionGone)?;
    let same_session = session.ended_at.is_none()
        && session.user_id == request.user_id.as_str()
        && session.tenant_id == request.from_tenant.as_str()
        && now_millis < session.family_expires_at;
    if !same_session {
        return Err(SwitchError::SessionGone);
    }
    let allowed = &request.client.settings.allowed_scopes;
    let scope: Vec<ScopeToken> = session
        .scope
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .filter_map(|scope| ScopeToken::parse(scope).ok())
        .filter(|scope| allowed.contains(scope))
        .collect();
    let scope_text = scope_string(&scope);
    Store::switch_session(
        &mut tx,
        &session.id,
        request.to_tenant.as_str(),
        request.client.id.as_str(),
        &scope_text,
        now_millis,
    )
    .await?;
    let refresh_token = if first_party_offers_refresh(request.client) {
        let family_expires_at = from_millis(session.family_expires_at);
        let (token, _) = first_refresh_token(
            &mut tx,
            request.session_id,
            request.client,
            &scope_text,
            family_expires_at,
            now,
        )
        .await?;
        Some(token)
    } else {
        None
    };
    Store::record_session_switched(&mut tx, request.session_id, now_millis).await?;
    tx.commit().await?;
    tracing::info!("session switched tenant");
    Ok(Switched {
        scope,
        auth_time: from_millis(session.auth_time),
        refresh_token,
    })
}
