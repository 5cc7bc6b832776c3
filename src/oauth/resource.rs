//! Resource indicators (RFC 8707 §2): which audience a token is for.

use super::{Form, OAuthError};

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
    form: &Form,
    allowed: &[String],
    default: &str,
) -> Result<Vec<String>, OAuthError> {
    let mut audiences: Vec<String> = Vec::new();
    for resource in form.all("resource") {
        parse_resource(resource).map_err(OAuthError::InvalidTarget)?;
        if !allowed.iter().any(|known| known == resource) {
            return Err(OAuthError::InvalidTarget(format!(
                "The resource '{resource}' is not served by this authorization server."
            )));
        }
        if !audiences.iter().any(|seen| seen == resource) {
            audiences.push(resource.to_owned());
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
        let none = Form::parse(b"").unwrap();
        assert_eq!(
            audiences(&none, &allowed, "https://issuer").unwrap(),
            vec!["https://issuer"]
        );
        let one = Form::parse(b"resource=https%3A%2F%2Fapi.example.com").unwrap();
        assert_eq!(audiences(&one, &allowed, "x").unwrap(), allowed);
    }

    #[test]
    fn refuses_unknown_relative_and_fragment_resources() {
        let allowed = vec!["https://api.example.com".to_owned()];
        for body in [
            &b"resource=https%3A%2F%2Fother.example.com"[..],
            b"resource=api",
            b"resource=https%3A%2F%2Fapi.example.com%23frag",
        ] {
            let form = Form::parse(body).unwrap();
            assert!(matches!(
                audiences(&form, &allowed, "x"),
                Err(OAuthError::InvalidTarget(_))
            ));
        }
    }
}
