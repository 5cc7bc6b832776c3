//! Tenants (seed 000): upsert, read, delete, validation, persistence.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, spawn_app, Backend};

crate::on_both_backends!(
    upsert_creates_then_updates,
    upsert_without_body_creates_an_empty_tenant,
    upsert_keeps_absent_fields_and_clears_null_ones,
    get_missing_tenant_is_404,
    delete_removes_the_tenant,
    delete_missing_tenant_is_404,
    invalid_tenant_ids_are_rejected,
    invalid_bodies_change_nothing,
    wrong_or_missing_admin_key_is_401,
    tenants_survive_a_restart,
    concurrent_upserts_create_exactly_once,
    deleting_a_tenant_races_writes_to_its_clients_without_a_5xx,
    corrupt_rows_give_an_opaque_500,
);

async fn upsert_creates_then_updates(backend: Backend) {
    let app = spawn_app(backend).await;

    let created = app
        .put_tenant("acme", json!({"name": "Acme", "metadata": {"plan": "pro"}}))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["id"], "acme");
    assert_eq!(created["name"], "Acme");
    assert_eq!(created["metadata"], json!({"plan": "pro"}));
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["createdAt"], created["updatedAt"]);

    let updated = app.put_tenant("acme", json!({"name": "Acme Inc."})).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["name"], "Acme Inc.");
    assert_eq!(updated["metadata"], json!({"plan": "pro"}));
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(updated["updatedAt"].as_str().unwrap() >= created["updatedAt"].as_str().unwrap());

    let fetched: Value = app.get_tenant("acme").await.json().await.unwrap();
    assert_eq!(fetched, updated);
}

async fn upsert_without_body_creates_an_empty_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .admin(Method::PUT, "/api/v1/tenants/bare")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], Value::Null);
    assert_eq!(body["metadata"], json!({}));

    let again = app
        .admin(Method::PUT, "/api/v1/tenants/bare")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "a second PUT is an update");
}

async fn upsert_keeps_absent_fields_and_clears_null_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("t1", json!({"name": "One", "metadata": {"k": "v"}}))
        .await;

    let kept: Value = app.put_tenant("t1", json!({})).await.json().await.unwrap();
    assert_eq!(kept["name"], "One");
    assert_eq!(kept["metadata"], json!({"k": "v"}));

    let cleared: Value = app
        .put_tenant("t1", json!({"name": null, "metadata": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["name"], Value::Null);
    assert_eq!(cleared["metadata"], json!({}));
}

async fn get_missing_tenant_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = assert_api_error(app.get_tenant("nobody").await, 404).await;
    assert_eq!(body["detailCode"], "404 Not Found");
}

async fn delete_removes_the_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("gone", json!({})).await;
    let response = app
        .admin(Method::DELETE, "/api/v1/tenants/gone")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert_api_error(app.get_tenant("gone").await, 404).await;
}

async fn delete_missing_tenant_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .admin(Method::DELETE, "/api/v1/tenants/never")
        .send()
        .await
        .unwrap();
    assert_api_error(response, 404).await;
}

async fn invalid_tenant_ids_are_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "x".repeat(65);
    for id in [
        "clients",
        "has%20space",
        "caf%C3%A9",
        too_long.as_str(),
        "a!b",
    ] {
        let body = assert_api_error(app.put_tenant(id, json!({})).await, 400).await;
        assert!(
            !body["causes"].as_array().unwrap().is_empty(),
            "{id}: {body}"
        );
        assert_api_error(app.get_tenant(id).await, 400).await;
    }
    let max = "x".repeat(64);
    assert_eq!(app.put_tenant(&max, json!({})).await.status(), 201);
}

async fn invalid_bodies_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("stable", json!({"name": "Stable"})).await;
    let before: Value = app.get_tenant("stable").await.json().await.unwrap();
    let path = "/api/v1/tenants/stable";

    let malformed = app
        .admin(Method::PUT, path)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let body = assert_api_error(malformed, 400).await;
    assert!(
        body["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("JSON"),
        "{body}"
    );

    let wrong_type = app.put_tenant("stable", json!({"name": 42})).await;
    assert_api_error(wrong_type, 400).await;

    let unknown_field = app.put_tenant("stable", json!({"nmae": "typo"})).await;
    let body = assert_api_error(unknown_field, 400).await;
    assert!(
        body["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("nmae"),
        "{body}"
    );

    let blank_name = app.put_tenant("stable", json!({"name": "  "})).await;
    assert_api_error(blank_name, 400).await;

    let not_json = app
        .admin(Method::PUT, path)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_api_error(not_json, 415).await;

    let huge = app
        .admin(Method::PUT, path)
        .json(&json!({"name": "x".repeat(app.settings.server.body_limit_bytes)}))
        .send()
        .await
        .unwrap();
    assert_api_error(huge, 413).await;

    let after: Value = app.get_tenant("stable").await.json().await.unwrap();
    assert_eq!(before, after);
    assert_api_error(app.put_tenant("clients", json!({})).await, 400).await;
}

async fn wrong_or_missing_admin_key_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.url("/api/v1/tenants/acme");

    let missing = app.client.put(&url).send().await.unwrap();
    assert_eq!(
        missing.headers()["www-authenticate"],
        r#"Bearer realm="tessera""#
    );
    assert_api_error(missing, 401).await;

    let wrong = app
        .client
        .put(&url)
        .bearer_auth("not-the-key-at-all")
        .send()
        .await
        .unwrap();
    assert!(wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_api_error(wrong, 401).await;

    let basic = app
        .client
        .put(&url)
        .basic_auth("admin", Some(&app.admin_key))
        .send()
        .await
        .unwrap();
    assert_api_error(basic, 401).await;

    assert_api_error(app.get_tenant("acme").await, 404).await;
}

async fn tenants_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant(
        "durable",
        json!({"name": "Durable", "metadata": {"a": "1"}}),
    )
    .await;
    let before: Value = app.get_tenant("durable").await.json().await.unwrap();

    let app = app.restart().await;
    let after: Value = app.get_tenant("durable").await.json().await.unwrap();
    assert_eq!(before, after);
}

async fn concurrent_upserts_create_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let requests: Vec<_> = (0..8)
        .map(|writer| {
            let request = app
                .admin(Method::PUT, "/api/v1/tenants/raced")
                .json(&json!({"metadata": {"writer": writer.to_string()}}))
                .send();
            tokio::spawn(request)
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap().unwrap().status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        7,
        "{statuses:?}"
    );
}

/// A tenant deleted while its clients are deleted and new ones created in it: every
/// request gets its own answer (never a 5xx, as a deadlock between the deletion's
/// cascade and the clients' count slots would give on PostgreSQL), and nothing of the
/// tenant is left.
async fn deleting_a_tenant_races_writes_to_its_clients_without_a_5xx(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..6 {
        let tenant = format!("raced-{round}");
        let mut ids = Vec::new();
        for _ in 0..4 {
            let client = app.create_client(&tenant, json!({})).await;
            ids.push(client["id"].as_str().unwrap().to_owned());
        }
        let mut requests = vec![(
            "tenant deletion",
            tokio::spawn(
                app.admin(Method::DELETE, &format!("/api/v1/tenants/{tenant}"))
                    .send(),
            ),
        )];
        for id in &ids {
            requests.push((
                "client deletion",
                tokio::spawn(
                    app.admin(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
                        .send(),
                ),
            ));
            requests.push((
                "client creation",
                tokio::spawn(
                    app.admin(Method::POST, "/api/v1/oauth-clients")
                        .json(&crate::helpers::client_body(&tenant))
                        .send(),
                ),
            ));
        }
        let mut created = Vec::new();
        for (what, request) in requests {
            let response = request.await.unwrap().unwrap();
            let status = response.status().as_u16();
            let expected: &[u16] = match what {
                "tenant deletion" => &[200, 204],
                "client deletion" => &[200, 204, 404],
                _ => &[200, 400],
            };
            assert!(
                expected.contains(&status),
                "{what} in round {round}: {status}"
            );
            if what == "client creation" && status == 200 {
                let body: serde_json::Value = response.json().await.unwrap();
                created.push(body["id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(app.get_tenant(&tenant).await.status(), 404);
        // Every client, old or created in the race, went with the tenant.
        for id in ids.iter().chain(&created) {
            let (status, body) = app.get_json(&format!("/api/v1/oauth-clients/{id}")).await;
            assert_eq!(status, 404, "round {round}: {id} is left: {body}");
        }
    }
}

async fn corrupt_rows_give_an_opaque_500(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("broken", json!({})).await;
    match &app.store {
        tessera::store::Store::Sqlite(pool) => {
            sqlx::query("UPDATE tenants SET metadata = 'not json' WHERE id = 'broken'")
                .execute(pool)
                .await
                .unwrap();
        }
        tessera::store::Store::Postgres(pool) => {
            sqlx::query("UPDATE tenants SET metadata = 'not json' WHERE id = 'broken'")
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let body = assert_api_error(app.get_tenant("broken").await, 500).await;
    assert_eq!(body["detailCode"], "500.0 Internal Fault");
    assert_eq!(body["messages"][0]["text"], "An internal fault occurred.");
    let text = body.to_string();
    assert!(
        !text.contains("metadata") && !text.contains("json"),
        "{text}"
    );
}
