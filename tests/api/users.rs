//! Users (issue 10): creation with every problem named, case-insensitive usernames,
//! password bounds checked before hashing, reads, listings, profile updates, password
//! changes, deletion, the audit trail and the change feed, and the sign-in check
//! (`verify_credentials`) the login page and the token API use.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::changes::Change;
use tessera::users::{self, CredentialsError, UserId};

use crate::helpers::{assert_api_error, causes, spawn_app, Backend, TestApp};

crate::on_both_backends!(
    creation_returns_the_user_and_reads_show_the_same,
    usernames_are_unique_ignoring_case,
    racing_creations_of_one_name_make_one_user,
    passwords_out_of_bounds_are_refused_before_hashing,
    no_response_shows_a_password_or_its_hash,
    the_default_tenant_must_exist,
    list_is_paginated_and_filtered_by_tenant,
    patch_changes_the_profile_only,
    bad_input_is_400_and_stores_nothing,
    delete_removes_the_user,
    changes_are_audited_and_on_the_change_feed,
    credentials_verify_only_for_an_enabled_user_with_its_password,
    an_unknown_user_costs_what_a_wrong_password_costs,
);

pub const PASSWORD: &str = "correct horse battery";

pub async fn post_user(app: &TestApp, body: &Value) -> reqwest::Response {
    app.admin(Method::POST, "/api/v1/users")
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Creates the user `username` with [`PASSWORD`] and `extra` fields; returns its JSON.
pub async fn create_user(app: &TestApp, username: &str, extra: Value) -> Value {
    let mut body = json!({"username": username, "password": PASSWORD});
    for (key, value) in extra.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let response = post_user(app, &body).await;
    assert_eq!(response.status(), 201, "user creation");
    response.json().await.expect("JSON user")
}

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) -> reqwest::Response {
    app.admin(method, path)
        .json(body)
        .send()
        .await
        .expect("request")
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn creation_returns_the_user_and_reads_show_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let created = create_user(
        &app,
        "Alice",
        json!({"displayName": "Alice Smith", "email": "alice@example.com", "defaultTenantId": "acme"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(UserId::parse(id).is_ok(), "{id}");
    assert_eq!(created["username"], "Alice", "the spelling is kept");
    assert_eq!(created["displayName"], "Alice Smith");
    assert_eq!(created["email"], "alice@example.com");
    assert_eq!(created["defaultTenantId"], "acme");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert_eq!(created["passwordChangedAt"], created["createdAt"]);
    let mut fields: Vec<&String> = created.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "createdAt",
            "defaultTenantId",
            "displayName",
            "email",
            "enabled",
            "id",
            "passwordChangedAt",
            "updatedAt",
            "username"
        ]
    );

    let (status, fetched) = app.get_json(&format!("/api/v1/users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    let (_, list) = app.get_json("/api/v1/users").await;
    assert_eq!(list["items"], json!([created]));

    let bare = create_user(&app, "bob", json!({"enabled": false})).await;
    assert_eq!(bare["displayName"], Value::Null);
    assert_eq!(bare["email"], Value::Null);
    assert_eq!(bare["defaultTenantId"], Value::Null);
    assert_eq!(bare["enabled"], false);

    let missing = app
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}", UserId::generate()),
        )
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;
    let malformed = app
        .admin(Method::GET, "/api/v1/users/not-an-id")
        .send()
        .await
        .unwrap();
    assert_api_error(malformed, 400).await;
}

async fn usernames_are_unique_ignoring_case(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "Alice@Example.com", json!({})).await;
    for clash in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "Alice@Example.com",
    ] {
        let response = post_user(&app, &json!({"username": clash, "password": PASSWORD})).await;
        assert_api_error(response, 409).await;
    }
    let (_, list) = app.get_json("/api/v1/users").await;
    assert_eq!(ids(&list).len(), 1);
    create_user(&app, "alice@example.org", json!({})).await;

    let error = assert_api_error(
        post_user(&app, &json!({"username": "a b", "password": PASSWORD})).await,
        400,
    )
    .await;
    assert!(causes(&error)[0].starts_with("username:"), "{error}");
    for length in [0, 129] {
        let body = json!({"username": "u".repeat(length), "password": PASSWORD});
        assert_api_error(post_user(&app, &body).await, 400).await;
    }
    create_user(&app, &"u".repeat(128), json!({})).await;
}

async fn racing_creations_of_one_name_make_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let names = ["carol", "CAROL", "Carol", "cArol", "caroL", "CArol"];
    let statuses = create_all_at_once(&app, &names).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        5,
        "{statuses:?}"
    );
    let (_, list) = app.get_json("/api/v1/users").await;
    assert_eq!(ids(&list).len(), 1);
}

/// The statuses of creations of `names`, sent all at once.
async fn create_all_at_once(app: &TestApp, names: &[&str]) -> Vec<u16> {
    let requests = names.iter().map(|name| {
        let request = app
            .admin(Method::POST, "/api/v1/users")
            .json(&json!({"username": name, "password": PASSWORD}));
        tokio::spawn(async move { request.send().await.expect("request").status().as_u16() })
    });
    let mut statuses = Vec::new();
    for handle in requests.collect::<Vec<_>>() {
        statuses.push(handle.await.expect("task"));
    }
    statuses
}

async fn passwords_out_of_bounds_are_refused_before_hashing(backend: Backend) {
    let app = spawn_app(backend).await;
    for length in [7, 257] {
        let body = json!({"username": "alice", "password": "p".repeat(length)});
        let error = assert_api_error(post_user(&app, &body).await, 400).await;
        assert_eq!(
            causes(&error),
            ["password: a password has 8 to 256 characters"],
            "{length}"
        );
    }
    for (name, length) in [("eight", 8), ("long", 256)] {
        let body = json!({"username": name, "password": "p".repeat(length)});
        assert_eq!(post_user(&app, &body).await.status(), 201, "{length}");
    }

    // Just under the body limit: refused by its length, no hash computed.
    let start = Instant::now();
    let body = json!({"username": "big", "password": "p".repeat(60_000)});
    assert_api_error(post_user(&app, &body).await, 400).await;
    // Over the body limit: refused before it is even parsed.
    let body = json!({"username": "huge", "password": "p".repeat(1 << 20)});
    assert_api_error(post_user(&app, &body).await, 413).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    let id = create_user(&app, "alice", json!({}))
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/users/{id}/password");
    for length in [7, 257] {
        let body = json!({"password": "p".repeat(length)});
        assert_api_error(send(&app, Method::PUT, &path, &body).await, 400).await;
    }
    let huge = json!({"password": "p".repeat(1 << 20)});
    assert_api_error(send(&app, Method::PUT, &path, &huge).await, 413).await;
    let still = users::verify_credentials(&app.store, "alice", &secret(PASSWORD), Utc::now()).await;
    assert!(still.is_ok(), "the refused passwords changed nothing");
}

async fn no_response_shows_a_password_or_its_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let new_password = "another good password";
    let mut bodies = Vec::new();
    let response = post_user(&app, &json!({"username": "alice", "password": PASSWORD})).await;
    bodies.push(response.text().await.unwrap());
    let id = serde_json::from_str::<Value>(&bodies[0]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/users/{id}"), None),
        (Method::GET, "/api/v1/users".to_owned(), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{id}"),
            Some(json!({"displayName": "A"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{id}/password"),
            Some(json!({"password": new_password})),
        ),
    ] {
        let request = app.admin(method, &path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}");
        bodies.push(response.text().await.unwrap());
    }
    for body in &bodies {
        for hidden in [
            PASSWORD,
            new_password,
            "argon2",
            "password\"",
            "passwordHash",
        ] {
            assert!(!body.contains(hidden), "{hidden} in {body}");
        }
    }
    let stored = app.database_text().await;
    assert!(!stored.contains(PASSWORD) && !stored.contains(new_password));
    assert!(
        stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "PHC strings"
    );
}

async fn the_default_tenant_must_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"username": "alice", "password": PASSWORD, "defaultTenantId": "nowhere"});
    let error = assert_api_error(post_user(&app, &body).await, 400).await;
    assert_eq!(causes(&error), ["defaultTenantId: no tenant 'nowhere'"]);
    let (_, list) = app.get_json("/api/v1/users").await;
    assert_eq!(ids(&list).len(), 0, "nothing stored");

    let user = create_user(&app, "alice", json!({})).await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let error = assert_api_error(
        send(
            &app,
            Method::PATCH,
            &path,
            &json!({"defaultTenantId": "nowhere"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(causes(&error), ["defaultTenantId: no tenant 'nowhere'"]);
    app.put_tenant("acme", json!({})).await;
    let patched: Value = send(
        &app,
        Method::PATCH,
        &path,
        &json!({"defaultTenantId": "acme"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(patched["defaultTenantId"], "acme");

    // The tenant goes: the user stays, with no default tenant.
    app.admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    let (status, after) = app.get_json(&path).await;
    assert_eq!(status, 200);
    assert_eq!(after["defaultTenantId"], Value::Null);
}

async fn list_is_paginated_and_filtered_by_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let mut all = Vec::new();
    for n in 0..5 {
        let user = create_user(&app, &format!("user{n}"), json!({})).await;
        all.push(user["id"].as_str().unwrap().to_owned());
    }
    for id in [&all[1], &all[3]] {
        let path = format!("/api/v1/tenants/acme/members/{id}");
        let response = send(&app, Method::PUT, &path, &json!({"roles": ["member"]})).await;
        assert_eq!(response.status(), 201);
    }

    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=2".to_owned();
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "every user once, in order of creation");

    let (_, members) = app.get_json("/api/v1/users?tenantId=acme").await;
    assert_eq!(ids(&members), [all[1].as_str(), all[3].as_str()]);
    let (_, first) = app.get_json("/api/v1/users?tenantId=acme&limit=1").await;
    assert_eq!(ids(&first), [all[1].as_str()]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(&format!(
            "/api/v1/users?tenantId=acme&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&second), [all[3].as_str()]);
    assert_eq!(second["nextCursor"], Value::Null);
    let (_, none) = app.get_json("/api/v1/users?tenantId=globex").await;
    assert_eq!(ids(&none).len(), 0);

    for bad in [
        "limit=0",
        "limit=201",
        "cursor=bm9wZQ",
        "tenantId=a%2Fb",
        "sort=name",
    ] {
        let response = app
            .admin(Method::GET, &format!("/api/v1/users?{bad}"))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 400).await;
    }
}

async fn patch_changes_the_profile_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = create_user(
        &app,
        "alice",
        json!({"displayName": "Alice", "email": "alice@example.com"}),
    )
    .await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let patched: Value = send(
        &app,
        Method::PATCH,
        &path,
        &json!({"displayName": null, "enabled": false}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(patched["displayName"], Value::Null, "null clears");
    assert_eq!(patched["email"], "alice@example.com", "absent stays");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["createdAt"], user["createdAt"]);
    assert_eq!(patched["passwordChangedAt"], user["passwordChangedAt"]);
    assert_eq!(app.get_json(&path).await.1, patched);

    let version = |app: &TestApp, id: String| {
        let store = app.store.clone();
        async move {
            let scope = tessera::auth::TenantScope::All;
            let id = UserId::parse(&id).unwrap();
            users::get_user(&store, &scope, &id).await.unwrap().version
        }
    };
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(version(&app, id.clone()).await, 2, "each update bumps it");

    for (body, cause) in [
        (json!({"username": "bob"}), "username: cannot be changed"),
        (
            json!({"password": PASSWORD}),
            "password: is set with PUT /api/v1/users/{userId}/password",
        ),
        (json!({"enabled": null}), "enabled: must be true or false"),
        (
            json!({"email": "nope"}),
            "email: not an email address (local@domain)",
        ),
        (
            json!({"displayName": "  "}),
            "displayName: must not be blank (use null to clear it)",
        ),
    ] {
        let error = assert_api_error(send(&app, Method::PATCH, &path, &body).await, 400).await;
        assert_eq!(causes(&error), [cause], "{body}");
    }
    assert_eq!(
        app.get_json(&path).await.1,
        patched,
        "refusals changed nothing"
    );
    assert_eq!(version(&app, id).await, 2);

    let missing = format!("/api/v1/users/{}", UserId::generate());
    let response = send(&app, Method::PATCH, &missing, &json!({"enabled": true})).await;
    assert_api_error(response, 404).await;
}

async fn bad_input_is_400_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = create_user(&app, "alice", json!({})).await;
    let id = user["id"].as_str().unwrap();
    let before = app.database_text().await;
    let user_path = format!("/api/v1/users/{id}");
    let password_path = format!("/api/v1/users/{id}/password");
    let cases = [
        (
            Method::POST,
            "/api/v1/users",
            json!([]),
            "invalid type: array",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": 5, "password": PASSWORD}),
            "username: invalid type",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": "bob", "password": PASSWORD, "enabled": "yes"}),
            "enabled: invalid type",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": "bob", "password": PASSWORD, "role": "admin"}),
            "unknown field `role`",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": "bob", "password": "pass\u{0}word"}),
            "password: must not contain a NUL character",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": "bob\u{0}", "password": PASSWORD}),
            "username: must not contain a NUL character",
        ),
        (
            Method::PATCH,
            user_path.as_str(),
            json!({"displayName": 7}),
            "displayName: invalid type",
        ),
        (
            Method::PATCH,
            user_path.as_str(),
            json!({"displayName": "A\u{0}"}),
            "displayName: must not contain a NUL character",
        ),
        (
            Method::PATCH,
            user_path.as_str(),
            json!({"nickname": "al"}),
            "unknown field `nickname`",
        ),
        (
            Method::PUT,
            password_path.as_str(),
            json!({"password": 12345678}),
            "password: invalid type",
        ),
        (
            Method::PUT,
            password_path.as_str(),
            json!({"password": PASSWORD, "old": "x"}),
            "unknown field `old`",
        ),
        (
            Method::PUT,
            password_path.as_str(),
            json!({}),
            "missing field `password`",
        ),
    ];
    for (method, path, body, expected) in cases {
        let response = send(&app, method.clone(), path, &body).await;
        let error = assert_api_error(response, 400).await;
        assert!(
            causes(&error).iter().any(|cause| cause.contains(expected)),
            "{method} {path} {body}: {error}"
        );
    }
    let no_json = app
        .admin(Method::POST, "/api/v1/users")
        .header("content-type", "text/plain")
        .body("username=bob")
        .send()
        .await
        .unwrap();
    assert_api_error(no_json, 415).await;
    let nul_path = app
        .admin(Method::DELETE, &format!("{user_path}%00"))
        .send()
        .await
        .unwrap();
    assert_api_error(nul_path, 400).await;
    assert_eq!(before, app.database_text().await);
}

async fn delete_removes_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = create_user(&app, "alice", json!({})).await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let deleted = app.admin(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert_api_error(app.admin(Method::GET, &path).send().await.unwrap(), 404).await;
    assert_api_error(app.admin(Method::DELETE, &path).send().await.unwrap(), 404).await;
    let refused =
        users::verify_credentials(&app.store, "alice", &secret(PASSWORD), Utc::now()).await;
    assert!(matches!(refused, Err(CredentialsError::Refused)));
    // The name is free again.
    create_user(&app, "ALICE", json!({})).await;
}

async fn changes_are_audited_and_on_the_change_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    let feed_start = app
        .store
        .change_feed_bounds()
        .await
        .unwrap()
        .newest
        .unwrap_or(0);
    let user = create_user(&app, "alice", json!({})).await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let response = app
        .admin(Method::PATCH, &path)
        .header("x-request-id", "req-disable-1")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let password = json!({"password": "a new password"});
    send(&app, Method::PUT, &format!("{path}/password"), &password).await;
    app.admin(Method::DELETE, &path).send().await.unwrap();

    let events = app.audit_events("").await;
    let ours: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["targetId"] == id)
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ours,
        [
            ("user.deleted", "admin"),
            ("user.password_changed", "admin"),
            ("user.updated", "admin"),
            ("user.created", "admin")
        ]
    );
    let disabled = events
        .iter()
        .find(|e| e["action"] == "user.updated")
        .unwrap();
    assert_eq!(disabled["requestId"], "req-disable-1");
    assert_eq!(
        disabled["tenantId"],
        Value::Null,
        "users belong to no tenant"
    );
    let audit_text = serde_json::to_string(&events).unwrap();
    assert!(!audit_text.contains("a new password") && !audit_text.contains(PASSWORD));

    // The disable, the new password and the deletion each tell the other processes.
    let rows = app.store.changes_after(feed_start, 100).await.unwrap();
    let user_changes = rows
        .iter()
        .filter(|row| {
            Change::from_row(&row.kind, &row.subject, row.instant)
                == Some(Change::User(UserId::parse(id).unwrap()))
        })
        .count();
    assert_eq!(user_changes, 3, "{rows:?}");
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

async fn credentials_verify_only_for_an_enabled_user_with_its_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = create_user(&app, "Alice", json!({})).await;
    let id = user["id"].as_str().unwrap();
    let verify = |username: &'static str, password: &'static str| {
        let store = app.store.clone();
        async move { users::verify_credentials(&store, username, &secret(password), Utc::now()).await }
    };

    let now = Utc::now();
    let signed_in = verify("alice", PASSWORD).await.unwrap();
    assert_eq!(signed_in.user.id.as_str(), id, "usernames ignore case");
    assert!(signed_in.auth_time >= now - chrono::Duration::seconds(1));
    for (username, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("alice", "short"),
        ("not a name", PASSWORD),
    ] {
        assert!(
            matches!(
                verify(username, password).await,
                Err(CredentialsError::Refused)
            ),
            "{username} {password}"
        );
    }

    let path = format!("/api/v1/users/{id}");
    send(&app, Method::PATCH, &path, &json!({"enabled": false})).await;
    assert!(matches!(
        verify("alice", PASSWORD).await,
        Err(CredentialsError::Disabled)
    ));
    assert!(matches!(
        verify("alice", "wrong password").await,
        Err(CredentialsError::Refused)
    ));
    send(&app, Method::PATCH, &path, &json!({"enabled": true})).await;
    assert!(verify("ALICE", PASSWORD).await.is_ok());

    let before = user["passwordChangedAt"].as_str().unwrap().to_owned();
    let changed: Value = send(
        &app,
        Method::PUT,
        &format!("{path}/password"),
        &json!({"password": "a brand new password"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(changed["passwordChangedAt"].as_str().unwrap() >= before.as_str());
    assert!(matches!(
        verify("alice", PASSWORD).await,
        Err(CredentialsError::Refused)
    ));
    assert!(verify("alice", "a brand new password").await.is_ok());

    let missing = format!("/api/v1/users/{}/password", UserId::generate());
    let response = send(&app, Method::PUT, &missing, &json!({"password": PASSWORD})).await;
    assert_api_error(response, 404).await;
}

async fn an_unknown_user_costs_what_a_wrong_password_costs(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "alice", json!({})).await;
    let fastest = |username: &'static str| {
        let store = app.store.clone();
        async move {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                let outcome = users::verify_credentials(
                    &store,
                    username,
                    &secret("wrong password"),
                    Utc::now(),
                )
                .await;
                assert!(matches!(outcome, Err(CredentialsError::Refused)));
                best = best.min(start.elapsed());
            }
            best
        }
    };
    let (wrong_password, unknown_user) = (fastest("alice").await, fastest("nobody").await);
    // Without the dummy hash an unknown user would cost one indexed read, a hundredth
    // of an argon2 run; the margin absorbs a busy machine.
    assert!(
        unknown_user * 3 >= wrong_password,
        "unknown {unknown_user:?}, wrong password {wrong_password:?}"
    );
}
