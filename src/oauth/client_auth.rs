//! Which client a request claims to be and the secret it offers (RFC 6749 §2.3.1):
//! `client_secret_basic` or `client_secret_post`, exactly one method per request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;

use super::{Form, OAuthError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic` with the id and secret form-urlencoded (Appendix B).
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
    /// Only a `client_id`: a public client.
    None,
}

#[derive(Debug)]
pub struct PresentedClient {
    pub client_id: String,
    pub secret: Option<SecretString>,
    pub method: AuthMethod,
}

/// Reads the client's credentials from the `Authorization` header value and the form.
pub fn presented_client(
    authorization: Option<&str>,
    form: &Form,
) -> Result<PresentedClient, OAuthError> {
    let basic = authorization.and_then(|value| {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    });
    let form_secret = form.get("client_secret");
    match (basic, authorization) {
        (Some(encoded), _) => {
            if form_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "Use one client authentication method: HTTP Basic or client_secret in the body."
                        .into(),
                ));
            }
            let (client_id, secret) =
                decode_basic(encoded).ok_or(OAuthError::InvalidClient { used_basic: true })?;
            if form.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id in the body differs from the authenticated client.".into(),
                ));
            }
            Ok(PresentedClient {
                client_id,
                secret: Some(SecretString::from(secret)),
                method: AuthMethod::Basic,
            })
        }
        (None, Some(_)) => Err(OAuthError::InvalidClient { used_basic: false }),
        (None, None) => {
            let client_id = form
                .get("client_id")
                .ok_or(OAuthError::InvalidClient { used_basic: false })?;
            Ok(PresentedClient {
                client_id: client_id.to_owned(),
                secret: form_secret.map(|secret| SecretString::from(secret.to_owned())),
                method: if form_secret.is_some() {
                    AuthMethod::Post
                } else {
                    AuthMethod::None
                },
            })
        }
    }
}

/// `base64(urlencode(id) ":" urlencode(secret))`, both parts non-empty.
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // A form parser splits at '&'; here an unescaped '&' is part of the value.
    let unescape = |part: &str| -> String {
        url::form_urlencoded::parse(format!("x={}", part.replace('&', "%26")).as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let form = Form::parse(b"grant_type=client_credentials").unwrap();
        let header = basic("my%20client", "s%3Acret+x");
        let client = presented_client(Some(&header), &form).unwrap();
        assert_eq!(client.client_id, "my client");
        assert_eq!(client.secret.unwrap().expose_secret(), "s:cret x");
        assert_eq!(client.method, AuthMethod::Basic);
    }

    #[test]
    fn basic_parts_are_whole_values_not_forms() {
        let form = Form::default();
        for (secret, decoded) in [
            ("s3cret&x=1", "s3cret&x=1"),
            ("s3cret&", "s3cret&"),
            ("a=b", "a=b"),
            ("%26%3D", "&="),
        ] {
            let client = presented_client(Some(&basic("abc", secret)), &form).unwrap();
            assert_eq!(client.secret.unwrap().expose_secret(), decoded, "{secret}");
        }
        let client = presented_client(Some(&basic("a&b", "s")), &form).unwrap();
        assert_eq!(client.client_id, "a&b");
    }

    #[test]
    fn post_credentials_and_public_clients() {
        let form = Form::parse(b"client_id=abc&client_secret=xyz").unwrap();
        let client = presented_client(None, &form).unwrap();
        assert_eq!(client.method, AuthMethod::Post);
        let public = presented_client(None, &Form::parse(b"client_id=abc").unwrap()).unwrap();
        assert_eq!(public.method, AuthMethod::None);
    }

    #[test]
    fn two_methods_or_broken_headers_are_refused() {
        let form = Form::parse(b"client_id=abc&client_secret=xyz").unwrap();
        assert!(matches!(
            presented_client(Some(&basic("abc", "xyz")), &form),
            Err(OAuthError::InvalidRequest(_))
        ));
        let empty = Form::default();
        for header in [
            "Basic !!!",
            "Basic",
            "Basic Zm9v",
            "Basic OnNlY3JldA==",
            "Basic aWQ6",
        ] {
            assert_eq!(
                presented_client(Some(header), &empty).unwrap_err(),
                OAuthError::InvalidClient { used_basic: true },
                "{header}"
            );
        }
        assert_eq!(
            presented_client(Some("Bearer x"), &empty).unwrap_err(),
            OAuthError::InvalidClient { used_basic: false }
        );
        assert_eq!(
            presented_client(None, &empty).unwrap_err(),
            OAuthError::InvalidClient { used_basic: false }
        );
    }
}
