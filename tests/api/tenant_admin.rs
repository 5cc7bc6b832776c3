//! A tenant admin token on every admin route: its own tenant only, another tenant's
//! resources as if absent, global operations refused.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, client_body, spawn_app, Backend, TestApp};
use crate::keys::tenant_token;

crate::on_both_backends!(a_tenant_admin_stays_inside_its_tenant);

/// Requests made with a tenant admin token.
pub struct AsTenant<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl AsTenant<'_> {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }
}

async fn a_tenant_admin_stays_inside_its_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let theirs = app.create_client("other", json!({})).await;
    let their_id = theirs["id"].as_str().unwrap().to_owned();
    let ours = app.create_client("acme", json!({})).await;
    let our_id = ours["id"].as_str().unwrap().to_owned();
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };

    // Tenants: its own is readable; others are absent; the tenant set is the global admin's.
    assert_eq!(
        acme.send(Method::GET, "/api/v1/tenants/acme", None)
            .await
            .status(),
        200
    );
    assert_api_error(
        acme.send(Method::GET, "/api/v1/tenants/other", None).await,
        404,
    )
    .await;
    assert_api_error(
        acme.send(Method::PUT, "/api/v1/tenants/acme", Some(json!({})))
            .await,
        403,
    )
    .await;
    assert_api_error(
        acme.send(Method::PUT, "/api/v1/tenants/new", Some(json!({})))
            .await,
        403,
    )
    .await;
    assert_api_error(
        acme.send(Method::DELETE, "/api/v1/tenants/other", None)
            .await,
        403,
    )
    .await;

    // Clients: created in its own tenant whatever the body says; others' are absent.
    let created = acme
        .send(
            Method::POST,
            "/api/v1/oauth-clients",
            Some(client_body("other")),
        )
        .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["tenantId"], "acme");
    let listed: Value = acme
        .send(Method::GET, "/api/v1/oauth-clients?tenantId=other", None)
        .await
        .json()
        .await
        .unwrap();
    let listed_tenants: Vec<&str> = listed["items"]
        .as_array()
        .expect("a page of items")
        .iter()
        .map(|client| client["tenantId"].as_str().unwrap())
        .collect();
    assert!(
        !listed_tenants.is_empty() && listed_tenants.iter().all(|t| *t == "acme"),
        "{listed}"
    );
    let their_client = format!("/api/v1/oauth-clients/{their_id}");
    assert_eq!(
        acme.send(
            Method::GET,
            &format!("/api/v1/oauth-clients/{our_id}"),
            None
        )
        .await
        .status(),
        200
    );
    assert_api_error(acme.send(Method::GET, &their_client, None).await, 404).await;
    assert_api_error(
        acme.send(Method::PATCH, &their_client, Some(json!({"name": "x"})))
            .await,
        404,
    )
    .await;
    assert_api_error(acme.send(Method::DELETE, &their_client, None).await, 404).await;

    // Secrets (seed 004): the same.
    let their_secrets = format!("/api/v1/tenants/clients/{their_id}");
    assert_eq!(
        acme.send(
            Method::GET,
            &format!("/api/v1/tenants/clients/{our_id}"),
            None
        )
        .await
        .status(),
        200
    );
    assert_api_error(acme.send(Method::GET, &their_secrets, None).await, 404).await;
    let add = acme
        .send(
            Method::POST,
            &format!("{their_secrets}/tokens"),
            Some(json!({"name": "sneaky"})),
        )
        .await;
    assert_api_error(add, 404).await;
    let their_secret_id = app.get_json(&their_secrets).await.1["secrets"][0]["id"].clone();
    let delete = acme
        .send(
            Method::DELETE,
            &format!("{their_secrets}/tokens/{their_secret_id}"),
            None,
        )
        .await;
    assert_api_error(delete, 404).await;

    // Audit events: its own tenant's only.
    let events: Value = acme
        .send(Method::GET, "/api/v1/audit-events?tenantId=other", None)
        .await
        .json()
        .await
        .unwrap();
    let event_tenants: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["tenantId"])
        .collect();
    assert!(
        !event_tenants.is_empty() && event_tenants.iter().all(|t| *t == "acme"),
        "{events}"
    );

    // Global operations.
    assert_api_error(acme.send(Method::GET, "/api/v1/keys", None).await, 403).await;
    assert_api_error(
        acme.send(Method::POST, "/api/v1/keys/rotate", None).await,
        403,
    )
    .await;
    assert_api_error(
        acme.send(Method::GET, "/api/v1/tenants/acme/token", None)
            .await,
        403,
    )
    .await;

    // Nothing of the other tenant changed.
    let (status, still) = app.get_json(&their_client).await;
    assert_eq!(status, 200);
    assert_eq!(still["name"], theirs["name"]);
}
