//! JWT access tokens (RFC 9068): the claims Tessera puts in them and their signing.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::scope::scope_string;
use super::ScopeToken;
use crate::clients::Client;
use crate::keys::KeyService;

/// `typ` of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// `aud`: one string when there is one audience, else an array (RFC 7519 §4.1.3).
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    client_id: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    tid: &'a str,
    /// The client's configured claims (seed 004); their names never clash with the
    /// registered ones above (client validation refuses those).
    #[serde(flatten)]
    client_claims: BTreeMap<&'a str, &'a str>,
}

#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
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
    let scope = scope_string(scopes);
    let claims = AccessTokenClaims {
        iss: issuer,
        sub: client.id.as_str(),
        aud: match audiences {
            [one] => Audience::One(one),
            many => Audience::Many(many),
        },
        exp: (now + Duration::seconds(lifetime)).timestamp(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: crate::ids::random_id(),
        client_id: client.id.as_str(),
        scope: scope.clone(),
        tid: client.tenant_id.as_str(),
        client_claims: client
            .settings
            .claims
            .iter()
            .map(|claim| (claim.claim_type.as_str(), claim.value.as_str()))
            .collect(),
    };
    let access_token = keys.sign(ACCESS_TOKEN_TYPE, &claims, now)?;
    Ok(IssuedToken {
        access_token,
        expires_in: lifetime,
        scope,
    })
}
