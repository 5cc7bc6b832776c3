//! The scope a token request asks for (RFC 6749 §3.3), checked against the scopes the
//! client registered ([`ScopeToken`]s, see `clients::metadata`).

use crate::clients::ScopeToken;

/// The scopes to grant (RFC 6749 §3.3): every requested scope must be allowed; with
/// none requested, every allowed scope is granted.
pub fn grant_scopes(
    requested: Option<&str>,
    allowed: &[ScopeToken],
) -> Result<Vec<ScopeToken>, super::OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<ScopeToken> = Vec::new();
    for raw in requested.split(' ').filter(|raw| !raw.is_empty()) {
        let scope = ScopeToken::parse(raw).map_err(|_| {
            super::OAuthError::InvalidScope(format!(
                "The scope '{raw}' is not a scope token (RFC 6749 section 3.3)."
            ))
        })?;
        if !allowed.contains(&scope) {
            return Err(super::OAuthError::InvalidScope(format!(
                "The scope '{scope}' is not allowed for this client."
            )));
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::scope_string;

    #[test]
    fn grants_requested_allowed_scopes_or_all_allowed() {
        let allowed: Vec<ScopeToken> = ["read", "write"]
            .iter()
            .map(|s| ScopeToken::parse(s).unwrap())
            .collect();
        assert_eq!(grant_scopes(None, &allowed).unwrap(), allowed);
        assert_eq!(
            scope_string(&grant_scopes(Some("write  write"), &allowed).unwrap()),
            "write"
        );
        assert!(grant_scopes(Some("read admin"), &allowed).is_err());
        assert!(grant_scopes(Some("re\\ad"), &allowed).is_err());
        assert!(grant_scopes(Some(""), &allowed).unwrap().is_empty());
    }
}
