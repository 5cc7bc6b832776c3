//! The portal session at the API (issue 12): the portal cookie with its CSRF token
//! (`X-CSRF-Token`) acts as a tenant admin token of its own tenant and nothing more; an
//! `Authorization` header wins over it; logout denies its token (on every process) but
//! not the chain it continues; the tenant's deletion and the token's expiry end it. And
//! the portal's pages and assets: their headers and content types.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::change_feed::{Replica, SHARED_ISSUER};
use crate::helpers::{assert_api_error, eventually, spawn_app, spawn_app_with, Backend, TestApp};
use crate::keys::{tenant_token, verify_independently};
use crate::portal_links::{
    actions, admin_link, assert_page_headers, no_redirects, opened, page, set_cookie, COOKIE,
};

crate::on_both_backends!(
    the_cookie_with_its_csrf_token_acts_for_its_own_tenant_only,
    calls_without_the_right_csrf_token_are_refused,
    an_authorization_header_wins_over_the_cookie,
    logout_ends_the_session_on_every_process,
    logout_keeps_the_chain_of_the_token_that_asked_for_the_link,
    logout_is_checked,
    deleting_the_tenant_ends_the_session,
    the_session_ends_when_its_token_expires,
    a_portal_session_hands_out_no_token_and_revokes_no_chain,
    the_session_does_what_the_page_offers,
);

/// A portal session as the page holds it: the cookie (which the browser sends) and the
/// CSRF token the page read from `<body data-csrf-token>`.
struct Session {
    cookie: String,
    csrf: String,
}

/// hex(SHA-256("tessera portal csrf\0" ‖ cookie)), computed here independently.
fn csrf_of(cookie: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"tessera portal csrf\0");
    context.update(cookie.as_bytes());
    hex::encode(context.finish().as_ref())
}

/// The value of `attribute="…"` in the page.
fn attribute<'a>(html: &'a str, attribute: &str) -> &'a str {
    let start = format!("{attribute}=\"");
    let from = html
        .find(&start)
        .unwrap_or_else(|| panic!("{attribute} in {html}"))
        + start.len();
    let length = html[from..].find('"').unwrap();
    &html[from..from + length]
}

/// Opens a fresh link of `tenant` (created if needed) and reads the page as a browser.
async fn session(app: &TestApp, tenant: &str) -> Session {
    let cookie = opened(&app.address, &admin_link(app, tenant).await).await;
    let (status, _, html) = page(&app.address, Some((COOKIE, &cookie))).await;
    assert_eq!(status, 200, "{html}");
    let csrf = attribute(&html, "data-csrf-token").to_owned();
    assert_eq!(csrf, csrf_of(&cookie));
    Session { cookie, csrf }
}

/// A call to the API as the portal page makes it.
fn call(app: &TestApp, method: Method, path: &str, session: &Session) -> RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("cookie", format!("{COOKIE}={}", session.cookie))
        .header("x-csrf-token", &session.csrf)
}

/// The ids of the items of a successful list.
async fn ids(response: Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn client_id(app: &TestApp, tenant: &str) -> String {
    app.create_client(tenant, json!({}))
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

async fn the_cookie_with_its_csrf_token_acts_for_its_own_tenant_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme_client = client_id(&app, "acme").await;
    let globex_client = client_id(&app, "globex").await;
    let acme = session(&app, "acme").await;

    // The page names the tenant and when the session ends (the token's `exp`).
    let (_, _, html) = page(&app.address, Some((COOKIE, &acme.cookie))).await;
    assert_eq!(attribute(&html, "data-tenant-id"), "acme");
    assert_eq!(attribute(&html, "data-tenant-name"), "Acme Solar");
    let exp = verify_independently(&app, &acme.cookie).await["exp"]
        .as_i64()
        .unwrap();
    let ends_at = chrono::DateTime::parse_from_rfc3339(attribute(&html, "data-ends-at")).unwrap();
    assert_eq!(ends_at.timestamp(), exp);
    assert!(attribute(&html, "data-ends-at").ends_with('Z'));

    // Its own tenant's clients, whatever tenant the query names.
    for query in ["", "?tenantId=globex"] {
        let path = format!("/api/v1/oauth-clients{query}");
        let listed = ids(call(&app, Method::GET, &path, &acme).send().await.unwrap()).await;
        assert_eq!(listed, vec![acme_client.clone()], "{query}");
    }
    let own = call(
        &app,
        Method::GET,
        &format!("/api/v1/oauth-clients/{acme_client}"),
        &acme,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(own.status(), 200);
    // Another tenant's resources do not exist for it; the tenant set is not its own.
    for path in [
        format!("/api/v1/oauth-clients/{globex_client}"),
        "/api/v1/tenants/globex".to_owned(),
        "/api/v1/tenants/globex/members".to_owned(),
    ] {
        let response = call(&app, Method::GET, &path, &acme).send().await.unwrap();
        assert_api_error(response, 404).await;
    }
    let before = app.audit_events("limit=100").await.len();
    for (method, path) in [
        (Method::DELETE, "/api/v1/tenants/globex"),
        (Method::DELETE, "/api/v1/tenants/acme"),
    ] {
        let response = call(&app, method, path, &acme).send().await.unwrap();
        assert_api_error(response, 403).await;
    }
    let renamed = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/oauth-clients/{globex_client}"),
        &acme,
    )
    .json(&json!({"name": "Taken over"}))
    .send()
    .await
    .unwrap();
    assert_api_error(renamed, 404).await;
    assert_eq!(app.audit_events("limit=100").await.len(), before);

    // A change made with the session is the tenant admin's, in the audit trail.
    let renamed = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/oauth-clients/{acme_client}"),
        &acme,
    )
    .json(&json!({"name": "Renamed in the portal"}))
    .send()
    .await
    .unwrap();
    assert_eq!(renamed.status(), 200);
    let updated = actions(&app, "oauth_client.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["actor"], "tenant-admin:acme");
    assert_eq!(updated[0]["targetId"], acme_client.as_str());
}

async fn calls_without_the_right_csrf_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    client_id(&app, "acme").await;
    let acme = session(&app, "acme").await;
    let globex = session(&app, "globex").await;
    let before = app.audit_events("limit=100").await.len();
    let create = |csrf: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/oauth-clients"))
            .header("cookie", format!("{COOKIE}={}", acme.cookie))
            .json(&crate::helpers::client_body("acme"));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let wrong = [
        None,
        Some(""),
        Some(globex.csrf.as_str()),
        Some(&acme.csrf[..63]),
        Some("not hex"),
    ];
    for csrf in wrong {
        let body = assert_api_error(create(csrf).await.unwrap(), 403).await;
        let text = body["messages"][0]["text"].as_str().unwrap();
        assert!(text.contains("X-CSRF-Token"), "{text}");
    }
    // GET needs it too.
    let listed = app
        .client
        .get(app.url("/api/v1/oauth-clients"))
        .header("cookie", format!("{COOKIE}={}", acme.cookie))
        .send()
        .await
        .unwrap();
    assert_api_error(listed, 403).await;
    assert_eq!(
        app.audit_events("limit=100").await.len(),
        before,
        "nothing was created"
    );
    let (_, clients) = app.get_json("/api/v1/oauth-clients?tenantId=acme").await;
    assert_eq!(clients["items"].as_array().unwrap().len(), 1);

    // A cookie that is no portal session, with the CSRF token that goes with it: 401.
    // The cookie never carries the admin API key.
    for cookie in ["forged", app.admin_key.as_str()] {
        let forged = Session {
            cookie: cookie.to_owned(),
            csrf: csrf_of(cookie),
        };
        let response = call(&app, Method::GET, "/api/v1/oauth-clients", &forged)
            .send()
            .await
            .unwrap();
        assert_api_error(response, 401).await;
    }
    // No credential at all.
    let anonymous = app.client.get(app.url("/api/v1/oauth-clients")).send();
    assert_api_error(anonymous.await.unwrap(), 401).await;
    // The right token under another name is not a portal session.
    let renamed = app
        .client
        .get(app.url("/api/v1/oauth-clients"))
        .header("cookie", format!("__Host-{COOKIE}={}", acme.cookie))
        .header("x-csrf-token", &acme.csrf)
        .send()
        .await
        .unwrap();
    assert_api_error(renamed, 401).await;
}

async fn an_authorization_header_wins_over_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme_client = client_id(&app, "acme").await;
    let globex_client = client_id(&app, "globex").await;
    let acme = session(&app, "acme").await;
    let globex_token = tenant_token(&app, "globex").await;
    let list = |authorization: String| {
        call(&app, Method::GET, "/api/v1/oauth-clients", &acme)
            .header("authorization", authorization)
            .send()
    };
    let as_globex = list(format!("Bearer {globex_token}")).await.unwrap();
    assert_eq!(ids(as_globex).await, vec![globex_client.clone()]);
    let as_admin = list(format!("Bearer {}", app.admin_key)).await.unwrap();
    let mut every = ids(as_admin).await;
    every.sort();
    let mut both = vec![acme_client, globex_client];
    both.sort();
    assert_eq!(every, both);
    // A header that is no valid bearer credential fails; the cookie does not step in.
    for authorization in ["Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer"] {
        assert_api_error(list(authorization.to_owned()).await.unwrap(), 401).await;
    }
}

/// Signs the session out as the page's form does; returns the answer.
async fn logout(base: &str, session: &Session) -> Response {
    no_redirects()
        .post(format!("{base}/portal/logout"))
        .header("cookie", format!("{COOKIE}={}", session.cookie))
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", session.csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// The answer of a sign-out that went through: 303 to the signed-out page, the cookie
/// removed.
fn assert_signed_out(response: &Response) {
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "signed-out");
    assert_page_headers(response.headers());
    let (value, attributes) = set_cookie(response.headers(), COOKIE).expect("the cookie goes");
    assert!(value.is_empty(), "{value}");
    assert!(attributes.to_ascii_lowercase().contains("max-age=0"));
}

async fn lists_clients(base: &str, session: &Session) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/oauth-clients"))
        .header("cookie", format!("{COOKIE}={}", session.cookie))
        .header("x-csrf-token", &session.csrf)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn logout_ends_the_session_on_every_process(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.issuer = SHARED_ISSUER.into()).await;
    let replica = Replica::of(&app).await;
    let acme = session(&app, "acme").await;
    let other = session(&app, "acme").await;
    assert_eq!(lists_clients(&app.address, &acme).await, 200);
    assert_eq!(lists_clients(&replica.address, &acme).await, 200);

    let response = logout(&app.address, &acme).await;
    assert_signed_out(&response);
    assert_eq!(lists_clients(&app.address, &acme).await, 401);
    let (status, _, html) = page(&app.address, Some((COOKIE, &acme.cookie))).await;
    assert_eq!(status, 401);
    assert!(html.contains("Your portal session has ended"), "{html}");
    // The other process learns it from the change feed.
    let ended_there = eventually(Duration::from_secs(10), || async {
        lists_clients(&replica.address, &acme).await == 401
    })
    .await;
    assert!(
        ended_there.is_some(),
        "the replica still honours the session"
    );
    // Another session of the same tenant goes on.
    assert_eq!(lists_clients(&app.address, &other).await, 200);

    let ended = actions(&app, "portal_session.ended").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["actor"], "tenant-admin:acme");
    assert_eq!(ended[0]["tenantId"], "acme");
    let chain = verify_independently(&app, &acme.cookie).await["sid"].clone();
    assert_eq!(ended[0]["targetId"], chain);

    // Signing out again, or with no session: the cookie goes, nothing else happens.
    assert_signed_out(&logout(&app.address, &acme).await);
    let no_cookie = no_redirects()
        .post(app.url("/portal/logout"))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 303);
    assert_eq!(no_cookie.headers()["location"], "signed-out");
    assert_eq!(actions(&app, "portal_session.ended").await.len(), 1);

    // Where the sign-out ends.
    let (status, headers, html) = {
        let response = no_redirects()
            .get(app.url("/portal/signed-out"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_page_headers(&headers);
    assert!(html.contains("You have signed out of the portal"), "{html}");
    assert!(html.contains(r#"href="assets/login.css""#), "{html}");
}

async fn logout_keeps_the_chain_of_the_token_that_asked_for_the_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let asked = app
        .client
        .get(app.url("/api/v1/tenant/portal"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let link: Value = asked.json().await.unwrap();
    let cookie = opened(&app.address, link["redirectUrl"].as_str().unwrap()).await;
    let portal = Session {
        csrf: csrf_of(&cookie),
        cookie,
    };
    assert_signed_out(&logout(&app.address, &portal).await);
    assert_eq!(lists_clients(&app.address, &portal).await, 401);
    // The application's token, of the same chain, still works and still renews.
    let listed = app
        .client
        .get(app.url("/api/v1/oauth-clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let renewed = app
        .client
        .get(app.url("/api/v1/tenant/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
}

async fn logout_is_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = session(&app, "acme").await;
    let globex = session(&app, "globex").await;
    let post = |form: Vec<(&'static str, String)>, site: Option<&'static str>| {
        let mut request = no_redirects()
            .post(app.url("/portal/logout"))
            .header("cookie", format!("{COOKIE}={}", acme.cookie))
            .form(&form);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    let refused = [
        (vec![], Some("same-origin")),
        (vec![("csrf_token", String::new())], None),
        (
            vec![("csrf_token", globex.csrf.clone())],
            Some("same-origin"),
        ),
        // The right token, from another site's page.
        (vec![("csrf_token", acme.csrf.clone())], Some("cross-site")),
        (vec![("csrf_token", acme.csrf.clone())], Some("same-site")),
    ];
    for (form, site) in refused {
        let response = post(form.clone(), site).await.unwrap();
        assert_eq!(response.status(), 403, "{form:?} {site:?}");
        assert_page_headers(response.headers());
        assert!(set_cookie(response.headers(), COOKIE).is_none());
        let html = response.text().await.unwrap();
        assert!(
            html.contains("This sign-out could not be checked"),
            "{html}"
        );
    }
    // A body that is not the form, with the right token in it.
    let as_json = no_redirects()
        .post(app.url("/portal/logout"))
        .header("cookie", format!("{COOKIE}={}", acme.cookie))
        .json(&json!({"csrf_token": acme.csrf}))
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status(), 403);
    assert_eq!(lists_clients(&app.address, &acme).await, 200, "still on");
    assert!(actions(&app, "portal_session.ended").await.is_empty());
    // No Sec-Fetch-Site (an older browser): the CSRF token alone decides.
    let response = post(vec![("csrf_token", acme.csrf.clone())], None)
        .await
        .unwrap();
    assert_signed_out(&response);
    assert_eq!(lists_clients(&app.address, &acme).await, 401);
    assert_eq!(lists_clients(&app.address, &globex).await, 200);
    // Only POST.
    let get = no_redirects().get(app.url("/portal/logout")).send();
    assert_api_error(get.await.unwrap(), 405).await;
}

async fn deleting_the_tenant_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = session(&app, "acme").await;
    assert_eq!(lists_clients(&app.address, &acme).await, 200);
    let deleted = app
        .admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(lists_clients(&app.address, &acme).await, 401);
    let (status, _, html) = page(&app.address, Some((COOKIE, &acme.cookie))).await;
    assert_eq!(status, 401);
    assert!(html.contains("Your portal session has ended"), "{html}");
    // A tenant of the same id, created again, does not revive it. (Tokens count whole
    // seconds: one issued in the second the namesake is created would count as newer.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.put_tenant("acme", json!({"name": "Acme again"})).await;
    assert_eq!(lists_clients(&app.address, &acme).await, 401);
    assert_eq!(
        page(&app.address, Some((COOKIE, &acme.cookie))).await.0,
        401
    );
}

async fn the_session_ends_when_its_token_expires(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.tenant_token_seconds = 1).await;
    let acme = session(&app, "acme").await;
    assert_eq!(lists_clients(&app.address, &acme).await, 200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(lists_clients(&app.address, &acme).await, 401);
    assert_eq!(
        page(&app.address, Some((COOKIE, &acme.cookie))).await.0,
        401
    );
}

async fn a_portal_session_hands_out_no_token_and_revokes_no_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = session(&app, "acme").await;
    let before = app.audit_events("limit=100").await.len();
    for (method, path) in [
        (Method::GET, "/api/v1/tenant/token"),
        (Method::DELETE, "/api/v1/tenant/token"),
        (Method::GET, "/api/v1/tenant/portal"),
    ] {
        let response = call(&app, method.clone(), path, &acme)
            .send()
            .await
            .unwrap();
        let body = assert_api_error(response, 400).await;
        let text = body["messages"][0]["text"].as_str().unwrap();
        assert!(text.contains("/portal/logout"), "{method} {path}: {text}");
    }
    assert_eq!(app.audit_events("limit=100").await.len(), before);
    assert_eq!(lists_clients(&app.address, &acme).await, 200);
}

/// The page's calls beyond clients: members by username, a member's sessions, the idle
/// timeout, the audit list with its filters — each inside the session's tenant.
async fn the_session_does_what_the_page_offers(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = session(&app, "acme").await;
    app.put_tenant("globex", json!({})).await;
    let alice = crate::users::create_user(&app, "alice", json!({})).await;
    let alice = alice["id"].as_str().unwrap().to_owned();

    let added = call(&app, Method::POST, "/api/v1/tenants/acme/members", &acme)
        .json(&json!({"username": "ALICE", "roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let elsewhere = call(&app, Method::POST, "/api/v1/tenants/globex/members", &acme)
        .json(&json!({"username": "alice", "roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_api_error(elsewhere, 404).await;
    let ended = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{alice}"),
        &acme,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(ended.status(), 204);

    let set = call(&app, Method::PUT, "/api/v1/tokens/timeout", &acme)
        .json(&json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 900}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let read: Value = call(&app, Method::GET, "/api/v1/tokens/timeout", &acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        read,
        json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 900})
    );
    let (_, globex) = app.get_json("/api/v1/tokens/timeout?tenantId=globex").await;
    assert_eq!(globex["enableIdleTokenTimeout"], false, "{globex}");

    let listed: Value = call(
        &app,
        Method::GET,
        "/api/v1/audit-events?action=tenant_member.added&tenantId=globex",
        &acme,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["targetId"], alice.as_str());
    assert_eq!(items[0]["tenantId"], "acme");
    assert_eq!(items[0]["actor"], "tenant-admin:acme");
    for action in ["user.sessions_revoked", "tenant.idle_timeout_set"] {
        let events = actions(&app, action).await;
        assert_eq!(events.len(), 1, "{action}: {events:?}");
        assert_eq!(events[0]["actor"], "tenant-admin:acme");
    }
}

#[tokio::test]
async fn the_portal_assets_are_served_from_the_binary() {
    let app = spawn_app(Backend::Sqlite).await;
    for (path, file, content_type) in [
        (
            "/portal/assets/portal.js",
            "assets/portal.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/portal/assets/portal.css",
            "assets/portal.css",
            "text/css; charset=utf-8",
        ),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-cache");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let body = response.text().await.unwrap();
        assert_eq!(body, std::fs::read_to_string(file).unwrap());
        // Asked again with its validator: 304, no body.
        for validator in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
            let again = app
                .client
                .get(app.url(path))
                .header("if-none-match", validator)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304);
            assert_eq!(again.headers()["etag"], etag.as_str());
            assert!(again.text().await.unwrap().is_empty());
        }
        let stale = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200);
    }
    // The portal's pages, with or without a session, have the portal's CSP.
    let (status, headers, _) = page(&app.address, None).await;
    assert_eq!(status, 401);
    assert_page_headers(&headers);
    let acme = session(&app, "acme").await;
    let (status, headers, _) = page(&app.address, Some((COOKIE, &acme.cookie))).await;
    assert_eq!(status, 200);
    assert_page_headers(&headers);
}
