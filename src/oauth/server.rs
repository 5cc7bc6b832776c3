//! [`OAuthServer`]: what the OAuth endpoints share — configuration, keys, the client
//! authenticator, limiters — and the one place a request's client is authenticated
//! (RFC 6749 §2.3). Each endpoint's logic has its own file: `authorize.rs`
//! (`/oauth/authorize`: its rules and the codes it issues), `grants/` (`/oauth/token`),
//! `introspection.rs` and `revocation.rs`; each goes from the raw form body and
//! `Authorization` header to a response value or an [`OAuthError`].

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::OAuthSettings;
use super::{presented_client, Form, OAuthError};
use crate::changes::Freshness;
use crate::clients::secrets::ClientSecret;
use crate::clients::ScopeToken;
use crate::clients::{AuthenticatedClient, Client, ClientAuthError, ClientAuthenticator};
use crate::ids::SessionId;
use crate::keys::KeyService;
use crate::metrics::{AuthFailure, Limit, Metrics};
use crate::rate_limit::RequestLimiter;
use crate::store::{PresentedRows, Store};
use crate::telemetry::untrusted;
use crate::tokens::access::{issue_for_user, Issue, IssuedToken, UserSession};
use crate::tokens::{DenyList, OpaqueToken, TokenSettings, TokenVerifier};
use tracing::field::display;

pub struct OAuthServer {
    pub(super) issuer: String,
    pub(super) default_audience: String,
    pub(super) resources: Vec<String>,
    pub(super) scopes_supported: Vec<String>,
    pub(super) store: Store,
    pub(super) keys: Arc<KeyService>,
    pub(super) clients: Arc<ClientAuthenticator>,
    pub(super) deny_list: Arc<DenyList>,
    pub(super) verifier: Arc<TokenVerifier>,
    pub(super) token_limiter: RequestLimiter,
    pub(super) introspection_limiter: RequestLimiter,
    pub(super) revocation_limiter: RequestLimiter,
    /// No token outlives the retention of the key that signed it
    /// (`signing.max_token_lifetime_seconds`).
    pub(super) max_token_lifetime: i64,
    pub(super) tokens: TokenSettings,
    /// Ended sessions, whose access tokens the verifier refuses: those this server
    /// ends (reuse, revocation) go in at once; other processes learn of them from the
    /// change feed.
    pub(super) ended_sessions: Arc<DenyList>,
    /// How long after a session ends one of its access tokens could be unexpired.
    pub(super) session_token_horizon: chrono::Duration,
    pub(super) metrics: Arc<Metrics>,
    /// Whether the memory tokens are issued and introspected from is known to be
    /// current (see [`Freshness`]).
    pub(super) freshness: Arc<Freshness>,
}

pub struct OAuthParts {
    pub store: Store,
    pub keys: Arc<KeyService>,
    pub clients: Arc<ClientAuthenticator>,
    pub deny_list: Arc<DenyList>,
    pub verifier: Arc<TokenVerifier>,
    pub token_limiter: RequestLimiter,
    pub introspection_limiter: RequestLimiter,
    pub revocation_limiter: RequestLimiter,
    pub max_token_lifetime_seconds: u64,
    pub tokens: TokenSettings,
    pub ended_sessions: Arc<DenyList>,
    pub session_token_horizon: chrono::Duration,
    pub metrics: Arc<Metrics>,
    pub freshness: Arc<Freshness>,
}

impl OAuthServer {
    pub fn new(issuer: &str, settings: &OAuthSettings, parts: OAuthParts) -> Self {
        OAuthServer {
            issuer: issuer.to_owned(),
            default_audience: settings.default_audience_for(issuer),
            resources: settings.resources.clone(),
            scopes_supported: settings.scopes_supported.clone(),
            store: parts.store,
            keys: parts.keys,
            clients: parts.clients,
            deny_list: parts.deny_list,
            verifier: parts.verifier,
            token_limiter: parts.token_limiter,
            introspection_limiter: parts.introspection_limiter,
            revocation_limiter: parts.revocation_limiter,
            max_token_lifetime: parts.max_token_lifetime_seconds as i64,
            tokens: parts.tokens,
            ended_sessions: parts.ended_sessions,
            session_token_horizon: parts.session_token_horizon,
            metrics: parts.metrics,
            freshness: parts.freshness,
        }
    }

    /// Whether what this process holds in memory (clients, keys, ended sessions) is
    /// known to be current: false while the change feed cannot be read.
    pub fn memory_is_current(&self) -> bool {
        self.freshness.is_current()
    }

    /// 503 unless this process's memory is known to be current: a cached client or
    /// token may have been revoked elsewhere since the change feed was last read.
    pub(super) fn require_current_memory(&self) -> Result<(), OAuthError> {
        if self.memory_is_current() {
            Ok(())
        } else {
            Err(unavailable())
        }
    }

    /// The metrics the OAuth endpoints and the sign-ins count into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metadata(&self) -> super::metadata::ServerMetadata {
        super::metadata::metadata(&self.issuer, &self.scopes_supported)
    }

    /// `[tokens]`: what a session started by a grant is given (see
    /// [`crate::sessions::start`]).
    pub fn token_settings(&self) -> &TokenSettings {
        &self.tokens
    }

    /// Seconds an access token for `client` lives: its `accessTokenValiditySeconds`,
    /// never beyond the retention of the key that signs it.
    pub(crate) fn access_token_lifetime(&self, client: &Client) -> i64 {
        i64::from(client.settings.access_token_validity_seconds).min(self.max_token_lifetime)
    }

    /// An access token for `user`'s session through `client`, for the default audience,
    /// living [`Self::access_token_lifetime`].
    pub(crate) fn issue_session_token(
        &self,
        client: &Client,
        user: &UserSession,
        scopes: &[ScopeToken],
        now: DateTime<Utc>,
    ) -> anyhow::Result<IssuedToken> {
        let issue = Issue {
            keys: &self.keys,
            issuer: &self.issuer,
            client,
            scopes,
            audiences: std::slice::from_ref(&self.default_audience),
            lifetime: self.access_token_lifetime(client),
        };
        issue_for_user(&issue, user, now)
    }

    /// The client `client_id`, enabled or not, from the cache or the database.
    pub(crate) async fn client(&self, client_id: &str) -> anyhow::Result<Option<Arc<Client>>> {
        self.clients.client(client_id).await
    }

    /// Refuses the access tokens of `sessions`, just ended by this server, here at once.
    pub(super) fn sessions_ended(&self, sessions: &[SessionId], now: DateTime<Utc>) {
        let until = (now + self.session_token_horizon).timestamp();
        for session in sessions {
            self.ended_sessions.deny(session.as_str(), until);
        }
    }

    /// The stored refresh token `raw` names, with its session; no lookup for a string
    /// that cannot be one. When the database cannot answer: 503 (or 500), never a
    /// guess.
    pub(super) async fn stored_refresh_token(
        &self,
        raw: &str,
    ) -> Result<Option<PresentedRows>, OAuthError> {
        if !OpaqueToken::is_well_formed(raw) {
            return Ok(None);
        }
        let hash = OpaqueToken::presented(raw).hash();
        self.store
            .refresh_token(hash.as_str())
            .await
            .map_err(unavailable_or_server_error)
    }

    pub fn forget_idle_limits(&self) {
        self.token_limiter.forget_idle();
        self.introspection_limiter.forget_idle();
        self.revocation_limiter.forget_idle();
        self.clients.forget_idle_failures();
    }

    /// Records the client's use of its secret once its request has succeeded, so a
    /// refused request changes nothing stored (see [`ClientAuthenticator::record_use`]).
    pub(super) async fn succeeded<T>(
        &self,
        caller: &AuthenticatedClient,
        outcome: Result<T, OAuthError>,
        now: DateTime<Utc>,
    ) -> Result<T, OAuthError> {
        if outcome.is_ok() {
            self.clients.record_use(caller, now).await;
        }
        outcome
    }

    /// The client making the request (RFC 6749 §2.3): a confidential client by one of
    /// its secrets, or — where `clients` allows it — a public client by its id alone.
    pub(super) async fn authenticate(
        &self,
        authorization: Option<&str>,
        form: &Form,
        source: IpAddr,
        clients: Clients,
        limiter: &RequestLimiter,
        now: DateTime<Utc>,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let presented = presented_client(authorization, form)?;
        let used_basic = presented.method == super::AuthMethod::Basic;
        tracing::Span::current().record("client_id", display(untrusted(&presented.client_id)));
        let authenticated = match presented.secret {
            Some(secret) => {
                let secret = ClientSecret::presented(secrecy::ExposeSecret::expose_secret(&secret));
                self.clients
                    .authenticate(&presented.client_id, &secret, source, now)
                    .await
            }
            None if clients == Clients::PublicToo => {
                self.clients
                    .identify_public(&presented.client_id, source)
                    .await
            }
            None => return Err(OAuthError::InvalidClient { used_basic }),
        };
        let client = authenticated.map_err(|error| match error {
            ClientAuthError::InvalidClient => {
                tracing::info!("client authentication failed");
                self.metrics.authentication_failed(AuthFailure::Client);
                OAuthError::InvalidClient { used_basic }
            }
            ClientAuthError::RateLimited(retry) => {
                self.metrics.rate_limited(Limit::FailedClientAuth);
                OAuthError::RateLimited {
                    retry_after_seconds: retry.0,
                }
            }
            ClientAuthError::Unexpected(error) => unavailable_or_server_error(error),
        })?;
        limiter.check(client.client.id.as_str()).map_err(|retry| {
            self.metrics.rate_limited(Limit::Client);
            OAuthError::RateLimited {
                retry_after_seconds: retry.0,
            }
        })?;
        Ok(client)
    }
}

/// Which clients an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clients {
    /// Only clients that authenticate with a secret (introspection, RFC 7662 §2.1).
    Confidential,
    /// Public clients too, by their id alone (the token and revocation endpoints,
    /// RFC 6749 §3.2.1, RFC 7009 §2.1).
    PublicToo,
}

pub(super) fn server_error(error: anyhow::Error) -> OAuthError {
    tracing::error!(error = format!("{error:#}"), "OAuth request failed");
    OAuthError::ServerError
}

/// How long a caller should wait when the database is unreachable.
const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// 503: the state needed for an answer could not be read (worth retrying).
pub(super) fn unavailable() -> OAuthError {
    OAuthError::Unavailable {
        retry_after_seconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    }
}

/// 503 when the database is unreachable (worth retrying), else 500.
pub(super) fn unavailable_or_server_error(error: anyhow::Error) -> OAuthError {
    if crate::store::is_unavailable(&error) {
        tracing::warn!(error = format!("{error:#}"), "database unavailable");
        OAuthError::Unavailable {
            retry_after_seconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
        }
    } else {
        server_error(error)
    }
}
