//! The audit trail: every change recorded with who, what, which request; listed newest
//! first, paginated, filtered by tenant, action and time.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, spawn_app, Backend};

crate::on_both_backends!(
    tenant_changes_are_recorded_with_actor_and_request_id,
    rejected_requests_record_nothing,
    events_are_paginated_newest_first_and_filtered_by_tenant,
    client_and_secret_changes_are_recorded_without_secrets,
    events_are_filtered_by_action_and_time_with_the_other_filters,
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

async fn events_are_filtered_by_action_and_time_with_the_other_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    // Three rounds of changes, some milliseconds apart.
    for round in 0..3 {
        for tenant in ["a", "b"] {
            app.put_tenant(tenant, json!({"name": format!("{tenant} {round}")}))
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let everything = app.audit_events("limit=200").await;
    let instant = |event: &Value| {
        chrono::DateTime::parse_from_rfc3339(event["occurredAt"].as_str().unwrap()).unwrap()
    };
    let ids = |events: &[Value]| -> Vec<i64> {
        events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
    };
    let expected = |keep: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        ids(&everything
            .iter()
            .filter(|event| keep(event))
            .cloned()
            .collect::<Vec<_>>())
    };

    let updated = app.audit_events("action=tenant.updated").await;
    assert_eq!(updated.len(), 4);
    assert_eq!(
        ids(&updated),
        expected(&|e| e["action"] == "tenant.updated")
    );
    let updated_a = app.audit_events("action=tenant.updated&tenantId=a").await;
    assert_eq!(
        ids(&updated_a),
        expected(&|e| e["action"] == "tenant.updated" && e["tenantId"] == "a")
    );
    assert_eq!(updated_a.len(), 2);
    assert!(app
        .audit_events("action=tenant.renamed_twice")
        .await
        .is_empty());

    // [since, until): the events of the middle round (the list is newest first).
    let middle = &everything[2..4];
    let since = instant(&middle[1]);
    let until = instant(&everything[1]);
    assert!(since < until, "the rounds are apart");
    let query = format!(
        "since={}&until={}",
        since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let within = app.audit_events(&query).await;
    let inside = |e: &Value| instant(e) >= since && instant(e) < until;
    assert_eq!(ids(&within), expected(&inside));
    assert!(ids(&within).contains(&middle[0]["id"].as_i64().unwrap()));
    assert!(!ids(&within).contains(&everything[1]["id"].as_i64().unwrap()));
    // The same instants in another offset ('+' sent as %2B).
    let offset = chrono::FixedOffset::east_opt(3600).unwrap();
    let query = format!(
        "since={}&until={}",
        since
            .with_timezone(&offset)
            .to_rfc3339()
            .replace('+', "%2B"),
        until
            .with_timezone(&offset)
            .to_rfc3339()
            .replace('+', "%2B")
    );
    assert_eq!(ids(&app.audit_events(&query).await), expected(&inside));
    let since_only = format!(
        "since={}",
        since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert_eq!(
        ids(&app.audit_events(&since_only).await),
        expected(&|e| instant(e) >= since)
    );

    // Every filter at once, a page at a time.
    let query = format!("action=tenant.updated&tenantId=b&{since_only}");
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/audit-events?{query}&limit=1");
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(page["items"].as_array().unwrap()));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/audit-events?{query}&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        expected(&|e| e["action"] == "tenant.updated"
            && e["tenantId"] == "b"
            && instant(e) >= since)
    );
    assert_eq!(seen.len(), 2);

    // A tenant admin filters its own events only, whatever tenant it names.
    let token = crate::keys::tenant_token(&app, "a").await;
    let response = app
        .client
        .get(app.url("/api/v1/audit-events?action=tenant.updated&tenantId=b"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    // (Getting the token put the tenant once more.)
    let updated_a = app.audit_events("action=tenant.updated&tenantId=a").await;
    assert_eq!(updated_a.len(), 3);
    assert_eq!(ids(page["items"].as_array().unwrap()), ids(&updated_a));

    for bad in [
        "action=Tenant%20Updated",
        "since=yesterday",
        "until=2026-12-03",
        // An unencoded '+' arrives as a space.
        "since=2026-12-03T08:00:00+01:00",
        "since=2026-12-03T08:00:00Z&until=2026-12-03T08:00:00Z",
        "since=2026-12-03T09:00:00Z&until=2026-12-03T08:00:00Z",
    ] {
        let response = app
            .admin(Method::GET, &format!("/api/v1/audit-events?{bad}"))
            .send()
            .await
            .unwrap();
        let body = assert_api_error(response, 400).await;
        assert!(!crate::helpers::causes(&body).is_empty(), "{bad}: {body}");
    }
}
