//! Redirect URIs a client registers (RFC 6749 §3.1.2, RFC 9700 §2.1): absolute, `https`
//! or `http` on a loopback host (RFC 8252 §7.3), no fragment, no wildcard. The text is
//! kept exactly as registered, because the authorization endpoint compares exactly.

use std::fmt;

pub const MAX_REDIRECT_URI_LEN: usize = 2048;
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_REDIRECT_URI_LEN {
            return Err(format!("has 1 to {MAX_REDIRECT_URI_LEN} characters"));
        }
        if raw.contains('*') {
            return Err("wildcards are not allowed: register each URI exactly".into());
        }
        if raw.contains('#') {
            return Err("a redirect URI has no fragment".into());
        }
        let url = url::Url::parse(raw).map_err(|_| "is not an absolute URI".to_owned())?;
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" => {
                let host = url.host_str().unwrap_or_default();
                if !LOOPBACK_HOSTS.contains(&host) {
                    return Err(
                        "http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); \
                         use https"
                            .into(),
                    );
                }
            }
            "https" => return Err("an https URI needs a host".into()),
            "javascript" | "data" => {
                return Err(format!("the {} scheme is not allowed", url.scheme()))
            }
            _ => return Err("the scheme must be https (or http for a loopback host)".into()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a redirect URI has no user information".into());
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A redirect URI's schema: a conservative part of what [`RedirectUri::parse`] accepts
/// (an https URI with a DNS name, or http on a loopback host; a path and a query).
impl utoipa::PartialSchema for RedirectUri {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let path = r"(/[A-Za-z0-9._~!$&'()+,;=:@/-]*)?(\?[A-Za-z0-9._~!$&'()+,;=:@/?-]*)?";
        let port = "(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
        let dns_name = r"[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*";
        let loopback = LOOPBACK_HOSTS
            .iter()
            .map(|host| {
                host.replace('.', r"\.")
                    .replace('[', r"\[")
                    .replace(']', r"\]")
            })
            .collect::<Vec<_>>()
            .join("|");
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
            .min_length(Some(1))
            .max_length(Some(MAX_REDIRECT_URI_LEN))
            .pattern(Some(format!(
                "^(https://{dns_name}|http://({loopback})){port}{path}$"
            )))
            .examples(["https://app.example.com/callback"])
            .into()
    }
}

impl utoipa::ToSchema for RedirectUri {}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for uri in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://localhost:12345",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
        ] {
            assert!(RedirectUri::parse(uri).is_ok(), "{uri}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for uri in [
            "",
            "/relative/path",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://example.com/",
            "https://user:pw@app.example.com/cb",
            "http://localhost.evil.com/cb",
        ] {
            assert!(RedirectUri::parse(uri).is_err(), "{uri}");
        }
    }
}
