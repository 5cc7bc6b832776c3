//! The API error contract: unknown routes, wrong methods, request ids.

use crate::helpers::{assert_api_error, spawn_app, Backend};

crate::on_both_backends!(
    unknown_route_is_json_404,
    wrong_method_is_json_405,
    head_answers_as_get_does_without_a_body,
    request_ids_are_echoed_or_generated
);

async fn unknown_route_is_json_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_api_error(response, 404).await;
}

async fn wrong_method_is_json_405(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .admin(reqwest::Method::POST, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    // RFC 9110 §15.5.6: a 405 names the methods the resource has.
    assert_eq!(response.headers()["allow"], "PUT, GET, DELETE, HEAD");
    let body = assert_api_error(response, 405).await;
    assert_eq!(body["detailCode"], "405 Method Not Allowed");
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    assert_api_error(response, 405).await;
}

/// RFC 9110 §9.3.2: HEAD gets GET's status and headers, and no body.
async fn head_answers_as_get_does_without_a_body(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", serde_json::json!({})).await;
    for (path, status) in [
        ("/api/v1/tenants/acme", 200),
        ("/api/v1/tenants/nobody", 404),
        ("/.well-known/jwks.json", 200),
        ("/healthz", 200),
    ] {
        let get = app.admin(reqwest::Method::GET, path).send().await.unwrap();
        let head = app.admin(reqwest::Method::HEAD, path).send().await.unwrap();
        assert_eq!(get.status(), status, "GET {path}");
        assert_eq!(head.status(), status, "HEAD {path}");
        for name in ["content-type", "cache-control"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{name} of HEAD {path}"
            );
        }
        assert_eq!(
            head.headers().get("content-length"),
            get.headers().get("content-length"),
            "content-length of HEAD {path}"
        );
        assert!(!get.bytes().await.unwrap().is_empty());
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
    // A GET that issues or spends something has no HEAD, which a link scanner would
    // send unseen: 405, and nothing issued.
    for path in ["/api/v1/tenants/acme/token", "/api/v1/tenants/acme/portal"] {
        let head = app.admin(reqwest::Method::HEAD, path).send().await.unwrap();
        assert_eq!(head.status(), 405, "HEAD {path}");
        let allow = head.headers()["allow"].to_str().unwrap().to_owned();
        assert!(
            allow.starts_with("GET") && !allow.contains("HEAD"),
            "{path}: {allow}"
        );
    }
    let events = app.audit_events("").await;
    assert!(!events.is_empty(), "the tenant's creation is there");
    assert!(
        events.iter().all(|event| {
            let action = event["action"].as_str().expect("an action");
            !action.ends_with(".issued")
        }),
        "{events:?}"
    );
    // Without the credential GET needs, HEAD is refused as GET is.
    let response = app
        .client
        .head(app.url("/api/v1/tenants/acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.client.get(app.url("/healthz")).send().await.unwrap();
    let second = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&first).len(), 32);
    assert_ne!(id(&first), id(&second));

    let traced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&traced), "proxy-abc-123");
    let injected = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&injected).len(), 32, "unsafe incoming ids are replaced");
    for (incoming, kept) in [
        ("a".repeat(64), true),
        ("a".repeat(65), false),
        ("id;rm".to_owned(), false),
        ("caf\u{e9}".to_owned(), false),
    ] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", incoming.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(id(&response) == incoming, kept, "{incoming}");
    }
}
