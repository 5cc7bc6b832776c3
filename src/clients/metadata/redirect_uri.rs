//! Redirect URIs a client registers (RFC 6749 §3.1.2, RFC 9700 §2.1): absolute, `https`,
//! `http` on a loopback host (RFC 8252 §7.3), or a native app's private-use scheme named
//! after a domain in reverse order, such as `com.example.app:/callback` (RFC 8252 §7.1,
//! RFC 7595 §3.8); no fragment, no wildcard, no user information. The text is kept
//! exactly as registered, because the authorization endpoint compares exactly.

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
            scheme if is_private_use(scheme) => {
                let has_host = url.host_str().is_some_and(|host| !host.is_empty());
                if !has_host && !url.path().starts_with('/') {
                    return Err(
                        "a private-use redirect URI has a path (com.example.app:/callback)".into(),
                    );
                }
            }
            "javascript" | "data" => {
                return Err(format!("the {} scheme is not allowed", url.scheme()))
            }
            _ => {
                return Err(
                    "the scheme must be https, http for a loopback host, or a native \
                     app's private-use scheme named after a domain it controls, in reverse \
                     order (com.example.app:/callback)"
                        .into(),
                )
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a redirect URI has no user information".into());
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `uri`, one registered, is a native app's private-use URI
    /// (`com.example.app:/callback`).
    pub fn is_native_app(uri: &str) -> bool {
        uri.split_once(':')
            .is_some_and(|(scheme, _)| is_private_use(&scheme.to_ascii_lowercase()))
    }
}

/// A private-use scheme of RFC 7595 §3.8, as RFC 8252 §7.1 requires native apps to name
/// theirs: a domain name in reverse order, so at least two labels. A scheme without a
/// dot may be anyone's (or a registered one), and is refused.
fn is_private_use(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A redirect URI's schema: a conservative part of what [`RedirectUri::parse`] accepts
/// (an https URI with a DNS name, http on a loopback host, or a reverse-domain
/// private-use scheme with a path; a path and a query).
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
        let private_use = r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+:/([A-Za-z0-9._~!$&'()+,;=:@-][A-Za-z0-9._~!$&'()+,;=:@/-]*)?(\?[A-Za-z0-9._~!$&'()+,;=:@/?-]*)?";
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
            .min_length(Some(1))
            .max_length(Some(MAX_REDIRECT_URI_LEN))
            .pattern(Some(format!(
                "^((https://{dns_name}|http://({loopback})){port}{path}|{private_use})$"
            )))
            .examples([
                "https://app.example.com/callback",
                "com.example.app:/callback",
            ])
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
    fn accepts_reverse_domain_private_use_schemes_of_native_apps() {
        for uri in [
            "com.example.app:/oauth2redirect/example-provider",
            "com.example.app://callback",
            "io.tessera-demo.mobile2:/cb?x=1",
        ] {
            assert!(RedirectUri::parse(uri).is_ok(), "{uri}");
        }
        for uri in [
            "myapp:/callback",
            "com.example.app:",
            "com.example.app:callback",
            "com.example.app:/cb#frag",
            "com..app:/cb",
            "com.example.app://user@cb",
            "view-source:https://app.example.com/",
        ] {
            assert!(RedirectUri::parse(uri).is_err(), "{uri}");
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
