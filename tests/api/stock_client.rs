//! A stock OAuth 2.0 client library (the `oauth2` crate) against Tessera: discovery from
//! the metadata, client_credentials with both authentication methods, its tokens
//! verified with the JWKS, and an error it understands; the authorization code grant
//! with PKCE, its authorize URL followed through the login page, then refreshes.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::keys::verify_independently;

crate::on_both_backends!(
    a_stock_client_library_works_with_discovery_and_the_jwks,
    a_stock_client_library_completes_the_code_grant_with_pkce,
);

/// The server metadata (RFC 8414), where a client library discovers the endpoints.
async fn discovered(app: &crate::helpers::TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn a_stock_client_library_works_with_discovery_and_the_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client(
            "acme",
            json!({"grantTypes": ["CLIENT_CREDENTIALS"], "redirectUris": [], "allowedScopes": ["read", "write"]}),
        )
        .await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let metadata = discovered(&app).await;
    let token_url = TokenUrl::new(metadata["token_endpoint"].as_str().unwrap().to_owned()).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.to_owned()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth_type.clone());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("read".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|error| panic!("{auth_type:?}: {error:?}"));
        assert_eq!(token.expires_in().unwrap().as_secs(), 750);
        let scopes: Vec<&str> = token.scopes().unwrap().iter().map(|s| s.as_str()).collect();
        assert_eq!(scopes, ["read"]);
        let claims = verify_independently(&app, token.access_token().secret()).await;
        assert_eq!(claims["client_id"], id);
        assert_eq!(claims["scope"], "read");

        let wrong = BasicClient::new(ClientId::new(id.to_owned()))
            .set_client_secret(ClientSecret::new("not-the-secret".into()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth_type.clone());
        match wrong
            .exchange_client_credentials()
            .request_async(&http)
            .await
        {
            Err(RequestTokenError::ServerResponse(response)) => {
                assert_eq!(*response.error(), BasicErrorResponseType::InvalidClient);
            }
            other => panic!("{auth_type:?}: expected invalid_client, got {other:?}"),
        }
    }
}

async fn a_stock_client_library_completes_the_code_grant_with_pkce(backend: Backend) {
    use crate::login_flow::{param, set_up, Browser, REDIRECT_URI, USERNAME};
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let metadata = discovered(&app).await;
    let client = BasicClient::new(ClientId::new(setup.client_id.clone()))
        .set_client_secret(ClientSecret::new(setup.client_secret.clone().unwrap()))
        .set_auth_uri(
            AuthUrl::new(metadata["authorization_endpoint"].as_str().unwrap().into()).unwrap(),
        )
        .set_token_uri(TokenUrl::new(metadata["token_endpoint"].as_str().unwrap().into()).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(url
        .as_str()
        .starts_with(&format!("{}/oauth/authorize?", app.issuer)));
    let answer = Browser::new(&app).code_for(url.query().unwrap()).await;
    assert_eq!(param(&answer, "state"), Some(state.secret().as_str()));
    assert_eq!(param(&answer, "iss"), Some(app.issuer.as_str()), "RFC 9207");
    let code = param(&answer, "code").unwrap().to_owned();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
    assert_eq!(token.expires_in().unwrap().as_secs(), 750);
    let scopes: Vec<&str> = token.scopes().unwrap().iter().map(|s| s.as_str()).collect();
    assert_eq!(scopes, ["read", "write"]);
    assert!(token.refresh_token().is_some());
    let claims = verify_independently(&app, token.access_token().secret()).await;
    assert_eq!(claims["sub"], setup.user_id.as_str());
    assert!(claims["sid"].is_string());
    assert_ne!(claims["sub"], USERNAME, "the user id, not the name");

    // It refreshes, again and again: each time a new refresh token.
    let mut refresh = token.refresh_token().unwrap().clone();
    for _ in 0..3 {
        let refreshed = client
            .exchange_refresh_token(&refresh)
            .request_async(&http)
            .await
            .unwrap_or_else(|error| panic!("{error:?}"));
        let next = refreshed.refresh_token().expect("rotated").clone();
        assert_ne!(next.secret(), refresh.secret());
        refresh = next;
    }

    // The library sees the replay as the RFC error it is.
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    match client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
    {
        Err(RequestTokenError::ServerResponse(response)) => {
            assert_eq!(*response.error(), BasicErrorResponseType::InvalidGrant);
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}
