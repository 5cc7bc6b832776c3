//! The login page's logic (RFC 6749 §4.1.1, §10.12; RFC 9700 §4.1): for an
//! authorization request that [`crate::oauth::authorize`] accepted, sign the user in,
//! ask them to approve or deny, and answer with a code or `access_denied`.
//!
//! - State between the page's requests is a signed cookie ([`state`]): the request it is
//!   for (by digest), a session id from which the CSRF token is derived, and — once the
//!   password was right — the user, the tenant and `auth_time`. The session id is new at
//!   sign-in. Every POST must carry the CSRF token of the cookie's session, for the same
//!   request; otherwise it is refused and changes nothing.
//! - Unknown user, wrong password, disabled user and a user who is not a member of the
//!   client's tenant (the only one a client signs users in to) get one message,
//!   and cost the same: [`crate::users::verify_credentials`] checks a hash (a dummy one
//!   when there is no user) whatever the case.
//! - Failed sign-ins are limited before the password is checked ([`limiter`]): per
//!   account and address and per address strictly, per account only as a brake that
//!   spares the addresses the user signed in from.
//! - The first-party token API signs users in with the same limiter and credential
//!   check, without a page ([`first_party`]).
//! - Approval issues the code ([`OAuthServer::issue_code`]); the user's state is checked
//!   again when the code is exchanged, so a user disabled or removed meanwhile gets no
//!   tokens.

mod first_party;
mod limiter;
mod state;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde::Deserialize;

pub use first_party::{PasswordSignIn, PasswordSignInError};
pub use limiter::{LoginAttempt, LoginLimiter};
pub use state::{LoginState, Sealer, SignedIn};

use crate::ids::UserId;
use crate::keys::KeyService;
use crate::metrics::{AuthFailure, Limit};
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::{OAuthError, OAuthServer};
use crate::rate_limit::RetryAfter;
use crate::store::Store;
use crate::tenants::TenantId;
use crate::users::{self, CredentialsError};

/// `[login]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    pub session_seconds: u64,
    pub failures_per_account_and_address_per_minute: u32,
    pub failures_per_account_and_address_burst: u32,
    pub failures_per_address_per_minute: u32,
    pub failures_per_address_burst: u32,
    pub failures_per_account_per_minute: u32,
    pub failures_per_account_burst: u32,
    pub known_address_days: u64,
}

impl LoginSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(60..=86_400).contains(&self.session_seconds) {
            anyhow::bail!("login.session_seconds: between 60 and 86400");
        }
        for (key, value) in [
            (
                "failures_per_account_and_address_per_minute",
                self.failures_per_account_and_address_per_minute,
            ),
            (
                "failures_per_account_and_address_burst",
                self.failures_per_account_and_address_burst,
            ),
            (
                "failures_per_address_per_minute",
                self.failures_per_address_per_minute,
            ),
            (
                "failures_per_address_burst",
                self.failures_per_address_burst,
            ),
            (
                "failures_per_account_per_minute",
                self.failures_per_account_per_minute,
            ),
            (
                "failures_per_account_burst",
                self.failures_per_account_burst,
            ),
        ] {
            if value == 0 {
                anyhow::bail!("login.{key}: must be at least 1");
            }
        }
        if !(1..=365).contains(&self.known_address_days) {
            anyhow::bail!("login.known_address_days: between 1 and 365");
        }
        Ok(())
    }
}

/// One message for every refused sign-in, whatever the reason.
pub const REFUSED_MESSAGE: &str =
    "The username or password is not valid, or this account cannot sign in to this tenant.";

/// The token API's one message for an unknown user or a wrong password.
pub const REFUSED_CREDENTIALS: &str = "The username or password is not valid.";

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The sign-in form; `failed` when the last attempt was refused.
    SignIn { failed: bool },
    /// Signed in: approve or deny.
    Consent { username: String, tenant: String },
}

/// The page for a request, and the cookie to set with it.
#[derive(Debug)]
pub struct Page {
    pub stage: Stage,
    pub csrf_token: String,
    pub cookie: String,
}

/// A submitted form of the page.
#[derive(Debug)]
pub struct Submission {
    pub action: String,
    pub csrf_token: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

/// Where the browser goes after a POST (a 303), and the login-session cookie then:
/// `Some` to set, `None` to remove.
#[derive(Debug)]
pub struct Submitted {
    pub location: String,
    pub cookie: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The form did not come from this session's page (missing or wrong CSRF token, an
    /// expired or foreign cookie, another request): refused, nothing changes.
    #[error("the sign-in form is not valid for this session")]
    Forged,
    /// Unknown action or missing fields.
    #[error("{0}")]
    BadRequest(String),
    #[error("too many failed sign-ins")]
    TooManyAttempts(RetryAfter),
    /// Issuing the code failed (`server_error` or `temporarily_unavailable`).
    #[error("{0}")]
    Failed(OAuthError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct LoginService {
    store: Store,
    oauth: Arc<OAuthServer>,
    sealer: Sealer,
    limiter: LoginLimiter,
    session: Duration,
    issuer: String,
}

impl LoginService {
    pub fn new(
        store: Store,
        oauth: Arc<OAuthServer>,
        keys: &KeyService,
        settings: &LoginSettings,
        issuer: &str,
    ) -> Self {
        LoginService {
            store,
            oauth,
            sealer: Sealer::from_keys(keys),
            limiter: LoginLimiter::new(settings),
            session: Duration::seconds(settings.session_seconds as i64),
            issuer: issuer.to_owned(),
        }
    }

    /// How long a login-session cookie lives.
    pub fn session_seconds(&self) -> i64 {
        self.session.num_seconds()
    }

    pub fn forget_idle_limits(&self) {
        self.limiter.forget_idle(std::time::Instant::now());
    }

    /// The page for `request`: the session of `cookie` if it is for this request (after
    /// a sign-in, the consent), else a new session and the sign-in form.
    pub fn page(
        &self,
        request: &AuthorizationRequest,
        cookie: Option<&str>,
        now: DateTime<Utc>,
    ) -> Page {
        let mut state = self
            .session_of(request, cookie, now)
            .unwrap_or_else(|| LoginState::new(request.digest(), now + self.session));
        let stage = match &state.user {
            Some(user) => Stage::Consent {
                username: user.username.clone(),
                tenant: user.tenant.clone(),
            },
            None => Stage::SignIn {
                failed: state.failed,
            },
        };
        state.failed = false;
        Page {
            stage,
            csrf_token: self.sealer.csrf_token(&state.sid),
            cookie: self.sealer.seal(&state),
        }
    }

    /// A POST of the page for `request`, which `page_url` shows again.
    pub async fn submit(
        &self,
        request: &AuthorizationRequest,
        cookie: Option<&str>,
        form: Submission,
        page_url: &str,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Submitted, LoginError> {
        let state = self
            .session_of(request, cookie, now)
            .filter(|state| {
                form.csrf_token
                    .as_deref()
                    .is_some_and(|token| self.sealer.csrf_matches(&state.sid, token))
            })
            .ok_or(LoginError::Forged)?;
        match form.action.as_str() {
            "sign-in" => {
                let (Some(username), Some(password)) = (form.username, form.password) else {
                    return Err(LoginError::BadRequest(
                        "Enter a username and a password.".into(),
                    ));
                };
                let state = self
                    .sign_in(request, state, &username, &password, source, now)
                    .await?;
                Ok(Submitted {
                    location: page_url.to_owned(),
                    cookie: Some(self.sealer.seal(&state)),
                })
            }
            "approve" => {
                let user = state.user.ok_or(LoginError::Forged)?;
                let location = self.approve(request, &user, now).await?;
                Ok(Submitted {
                    location,
                    cookie: None,
                })
            }
            "deny" => Ok(Submitted {
                location: request.reply.with_error(
                    &OAuthError::AccessDenied("The user denied the request.".into()),
                    &self.issuer,
                ),
                cookie: None,
            }),
            _ => Err(LoginError::BadRequest("Unknown action.".into())),
        }
    }

    /// The session of `cookie`, if it is valid at `now` and for this request.
    fn session_of(
        &self,
        request: &AuthorizationRequest,
        cookie: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<LoginState> {
        self.sealer
            .open(cookie?, now)
            .filter(|state| state.request == request.digest())
    }

    /// Checks the password within the limits; the next state of the session: a new
    /// one, signed in, or the same one marked failed.
    async fn sign_in(
        &self,
        request: &AuthorizationRequest,
        mut state: LoginState,
        username: &str,
        password: &SecretString,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<LoginState, LoginError> {
        let attempt = self
            .limiter
            .admit(username, source, std::time::Instant::now())
            .map_err(|retry| {
                self.oauth.metrics().rate_limited(Limit::Login);
                LoginError::TooManyAttempts(retry)
            })?;
        let signed_in = match users::verify_credentials(&self.store, username, password, now).await
        {
            Ok(authenticated) => {
                // The client's own tenant (`validate` refused any other).
                let tenant = request.client.tenant_id.clone();
                match tenant {
                    tenant if self.is_member(&tenant, &authenticated.user.id).await? => {
                        Some(SignedIn {
                            id: authenticated.user.id.to_string(),
                            username: authenticated.user.username.as_str().to_owned(),
                            tenant: tenant.to_string(),
                            auth_time: authenticated.auth_time.timestamp_millis(),
                        })
                    }
                    _ => None,
                }
            }
            Err(CredentialsError::Refused | CredentialsError::Disabled) => None,
            Err(CredentialsError::Unexpected(error)) => return Err(error.into()),
        };
        match signed_in {
            Some(user) => {
                attempt.succeeded();
                tracing::info!(user_id = %user.id, tenant_id = %user.tenant, client_id = %request.client.id, "user signed in on the login page");
                let mut next = LoginState::new(request.digest(), now + self.session);
                next.user = Some(user);
                Ok(next)
            }
            None => {
                attempt.failed();
                self.oauth
                    .metrics()
                    .authentication_failed(AuthFailure::User);
                tracing::info!(client_id = %request.client.id, "sign-in refused on the login page");
                state.failed = true;
                Ok(state)
            }
        }
    }

    async fn is_member(&self, tenant: &TenantId, user: &UserId) -> anyhow::Result<bool> {
        Ok(users::membership(&self.store, tenant, user)
            .await?
            .is_some())
    }

    /// The code for the signed-in user, as the redirect that carries it.
    async fn approve(
        &self,
        request: &AuthorizationRequest,
        user: &SignedIn,
        now: DateTime<Utc>,
    ) -> Result<String, LoginError> {
        let user_id = UserId::parse(&user.id).map_err(anyhow::Error::msg)?;
        let tenant = TenantId::parse(&user.tenant).map_err(anyhow::Error::msg)?;
        let auth_time = DateTime::from_timestamp_millis(user.auth_time)
            .ok_or_else(|| anyhow::anyhow!("auth_time out of range"))?;
        self.oauth
            .issue_code(request, &user_id, &tenant, auth_time, now)
            .await
            .map_err(LoginError::Failed)
    }
}
