//! The audit trail: every change recorded with who, what, which request; listed newest
//! first, paginated, filtered by tenant.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, spawn_app, Backend};

crate::on_both_backends!(
    tenant_changes_are_recorded_with_actor_and_request_id,
    rejected_requests_record_nothing,
    events_are_paginated_newest_first_and_filtered_by_tenant,
    client_and_secret_changes_are_recorded_without_secrets,
);

async fn tenant_changes_are_recorded_with_actor_and_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .admin(Method::PUT, "/api/v1/tenants/acme")
        .header("x-request-id", "req-create-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    app.put_tenant("acme", json!({"name": "Acme"})).await;
    app.admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();

    let events = app.audit_events("tenantId=acme").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["tenant.deleted", "tenant.updated", "tenant.created"]
    );
    let first = &events[2];
    assert_eq!(first["actor"], "admin");
    assert_eq!(first["targetId"], "acme");
    assert_eq!(first["tenantId"], "acme");
    assert_eq!(first["requestId"], "req-create-1");
    assert!(first["occurredAt"].as_str().unwrap().ends_with('Z'));
}

async fn rejected_requests_record_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_api_error(app.put_tenant("acme", json!({"name": " "})).await, 400).await;
    let missing = app
        .admin(Method::DELETE, "/api/v1/tenants/nobody")
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;
    let events = app.audit_events("").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["signing_key.created"],
        "only the first start's key"
    );
}

async fn events_are_paginated_newest_first_and_filtered_by_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    for tenant in ["t1", "t2", "t3", "t4", "t5"] {
        app.put_tenant(tenant, json!({})).await;
    }
    let first: Value = app
        .admin(Method::GET, "/api/v1/audit-events?limit=2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let targets = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["targetId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(targets(&first), ["t5", "t4"]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second: Value = app
        .admin(
            Method::GET,
            &format!("/api/v1/audit-events?limit=2&cursor={cursor}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(targets(&second), ["t3", "t2"]);

    let filtered = app.audit_events("tenantId=t2").await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["tenantId"], "t2");

    for bad in [
        "limit=0",
        "limit=201",
        "cursor=%21%21",
        "tenantId=a%20b",
        "colour=red",
    ] {
        let response = app
            .admin(Method::GET, &format!("/api/v1/audit-events?{bad}"))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 400).await;
    }
    let everything = app.audit_events("limit=200").await;
    assert_eq!(everything.len(), 6);
    let oldest = &everything[5];
    assert_eq!(oldest["action"], "signing_key.created");
    assert_eq!(oldest["actor"], "system");
    assert_eq!(oldest["tenantId"], Value::Null);
    let as_tenant = app.audit_events("tenantId=t1").await;
    assert!(as_tenant.iter().all(|e| e["tenantId"] == "t1"));
}

async fn client_and_secret_changes_are_recorded_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    app.admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    let added: Value = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/clients/{id}/tokens"),
        )
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret_id = added["id"].as_i64().unwrap();
    app.admin(
        Method::DELETE,
        &format!("/api/v1/tenants/clients/{id}/tokens/{secret_id}"),
    )
    .send()
    .await
    .unwrap();
    app.admin(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
        .send()
        .await
        .unwrap();

    let events = app.audit_events("tenantId=acme").await;
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["targetId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let secret_target = format!("{id}/{secret_id}");
    assert_eq!(
        summary,
        [
            ("oauth_client.deleted".to_owned(), id.to_owned()),
            (
                "oauth_client.secret_deleted".to_owned(),
                secret_target.clone()
            ),
            ("oauth_client.secret_added".to_owned(), secret_target),
            ("oauth_client.updated".to_owned(), id.to_owned()),
            ("oauth_client.created".to_owned(), id.to_owned()),
            ("tenant.created".to_owned(), "acme".to_owned()),
        ]
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(created["secret"].as_str().unwrap()));
    assert!(!text.contains(added["token"].as_str().unwrap()));
    assert!(events
        .iter()
        .all(|e| e["actor"] == "admin" && e["requestId"].is_string()));
}
