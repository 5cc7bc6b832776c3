//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): how long one lives, and what a
//! presented one gets.

use chrono::{DateTime, Duration, Utc};

use crate::clients::Client;

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
