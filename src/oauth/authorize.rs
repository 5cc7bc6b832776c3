//! The authorization endpoint's rules (RFC 6749 §3.1, §4.1.1, §4.1.2; RFC 7636; RFC
//! 8252 §7.3, §8.3; RFC 9700 §2.1, §4.1; RFC 9207): which requests are taken, where the
//! answer goes, and how an answer is spelled. No HTTP, no SQL: the client is looked up
//! by the caller ([`OAuthServer::authorization_request`]).
//!
//! The client and the redirect URI are checked first. If either cannot be trusted (an
//! unknown or disabled client, a `redirect_uri` that is not registered, a request that
//! cannot be read), the answer is a page for the person at the browser and never a
//! redirect, so Tessera is never an open redirector (RFC 6749 §4.1.2.1, §10.15). Every
//! later problem goes back to the client's redirect URI as `error`, `error_description`,
//! `state` and `iss` (RFC 9207), like the successful answer's `code`.
//!
//! Redirect URIs are compared as exact strings (RFC 9700 §2.1). The one exception is
//! RFC 8252 §7.3: a registered `http://127.0.0.1…` or `http://[::1]…` URI matches the
//! same URI on any port, since native apps listen on an ephemeral port. `localhost` is
//! not such an exception (RFC 8252 §8.3: it may resolve elsewhere), so it matches only
//! exactly.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::pkce::CodeChallenge;
use super::scope::grant_scopes;
use super::server::OAuthServer;
use super::{Form, OAuthError};
use crate::clients::{scope_string, Client, ClientType, GrantType, RedirectUri, ScopeToken};
use crate::ids::UserId;
use crate::store::{to_millis, CodeRecord};
use crate::tenants::TenantId;
use crate::tokens::OpaqueToken;

/// Longest `state` taken: it comes back in the redirect, whose URL must stay usable.
pub const MAX_STATE_LEN: usize = 1024;
/// Loopback IP literals of RFC 8252 §7.3, as they are written in a URI.
const LOOPBACK_PREFIXES: &[&str] = &["http://127.0.0.1", "http://[::1]"];

/// A request the login page may go on with: a known, enabled client, the redirect URI
/// answers go to, and what it asks for.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<Client>,
    pub reply: ReplyTo,
    /// Whether `redirect_uri` was sent; if so, the token request must repeat it
    /// (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub scopes: Vec<ScopeToken>,
    pub challenge: Option<CodeChallenge>,
}

impl AuthorizationRequest {
    /// SHA-256 over every value that decides what is granted, so a login session
    /// started for one request cannot be used to approve another.
    pub fn digest(&self) -> String {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            self.client.id.as_str(),
            self.reply.redirect_uri.as_str(),
            if self.redirect_uri_sent { "sent" } else { "" },
            &scope_string(&self.scopes),
            self.reply.state.as_deref().unwrap_or_default(),
            self.challenge.as_ref().map_or("", CodeChallenge::as_str),
        ] {
            // Length-prefixed, so no two lists of values hash the same.
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        hex::encode(context.finish())
    }

    pub fn scope(&self) -> String {
        scope_string(&self.scopes)
    }
}

/// Where answers to a request go: its redirect URI and the `state` to echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub state: Option<String>,
}

impl ReplyTo {
    /// The redirect carrying a code (RFC 6749 §4.1.2, RFC 9207 §2).
    pub fn with_code(&self, code: &str, issuer: &str) -> String {
        self.location(&[("code", code)], issuer)
    }

    /// The redirect carrying an error (RFC 6749 §4.1.2.1, RFC 9207 §2).
    pub fn with_error(&self, error: &OAuthError, issuer: &str) -> String {
        let (code, description) = (error.to_string(), error.description());
        self.location(
            &[("error", &code), ("error_description", &description)],
            issuer,
        )
    }

    /// The redirect URI with `params`, `state` and `iss` added to its query, which it
    /// keeps (RFC 6749 §3.1.2).
    fn location(&self, params: &[(&str, &str)], issuer: &str) -> String {
        let mut location = self.redirect_uri.clone();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(params);
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
        location.push(if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        });
        location.push_str(&query.finish());
        location
    }
}

/// Why an authorization request does not reach the login page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or the redirect URI cannot be trusted: a page, never a redirect.
    Untrusted(String),
    /// Sent back to the client: the redirect's location.
    Redirect(String),
    /// The server failed before the client could be trusted (`server_error`,
    /// `temporarily_unavailable`): a page.
    Failed(OAuthError),
}

impl OAuthServer {
    /// The authorization request in `query` (the URL's query string), its client looked
    /// up and every rule checked.
    pub async fn authorization_request(
        &self,
        query: &str,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let form = Form::parse(query.as_bytes()).map_err(|error| {
            AuthorizeError::Untrusted(format!("{} {}", error.description(), START_AGAIN))
        })?;
        let client_id = form.get("client_id").ok_or_else(|| {
            AuthorizeError::Untrusted(format!("The request names no client. {START_AGAIN}"))
        })?;
        let client = self.clients.client(client_id).await.map_err(|error| {
            AuthorizeError::Failed(super::server::unavailable_or_server_error(error))
        })?;
        validate(&form, client, &self.issuer)
    }
}

/// Expired codes are kept this long, so a late replay is still recognised as one.
const EXPIRED_CODE_RETENTION_MILLIS: i64 = 3_600_000;

impl OAuthServer {
    /// A new code for `user` in `tenant`, granted what `request` asked for, valid
    /// `tokens.authorization_code_ttl_seconds` from `now` and stored only as its hash;
    /// returned as the redirect that carries it.
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        user: &UserId,
        tenant: &TenantId,
        auth_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let code = OpaqueToken::generate();
        let created_at = to_millis(now);
        let record = CodeRecord {
            code_hash: code.hash().as_str().to_owned(),
            client_id: request.client.id.to_string(),
            user_id: user.to_string(),
            tenant_id: tenant.to_string(),
            redirect_uri: request.reply.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            scope: request.scope(),
            code_challenge: request.challenge.as_ref().map(|c| c.as_str().to_owned()),
            auth_time: to_millis(auth_time),
            created_at,
            expires_at: created_at + self.tokens.authorization_code_ttl().num_milliseconds(),
            used_at: None,
            session_id: None,
        };
        self.store
            .insert_authorization_code(&record, created_at - EXPIRED_CODE_RETENTION_MILLIS)
            .await
            .map_err(super::server::unavailable_or_server_error)?;
        Ok(request.reply.with_code(code.expose(), &self.issuer))
    }
}

const START_AGAIN: &str = "Go back to the application and start signing in again.";

/// The rules of RFC 6749 §4.1.1 and the rest of this module's header, given the client
/// `client_id` names (`None` if there is none).
pub fn validate(
    form: &Form,
    client: Option<Arc<Client>>,
    issuer: &str,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let client = client
        .filter(|client| client.settings.enabled)
        .ok_or_else(|| {
            AuthorizeError::Untrusted(format!(
                "The application that sent you here is not known. {START_AGAIN}"
            ))
        })?;
    let sent = form.get("redirect_uri");
    let registered: Vec<&str> = client
        .settings
        .redirect_uris
        .iter()
        .map(|uri| uri.as_str())
        .collect();
    let redirect_uri = choose_redirect_uri(&registered, sent)
        .map_err(|problem| AuthorizeError::Untrusted(format!("{problem} {START_AGAIN}")))?;
    // From here on the redirect URI is trusted, but `state` is echoed only when sane.
    let state = form.get("state");
    let reply = ReplyTo {
        redirect_uri,
        state: state
            .filter(|state| state.len() <= MAX_STATE_LEN)
            .map(str::to_owned),
    };
    let refuse = |error: OAuthError| AuthorizeError::Redirect(reply.with_error(&error, issuer));
    if state.is_some_and(|state| state.len() > MAX_STATE_LEN) {
        return Err(refuse(OAuthError::InvalidRequest(format!(
            "state has at most {MAX_STATE_LEN} characters."
        ))));
    }
    match form.get("response_type") {
        None => {
            return Err(refuse(OAuthError::InvalidRequest(
                "The parameter 'response_type' is required.".into(),
            )))
        }
        Some("code") => {}
        Some(_) => {
            return Err(refuse(OAuthError::UnsupportedResponseType(
                "Only response_type=code is supported.".into(),
            )))
        }
    }
    if !client
        .settings
        .grant_types
        .contains(&GrantType::AuthorizationCode)
    {
        return Err(refuse(OAuthError::UnauthorizedClient(
            "This client may not use the authorization_code grant.".into(),
        )));
    }
    let challenge = CodeChallenge::from_request(
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    )
    .map_err(|problem| refuse(OAuthError::InvalidRequest(problem)))?;
    if challenge.is_none() && client.settings.client_type == ClientType::Public {
        return Err(refuse(OAuthError::InvalidRequest(
            "A public client must use PKCE: send code_challenge with code_challenge_method=S256."
                .into(),
        )));
    }
    // RFC 8252 §8.1: another app may claim a private-use scheme too, so only PKCE keeps
    // the code its own, whatever the client's type.
    if challenge.is_none() && RedirectUri::is_native_app(&reply.redirect_uri) {
        return Err(refuse(OAuthError::InvalidRequest(
            "A redirect to a native app's private-use scheme needs PKCE: send code_challenge \
             with code_challenge_method=S256."
                .into(),
        )));
    }
    let scopes =
        grant_scopes(form.get("scope"), &client.settings.allowed_scopes).map_err(&refuse)?;
    // `tenant`, when sent, can only repeat the client's: a client signs users in to its
    // own tenant (its tokens carry that `tid` and its claims, and end with that tenant).
    let tenant = form
        .get("tenant")
        .map(TenantId::parse)
        .transpose()
        .map_err(|problem| refuse(OAuthError::InvalidRequest(format!("tenant: {problem}."))))?;
    if tenant
        .as_ref()
        .is_some_and(|tenant| *tenant != client.tenant_id)
    {
        return Err(refuse(OAuthError::InvalidRequest(
            "tenant: this client signs users in to its own tenant only.".into(),
        )));
    }
    Ok(AuthorizationRequest {
        client,
        reply,
        redirect_uri_sent: sent.is_some(),
        scopes,
        challenge,
    })
}

/// The redirect URI answers go to: the one sent, if it matches a registered one, or
/// the only one registered when none is sent (RFC 6749 §3.1.2.3).
pub fn choose_redirect_uri(registered: &[&str], sent: Option<&str>) -> Result<String, String> {
    match (sent, registered) {
        (None, [only]) => Ok((*only).to_owned()),
        (None, []) => Err("The application has no redirect URI registered.".into()),
        (None, _) => {
            Err("The request must name its redirect_uri: the application has several.".into())
        }
        (Some(sent), _) if registered.iter().any(|uri| redirect_matches(uri, sent)) => {
            Ok(sent.to_owned())
        }
        (Some(_), _) => Err("The redirect_uri is not one the application registered.".into()),
    }
}

/// Whether `sent` is `registered`: the same string, or — for a loopback IP literal
/// (RFC 8252 §7.3) — the same string but for the port.
pub fn redirect_matches(registered: &str, sent: &str) -> bool {
    if registered == sent {
        return true;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(sent),
    ) {
        (Some(registered), Some(sent)) => registered == sent,
        _ => false,
    }
}

/// A loopback-IP URI split around its port: `("http://127.0.0.1", "/cb?x")` for
/// `http://127.0.0.1:51004/cb?x`. `None` for anything else.
fn without_loopback_port(uri: &str) -> Option<(&str, &str)> {
    let host = LOOPBACK_PREFIXES
        .iter()
        .find(|prefix| uri.starts_with(**prefix))?;
    let after_host = &uri[host.len()..];
    let rest = match after_host.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 5 {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => after_host,
    };
    // Only a path, a query or nothing may follow: `http://127.0.0.1.evil.example`
    // or `http://127.0.0.1@evil.example` are other hosts.
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((host, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly() {
        let uri = "https://app.example.com/cb";
        assert!(redirect_matches(uri, uri));
        for other in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
            "https://app.example.com/c%62",
        ] {
            assert!(!redirect_matches(uri, other), "{other}");
        }
    }

    #[test]
    fn loopback_ip_literals_match_on_any_port() {
        for (registered, sent) in [
            ("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"),
            ("http://[::1]:1/cb?x=1", "http://[::1]:65535/cb?x=1"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:3000"),
        ] {
            assert!(redirect_matches(registered, sent), "{registered} {sent}");
        }
        for (registered, sent) in [
            ("http://localhost/cb", "http://localhost:51004/cb"),
            ("http://localhost:8080/cb", "http://localhost:9/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:51004/other"),
            ("http://127.0.0.1/cb", "http://[::1]:51004/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1.evil.example/cb"),
            ("http://127.0.0.1", "http://127.0.0.1@evil.example"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:123456/cb"),
            ("http://127.0.0.1/cb", "https://127.0.0.1:443/cb"),
        ] {
            assert!(!redirect_matches(registered, sent), "{registered} {sent}");
        }
    }

    #[test]
    fn the_redirect_uri_is_the_one_sent_or_the_only_one() {
        let one = ["https://a.example/cb"];
        let two = ["https://a.example/cb", "https://b.example/cb"];
        assert_eq!(choose_redirect_uri(&one, None).unwrap(), one[0]);
        assert!(choose_redirect_uri(&two, None).is_err());
        assert!(choose_redirect_uri(&[], None).is_err());
        assert_eq!(
            choose_redirect_uri(&two, Some("https://b.example/cb")).unwrap(),
            two[1]
        );
        assert!(choose_redirect_uri(&two, Some("https://c.example/cb")).is_err());
    }

    #[test]
    fn answers_keep_the_query_and_add_state_and_iss() {
        let reply = ReplyTo {
            redirect_uri: "https://app.example/cb?tab=1".into(),
            state: Some("a b&c".into()),
        };
        assert_eq!(
            reply.with_code("xyz", "https://auth.example"),
            "https://app.example/cb?tab=1&code=xyz&state=a+b%26c&iss=https%3A%2F%2Fauth.example"
        );
        let reply = ReplyTo {
            redirect_uri: "http://127.0.0.1:5000/cb".into(),
            state: None,
        };
        let location = reply.with_error(
            &OAuthError::AccessDenied("The user denied the request.".into()),
            "http://localhost:8080",
        );
        assert_eq!(
            location,
            "http://127.0.0.1:5000/cb?error=access_denied&error_description=The+user+denied+the+request.&iss=http%3A%2F%2Flocalhost%3A8080"
        );
    }
}
