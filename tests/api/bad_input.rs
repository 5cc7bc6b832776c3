//! Bad input on `/api/*` and `/oauth/*`: a body of the wrong shape, a field of the wrong
//! type, a NUL character (U+0000) anywhere the caller can put a string. Each is a clear
//! 4xx naming what is wrong, the same on SQLite and PostgreSQL, and changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, causes, client_body, spawn_app, Backend, TestApp};
use crate::token_client::{assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    bodies_of_the_wrong_shape_are_400_and_store_nothing,
    type_errors_name_the_field,
    nul_characters_are_400_and_store_nothing,
    nul_characters_in_oauth_forms_are_rfc_6749_errors,
);

/// An app with tenant `acme` and one confidential client in it; returns the client's
/// creation response too.
async fn app_with_client(backend: Backend) -> (TestApp, Value) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    (app, created)
}

/// The writes that take a JSON object body, as (method, path).
fn json_writes(client_id: &str) -> Vec<(Method, String)> {
    vec![
        (Method::PUT, "/api/v1/tenants/newcomer".to_owned()),
        (Method::POST, "/api/v1/oauth-clients".to_owned()),
        (Method::PATCH, format!("/api/v1/oauth-clients/{client_id}")),
        (
            Method::POST,
            format!("/api/v1/tenants/clients/{client_id}/tokens"),
        ),
    ]
}

async fn send_json(app: &TestApp, method: &Method, path: &str, body: &Value) -> reqwest::Response {
    app.admin(method.clone(), path)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn bodies_of_the_wrong_shape_are_400_and_store_nothing(backend: Backend) {
    let (app, created) = app_with_client(backend).await;
    let id = created["id"].as_str().unwrap();
    let before = app.database_text().await;

    let wrong_shapes = [
        json!([]),
        json!([client_body("acme")]),
        json!("acme"),
        json!(5),
        json!(true),
        json!(null),
    ];
    for (method, path) in json_writes(id) {
        for body in &wrong_shapes {
            let response = send_json(&app, &method, &path, body).await;
            let error = assert_api_error(response, 400).await;
            assert!(
                causes(&error)
                    .iter()
                    .any(|cause| cause.contains("invalid type")),
                "{method} {path} {body}: {error}"
            );
        }
    }

    assert_eq!(before, app.database_text().await);
    assert_api_error(app.get_tenant("newcomer").await, 404).await;
}

async fn type_errors_name_the_field(backend: Backend) {
    let (app, created) = app_with_client(backend).await;
    let id = created["id"].as_str().unwrap();
    let before = app.database_text().await;

    let mut client = client_body("acme");
    client["enabled"] = json!("yes");
    for (method, path, body, expected) in [
        (
            Method::PUT,
            "/api/v1/tenants/x".to_owned(),
            json!({"name": 5}),
            "name: invalid type: integer `5`, expected a string",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/x".to_owned(),
            json!({"metadata": {"team": ["a"]}}),
            "metadata.team: invalid type: sequence, expected a string",
        ),
        (
            Method::POST,
            "/api/v1/oauth-clients".to_owned(),
            client,
            "enabled: invalid type: string \"yes\", expected a boolean",
        ),
        (
            Method::PATCH,
            format!("/api/v1/oauth-clients/{id}"),
            json!({"allowedScopes": [1]}),
            "allowedScopes[0]: invalid type: integer `1`",
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/clients/{id}/tokens"),
            json!({"name": {"first": "x"}}),
            "name: invalid type: map, expected a string",
        ),
    ] {
        let response = send_json(&app, &method, &path, &body).await;
        let error = assert_api_error(response, 400).await;
        let found = causes(&error);
        assert!(
            found.iter().any(|cause| cause.starts_with(expected)),
            "{method} {path}: {found:?}"
        );
    }

    assert_eq!(before, app.database_text().await);
}

async fn nul_characters_are_400_and_store_nothing(backend: Backend) {
    let (app, created) = app_with_client(backend).await;
    let id = created["id"].as_str().unwrap();
    let before = app.database_text().await;

    let in_bodies = [
        (
            Method::PUT,
            "/api/v1/tenants/acme".to_owned(),
            json!({"name": "Acme\u{0}Corp"}),
            "name",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme".to_owned(),
            json!({"metadata": {"team": "a\u{0}"}}),
            "metadata.team",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme".to_owned(),
            json!({"metadata": {"te\u{0}am": "a"}}),
            "metadata.te\\0am (a key)",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme".to_owned(),
            json!({"na\u{0}me": "a"}),
            "na\\0me (a key)",
        ),
        (
            Method::POST,
            "/api/v1/oauth-clients".to_owned(),
            {
                let mut body = client_body("acme");
                body["redirectUris"] = json!(["https://app.example/cb\u{0}"]);
                body
            },
            "redirectUris[0]",
        ),
        (
            Method::PATCH,
            format!("/api/v1/oauth-clients/{id}"),
            json!({"description": "\u{0}"}),
            "description",
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/clients/{id}/tokens"),
            json!({"name": "ci\u{0}"}),
            "name",
        ),
    ];
    for (method, path, body, place) in in_bodies {
        let response = send_json(&app, &method, &path, &body).await;
        let error = assert_api_error(response, 400).await;
        let expected = format!("{place}: must not contain a NUL character (U+0000)");
        assert_eq!(causes(&error), [expected], "{method} {path}");
    }

    let in_paths_and_queries = [
        (Method::GET, "/api/v1/tenants/acme%00".to_owned()),
        (Method::PUT, "/api/v1/tenants/acme%00".to_owned()),
        (Method::GET, format!("/api/v1/oauth-clients/{id}%00")),
        (Method::DELETE, format!("/api/v1/oauth-clients/{id}%00")),
        (Method::DELETE, "/api/v1/keys/kid%00".to_owned()),
        (
            Method::DELETE,
            format!("/api/v1/tenants/clients/{id}/tokens/1%00"),
        ),
        (Method::GET, "/api/v1/tenants/acme%00/token".to_owned()),
        (
            Method::GET,
            "/api/v1/oauth-clients?tenantId=acme%00".to_owned(),
        ),
        (Method::GET, "/api/v1/oauth-clients?cursor=%00".to_owned()),
        (
            Method::GET,
            "/api/v1/audit-events?tenantId=%00&limit=5".to_owned(),
        ),
    ];
    for (method, path) in in_paths_and_queries {
        let response = app.admin(method.clone(), &path).send().await.unwrap();
        let error = assert_api_error(response, 400).await;
        assert!(
            causes(&error)
                .iter()
                .any(|cause| cause.ends_with("must not contain a NUL character (U+0000)")),
            "{method} {path}: {error}"
        );
    }

    assert_eq!(before, app.database_text().await);
}

async fn nul_characters_in_oauth_forms_are_rfc_6749_errors(backend: Backend) {
    let (app, created) = app_with_client(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&created);
    let token = oauth.access_token(&client).await;
    let before = app.database_text().await;

    let grant = ("grant_type", "client_credentials");
    let response = oauth
        .post(
            "/oauth/token",
            None,
            &[grant, ("client_id", "\0"), ("client_secret", "x")],
        )
        .await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = oauth
        .post(
            "/oauth/token",
            None,
            &[grant, ("client_id", &client.id), ("client_secret", "\0")],
        )
        .await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let nul_id = Credentials::new("ab\0", &client.secret);
    let response = oauth
        .post("/oauth/token", Some(&nul_id.basic()), &[grant])
        .await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = oauth.token(&client, &[("scope", "read\0")]).await;
    assert_oauth_error(response, 400, "invalid_scope").await;
    let response = oauth
        .post(
            "/oauth/token",
            Some(&client.basic()),
            &[("grant_type", "\0")],
        )
        .await;
    assert_oauth_error(response, 400, "unsupported_grant_type").await;
    // RFC 7662 §2.2 and RFC 7009 §2.2: a token that is not valid is inactive, and
    // revoking it succeeds doing nothing; neither is an error.
    assert_eq!(
        oauth.introspect(&client, "\0").await,
        json!({"active": false})
    );
    oauth.revoke(&client, &[("token", "\0")]).await;
    oauth
        .revoke(&client, &[("token", &format!("{token}\0"))])
        .await;
    assert!(
        oauth.is_active(&client, &token).await,
        "nothing was revoked"
    );
    assert_eq!(before, app.database_text().await);

    // A hint the server does not know is ignored (RFC 7009 §2.1).
    oauth
        .revoke(&client, &[("token", &token), ("token_type_hint", "\0")])
        .await;
    assert!(!oauth.is_active(&client, &token).await);
}
