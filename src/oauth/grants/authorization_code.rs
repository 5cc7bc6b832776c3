//! The authorization code grant's exchange (RFC 6749 §4.1.3, §10.5; RFC 7636 §4.5,
//! §4.6; RFC 9700 §2.1.1, §4.8.2): a code issued by the login page
//! ([`OAuthServer::issue_code`]) becomes a session and its tokens.
//!
//! What a presented code gets is a pure decision ([`decide`]) of the stored row, the
//! presenting client, the request and `now`: the code must be the client's own, unused,
//! unexpired, with the same `redirect_uri` as the authorization request and the
//! `code_verifier` of its PKCE challenge (none when it had none: no downgrade), for a
//! user still enabled, still a member of the tenant and whose password has not changed
//! since sign-in. A refusal changes nothing. A code presented again after its exchange
//! is a replay (RFC 6749 §4.1.2): `invalid_grant`, and the session its first use started
//! is ended, which revokes that session's refresh tokens and access tokens (here at
//! once, in other processes at their next feed poll).
//!
//! The code row is locked, marked used and the session started in one [`WriteTx`], so
//! of any number of simultaneous exchanges of one code exactly one succeeds.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use crate::clients::{AuthenticatedClient, ScopeToken};
use crate::ids::{SessionId, UserId};
use crate::oauth::pkce::{CodeChallenge, CodeVerifier};
use crate::oauth::server::{unavailable_or_server_error, OAuthServer};
use crate::oauth::{Form, OAuthError};
use crate::sessions::{self, EndReason, Ending, StartSession};
use crate::store::{from_millis, to_millis, LockedCode, Store};
use crate::tenants::TenantId;
use crate::tokens::access::UserSession;
use crate::tokens::OpaqueToken;

/// One description for unknown, used, expired and foreign codes: none tells an
/// attacker more than the others.
const INVALID_CODE: &str = "The authorization code is invalid, expired or already used.";

#[derive(Debug)]
pub struct Request {
    code: Option<OpaqueToken>,
    redirect_uri: Option<String>,
    verifier: Result<Option<CodeVerifier>, String>,
}

impl Request {
    pub fn parse(form: &Form) -> Self {
        Request {
            code: form.get("code").map(OpaqueToken::presented),
            redirect_uri: form.get("redirect_uri").map(str::to_owned),
            verifier: form
                .get("code_verifier")
                .map(CodeVerifier::parse)
                .transpose(),
        }
    }
}

/// What a presented code gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Exchange,
    /// Already exchanged: refuse, and end the session that exchange started.
    Replayed(Option<SessionId>),
    Refuse(String),
}

/// The rules of this module's header, for the code as stored (locked) and the request
/// of `client_id`.
pub fn decide(
    stored: &LockedCode,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&CodeVerifier>,
    now: DateTime<Utc>,
) -> Decision {
    let code = &stored.code;
    if code.client_id != client_id {
        return Decision::Refuse(INVALID_CODE.into());
    }
    if code.used_at.is_some() {
        let session = code
            .session_id
            .as_deref()
            .and_then(|id| SessionId::parse(id).ok());
        return Decision::Replayed(session);
    }
    if to_millis(now) >= code.expires_at {
        return Decision::Refuse(INVALID_CODE.into());
    }
    let redirect_matches = match redirect_uri {
        Some(sent) => sent == code.redirect_uri,
        None => !code.redirect_uri_sent,
    };
    if !redirect_matches {
        return Decision::Refuse(
            "redirect_uri must be the one of the authorization request.".into(),
        );
    }
    let challenge = code.code_challenge.as_deref().map(CodeChallenge::parse);
    match (challenge, verifier) {
        (None, None) => {}
        (None, Some(_)) => {
            return Decision::Refuse(
                "This code was issued without a code_challenge: send no code_verifier.".into(),
            )
        }
        (Some(_), None) => {
            return Decision::Refuse("code_verifier is required for this code.".into())
        }
        (Some(Ok(challenge)), Some(verifier)) if challenge.is_met_by(verifier) => {}
        (Some(_), Some(_)) => {
            return Decision::Refuse("The code_verifier does not match the code_challenge.".into())
        }
    }
    let still_allowed = stored.user_enabled == Some(true)
        && stored.member
        && stored
            .password_changed_at
            .is_some_and(|changed| changed <= code.auth_time);
    if !still_allowed {
        return Decision::Refuse(
            "The user can no longer sign in to this tenant; sign in again.".into(),
        );
    }
    Decision::Exchange
}

pub async fn grant(
    server: &OAuthServer,
    caller: &AuthenticatedClient,
    request: Request,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let code = request
        .code
        .ok_or_else(|| OAuthError::InvalidRequest("The parameter 'code' is required.".into()))?;
    let verifier = request.verifier.map_err(OAuthError::InvalidRequest)?;
    let hash = code.hash();
    let client = &caller.client;
    let mut tx = server
        .store
        .begin_write()
        .await
        .map_err(unavailable_or_server_error)?;
    let stored = Store::lock_authorization_code(&mut tx, hash.as_str())
        .await
        .map_err(unavailable_or_server_error)?
        .ok_or_else(|| OAuthError::InvalidGrant(INVALID_CODE.into()))?;
    let decision = decide(
        &stored,
        client.id.as_str(),
        request.redirect_uri.as_deref(),
        verifier.as_ref(),
        now,
    );
    let session = match decision {
        Decision::Refuse(description) => return Err(OAuthError::InvalidGrant(description)),
        Decision::Replayed(session) => {
            tracing::warn!(client_id = %client.id, "authorization code presented again");
            if let Some(session) = session {
                let ended = sessions::end(
                    &mut tx,
                    Ending::Session(&session),
                    EndReason::CodeReplayed,
                    now,
                )
                .await
                .map_err(unavailable_or_server_error)?;
                tx.commit().await.map_err(unavailable_or_server_error)?;
                server.sessions_ended(&ended, now);
            }
            return Err(OAuthError::InvalidGrant(INVALID_CODE.into()));
        }
        Decision::Exchange => UserSession {
            user_id: UserId::parse(&stored.code.user_id).map_err(corrupt)?,
            tenant_id: TenantId::parse(&stored.code.tenant_id).map_err(corrupt)?,
            session_id: SessionId::generate(),
            auth_time: from_millis(stored.code.auth_time),
        },
    };
    let scopes = stored
        .code
        .scope
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(ScopeToken::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?;
    let started = sessions::start(
        &mut tx,
        StartSession {
            user_id: session.user_id.clone(),
            tenant_id: session.tenant_id.clone(),
            client: client.clone(),
            scope: scopes.clone(),
            auth_time: session.auth_time,
            refresh_token: sessions::offers_refresh(client),
        },
        &server.tokens,
        now,
    )
    .await
    .map_err(unavailable_or_server_error)?;
    let marked = Store::mark_authorization_code_used(
        &mut tx,
        hash.as_str(),
        to_millis(now),
        started.session_id.as_str(),
    )
    .await
    .map_err(unavailable_or_server_error)?;
    if !marked {
        return Err(OAuthError::InvalidGrant(INVALID_CODE.into()));
    }
    tx.commit().await.map_err(unavailable_or_server_error)?;
    let session = UserSession {
        session_id: started.session_id,
        ..session
    };
    let issued = server
        .issue_session_token(client, &session, &scopes, now)
        .map_err(crate::oauth::server::server_error)?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
        refresh_token: started.refresh_token.map(|token| token.expose().to_owned()),
    })
}

/// A stored value that no longer parses: the database was changed by hand.
fn corrupt(problem: String) -> OAuthError {
    crate::oauth::server::server_error(anyhow::anyhow!("corrupt authorization code row: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CodeRecord;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const ISSUED: i64 = 1_700_000_000_000;
    const TTL: i64 = 60_000;

    fn stored(challenge: Option<&str>) -> LockedCode {
        LockedCode {
            code: CodeRecord {
                code_hash: "h".into(),
                client_id: "app".into(),
                user_id: "u".into(),
                tenant_id: "acme".into(),
                redirect_uri: "https://app.example/cb".into(),
                redirect_uri_sent: true,
                scope: "read".into(),
                code_challenge: challenge.map(str::to_owned),
                auth_time: ISSUED - 5_000,
                created_at: ISSUED,
                expires_at: ISSUED + TTL,
                used_at: None,
                session_id: None,
            },
            user_enabled: Some(true),
            password_changed_at: Some(ISSUED - 100_000),
            member: true,
        }
    }

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    fn verifier(raw: &str) -> CodeVerifier {
        CodeVerifier::parse(raw).unwrap()
    }

    const CB: Option<&str> = Some("https://app.example/cb");

    #[test]
    fn a_fresh_code_with_its_verifier_is_exchanged_until_its_ttl() {
        let code = stored(Some(CHALLENGE));
        let right = verifier(VERIFIER);
        assert_eq!(
            decide(&code, "app", CB, Some(&right), at(ISSUED)),
            Decision::Exchange
        );
        let last = at(ISSUED + TTL - 1);
        assert_eq!(
            decide(&code, "app", CB, Some(&right), last),
            Decision::Exchange
        );
        assert!(matches!(
            decide(&code, "app", CB, Some(&right), at(ISSUED + TTL)),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn pkce_must_match_and_cannot_be_added_or_dropped() {
        let with = stored(Some(CHALLENGE));
        let without = stored(None);
        let now = at(ISSUED);
        let wrong = verifier(&"a".repeat(43));
        assert!(matches!(
            decide(&with, "app", CB, Some(&wrong), now),
            Decision::Refuse(_)
        ));
        assert!(matches!(
            decide(&with, "app", CB, None, now),
            Decision::Refuse(_)
        ));
        assert!(matches!(
            decide(&without, "app", CB, Some(&verifier(VERIFIER)), now),
            Decision::Refuse(text) if text.contains("without a code_challenge")
        ));
        assert_eq!(decide(&without, "app", CB, None, now), Decision::Exchange);
    }

    #[test]
    fn the_client_and_redirect_uri_must_be_the_requests() {
        let code = stored(None);
        let now = at(ISSUED);
        assert!(matches!(
            decide(&code, "other", CB, None, now),
            Decision::Refuse(_)
        ));
        for sent in [
            None,
            Some("https://app.example/cb/"),
            Some("https://evil.example/cb"),
        ] {
            assert!(
                matches!(decide(&code, "app", sent, None, now), Decision::Refuse(_)),
                "{sent:?}"
            );
        }
        let mut implied = stored(None);
        implied.code.redirect_uri_sent = false;
        assert_eq!(decide(&implied, "app", None, None, now), Decision::Exchange);
        assert_eq!(decide(&implied, "app", CB, None, now), Decision::Exchange);
    }

    #[test]
    fn a_used_code_is_a_replay_of_its_session_but_not_for_another_client() {
        let session = SessionId::generate();
        let mut used = stored(None);
        used.code.used_at = Some(ISSUED + 1);
        used.code.session_id = Some(session.as_str().to_owned());
        let late = at(ISSUED + 10 * TTL);
        assert_eq!(
            decide(&used, "app", CB, None, late),
            Decision::Replayed(Some(session))
        );
        assert!(matches!(
            decide(&used, "other", CB, None, late),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn the_user_must_still_be_allowed() {
        let now = at(ISSUED);
        let mut disabled = stored(None);
        disabled.user_enabled = Some(false);
        let mut gone = stored(None);
        gone.user_enabled = None;
        gone.password_changed_at = None;
        let mut removed = stored(None);
        removed.member = false;
        let mut new_password = stored(None);
        new_password.password_changed_at = Some(ISSUED - 1);
        for code in [disabled, gone, removed, new_password] {
            assert!(
                matches!(decide(&code, "app", CB, None, now), Decision::Refuse(_)),
                "{code:?}"
            );
        }
    }
}
