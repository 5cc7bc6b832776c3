//! Server metadata (RFC 8414) at both well-known addresses: exactly the configured
//! issuer, the endpoints, and nothing that is not implemented; and a client that knows
//! only the metadata URL can use the server.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::token_client::{assert_no_store, form, Credentials};

crate::on_both_backends!(
    metadata_names_the_configured_issuer_and_what_is_implemented,
    a_client_needs_only_the_metadata,
);

const DOCUMENTS: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

async fn metadata(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

async fn metadata_names_the_configured_issuer_and_what_is_implemented(backend: Backend) {
    let issuer = "https://auth.example.test/tessera";
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = issuer.into();
        s.oauth.scopes_supported = vec!["read".into(), "write".into()];
    })
    .await;
    let document = metadata(&app, DOCUMENTS[0]).await;
    assert_eq!(document["issuer"], issuer);
    // RFC 8414 §3.1: the issuer's path goes after the well-known prefix.
    let path_inserted = metadata(&app, "/.well-known/oauth-authorization-server/tessera").await;
    assert_eq!(path_inserted, document);
    for other in ["/other", "/tessera/more", "/"] {
        let response = app
            .client
            .get(app.url(&format!("{}{other}", DOCUMENTS[0])))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{other}");
    }
    for (field, path) in [
        ("token_endpoint", "/oauth/token"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("authorization_endpoint", "/oauth/authorize"),
    ] {
        assert_eq!(document[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        document["grant_types_supported"],
        json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    // Public clients (`none`) authenticate by id at the token endpoint for the code grant.
    let methods = json!(["client_secret_basic", "client_secret_post", "none"]);
    assert_eq!(document["token_endpoint_auth_methods_supported"], methods);
    assert_eq!(document["scopes_supported"], json!(["read", "write"]));
    assert_eq!(document["response_types_supported"], json!(["code"]));
    assert_eq!(
        document["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        document["authorization_response_iss_parameter_supported"],
        json!(true),
        "RFC 9207"
    );
    for absent in ["userinfo_endpoint", "registration_endpoint"] {
        assert!(document.get(absent).is_none(), "{absent}: {document}");
    }
    assert_eq!(metadata(&app, DOCUMENTS[1]).await, document);

    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let token: Value = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", client.basic())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims =
        jsonwebtoken::dangerous::insecure_decode::<Value>(token["access_token"].as_str().unwrap())
            .unwrap()
            .claims;
    assert_eq!(claims["iss"], issuer, "tokens name the same issuer");
}

/// Discovery as a stock client does it: the metadata URL, then only what it says.
async fn a_client_needs_only_the_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = Credentials::of(
        &app.create_client("acme", json!({"allowedScopes": ["read"]}))
            .await,
    );
    let http = reqwest::Client::new();
    let document: Value = http
        .get(format!("{}{}", app.issuer, DOCUMENTS[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = |field: &str| document[field].as_str().unwrap().to_owned();
    let post = |endpoint: String, params: Vec<(&str, String)>| {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http.post(endpoint)
            .header("authorization", client.basic())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&params))
            .send()
    };

    let response = post(
        url("token_endpoint"),
        vec![
            ("grant_type", "client_credentials".into()),
            ("scope", "read".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_no_store(response.headers());
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(url("jwks_uri"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[url("issuer")]);
    validation.set_audience(&[url("issuer")]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["scope"], "read");

    let introspected: Value = post(
        url("introspection_endpoint"),
        vec![("token", token.clone())],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(introspected["active"], true);
    let revoked = post(url("revocation_endpoint"), vec![("token", token.clone())])
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let introspected: Value = post(url("introspection_endpoint"), vec![("token", token)])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({"active": false}));
}
