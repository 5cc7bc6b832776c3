//! The claims of every JWT Tessera signs: RFC 9068 access tokens, for clients, for tenant
//! admins (Tessera's own API) and, next, for users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `typ` of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The `client_id` of tokens Tessera issues to itself (tenant admin tokens).
pub const SELF_CLIENT_ID: &str = "tessera";
/// The scope that makes a token a tenant admin's.
pub const TENANT_ADMIN_SCOPE: &str = "tenant:admin";

/// The audience of tokens for Tessera's own API.
pub fn api_audience(issuer: &str) -> String {
    format!("{}/api", issuer.trim_end_matches('/'))
}

/// `aud`: one string when there is one audience, else an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn of(audiences: &[String]) -> Self {
        match audiences {
            [one] => Audience::One(one.clone()),
            many => Audience::Many(many.to_vec()),
        }
    }

    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

/// An access token's claims (RFC 9068 §2.2, with `tid` for the tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated; absent when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub tid: String,
    /// The session or token chain the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the chain began: the user's authentication, or a tenant token's first
    /// issuance (RFC 9068 §2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The client's configured claims (seed 004); their names never clash with the ones
    /// above (client validation refuses those).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|scope| !scope.is_empty())
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scopes().any(|scope| scope == wanted)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_round_trip_with_client_claims_beside_the_registered_ones() {
        let text = json!({
            "iss": "https://as", "sub": "c", "aud": ["https://a", "https://b"], "exp": 20,
            "iat": 10, "nbf": 10, "jti": "j", "client_id": "c", "tid": "acme", "role": "admin"
        });
        let claims: AccessClaims = serde_json::from_value(text.clone()).unwrap();
        assert!(claims.aud.contains("https://b"));
        assert_eq!(claims.extra["role"], "admin");
        assert_eq!(claims.scopes().count(), 0);
        assert_eq!(serde_json::to_value(&claims).unwrap(), text);
        assert_eq!(Audience::of(&["x".to_owned()]), Audience::One("x".into()));
    }
}
