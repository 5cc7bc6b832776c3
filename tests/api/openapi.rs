//! The OpenAPI document: served at `/api/v1/openapi.json`, equal to the saved copy in
//! `docs/openapi.json` (run with `TESSERA_UPDATE_OPENAPI=1` to rewrite it), OpenAPI
//! 3.1, and describing every route the server registers under `/api/v1`, `/api/v2`,
//! `/oauth` and the well-known paths.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Every route `src/http` registers that the document describes, with its methods (the
/// portal's pages, the login page's stylesheet, `/metrics`, and the RFC 8414 §3.1 path
/// of an issuer with a path are not part of the API it describes).
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/.well-known/jwks.json", &["get"]),
    ("/.well-known/oauth-authorization-server", &["get"]),
    ("/.well-known/openid-configuration", &["get"]),
    ("/oauth/token", &["post"]),
    ("/oauth/introspect", &["post"]),
    ("/oauth/revoke", &["post"]),
    ("/oauth/authorize", &["get", "post"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/api/v1/tenants/{tenantId}", &["put", "get", "delete"]),
    ("/api/v1/tenants/{tenantId}/token", &["get", "delete"]),
    ("/api/v1/tenant/token", &["get", "delete"]),
    ("/api/v1/tenants/{tenantId}/portal", &["get"]),
    ("/api/v1/tenant/portal", &["get"]),
    ("/api/v1/tenants/{tenantId}/members", &["get", "post"]),
    (
        "/api/v1/tenants/{tenantId}/members/{userId}",
        &["put", "delete"],
    ),
    ("/api/v1/tenants/clients/{clientId}", &["get"]),
    ("/api/v1/tenants/clients/{clientId}/tokens", &["post"]),
    (
        "/api/v1/tenants/clients/{clientId}/tokens/{tokenId}",
        &["delete"],
    ),
    ("/api/v1/oauth-clients", &["post", "get"]),
    ("/api/v1/oauth-clients/{id}", &["get", "patch", "delete"]),
    ("/api/v1/users", &["post", "get"]),
    ("/api/v1/users/{userId}", &["get", "patch", "delete"]),
    ("/api/v1/users/{userId}/password", &["put"]),
    ("/api/v1/audit-events", &["get"]),
    ("/api/v1/keys", &["get"]),
    ("/api/v1/keys/rotate", &["post"]),
    ("/api/v1/keys/{kid}", &["delete"]),
    ("/api/v1/tokens", &["post"]),
    ("/api/v1/tokens/refresh", &["post"]),
    ("/api/v1/tokens/switch", &["post"]),
    ("/api/v1/tokens/me", &["get", "head", "delete"]),
    ("/api/v1/tokens/timeout", &["get", "put"]),
    ("/api/v1/tokens/{userId}", &["delete"]),
    ("/api/v2/tokens/me", &["get", "head", "delete"]),
    ("/api/v2/tokens/timeout", &["get", "put"]),
    ("/api/v2/tokens/{userId}", &["delete"]),
];

const UPDATE_VAR: &str = "TESSERA_UPDATE_OPENAPI";

fn saved_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

/// The document does not depend on the database: one backend serves it.
#[tokio::test]
async fn served_document_is_the_saved_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served = format!("{}\n", response.text().await.unwrap());
    let path = saved_path();
    if std::env::var(UPDATE_VAR).is_ok_and(|value| value == "1") {
        std::fs::write(&path, &served).unwrap();
        return;
    }
    let saved = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        saved == served,
        "docs/openapi.json differs from the document the server serves; run \
         `{UPDATE_VAR}=1 cargo test --test api openapi::` to rewrite it, and commit it"
    );
}

fn saved() -> Value {
    let text = std::fs::read_to_string(saved_path()).expect("docs/openapi.json exists");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// The schema `value` names: itself, or what its `$ref` points to.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(target) => document
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{target} resolves")),
        None => value,
    }
}

fn operation<'a>(document: &'a Value, path: &str, method: &str) -> &'a Value {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is described");
    operation
}

/// The schema of an operation's request body in `content_type`.
fn request_schema<'a>(
    document: &'a Value,
    path: &str,
    method: &str,
    content_type: &str,
) -> &'a Value {
    let body = &operation(document, path, method)["requestBody"]["content"][content_type];
    assert!(body.is_object(), "{method} {path} takes {content_type}");
    resolve(document, &body["schema"])
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn it_is_openapi_3_1_and_describes_every_route() {
    let document = saved();
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(document["info"]["title"], "Tessera");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    for (path, methods) in ROUTES {
        for method in *methods {
            let operation = operation(&document, path, method);
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
        }
    }
    let described: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let listed: usize = ROUTES.iter().map(|(_, methods)| methods.len()).sum();
    assert_eq!(
        described, listed,
        "the document describes exactly the listed routes"
    );
}

#[test]
fn request_bodies_name_their_fields() {
    let document = saved();
    let token = request_schema(
        &document,
        "/oauth/token",
        "post",
        "application/x-www-form-urlencoded",
    );
    assert_eq!(required(token), ["grant_type"]);
    let grants: Vec<&str> = token["properties"]["grant_type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        grants,
        ["client_credentials", "authorization_code", "refresh_token"]
    );
    let introspect = request_schema(
        &document,
        "/oauth/introspect",
        "post",
        "application/x-www-form-urlencoded",
    );
    assert_eq!(required(introspect), ["token"]);

    // A creation requires what a client cannot do without, and names its tenant; an
    // update requires nothing and has no tenantId (it is read-only there).
    let creation = request_schema(
        &document,
        "/api/v1/oauth-clients",
        "post",
        "application/json",
    );
    assert_eq!(
        required(creation),
        [
            "name",
            "description",
            "accessTokenValiditySeconds",
            "grantTypes",
            "accessType",
            "enabled"
        ]
    );
    assert!(creation["properties"]["tenantId"].is_object());
    assert_eq!(creation["additionalProperties"], false);
    let update = request_schema(
        &document,
        "/api/v1/oauth-clients/{id}",
        "patch",
        "application/json",
    );
    assert!(required(update).is_empty());
    assert!(update["properties"]["tenantId"].is_null());
    assert_eq!(
        update["properties"]["name"]["type"], "string",
        "a name cannot be cleared"
    );
    assert_eq!(
        update["properties"]["businessName"]["type"],
        serde_json::json!(["string", "null"])
    );

    let upsert = request_schema(
        &document,
        "/api/v1/tenants/{tenantId}",
        "put",
        "application/json",
    );
    assert_eq!(
        upsert["additionalProperties"], false,
        "unknown fields are refused"
    );
    let user = request_schema(&document, "/api/v1/users", "post", "application/json");
    assert_eq!(required(user), ["username", "password"]);
    let user_update = request_schema(
        &document,
        "/api/v1/users/{userId}",
        "patch",
        "application/json",
    );
    assert!(user_update["properties"]["username"].is_null());

    // The token API takes its four formats, each with seed 001's fields.
    for content_type in [
        "application/json",
        "application/vnd.api+json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let sign_in = request_schema(&document, "/api/v1/tokens", "post", content_type);
        assert_eq!(
            required(sign_in),
            ["username", "password"],
            "{content_type}"
        );
    }
}

#[test]
fn operations_name_who_may_call_them() {
    let document = saved();
    let schemes = |path: &str, method: &str| -> Vec<String> {
        operation(&document, path, method)["security"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|requirement| requirement.as_object().unwrap().keys().cloned())
            .collect()
    };
    assert_eq!(
        schemes("/api/v1/tenants/{tenantId}", "put"),
        ["adminApiKey"]
    );
    assert_eq!(
        schemes("/api/v1/tenants/{tenantId}", "get"),
        ["adminApiKey", "tenantAdminToken"]
    );
    assert_eq!(schemes("/api/v1/tokens/me", "get"), ["userAccessToken"]);
    assert_eq!(schemes("/api/v2/tokens/me", "get"), ["userAccessToken"]);
    assert_eq!(schemes("/oauth/token", "post"), ["clientBasic"]);
    assert!(schemes("/api/v1/openapi.json", "get").is_empty());
    let unauthorized = &operation(&document, "/api/v1/oauth-clients", "get")["responses"]["401"];
    assert_eq!(unauthorized["$ref"], "#/components/responses/Unauthorized");
}

#[test]
fn errors_share_one_schema_per_format() {
    let document = saved();
    let api_error = resolve(
        &document,
        &document["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"],
    );
    let mut fields = required(api_error);
    fields.sort_unstable();
    assert_eq!(fields, ["causes", "detailCode", "messages", "trackingId"]);
    let oauth_error = resolve(
        &document,
        &document["components"]["responses"]["OAuthBadRequest"]["content"]["application/json"]
            ["schema"],
    );
    let mut fields = required(oauth_error);
    fields.sort_unstable();
    assert_eq!(fields, ["error", "error_description"]);
    let unauthorized = &document["components"]["responses"]["Unauthorized"];
    assert!(unauthorized["headers"]["WWW-Authenticate"].is_object());
}
