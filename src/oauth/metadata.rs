//! Authorization server metadata (RFC 8414 §2), built from what is implemented: a grant
//! or endpoint appears here only when Tessera serves it.

use serde::Serialize;
use utoipa::ToSchema;

use super::grants::SUPPORTED_GRANTS;
use crate::clients::GrantType;

/// RFC 8414 §2's metadata, as Tessera fills it in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "issuer": "https://auth.example.com",
    "authorization_endpoint": "https://auth.example.com/oauth/authorize",
    "token_endpoint": "https://auth.example.com/oauth/token",
    "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
    "revocation_endpoint": "https://auth.example.com/oauth/revoke",
    "introspection_endpoint": "https://auth.example.com/oauth/introspect",
    "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    "scopes_supported": ["read", "write"],
    "response_types_supported": ["code"],
    "code_challenge_methods_supported": ["S256"],
    "authorization_response_iss_parameter_supported": true
}))]
pub struct ServerMetadata {
    #[schema(format = "uri")]
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    pub authorization_endpoint: Option<String>,
    #[schema(format = "uri")]
    pub token_endpoint: String,
    #[schema(format = "uri")]
    pub jwks_uri: String,
    #[schema(format = "uri")]
    pub revocation_endpoint: String,
    #[schema(format = "uri")]
    pub introspection_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Public clients may revoke their tokens (RFC 7009 §2.1).
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<String>,
    /// RFC 8414 makes the member required: an empty list without the code grant.
    pub response_types_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<&'static str>>,
    /// RFC 9207: every authorization response carries `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

pub fn metadata(issuer: &str, scopes_supported: &[String]) -> ServerMetadata {
    let base = issuer.trim_end_matches('/');
    let has_code = SUPPORTED_GRANTS.contains(&GrantType::AuthorizationCode);
    // Public clients (`none`) have nothing to ask the token endpoint for without the
    // code grant.
    let token_auth_methods = if has_code {
        vec!["client_secret_basic", "client_secret_post", "none"]
    } else {
        vec!["client_secret_basic", "client_secret_post"]
    };
    ServerMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: has_code.then(|| format!("{base}/oauth/authorize")),
        token_endpoint: format!("{base}/oauth/token"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        revocation_endpoint: format!("{base}/oauth/revoke"),
        introspection_endpoint: format!("{base}/oauth/introspect"),
        grant_types_supported: SUPPORTED_GRANTS.iter().map(|g| g.grant_type()).collect(),
        token_endpoint_auth_methods_supported: token_auth_methods,
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        scopes_supported: scopes_supported.to_vec(),
        response_types_supported: if has_code { vec!["code"] } else { Vec::new() },
        code_challenge_methods_supported: has_code.then(|| vec!["S256"]),
        authorization_response_iss_parameter_supported: has_code.then_some(true),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn advertises_only_what_exists() {
        let metadata =
            serde_json::to_value(metadata("https://auth.example.com", &["read".to_owned()]))
                .unwrap();
        assert_eq!(metadata["issuer"], "https://auth.example.com");
        assert_eq!(
            metadata["token_endpoint"],
            "https://auth.example.com/oauth/token"
        );
        assert_eq!(
            metadata["grant_types_supported"],
            json!(["client_credentials", "authorization_code", "refresh_token"])
        );
        assert_eq!(metadata["response_types_supported"], json!(["code"]));
        let has_code = SUPPORTED_GRANTS.contains(&GrantType::AuthorizationCode);
        assert_eq!(metadata.get("authorization_endpoint").is_some(), has_code);
        assert_eq!(
            metadata.get("code_challenge_methods_supported").is_some(),
            has_code
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            json!(true)
        );
    }
}
