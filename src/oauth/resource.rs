//! Resource indicators (RFC 8707 §2): which audience a token is for.

use super::OAuthError;

/// An absolute URI without a fragment.
pub fn parse_resource(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|_| format!("'{raw}' is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("'{raw}' has a fragment (RFC 8707 section 2)"));
    }
    Ok(raw.to_owned())
}

/// The token's audiences: the `resource` parameters, each an allowed resource, or the
/// default audience when there are none.
pub fn audiences(
    requested: &[String],
    allowed: &[String],
    default: &str,
) -> Result<Vec<String>, OAuthError> {
    let mut audiences: Vec<String> = Vec::new();
    for resource in requested {
        parse_resource(resource).map_err(OAuthError::InvalidTarget)?;
        if !allowed.iter().any(|known| known == resource) {
            return Err(OAuthError::InvalidTarget(format!(
                "The resource '{resource}' is not served by this authorization server."
            )));
        }
        if !audiences.contains(resource) {
            audiences.push(resource.clone());
        }
    }
    if audiences.is_empty() {
        audiences.push(default.to_owned());
    }
    Ok(audiences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_allowed_resources() {
        let allowed = vec!["https://api.example.com".to_owned()];
        assert_eq!(
            audiences(&[], &allowed, "https://issuer").unwrap(),
            vec!["https://issuer"]
        );
        let twice = [allowed[0].clone(), allowed[0].clone()];
        assert_eq!(audiences(&twice, &allowed, "x").unwrap(), allowed);
    }

    #[test]
    fn refuses_unknown_relative_and_fragment_resources() {
        let allowed = vec!["https://api.example.com".to_owned()];
        for resource in [
            "https://other.example.com",
            "api",
            "https://api.example.com#frag",
        ] {
            assert!(matches!(
                audiences(&[resource.to_owned()], &allowed, "x"),
                Err(OAuthError::InvalidTarget(_))
            ));
        }
    }
}
