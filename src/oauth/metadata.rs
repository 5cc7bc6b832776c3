//! Authorization server metadata (RFC 8414 §2), built from what is implemented: a grant
//! or endpoint appears here only when Tessera serves it.

use serde_json::{json, Value};

use super::server::SUPPORTED_GRANTS;

pub fn metadata(issuer: &str, scopes_supported: &[String]) -> Value {
    let base = issuer.trim_end_matches('/');
    let mut metadata = json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "grant_types_supported": SUPPORTED_GRANTS,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes_supported,
        "response_types_supported": response_types(),
    });
    if SUPPORTED_GRANTS.contains(&"authorization_code") {
        metadata["authorization_endpoint"] = json!(format!("{base}/oauth/authorize"));
        metadata["code_challenge_methods_supported"] = json!(["S256"]);
    }
    metadata
}

/// `code` exactly when the authorization code grant exists; RFC 8414 makes the member
/// required, so it is an empty list until then.
fn response_types() -> Vec<&'static str> {
    if SUPPORTED_GRANTS.contains(&"authorization_code") {
        vec!["code"]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertises_only_what_exists() {
        let metadata = metadata("https://auth.example.com", &["read".to_owned()]);
        assert_eq!(metadata["issuer"], "https://auth.example.com");
        assert_eq!(
            metadata["token_endpoint"],
            "https://auth.example.com/oauth/token"
        );
        assert_eq!(metadata["grant_types_supported"], json!(SUPPORTED_GRANTS));
        let has_code = SUPPORTED_GRANTS.contains(&"authorization_code");
        assert_eq!(metadata.get("authorization_endpoint").is_some(), has_code);
        assert_eq!(
            metadata.get("code_challenge_methods_supported").is_some(),
            has_code
        );
    }
}
