//! Authorization server metadata (RFC 8414 §2), built from what is implemented: a grant
//! or endpoint appears here only when Tessera serves it.

use serde_json::{json, Value};

use super::grants::SUPPORTED_GRANTS;
use crate::clients::GrantType;

pub fn metadata(issuer: &str, scopes_supported: &[String]) -> Value {
    let base = issuer.trim_end_matches('/');
    let grants: Vec<&str> = SUPPORTED_GRANTS.iter().map(|g| g.grant_type()).collect();
    let has_code = SUPPORTED_GRANTS.contains(&GrantType::AuthorizationCode);
    let mut metadata = json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        // Public clients may revoke their tokens (RFC 7009 §2.1).
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes_supported,
        // RFC 8414 makes the member required: an empty list until the code grant exists.
        "response_types_supported": if has_code { vec!["code"] } else { Vec::new() },
    });
    if has_code {
        // Public clients (`none`) have nothing to ask the token endpoint for until then.
        metadata["token_endpoint_auth_methods_supported"] =
            json!(["client_secret_basic", "client_secret_post", "none"]);
        metadata["authorization_endpoint"] = json!(format!("{base}/oauth/authorize"));
        metadata["code_challenge_methods_supported"] = json!(["S256"]);
        // RFC 9207: every authorization response carries `iss`.
        metadata["authorization_response_iss_parameter_supported"] = json!(true);
    }
    metadata
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
