//! OAuth clients (seed 002): creation with every validation problem named, reads,
//! lists, partial updates, deletion, tenant scoping and cascades.

use reqwest::Method;
use serde_json::{json, Value};
use tessera::auth::TenantScope;
use tessera::clients::ClientId;
use tessera::store::Store;
use tessera::tenants::TenantId;

use crate::helpers::{assert_api_error, causes, client_body, spawn_app, Backend};

crate::on_both_backends!(
    concurrent_updates_of_different_fields_all_land,
    creation_returns_the_whole_client_and_its_secret_once,
    validity_seconds_may_be_numbers_or_numeric_strings,
    each_validation_problem_is_named,
    redirect_uris_are_checked,
    public_clients_get_no_secret,
    tenant_must_be_named_and_exist,
    rejected_requests_change_nothing,
    patch_validates_the_merged_client,
    read_only_and_unknown_fields_are_refused,
    list_is_paginated_and_filtered_by_tenant,
    search_matches_name_or_id_ignoring_case_with_the_other_filters,
    delete_removes_the_client_and_its_secrets,
    deleting_a_tenant_removes_its_clients,
    store_queries_are_scoped_to_a_tenant,
);

async fn creation_returns_the_whole_client_and_its_secret_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client(
            "acme",
            json!({"allowedScopes": ["read", "write"], "claims": [{"type": "role", "value": "admin"}]}),
        )
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43);
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    for (field, value) in client_body("acme").as_object().unwrap() {
        assert_eq!(&created[field], value, "{field}");
    }
    assert_eq!(created["allowedScopes"], json!(["read", "write"]));
    assert_eq!(
        created["claims"],
        json!([{"type": "role", "value": "admin"}])
    );
    let stamp = created["created"].as_str().unwrap();
    assert_eq!(stamp.len(), "2017-07-11T18:45:37.098Z".len(), "{stamp}");
    assert_eq!(created["created"], created["modified"]);

    let (status, fetched) = app.get_json(&format!("/api/v1/oauth-clients/{id}")).await;
    assert_eq!(status, 200);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(fetched, expected, "GET shows everything but the secret");
    let (_, list) = app.get_json("/api/v1/oauth-clients").await;
    assert_eq!(list["items"], json!([expected]));
    for shown in [fetched.to_string(), list.to_string()] {
        assert!(!shown.contains(secret));
    }
}

async fn validity_seconds_may_be_numbers_or_numeric_strings(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client(
            "acme",
            json!({"accessTokenValiditySeconds": "86400", "refreshTokenValiditySeconds": 31536000}),
        )
        .await;
    assert_eq!(created["accessTokenValiditySeconds"], 86400);
    assert_eq!(created["refreshTokenValiditySeconds"], 31536000);
    let mut body = client_body("acme");
    body.as_object_mut()
        .unwrap()
        .remove("refreshTokenValiditySeconds");
    let response = app.post_client(&body).await;
    let defaulted: Value = response.json().await.unwrap();
    assert_eq!(defaulted["refreshTokenValiditySeconds"], 86400);
    for (access, refresh) in [
        (json!(0), json!(1)),
        (json!(86401), json!(1)),
        (json!("12a"), json!(1)),
        (json!(1.5), json!(1)),
        (json!(-5), json!(1)),
        (json!(true), json!(1)),
        (json!(1), json!(31536001)),
    ] {
        let mut body = client_body("acme");
        body["accessTokenValiditySeconds"] = access.clone();
        body["refreshTokenValiditySeconds"] = refresh.clone();
        let error = assert_api_error(app.post_client(&body).await, 400).await;
        assert_eq!(causes(&error).len(), 1, "{access} {refresh}: {error}");
    }
}

async fn each_validation_problem_is_named(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let required = [
        "name",
        "description",
        "accessTokenValiditySeconds",
        "grantTypes",
        "accessType",
        "enabled",
    ];
    let body = json!({"tenantId": "acme"});
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    let problems = causes(&error);
    for field in required {
        assert!(
            problems.contains(&format!("{field}: is required")),
            "{field}: {problems:?}"
        );
    }
    assert_eq!(problems.len(), required.len(), "{problems:?}");

    let mut body = client_body("acme");
    body["name"] = json!("");
    body["homepageUrl"] = json!("not a url");
    body["grantTypes"] = json!(["PASSWORD", "REFRESH_TOKEN", "REFRESH_TOKEN"]);
    body["accessType"] = json!("SOMETIMES");
    body["type"] = json!("SECRET");
    body["allowedScopes"] = json!(["ok", "has space", "ok", "quote\""]);
    body["claims"] = json!([{"type": "iss", "value": "me"}, {"type": "", "value": "x"}]);
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    let problems = causes(&error);
    for field in [
        "name:",
        "homepageUrl:",
        "grantTypes[0]:",
        "grantTypes[2]:",
        "grantTypes: REFRESH_TOKEN needs AUTHORIZATION_CODE",
        "accessType:",
        "type:",
        "allowedScopes[1]:",
        "allowedScopes[2]:",
        "allowedScopes[3]:",
        "claims[0]:",
        "claims[1]:",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(field)),
            "{field}: {problems:#?}"
        );
    }
}

async fn redirect_uris_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    for uri in [
        "http://example.com/cb",
        "https://example.com/cb#fragment",
        "https://*.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "/relative",
    ] {
        let mut body = client_body("acme");
        body["redirectUris"] = json!([uri]);
        let error = assert_api_error(app.post_client(&body).await, 400).await;
        assert!(
            causes(&error)[0].starts_with("redirectUris[0]:"),
            "{uri}: {error}"
        );
    }
    let mut body = client_body("acme");
    body["redirectUris"] = json!([]);
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    assert!(causes(&error)[0].contains("AUTHORIZATION_CODE"), "{error}");

    let mut body = client_body("acme");
    body["grantTypes"] = json!(["CLIENT_CREDENTIALS"]);
    body["redirectUris"] = json!([]);
    assert_eq!(
        app.post_client(&body).await.status(),
        200,
        "no redirect needed"
    );
    body["redirectUris"] = json!([
        "https://app.example.com/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb"
    ]);
    assert_eq!(app.post_client(&body).await.status(), 200);
}

async fn public_clients_get_no_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client(
            "acme",
            json!({"type": "PUBLIC", "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"]}),
        )
        .await;
    assert_eq!(created["secret"], Value::Null);
    assert_eq!(created["type"], "PUBLIC");
    let id = created["id"].as_str().unwrap();
    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    assert_eq!(view["secrets"], json!([]));
}

async fn tenant_must_be_named_and_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = client_body("nobody");
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    assert_eq!(causes(&error), ["tenantId: no tenant 'nobody'"]);
    body.as_object_mut().unwrap().remove("tenantId");
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    assert_eq!(causes(&error), ["tenantId: is required"]);
    body["tenantId"] = json!("bad id!");
    assert_api_error(app.post_client(&body).await, 400).await;
}

async fn rejected_requests_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let before = app.database_text().await;

    let mut invalid = client_body("acme");
    invalid["enabled"] = json!(null);
    assert_api_error(app.post_client(&invalid).await, 400).await;
    assert_api_error(app.post_client(&client_body("nobody")).await, 400).await;
    let patch = |body: Value| {
        app.admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
            .json(&body)
            .send()
    };
    assert_api_error(patch(json!({"name": ""})).await.unwrap(), 400).await;
    assert_api_error(patch(json!({"grantTypes": []})).await.unwrap(), 400).await;
    assert_api_error(patch(json!({"tenantId": "other"})).await.unwrap(), 400).await;
    assert_api_error(patch(json!({"type": "PUBLIC"})).await.unwrap(), 400).await;
    let missing = app
        .admin(Method::DELETE, "/api/v1/oauth-clients/nothere")
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;

    assert_eq!(before, app.database_text().await);
}

async fn patch_validates_the_merged_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/oauth-clients/{id}");

    let patched = app
        .admin(Method::PATCH, &path)
        .json(&json!({"name": "Renamed", "businessName": null, "accessTokenValiditySeconds": "60"}))
        .send()
        .await
        .unwrap();
    let status = patched.status();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["businessName"], Value::Null);
    assert_eq!(patched["accessTokenValiditySeconds"], 60);
    assert_eq!(patched["description"], created["description"]);
    assert_eq!(patched["created"], created["created"]);
    assert!(patched["modified"].as_str().unwrap() > created["modified"].as_str().unwrap());
    assert!(patched.get("secret").is_none());

    let removing_redirects = app
        .admin(Method::PATCH, &path)
        .json(&json!({"redirectUris": []}))
        .send()
        .await
        .unwrap();
    let error = assert_api_error(removing_redirects, 400).await;
    assert!(causes(&error)[0].starts_with("redirectUris:"), "{error}");

    let again = app
        .admin(Method::PATCH, &path)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let again: Value = again.json().await.unwrap();
    assert!(again["modified"].as_str().unwrap() >= patched["modified"].as_str().unwrap());

    let missing = app
        .admin(Method::PATCH, "/api/v1/oauth-clients/nothere")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;
}

async fn read_only_and_unknown_fields_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
        .json(&json!({"id": "x", "tenantId": "acme", "created": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let error = assert_api_error(response, 400).await;
    assert_eq!(
        causes(&error),
        [
            "id: is read-only",
            "created: is read-only",
            "tenantId: is read-only"
        ]
    );
    let mut body = client_body("acme");
    body["nmae"] = json!("typo");
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    assert!(causes(&error)[0].starts_with("nmae: unknown field `nmae`"));
    let mut body = client_body("acme");
    body["secret"] = json!("chosen");
    let error = assert_api_error(app.post_client(&body).await, 400).await;
    assert_eq!(causes(&error), ["secret: is read-only"]);
}

async fn list_is_paginated_and_filtered_by_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for tenant in ["a", "b", "a", "b", "a"] {
        let created = app.create_client(tenant, json!({})).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/oauth-clients?limit=2".to_owned();
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/oauth-clients?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every client once, in order of creation");

    let (_, only_a) = app.get_json("/api/v1/oauth-clients?tenantId=a").await;
    let tenants: Vec<&Value> = only_a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["tenantId"])
        .collect();
    assert_eq!(tenants, [&json!("a"); 3]);
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=zz",
        "tenantId=a%20b",
        "offset=3",
    ] {
        let response = app
            .admin(Method::GET, &format!("/api/v1/oauth-clients?{bad}"))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 400).await;
    }
}

async fn search_matches_name_or_id_ignoring_case_with_the_other_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut id_of = std::collections::HashMap::new();
    for (tenant, name) in [
        ("a", "Billing Service"),
        ("a", "payroll 100%_done"),
        ("b", "BILLING for b"),
        ("a", "billing-worker"),
        ("a", "Shipping"),
        ("a", "Café Ünïcode"),
    ] {
        let created = app.create_client(tenant, json!({"name": name})).await;
        id_of.insert(name, created["id"].as_str().unwrap().to_owned());
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let app = &app;
    let search = |query: &str| {
        let path = format!("/api/v1/oauth-clients?{query}");
        async move {
            let (status, page) = app.get_json(&path).await;
            assert_eq!(status, 200, "{path}: {page}");
            page
        }
    };
    let billing = ["Billing Service", "BILLING for b", "billing-worker"];
    assert_eq!(names(&search("search=billing").await), billing);
    assert_eq!(names(&search("search=BiLLinG").await), billing);
    assert_eq!(
        names(&search("search=billing&tenantId=a").await),
        ["Billing Service", "billing-worker"]
    );
    // LIKE's wildcards are plain text in a search.
    for wildcard in ["%25", "_", "0%25_d"] {
        assert_eq!(
            names(&search(&format!("search={wildcard}")).await),
            ["payroll 100%_done"],
            "{wildcard}"
        );
    }
    assert_eq!(names(&search("search=CAF%C3%89").await), ["Café Ünïcode"]);
    // Capitals beyond ASCII, as typed (SQLite's LOWER leaves them).
    assert_eq!(
        names(&search("search=%C3%9Cn%C3%AF").await),
        ["Café Ünïcode"]
    );
    assert!(names(&search("search=nothing-like-it").await).is_empty());
    // Part of an id, in any case.
    let shipping = &id_of["Shipping"];
    let part = shipping[4..20].to_ascii_uppercase();
    let found = search(&format!("search={part}")).await;
    assert_eq!(names(&found), ["Shipping"]);
    assert_eq!(found["items"][0]["id"], shipping.as_str());
    // An empty search is no search.
    assert_eq!(names(&search("search=").await).len(), 6);

    // Paging goes through the matches only.
    let mut seen = Vec::new();
    let mut query = "search=billing&limit=2".to_owned();
    loop {
        let page = search(&query).await;
        seen.extend(names(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("search=billing&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, billing);

    // A tenant admin searches its own tenant only, whatever it names.
    let token = crate::keys::tenant_token(app, "b").await;
    let response = app
        .client
        .get(app.url("/api/v1/oauth-clients?search=billing&tenantId=a"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(names(&response.json().await.unwrap()), ["BILLING for b"]);

    let too_long = "x".repeat(201);
    for bad in [format!("search={too_long}"), "search=a%00b".to_owned()] {
        let response = app
            .admin(Method::GET, &format!("/api/v1/oauth-clients?{bad}"))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 400).await;
    }
}

async fn delete_removes_the_client_and_its_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .admin(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = app.get_json(&format!("/api/v1/oauth-clients/{id}")).await;
    assert_eq!(status, 404);
    let client_id = ClientId::parse(id).unwrap();
    assert!(app
        .store
        .client_secrets(&client_id)
        .await
        .unwrap()
        .is_empty());
    let again = app
        .admin(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_api_error(again, 404).await;
}

async fn deleting_a_tenant_removes_its_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let doomed = app.create_client("doomed", json!({})).await;
    let kept = app.create_client("kept", json!({})).await;
    app.admin(Method::DELETE, "/api/v1/tenants/doomed")
        .send()
        .await
        .unwrap();
    let doomed_id = ClientId::parse(doomed["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        app.store
            .client(&doomed_id, &TenantScope::All)
            .await
            .unwrap(),
        None
    );
    assert!(app
        .store
        .client_secrets(&doomed_id)
        .await
        .unwrap()
        .is_empty());
    let (status, _) = app
        .get_json(&format!(
            "/api/v1/oauth-clients/{}",
            kept["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
}

async fn store_queries_are_scoped_to_a_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = ClientId::parse(created["id"].as_str().unwrap()).unwrap();
    let own = TenantScope::Only(TenantId::parse("acme").unwrap());
    let other = TenantScope::Only(TenantId::parse("globex").unwrap());
    assert!(app.store.client(&id, &own).await.unwrap().is_some());
    assert_eq!(app.store.client(&id, &other).await.unwrap(), None);
    assert_eq!(app.store.clients(&other, None, None, 10).await.unwrap(), []);
    assert_eq!(
        app.store.clients(&own, None, None, 10).await.unwrap().len(),
        1
    );
    let mut tx = app.store.begin_write().await.unwrap();
    assert_eq!(
        Store::delete_client(&mut tx, &id, &other).await.unwrap(),
        None
    );
    drop(tx);
    assert!(
        app.store.client(&id, &own).await.unwrap().is_some(),
        "still there"
    );
    let mut tx = app.store.begin_write().await.unwrap();
    assert_eq!(
        Store::delete_client(&mut tx, &id, &own).await.unwrap(),
        Some("acme".to_owned())
    );
    tx.commit().await.unwrap();
}

/// Updates racing on one client each change a different field: every one lands, none
/// overwrites another with what it read before.
async fn concurrent_updates_of_different_fields_all_land(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let path = format!("/api/v1/oauth-clients/{}", created["id"].as_str().unwrap());
    for round in 0..4 {
        let changes = [
            json!({"name": format!("name {round}")}),
            json!({"description": format!("description {round}")}),
            json!({"businessName": format!("business {round}")}),
            json!({"accessTokenValiditySeconds": 100 + round}),
            json!({"homepageUrl": format!("https://example.com/{round}")}),
            json!({"internal": round % 2 == 1}),
        ];
        let mut updates = tokio::task::JoinSet::new();
        for change in &changes {
            let request = app.admin(Method::PATCH, &path).json(change);
            updates.spawn(async move { request.send().await.unwrap().status() });
        }
        while let Some(status) = updates.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        let (_, client) = app.get_json(&path).await;
        for change in &changes {
            let (field, value) = change.as_object().unwrap().iter().next().unwrap();
            assert_eq!(&client[field], value, "round {round}: {client}");
        }
    }
}
