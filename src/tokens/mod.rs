//! What Tessera issues: one claims type for every JWT it signs ([`AccessClaims`]: client
//! tokens, tenant admin tokens and, next, users' tokens with `sid`), one verifier with a
//! check per purpose ([`TokenVerifier`]), opaque tokens for codes, refresh tokens and portal
//! links ([`OpaqueToken`]: 256 random bits, only their SHA-256 stored), the deny-lists of
//! revoked access tokens and of ended sessions, and `[tokens]` ([`TokenSettings`]).

pub mod access;
mod claims;
mod deny_list;
mod opaque;
pub mod portal_link;
pub mod session_state;
mod settings;
pub mod tenant_admin;
mod verifier;

pub use claims::{
    api_audience, AccessClaims, Audience, ACCESS_TOKEN_TYPE, SELF_CLIENT_ID, TENANT_ADMIN_SCOPE,
};
pub use deny_list::DenyList;
pub use opaque::{constant_time_eq, OpaqueToken, TokenHash};
pub use session_state::{Activity, IdlePolicy, SessionStates};
pub use settings::{
    TokenSettings, MAX_AUTHORIZATION_CODE_TTL_SECONDS, MAX_IDLE_TIMEOUT_SECONDS,
    MAX_REFRESH_GRACE_SECONDS,
};
pub use verifier::{Purpose, TokenError, TokenVerifier, VerifiedToken};
