//! Tenant memberships (issue 10): put (add, change roles), add by username (issue 12),
//! list, remove; cascades from a
//! tenant's or a user's deletion; the audit trail; and what a tenant admin may do with
//! members and users — its own tenant only, no user creation, no passwords.

use reqwest::Method;
use serde_json::{json, Value};
use tessera::changes::Change;
use tessera::users::UserId;

use crate::helpers::{assert_api_error, causes, spawn_app, Backend, TestApp};
use crate::keys::tenant_token;
use crate::tenant_admin::AsTenant;
use crate::users::{create_user, PASSWORD};

crate::on_both_backends!(
    members_are_added_updated_listed_and_removed,
    roles_are_checked_and_refusals_store_nothing,
    deleting_a_tenant_or_a_user_removes_its_memberships,
    membership_changes_are_audited_in_their_tenant,
    a_tenant_admin_manages_its_own_members_only,
    a_tenant_admin_reads_only_its_members_and_writes_no_user,
    members_are_added_by_username,
    adding_by_username_is_checked_and_refusals_store_nothing,
);

fn member_path(tenant: &str, user: &str) -> String {
    format!("/api/v1/tenants/{tenant}/members/{user}")
}

async fn put_member(app: &TestApp, tenant: &str, user: &str, roles: Value) -> reqwest::Response {
    app.admin(Method::PUT, &member_path(tenant, user))
        .json(&json!({ "roles": roles }))
        .send()
        .await
        .expect("request")
}

fn user_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["userId"].as_str().unwrap().to_owned())
        .collect()
}

async fn user_id(app: &TestApp, username: &str) -> String {
    let user = create_user(app, username, json!({})).await;
    user["id"].as_str().unwrap().to_owned()
}

async fn members_are_added_updated_listed_and_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let alice = user_id(&app, "alice").await;
    let bob = user_id(&app, "bob").await;

    let added = put_member(&app, "acme", &alice, json!(["member"])).await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["tenantId"], "acme");
    assert_eq!(added["userId"], alice.as_str());
    assert_eq!(added["roles"], json!(["member"]));
    assert_eq!(added["createdAt"], added["updatedAt"]);

    let updated = put_member(&app, "acme", &alice, json!(["admin", "member"])).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["roles"], json!(["admin", "member"]));
    assert_eq!(updated["createdAt"], added["createdAt"], "joined once");

    assert_eq!(
        put_member(&app, "acme", &bob, json!(["member"]))
            .await
            .status(),
        201
    );
    let (status, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(status, 200);
    assert_eq!(user_ids(&page), [alice.as_str(), bob.as_str()]);
    assert_eq!(page["items"][0], updated);

    let (_, first) = app.get_json("/api/v1/tenants/acme/members?limit=1").await;
    assert_eq!(user_ids(&first), [alice.as_str()]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(&format!(
            "/api/v1/tenants/acme/members?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(user_ids(&second), [bob.as_str()]);
    assert_eq!(second["nextCursor"], Value::Null);

    let removed = app
        .admin(Method::DELETE, &member_path("acme", &alice))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(
        removed.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    let again = app
        .admin(Method::DELETE, &member_path("acme", &alice))
        .send()
        .await
        .unwrap();
    assert_api_error(again, 404).await;
    let (_, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(user_ids(&page), [bob.as_str()]);
    let (status, _) = app.get_json(&format!("/api/v1/users/{alice}")).await;
    assert_eq!(status, 200, "the user outlives its membership");
}

async fn roles_are_checked_and_refusals_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let alice = user_id(&app, "alice").await;
    let before = app.database_text().await;
    for (roles, cause) in [
        (json!([]), "roles: at least one role is required"),
        (json!(["owner"]), "roles[0]: 'owner' is not member or admin"),
        (
            json!(["member", "member"]),
            "roles[1]: 'member' is listed twice",
        ),
        (json!("member"), "roles: invalid type"),
        (json!([1]), "roles[0]: invalid type"),
        (
            json!(["mem\u{0}ber"]),
            "roles[0]: must not contain a NUL character",
        ),
    ] {
        let error =
            assert_api_error(put_member(&app, "acme", &alice, roles.clone()).await, 400).await;
        assert!(causes(&error)[0].starts_with(cause), "{roles}: {error}");
    }
    for body in [json!({}), json!({"roles": ["member"], "extra": 1})] {
        let response = app
            .admin(Method::PUT, &member_path("acme", &alice))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_api_error(response, 400).await;
    }
    let unknown_user = UserId::generate();
    let error = assert_api_error(
        put_member(&app, "acme", unknown_user.as_str(), json!(["member"])).await,
        404,
    )
    .await;
    assert!(error.to_string().contains("User"), "{error}");
    let error = assert_api_error(
        put_member(&app, "globex", &alice, json!(["member"])).await,
        404,
    )
    .await;
    assert!(error.to_string().contains("Tenant"), "{error}");
    assert_api_error(
        put_member(&app, "acme", "not-an-id", json!(["member"])).await,
        400,
    )
    .await;
    assert_api_error(
        put_member(&app, "a%2Fb", &alice, json!(["member"])).await,
        400,
    )
    .await;
    let listing = app
        .admin(Method::GET, "/api/v1/tenants/globex/members")
        .send()
        .await
        .unwrap();
    assert_api_error(listing, 404).await;
    let filtered = app
        .admin(Method::GET, "/api/v1/tenants/acme/members?tenantId=acme")
        .send()
        .await
        .unwrap();
    assert_api_error(filtered, 400).await;
    assert_eq!(before, app.database_text().await);
}

async fn deleting_a_tenant_or_a_user_removes_its_memberships(backend: Backend) {
    let app = spawn_app(backend).await;
    for tenant in ["acme", "globex"] {
        app.put_tenant(tenant, json!({})).await;
    }
    let alice = user_id(&app, "alice").await;
    let bob = user_id(&app, "bob").await;
    for (tenant, user) in [("acme", &alice), ("acme", &bob), ("globex", &alice)] {
        assert_eq!(
            put_member(&app, tenant, user, json!(["member"]))
                .await
                .status(),
            201
        );
    }

    let feed_start = app.store.change_feed_bounds().await.unwrap().newest;
    app.admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    // The cascade went through the triggers: each former member is on the feed.
    let rows = app
        .store
        .changes_after(feed_start.unwrap_or(0), 100)
        .await
        .unwrap();
    for user in [&alice, &bob] {
        let changed = Change::User(UserId::parse(user).unwrap());
        assert!(
            rows.iter().any(
                |row| Change::from_row(&row.kind, &row.subject, row.instant).as_ref()
                    == Some(&changed)
            ),
            "{user}: {rows:?}"
        );
    }
    app.put_tenant("acme", json!({})).await;
    let (_, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(
        user_ids(&page),
        Vec::<String>::new(),
        "a new tenant starts empty"
    );
    let (_, page) = app.get_json("/api/v1/users?tenantId=acme").await;
    assert_eq!(page["items"], json!([]));

    app.admin(Method::DELETE, &format!("/api/v1/users/{alice}"))
        .send()
        .await
        .unwrap();
    let (_, page) = app.get_json("/api/v1/tenants/globex/members").await;
    assert_eq!(user_ids(&page), Vec::<String>::new());
    let rows: i64 = match &app.store {
        tessera::store::Store::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM tenant_members")
                .fetch_one(pool)
                .await
                .unwrap()
        }
        tessera::store::Store::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM tenant_members")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(rows, 0, "no membership left behind");
}

async fn membership_changes_are_audited_in_their_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let alice = user_id(&app, "alice").await;
    let feed_start = app.store.change_feed_bounds().await.unwrap().newest;
    put_member(&app, "acme", &alice, json!(["member"])).await;
    put_member(&app, "acme", &alice, json!(["admin"])).await;
    app.admin(Method::DELETE, &member_path("acme", &alice))
        .send()
        .await
        .unwrap();
    // New roles and the removal each tell the other processes (an addition needs not).
    let changed = Change::User(UserId::parse(&alice).unwrap());
    let rows = app
        .store
        .changes_after(feed_start.unwrap_or(0), 100)
        .await
        .unwrap();
    let on_feed = rows
        .iter()
        .filter(|row| {
            Change::from_row(&row.kind, &row.subject, row.instant).as_ref() == Some(&changed)
        })
        .count();
    assert_eq!(on_feed, 2, "{rows:?}");

    let events = app.audit_events("tenantId=acme").await;
    let ours: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["targetId"] == alice.as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["tenantId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ours,
        [
            ("tenant_member.removed", "acme"),
            ("tenant_member.updated", "acme"),
            ("tenant_member.added", "acme")
        ]
    );
    // Visible to the tenant's own admin, too.
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };
    let response = acme.send(Method::GET, "/api/v1/audit-events", None).await;
    let page: Value = response.json().await.unwrap();
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"tenant_member.added"), "{actions:?}");
    assert!(
        !actions.contains(&"user.created"),
        "users are the global admin's"
    );
}

async fn a_tenant_admin_manages_its_own_members_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("other", json!({})).await;
    let alice = user_id(&app, "alice").await;
    let bob = user_id(&app, "bob").await;
    assert_eq!(
        put_member(&app, "other", &bob, json!(["admin"]))
            .await
            .status(),
        201
    );
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };
    let roles = Some(json!({"roles": ["member"]}));

    let added = acme
        .send(Method::PUT, &member_path("acme", &alice), roles.clone())
        .await;
    assert_eq!(added.status(), 201, "an existing user is added by id");
    let updated = acme
        .send(
            Method::PUT,
            &member_path("acme", &alice),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let page: Value = acme
        .send(Method::GET, "/api/v1/tenants/acme/members", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user_ids(&page), [alice.as_str()]);

    // Another tenant does not exist for it: not its members, not a change to them.
    let before = app.database_text().await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, roles.clone()),
        (Method::DELETE, None),
    ] {
        let path = if method == Method::GET {
            "/api/v1/tenants/other/members".to_owned()
        } else {
            member_path("other", &bob)
        };
        assert_api_error(acme.send(method, &path, body).await, 404).await;
    }
    assert_eq!(before, app.database_text().await);

    let removed = acme
        .send(Method::DELETE, &member_path("acme", &alice), None)
        .await;
    assert_eq!(removed.status(), 200);
    let (_, page) = app.get_json("/api/v1/tenants/other/members").await;
    assert_eq!(
        user_ids(&page),
        [bob.as_str()],
        "the other tenant is untouched"
    );
}

async fn a_tenant_admin_reads_only_its_members_and_writes_no_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("other", json!({})).await;
    let alice = user_id(&app, "alice").await;
    let bob = user_id(&app, "bob").await;
    let carol = user_id(&app, "carol").await;
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };
    put_member(&app, "acme", &alice, json!(["member"])).await;
    put_member(&app, "other", &bob, json!(["member"])).await;

    for query in ["", "?tenantId=acme", "?tenantId=other"] {
        let page: Value = acme
            .send(Method::GET, &format!("/api/v1/users{query}"), None)
            .await
            .json()
            .await
            .unwrap();
        let listed: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed,
            [alice.as_str()],
            "{query}: its own members, whatever it asks"
        );
    }
    let own = acme
        .send(Method::GET, &format!("/api/v1/users/{alice}"), None)
        .await;
    assert_eq!(own.status(), 200);
    // A member whose default tenant is another: the tenant admin does not learn which.
    let dave = create_user(&app, "dave", json!({"defaultTenantId": "other"})).await;
    let dave = dave["id"].as_str().unwrap();
    put_member(&app, "acme", dave, json!(["member"])).await;
    put_member(&app, "other", dave, json!(["member"])).await;
    let seen: Value = acme
        .send(Method::GET, &format!("/api/v1/users/{dave}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["defaultTenantId"], Value::Null, "{seen}");
    let page: Value = acme
        .send(Method::GET, "/api/v1/users", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(!page.to_string().contains("other"), "{page}");
    let (_, full) = app.get_json(&format!("/api/v1/users/{dave}")).await;
    assert_eq!(full["defaultTenantId"], "other", "the global admin sees it");
    let erin = create_user(&app, "erin", json!({"defaultTenantId": "acme"})).await;
    let erin = erin["id"].as_str().unwrap();
    put_member(&app, "acme", erin, json!(["member"])).await;
    let seen: Value = acme
        .send(Method::GET, &format!("/api/v1/users/{erin}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["defaultTenantId"], "acme", "its own tenant shows");
    // A user of another tenant, or of none, looks exactly like one that does not exist.
    let unknown = UserId::generate().to_string();
    for id in [&bob, &carol, &unknown] {
        let response = acme
            .send(Method::GET, &format!("/api/v1/users/{id}"), None)
            .await;
        let error = assert_api_error(response, 404).await;
        assert_eq!(
            error["messages"][0]["text"],
            format!("User '{id}' does not exist.")
        );
    }

    let before = app.database_text().await;
    let password = Some(json!({"password": "a new password"}));
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(json!({"username": "mallory", "password": PASSWORD})),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{alice}/password"),
            password.clone(),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{bob}/password"),
            password,
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{alice}"),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, format!("/api/v1/users/{alice}"), None),
    ] {
        let response = acme.send(method.clone(), &path, body).await;
        assert_api_error(response, 403).await;
    }
    assert_eq!(
        before,
        app.database_text().await,
        "no refusal changed anything"
    );
}

async fn post_member(app: &TestApp, tenant: &str, body: Value) -> reqwest::Response {
    app.admin(Method::POST, &format!("/api/v1/tenants/{tenant}/members"))
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn members_are_added_by_username(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let alice = user_id(&app, "Alice.Smith").await;
    let bob = user_id(&app, "bob").await;

    // Whatever the case of the name.
    let added = post_member(
        &app,
        "acme",
        json!({"username": "alice.SMITH", "roles": ["member"]}),
    )
    .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["tenantId"], "acme");
    assert_eq!(added["userId"], alice.as_str());
    assert_eq!(added["roles"], json!(["member"]));
    assert_eq!(added["createdAt"], added["updatedAt"]);
    let (_, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(page["items"][0], added, "what PUT and the list show");

    // A member already: 409, its roles unchanged.
    let again = post_member(
        &app,
        "acme",
        json!({"username": "Alice.Smith", "roles": ["admin"]}),
    )
    .await;
    let body = assert_api_error(again, 409).await;
    let text = body["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("already"), "{text}");
    let (_, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(page["items"][0]["roles"], json!(["member"]));

    let events = app.audit_events("tenantId=acme").await;
    let added_events: Vec<&Value> = events
        .iter()
        .filter(|event| event["action"] == "tenant_member.added")
        .collect();
    assert_eq!(added_events.len(), 1, "{events:?}");
    assert_eq!(added_events[0]["targetId"], alice.as_str());
    assert_eq!(added_events[0]["actor"], "admin");

    // A tenant admin adds to its own tenant, under its own name in the trail.
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };
    let by_admin = acme
        .send(
            Method::POST,
            "/api/v1/tenants/acme/members",
            Some(json!({"username": "BOB", "roles": ["admin", "member"]})),
        )
        .await;
    assert_eq!(by_admin.status(), 201);
    let by_admin: Value = by_admin.json().await.unwrap();
    assert_eq!(by_admin["userId"], bob.as_str());
    assert_eq!(by_admin["roles"], json!(["admin", "member"]));
    let events = app.audit_events("tenantId=acme").await;
    assert_eq!(events[0]["action"], "tenant_member.added");
    assert_eq!(events[0]["actor"], "tenant-admin:acme");
    let (_, page) = app.get_json("/api/v1/tenants/acme/members").await;
    assert_eq!(user_ids(&page), [alice.as_str(), bob.as_str()]);
}

async fn adding_by_username_is_checked_and_refusals_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    app.put_tenant("other", json!({})).await;
    user_id(&app, "alice").await;
    let acme = AsTenant {
        app: &app,
        token: tenant_token(&app, "acme").await,
    };
    let before = app.database_text().await;

    let unknown = post_member(
        &app,
        "acme",
        json!({"username": "nobody", "roles": ["member"]}),
    );
    let body = assert_api_error(unknown.await, 404).await;
    let text = body["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("nobody"), "{text}");
    let no_tenant = post_member(
        &app,
        "nowhere",
        json!({"username": "alice", "roles": ["member"]}),
    );
    assert_api_error(no_tenant.await, 404).await;
    for (body, problems) in [
        (json!({}), vec!["username", "roles"]),
        (json!({"username": "alice"}), vec!["roles"]),
        (
            json!({"username": "a b", "roles": ["member"]}),
            vec!["username"],
        ),
        (json!({"username": "alice", "roles": []}), vec!["roles"]),
        (
            json!({"username": "alice", "roles": ["owner"]}),
            vec!["roles[0]"],
        ),
        (
            json!({"username": 7, "roles": ["member"]}),
            vec!["username"],
        ),
        (
            json!({"username": "alice", "roles": ["member"], "userId": "x"}),
            vec![],
        ),
    ] {
        let response = post_member(&app, "acme", body.clone()).await;
        let error = assert_api_error(response, 400).await;
        let fields: Vec<String> = causes(&error)
            .iter()
            .map(|cause| cause.split(':').next().unwrap().to_owned())
            .collect();
        if !problems.is_empty() {
            assert_eq!(fields, problems, "{body}");
        }
    }
    let bad_tenant = post_member(
        &app,
        "Not%20An%20Id",
        json!({"username": "alice", "roles": ["member"]}),
    );
    assert_api_error(bad_tenant.await, 400).await;
    // Another tenant does not exist for a tenant admin.
    let elsewhere = acme
        .send(
            Method::POST,
            "/api/v1/tenants/other/members",
            Some(json!({"username": "alice", "roles": ["admin"]})),
        )
        .await;
    assert_api_error(elsewhere, 404).await;
    assert_eq!(before, app.database_text().await, "nothing was stored");
}
