//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): how long one lives, what a presented
//! one gets, and the rotation that gives it.
//!
//! [`decide`] is the whole rule, a pure function of the stored token, its family (the
//! session), the presenting client and `now`:
//!
//! - a token of another client, of an ended session or of an expired family, or an
//!   expired token, is refused, and nothing changes;
//! - a token of a session idle longer than its tenant's timeout is refused, and the
//!   session ends (`idle_timeout`);
//! - an unused token rotates: it dies, a successor is born, a fresh access token goes
//!   with it;
//! - a used token is reuse, and the family dies — except the *immediate* predecessor
//!   of the live token, presented again by its own client within
//!   `tokens.refresh_grace_seconds` of its rotation: it gets the same successor again
//!   (its holder lost the response), which only it can unseal (see `seal.rs`).
//!
//! [`refresh`] reads the token, its session and the tenant's idle timeout, decides,
//! and for a rotation (nearly every refresh) stores it in one step on the condition
//! that nothing it was decided on has changed: it marks the token used, stores the
//! successor and records the session's activity. Everything else is decided again
//! in a write transaction, on the token's row locked.

use chrono::{DateTime, Duration, Utc};

use super::{end, seal, EndReason, Ending, SessionId, UserId};
use crate::clients::Client;
use crate::clients::ScopeToken;
use crate::store::{
    from_millis, PresentedRows, RefreshTokenRecord, Rotation, SessionRecord, Store,
};
use crate::tenants::TenantId;
use crate::tokens::{IdlePolicy, OpaqueToken, TokenHash, TokenSettings};

/// When a refresh token issued at `now` expires: after its client's
/// `refreshTokenValiditySeconds`, and never after its family does.
pub fn token_expiry(
    client: &Client,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let validity = Duration::seconds(i64::from(client.settings.refresh_token_validity_seconds));
    (now + validity).min(family_expires_at)
}

/// What the decision needs of a stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub client_id: String,
    pub expires_at: DateTime<Utc>,
    /// When it was rotated, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// Its successor is still sealed for the grace period.
    pub successor_sealed: bool,
    /// Its successor has been used in turn (so this one is no longer the immediate
    /// predecessor of the live token).
    pub successor_used: bool,
}

/// What the decision needs of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub ended: bool,
    pub expires_at: DateTime<Utc>,
    /// When the session dies of idleness, if its tenant has an idle timeout (see
    /// [`crate::tokens::session_state::idle_expires_at`]).
    pub idle_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Rotate,
    /// Hand back the successor already issued.
    Grace,
    /// A dead token came back: revoke the family.
    Reuse,
    Refuse(Refusal),
}

/// Why a token is refused without consequence for its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    OtherClient,
    /// The session ended (its family was revoked).
    Ended,
    /// The session was idle longer than its tenant's timeout: it ends now.
    Idle,
    FamilyExpired,
    Expired,
}

/// The rule, at instant `now`, for `token` of `family` presented by `presenter`, with
/// a grace period of `grace` (zero: none). Every instant is a boundary that belongs to
/// the later state: a token is expired at its `expires_at`, and the grace period is
/// over at `used_at + grace`.
pub fn decide(
    token: &StoredToken,
    family: Family,
    presenter: &str,
    grace: Duration,
    now: DateTime<Utc>,
) -> Decision {
    if token.client_id != presenter {
        return Decision::Refuse(Refusal::OtherClient);
    }
    if family.ended {
        return Decision::Refuse(Refusal::Ended);
    }
    if family.idle_expires_at.is_some_and(|at| now >= at) {
        return Decision::Refuse(Refusal::Idle);
    }
    if now >= family.expires_at {
        return Decision::Refuse(Refusal::FamilyExpired);
    }
    if now >= token.expires_at {
        return Decision::Refuse(Refusal::Expired);
    }
    let Some(used_at) = token.used_at else {
        return Decision::Rotate;
    };
    let in_grace = grace > Duration::zero() && now < used_at + grace;
    if in_grace && token.successor_sealed && !token.successor_used {
        Decision::Grace
    } else {
        Decision::Reuse
    }
}

/// A refresh that succeeded: the session it continues and its live refresh token.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub auth_time: DateTime<Utc>,
    /// The scopes of the access token to issue.
    pub scope: Vec<ScopeToken>,
    /// The new refresh token (under grace: the same one as the first time), in clear.
    pub refresh_token: OpaqueToken,
    pub refresh_expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked, another client's: `invalid_grant`, nothing changed.
    #[error("the refresh token is not valid: {0:?}")]
    Refused(Option<Refusal>),
    /// A used token came back: its family (the session) was revoked.
    #[error("a used refresh token was presented again")]
    Reused(SessionId),
    /// A scope asked for is not among the token's.
    #[error("the scope '{0}' was not granted")]
    ScopeWidened(ScopeToken),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What the client asks of a refresh.
#[derive(Debug)]
pub struct RefreshRequest<'a> {
    pub token: &'a OpaqueToken,
    pub client: &'a Client,
    /// The scopes asked for (RFC 6749 §6: no wider than the token's); `None`: the
    /// token's own.
    pub scope: Option<&'a [ScopeToken]>,
}

/// Presents a refresh token: rotation, grace or reuse per [`decide`]. A reuse is
/// committed (the family revoked) before it is reported.
///
/// Most presentations rotate an unused token. That is decided on an unlocked read and
/// stored on the condition that the token is still unused and its session live, in
/// one step ([`Store::rotate_unused_refresh_token`]), so the write lock is held for
/// the writing only. Everything else — a used token, an idle session, a rotation that
/// lost a race to another presentation or to an ending — is decided again in one
/// write transaction, on the token's row locked ([`decided_under_lock`]).
#[tracing::instrument(skip_all, fields(client_id = %request.client.id))]
pub async fn refresh(
    store: &Store,
    request: RefreshRequest<'_>,
    settings: &TokenSettings,
    now: DateTime<Utc>,
) -> Result<Refreshed, RefreshError> {
    let hash = request.token.hash();
    // A token that is not stored now never will be: successors are stored before
    // anyone learns them.
    let Some(rows) = store.refresh_token(hash.as_str()).await? else {
        return Err(RefreshError::Refused(None));
    };
    if rows.token.used_at.is_none() {
        let (stored, family) = decision_inputs(&rows, None);
        match decide(
            &stored,
            family,
            request.client.id.as_str(),
            settings.refresh_grace(),
            now,
        ) {
            Decision::Rotate => {
                let scope = narrowed(&rows.token.scope, request.scope)?;
                // A corrupt row fails before anything is written, not after.
                let owner = Owner::of(&rows.session)?;
                let next = Successor::new(&request, &rows.token, family, settings, now);
                if store
                    .rotate_unused_refresh_token(&next.rotation(&rows.token, now))
                    .await?
                {
                    return Ok(owner.refreshed(scope, next.token, next.expires_at, now));
                }
                tracing::debug!("an unlocked rotation lost a race; deciding under lock");
            }
            // What refuses a token without consequence never reverts (an ending, an
            // expiry, the client): no lock needed to say so.
            Decision::Refuse(refusal) if refusal != Refusal::Idle => {
                tracing::info!(?refusal, "refresh token refused");
                return Err(RefreshError::Refused(Some(refusal)));
            }
            Decision::Refuse(_) | Decision::Grace | Decision::Reuse => {}
        }
    }
    decided_under_lock(store, request, settings, now).await
}

/// [`refresh`] in one write transaction: the token's row locked, its successor read
/// (a used token's), decided, and what the decision writes committed.
async fn decided_under_lock(
    store: &Store,
    request: RefreshRequest<'_>,
    settings: &TokenSettings,
    now: DateTime<Utc>,
) -> Result<Refreshed, RefreshError> {
    let hash = request.token.hash();
    let mut tx = store.begin_write().await?;
    let Some(rows) = Store::presented_refresh_token(&mut tx, hash.as_str()).await? else {
        return Err(RefreshError::Refused(None));
    };
    let token = &rows.token;
    let successor = match (&token.used_at, &token.successor_hash) {
        (Some(_), Some(successor)) => Store::refresh_token_in(&mut tx, successor).await?,
        _ => None,
    };
    let (stored, family) = decision_inputs(&rows, successor.as_ref());
    let session_id = parse_stored(SessionId::parse(&rows.session.id))?;
    let decision = decide(
        &stored,
        family,
        request.client.id.as_str(),
        settings.refresh_grace(),
        now,
    );
    match decision {
        Decision::Refuse(Refusal::Idle) => {
            end(
                &mut tx,
                Ending::Session(&session_id),
                EndReason::IdleTimeout,
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(session_id = %session_id, "refresh refused: the session was idle too long");
            return Err(RefreshError::Refused(Some(Refusal::Idle)));
        }
        Decision::Refuse(refusal) => {
            tracing::info!(?refusal, "refresh token refused");
            return Err(RefreshError::Refused(Some(refusal)));
        }
        Decision::Reuse => {
            end(
                &mut tx,
                Ending::Session(&session_id),
                EndReason::RefreshTokenReuse,
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(session_id = %session_id, "refresh token reuse: session revoked");
            return Err(RefreshError::Reused(session_id));
        }
        Decision::Grace | Decision::Rotate => {}
    }
    let scope = narrowed(&token.scope, request.scope)?;
    let owner = Owner::of(&rows.session)?;
    if decision == Decision::Rotate {
        let next = Successor::new(&request, token, family, settings, now);
        Store::rotate_refresh_token(&mut tx, &next.rotation(token, now)).await?;
        tx.commit().await?;
        return Ok(owner.refreshed(scope, next.token, next.expires_at, now));
    }
    // Grace: nothing to write, the successor was stored at the rotation.
    let (Some(sealed), Some(next)) = (&token.successor_sealed, &successor) else {
        return Err(RefreshError::Refused(None));
    };
    if from_millis(next.expires_at) <= now {
        return Err(RefreshError::Refused(Some(Refusal::Expired)));
    }
    let next_hash = TokenHash::stored(next.token_hash.clone());
    let opened = seal::open(request.token, sealed, &next_hash)
        .ok_or_else(|| anyhow::anyhow!("a sealed successor does not open with its predecessor"))?;
    tracing::info!("refresh token presented again within the grace period");
    Ok(owner.refreshed(scope, opened, from_millis(next.expires_at), now))
}

/// What [`decide`] reads of the stored rows: the token (with its `successor`, if it
/// was used and the successor is still stored) and its family.
fn decision_inputs(
    rows: &PresentedRows,
    successor: Option<&RefreshTokenRecord>,
) -> (StoredToken, Family) {
    let PresentedRows {
        token,
        session,
        idle_timeout,
    } = rows;
    let stored = StoredToken {
        client_id: token.client_id.clone(),
        expires_at: from_millis(token.expires_at),
        used_at: token.used_at.map(from_millis),
        successor_sealed: token.successor_sealed.is_some(),
        successor_used: successor.is_none_or(|next| next.used_at.is_some()),
    };
    let idle = idle_timeout.as_ref().and_then(IdlePolicy::of);
    let family = Family {
        ended: session.ended_at.is_some(),
        expires_at: from_millis(session.family_expires_at),
        idle_expires_at: idle.map(|policy| policy.expires_at(session.last_active_at)),
    };
    (stored, family)
}

/// The successor a rotation stores: a new token, in clear for the client, and its row.
struct Successor {
    token: OpaqueToken,
    expires_at: DateTime<Utc>,
    record: RefreshTokenRecord,
    /// The successor sealed for its predecessor, for the grace period (if there is one).
    sealed: Option<String>,
}

impl Successor {
    fn new(
        request: &RefreshRequest<'_>,
        used: &RefreshTokenRecord,
        family: Family,
        settings: &TokenSettings,
        now: DateTime<Utc>,
    ) -> Self {
        let token = OpaqueToken::generate();
        let expires_at = token_expiry(request.client, family.expires_at, now);
        let sealed =
            (settings.refresh_grace_seconds > 0).then(|| seal::seal(request.token, &token));
        let record = RefreshTokenRecord {
            token_hash: token.hash().as_str().to_owned(),
            session_id: used.session_id.clone(),
            client_id: used.client_id.clone(),
            // RFC 6749 §6: a new refresh token has the scope of the one it replaces,
            // whatever the access token was narrowed to.
            scope: used.scope.clone(),
            created_at: now.timestamp_millis(),
            expires_at: expires_at.timestamp_millis(),
            used_at: None,
            successor_hash: None,
            successor_sealed: None,
        };
        Successor {
            token,
            expires_at,
            record,
            sealed,
        }
    }

    fn rotation<'a>(&'a self, used: &'a RefreshTokenRecord, now: DateTime<Utc>) -> Rotation<'a> {
        Rotation {
            used_hash: &used.token_hash,
            successor: &self.record,
            sealed: self.sealed.as_deref(),
            now: now.timestamp_millis(),
        }
    }
}

/// Whose session a refresh continues, read off its row.
struct Owner {
    session_id: SessionId,
    user_id: UserId,
    tenant_id: TenantId,
    auth_time: DateTime<Utc>,
}

impl Owner {
    fn of(session: &SessionRecord) -> Result<Self, RefreshError> {
        Ok(Owner {
            session_id: parse_stored(SessionId::parse(&session.id))?,
            user_id: parse_stored(UserId::parse(&session.user_id))?,
            tenant_id: parse_stored(TenantId::parse(&session.tenant_id))?,
            auth_time: from_millis(session.auth_time),
        })
    }

    fn refreshed(
        self,
        scope: Vec<ScopeToken>,
        refresh_token: OpaqueToken,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Refreshed {
        Refreshed {
            session_id: self.session_id,
            user_id: self.user_id,
            tenant_id: self.tenant_id,
            auth_time: self.auth_time,
            scope,
            refresh_token,
            refresh_expires_in: super::seconds_until(expires_at, now),
        }
    }
}

/// The scopes of the refreshed access token: those asked for, each of which the token
/// must have been granted, or else all the token's.
fn narrowed(
    granted: &str,
    requested: Option<&[ScopeToken]>,
) -> Result<Vec<ScopeToken>, RefreshError> {
    let granted: Vec<ScopeToken> = granted
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(ScopeToken::parse)
        .collect::<Result<_, _>>()
        .map_err(|problem| anyhow::anyhow!("corrupt refresh token scope: {problem}"))?;
    let Some(requested) = requested else {
        return Ok(granted);
    };
    match requested.iter().find(|scope| !granted.contains(scope)) {
        Some(wider) => Err(RefreshError::ScopeWidened(wider.clone())),
        None => Ok(requested.to_vec()),
    }
}

fn parse_stored<T>(parsed: Result<T, String>) -> anyhow::Result<T> {
    parsed.map_err(|problem| anyhow::anyhow!("corrupt session row: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: i64 = 10;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn unused() -> StoredToken {
        StoredToken {
            client_id: "app".into(),
            expires_at: at(1_000),
            used_at: None,
            successor_sealed: false,
            successor_used: false,
        }
    }

    /// Rotated at `used_at`, its successor sealed and unused.
    fn rotated(used_at: i64) -> StoredToken {
        StoredToken {
            used_at: Some(at(used_at)),
            successor_sealed: true,
            ..unused()
        }
    }

    fn live() -> Family {
        Family {
            ended: false,
            expires_at: at(5_000),
            idle_expires_at: None,
        }
    }

    fn decide_at(token: &StoredToken, family: Family, now: i64) -> Decision {
        decide(token, family, "app", Duration::seconds(GRACE), at(now))
    }

    #[test]
    fn an_unused_token_rotates_until_it_expires() {
        assert_eq!(decide_at(&unused(), live(), 0), Decision::Rotate);
        assert_eq!(decide_at(&unused(), live(), 999), Decision::Rotate);
        assert_eq!(
            decide_at(&unused(), live(), 1_000),
            Decision::Refuse(Refusal::Expired)
        );
    }

    #[test]
    fn a_family_ends_at_its_absolute_lifetime() {
        let family = Family {
            expires_at: at(500),
            ..live()
        };
        assert_eq!(decide_at(&unused(), family, 499), Decision::Rotate);
        assert_eq!(
            decide_at(&unused(), family, 500),
            Decision::Refuse(Refusal::FamilyExpired)
        );
    }

    #[test]
    fn an_idle_session_refuses_from_its_idle_expiry_on() {
        let family = Family {
            idle_expires_at: Some(at(200)),
            ..live()
        };
        assert_eq!(decide_at(&unused(), family, 199), Decision::Rotate);
        assert_eq!(
            decide_at(&unused(), family, 200),
            Decision::Refuse(Refusal::Idle)
        );
        assert_eq!(
            decide_at(&rotated(199), family, 200),
            Decision::Refuse(Refusal::Idle),
            "no grace for an idle session"
        );
    }

    #[test]
    fn only_its_own_client_may_present_it() {
        let other = |token: &StoredToken| {
            decide(token, live(), "intruder", Duration::seconds(GRACE), at(1))
        };
        assert_eq!(other(&unused()), Decision::Refuse(Refusal::OtherClient));
        // Not even a dead one: another client's try is no reason to revoke the family.
        assert_eq!(other(&rotated(0)), Decision::Refuse(Refusal::OtherClient));
    }

    #[test]
    fn the_immediate_predecessor_gets_grace_until_the_period_is_over() {
        assert_eq!(decide_at(&rotated(100), live(), 100), Decision::Grace);
        assert_eq!(decide_at(&rotated(100), live(), 109), Decision::Grace);
        assert_eq!(decide_at(&rotated(100), live(), 110), Decision::Reuse);
        assert_eq!(decide_at(&rotated(100), live(), 900), Decision::Reuse);
    }

    #[test]
    fn an_older_token_or_one_without_its_sealed_successor_is_reuse() {
        let older = StoredToken {
            successor_used: true,
            ..rotated(100)
        };
        assert_eq!(decide_at(&older, live(), 101), Decision::Reuse);
        let cleared = StoredToken {
            successor_sealed: false,
            ..rotated(100)
        };
        assert_eq!(decide_at(&cleared, live(), 101), Decision::Reuse);
    }

    #[test]
    fn no_grace_when_it_is_off() {
        let off = |now| decide(&rotated(100), live(), "app", Duration::zero(), at(now));
        assert_eq!(off(100), Decision::Reuse);
        assert_eq!(off(101), Decision::Reuse);
    }

    #[test]
    fn a_revoked_family_refuses_every_token_and_grants_no_grace() {
        let ended = Family {
            ended: true,
            ..live()
        };
        assert_eq!(
            decide_at(&unused(), ended, 1),
            Decision::Refuse(Refusal::Ended)
        );
        assert_eq!(
            decide_at(&rotated(0), ended, 1),
            Decision::Refuse(Refusal::Ended)
        );
    }

    #[test]
    fn an_expired_token_is_refused_used_or_not() {
        let token = StoredToken {
            expires_at: at(105),
            ..rotated(100)
        };
        assert_eq!(decide_at(&token, live(), 104), Decision::Grace);
        assert_eq!(
            decide_at(&token, live(), 105),
            Decision::Refuse(Refusal::Expired)
        );
    }

    #[test]
    fn scope_may_narrow_and_never_widen() {
        let scopes = |names: &[&str]| -> Vec<ScopeToken> {
            names
                .iter()
                .map(|s| ScopeToken::parse(s).unwrap())
                .collect()
        };
        assert_eq!(
            narrowed("read write", None).unwrap(),
            scopes(&["read", "write"])
        );
        assert_eq!(
            narrowed("read write", Some(&scopes(&["write"]))).unwrap(),
            scopes(&["write"])
        );
        assert_eq!(narrowed("", None).unwrap(), scopes(&[]));
        assert!(matches!(
            narrowed("read", Some(&scopes(&["read", "admin"]))),
            Err(RefreshError::ScopeWidened(scope)) if scope.as_str() == "admin"
        ));
    }

    #[test]
    fn a_token_expires_with_its_client_validity_or_its_family() {
        use crate::clients::{AccessType, ClientSettings, ClientType};
        let settings = ClientSettings {
            name: "app".into(),
            description: String::new(),
            business_name: None,
            homepage_url: None,
            access_token_validity_seconds: 300,
            refresh_token_validity_seconds: 60,
            redirect_uris: vec![],
            grant_types: vec![crate::clients::GrantType::RefreshToken],
            access_type: AccessType::Offline,
            client_type: ClientType::Confidential,
            internal: false,
            enabled: true,
            strong_auth_supported: false,
            claims_supported: false,
            allowed_scopes: vec![],
            claims: vec![],
        };
        let client = Client {
            id: crate::clients::ClientId::generate(),
            tenant_id: TenantId::parse("acme").unwrap(),
            settings,
            created: at(0),
            modified: at(0),
            version: 1,
        };
        assert_eq!(token_expiry(&client, at(1_000), at(0)), at(60));
        assert_eq!(token_expiry(&client, at(30), at(0)), at(30));
    }
}
