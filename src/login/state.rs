//! The login session: what the login page remembers between its requests — which
//! authorization request it is for, the CSRF token's seed and, once the password was
//! right, who signed in — kept in the browser as a cookie signed with HMAC-SHA-256 under
//! a key derived from the master key (`tessera/login-state/v1`).
//!
//! A cookie rather than a server-side table: any Tessera process behind a load balancer
//! can read it (no sticky sessions, no shared cache), a flood of page views writes
//! nothing to the database, and nothing grows on the server. It holds no secret (the
//! user's own id and name, ids of the request), so integrity is what it needs; the
//! CSRF token is derived from the session id with a second key, never stored. It is
//! bounded three ways: its expiry is inside the signed value (`login.session_seconds`,
//! checked against the `now` passed in), it is bound to the digest of one authorization
//! request, and a new master key invalidates every one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::keys::KeyService;

const STATE_LABEL: &str = "tessera/login-state/v1";
const CSRF_LABEL: &str = "tessera/login-csrf/v1";
/// Longest cookie value read: what [`Sealer::seal`] writes is far shorter.
const MAX_COOKIE_LEN: usize = 2048;

/// The content of the login-session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Random, replaced at sign-in, so a session id seen before the password was typed
    /// is worth nothing after it.
    pub sid: String,
    /// [`crate::oauth::authorize::AuthorizationRequest::digest`] of the request.
    pub request: String,
    /// Unix milliseconds after which the cookie is worth nothing.
    pub expires_at: i64,
    /// The last sign-in attempt failed: the page says so once.
    #[serde(default)]
    pub failed: bool,
    pub user: Option<SignedIn>,
}

/// Who proved their password, to which tenant, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub id: String,
    pub username: String,
    pub tenant: String,
    /// Unix milliseconds.
    pub auth_time: i64,
}

impl LoginState {
    pub fn new(request: String, expires_at: DateTime<Utc>) -> Self {
        LoginState {
            sid: crate::ids::random_id(),
            request,
            expires_at: expires_at.timestamp_millis(),
            failed: false,
            user: None,
        }
    }
}

/// Signs and checks login-session cookies and their CSRF tokens.
pub struct Sealer {
    state_key: hmac::Key,
    csrf_key: hmac::Key,
}

impl Sealer {
    pub fn from_keys(keys: &KeyService) -> Self {
        Sealer {
            state_key: keys.derive_hmac_key(STATE_LABEL),
            csrf_key: keys.derive_hmac_key(CSRF_LABEL),
        }
    }

    /// The cookie value: URL-safe base64 of the JSON, `.`, URL-safe base64 of its tag.
    pub fn seal(&self, state: &LoginState) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).expect("serialisable"));
        let tag = hmac::sign(&self.state_key, payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The state in `cookie` if this server signed it and it has not expired at `now`.
    pub fn open(&self, cookie: &str, now: DateTime<Utc>) -> Option<LoginState> {
        if cookie.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (payload, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.state_key, payload.as_bytes(), &tag).ok()?;
        let state: LoginState =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (now.timestamp_millis() < state.expires_at).then_some(state)
    }

    /// The CSRF token of the session `sid`.
    pub fn csrf_token(&self, sid: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf_key, sid.as_bytes()).as_ref())
    }

    /// Whether `presented` is the CSRF token of `sid` (in constant time).
    pub fn csrf_matches(&self, sid: &str, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented)
            .is_ok_and(|tag| hmac::verify(&self.csrf_key, sid.as_bytes(), &tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        let key = |seed: u8| hmac::Key::new(hmac::HMAC_SHA256, &[seed; 32]);
        Sealer {
            state_key: key(1),
            csrf_key: key(2),
        }
    }

    #[test]
    fn a_sealed_state_opens_until_it_expires() {
        let sealer = sealer();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let state = LoginState::new("digest".into(), now + chrono::Duration::seconds(600));
        let cookie = sealer.seal(&state);
        assert_eq!(sealer.open(&cookie, now), Some(state.clone()));
        let last = now + chrono::Duration::milliseconds(599_999);
        assert!(sealer.open(&cookie, last).is_some());
        assert_eq!(
            sealer.open(&cookie, now + chrono::Duration::seconds(600)),
            None
        );
    }

    #[test]
    fn a_changed_or_foreign_cookie_does_not_open() {
        let sealer = sealer();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut state = LoginState::new("digest".into(), now + chrono::Duration::seconds(600));
        let cookie = sealer.seal(&state);
        state.user = Some(SignedIn {
            id: "u".into(),
            username: "mallory".into(),
            tenant: "t".into(),
            auth_time: 0,
        });
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&state).unwrap());
        let tag = cookie.split_once('.').unwrap().1;
        for bad in [
            format!("{forged_payload}.{tag}"),
            cookie.replace('.', ""),
            format!("{cookie}x"),
            String::new(),
            "x".repeat(5000),
        ] {
            assert_eq!(sealer.open(&bad, now), None, "{bad}");
        }
        let other = Sealer {
            state_key: hmac::Key::new(hmac::HMAC_SHA256, &[9; 32]),
            csrf_key: hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]),
        };
        assert_eq!(other.open(&cookie, now), None);
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let sealer = sealer();
        let token = sealer.csrf_token("session-a");
        assert!(sealer.csrf_matches("session-a", &token));
        assert!(!sealer.csrf_matches("session-b", &token));
        assert!(!sealer.csrf_matches("session-a", ""));
        assert!(!sealer.csrf_matches("session-a", "not base64!"));
    }
}
