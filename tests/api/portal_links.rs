//! Portal links (seed 000, issue 11): `GET /api/v1/tenants/{tenantId}/portal` and
//! `GET /api/v1/tenant/portal` hand out a single-use link of `/portal` that expires;
//! opening it sets the portal session cookie (a tenant admin token) and redirects to
//! `/portal`, which names the tenant. Once only, also under a race across processes;
//! revoked with the tenant's tokens.

use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::change_feed::{Replica, SHARED_ISSUER};
use crate::helpers::{assert_api_error, spawn_app, spawn_app_with, Backend, TestApp};
use crate::keys::{tenant_token, verify_independently};

crate::on_both_backends!(
    a_link_opens_once_into_a_portal_session,
    a_link_expires,
    twenty_parallel_openers_across_two_processes_get_one_session,
    a_tenant_token_gets_a_link_in_its_own_chain,
    callers_and_links_are_checked,
    revoking_the_tenants_tokens_ends_sessions_and_unopened_links,
    an_https_issuer_makes_the_cookie_secure,
    fetching_a_link_spends_nothing_and_only_its_own_page_opens_it,
);

pub(crate) const COOKIE: &str = "tessera_portal";

/// A client that shows redirects instead of following them.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The body of a successful portal-link request.
async fn link_body(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// A link for `tenant` (created if needed) from the global admin.
pub(crate) async fn admin_link(app: &TestApp, tenant: &str) -> String {
    app.put_tenant(tenant, json!({"name": "Acme Solar"})).await;
    let response = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}/portal"))
        .send()
        .await
        .unwrap();
    let body = link_body(response).await;
    assert_eq!(body["tenantId"], tenant);
    body["redirectUrl"].as_str().unwrap().to_owned()
}

pub(crate) fn token_of(link: &str) -> String {
    let (_, token) = link.split_once("/portal?token=").expect("a portal link");
    token.to_owned()
}

/// Opens the link's token at the server at `base` as a person does: its page, then the
/// page's button (a POST of the token), not following the redirect. A page that is not
/// the one with the button (a link used, expired or malformed) is the answer.
pub(crate) async fn open(base: &str, link: &str) -> reqwest::Response {
    let token = token_of(link);
    let page = no_redirects()
        .get(format!("{base}/portal?token={token}"))
        .send()
        .await
        .unwrap();
    if page.status() != 200 {
        return page;
    }
    let opener = opener_cookie(page.headers()).expect("the page binds the browser to the link");
    assert!(
        session_cookie_set(page.headers()).is_none(),
        "the page spends nothing"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="portal""#),
        "{html}"
    );
    press(base, &token, Some(&opener), &[]).await
}

/// The press of a link page's button: a POST of `token`, with the page's cookie
/// (`name=value`) if given, and `headers`.
pub(crate) async fn press(
    base: &str,
    token: &str,
    opener: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = no_redirects()
        .post(format!("{base}/portal"))
        .form(&[("token", token)]);
    if let Some(opener) = opener {
        request = request.header("cookie", opener);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `name=value` of the cookie a link's page sets (`tessera_portal_open`, or with
/// `__Host-` under an https issuer), if it sets one with a value.
pub(crate) fn opener_cookie(headers: &HeaderMap) -> Option<String> {
    ["tessera_portal_open", "__Host-tessera_portal_open"]
        .into_iter()
        .find_map(|name| {
            set_cookie(headers, name)
                .filter(|(value, _)| !value.is_empty())
                .map(|(value, _)| format!("{name}={value}"))
        })
}

/// The session cookie a response sets, with a value, under either name.
fn session_cookie_set(headers: &HeaderMap) -> Option<String> {
    [COOKIE, "__Host-tessera_portal"]
        .into_iter()
        .find_map(|name| set_cookie(headers, name).filter(|(value, _)| !value.is_empty()))
        .map(|(value, _)| value)
}

/// The `name=value` cookie the response sets, and its attributes.
pub(crate) fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (cookie, content) = pair.split_once('=')?;
            (cookie == name).then(|| (content.to_owned(), attributes.to_owned()))
        })
}

/// The session cookie of a successful opening (303 to `portal`, without the token).
pub(crate) async fn opened(base: &str, link: &str) -> String {
    let response = open(base, link).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "portal");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let (value, _) = set_cookie(response.headers(), COOKIE).expect("a session cookie");
    value
}

pub(crate) async fn page(base: &str, cookie: Option<(&str, &str)>) -> (u16, HeaderMap, String) {
    let mut request = no_redirects().get(format!("{base}/portal"));
    if let Some((name, value)) = cookie {
        request = request.header("cookie", format!("{name}={value}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn portal_page(app: &TestApp, cookie: &str) -> (u16, String) {
    let (status, _, body) = page(&app.address, Some((COOKIE, cookie))).await;
    (status, body)
}

/// The answer to a link that cannot be opened: the page says so, and sets no cookie.
async fn assert_gone(response: reqwest::Response) {
    assert_eq!(response.status(), 410);
    assert!(set_cookie(response.headers(), COOKIE).is_none());
    assert!(response.headers().get("location").is_none());
    let body = response.text().await.unwrap();
    assert!(body.contains("This portal link no longer works"), "{body}");
}

/// The headers of every portal page: the portal's CSP (own script and stylesheet, no
/// inline ones, calls to this origin only, no framing), no caching, no `Referer`.
pub(crate) fn assert_page_headers(headers: &HeaderMap) {
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

pub(crate) async fn actions(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit_events("limit=100")
        .await
        .into_iter()
        .filter(|event| event["action"] == action)
        .collect()
}

/// A mail or chat scanner fetches a link (GET, HEAD) before its person does: that spends
/// nothing. The press must come with the cookie the link's page set (`SameSite=Strict`,
/// so never with a post another site makes) and not from another origin, so a link of
/// someone else's tenant cannot sign a browser in unasked; the page's own press opens it.
async fn fetching_a_link_spends_nothing_and_only_its_own_page_opens_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = admin_link(&app, "acme").await;
    let token = token_of(&link);
    let url = format!("{}/portal?token={token}", app.address);
    let mut opener = String::new();
    for _ in 0..3 {
        let fetched = no_redirects().get(&url).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert!(session_cookie_set(fetched.headers()).is_none());
        assert_page_headers(fetched.headers());
        opener = opener_cookie(fetched.headers()).expect("the page's cookie");
        assert!(fetched.text().await.unwrap().contains("<code>acme</code>"));
        let head = no_redirects().head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert!(session_cookie_set(head.headers()).is_none());
        assert!(head.bytes().await.unwrap().is_empty());
    }
    let other = admin_link(&app, "acme").await;
    let other_page = no_redirects()
        .get(format!("{}/portal?token={}", app.address, token_of(&other)))
        .send()
        .await
        .unwrap();
    let others_opener = opener_cookie(other_page.headers()).unwrap();
    for (why, cookie, headers) in [
        ("no cookie (a post from another site)", None, vec![]),
        (
            "another link's cookie",
            Some(others_opener.as_str()),
            vec![],
        ),
        (
            "cross-site",
            Some(opener.as_str()),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site",
            Some(opener.as_str()),
            vec![("sec-fetch-site", "same-site")],
        ),
        (
            "another origin",
            Some(opener.as_str()),
            vec![("origin", "http://evil.example")],
        ),
    ] {
        let forged = press(&app.address, &token, cookie, &headers).await;
        assert_eq!(forged.status(), 403, "{why}");
        assert!(session_cookie_set(forged.headers()).is_none(), "{why}");
    }
    let opened = press(
        &app.address,
        &token,
        Some(&opener),
        &[("sec-fetch-site", "same-origin"), ("origin", "null")],
    )
    .await;
    assert_eq!(opened.status(), 303);
    assert!(session_cookie_set(opened.headers()).is_some());
    // Spent: pressed again, and its page, say so.
    assert_gone(press(&app.address, &token, Some(&opener), &[]).await).await;
    assert_gone(no_redirects().get(&url).send().await.unwrap()).await;
}

async fn a_link_opens_once_into_a_portal_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.tenant_token_seconds = 600).await;
    let link = admin_link(&app, "acme").await;
    assert!(
        link.starts_with(&format!("{}/portal?token=", app.issuer)),
        "{link}"
    );
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "256 bits, URL-safe base64");
    assert!(!app.database_text().await.contains(&token));
    let issued = actions(&app, "portal_link.issued").await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0]["actor"], "admin");
    assert_eq!(issued[0]["tenantId"], "acme");

    let response = open(&app.address, &link).await;
    assert_eq!(response.status(), 303);
    assert_page_headers(response.headers());
    // Relative to /portal?token=…: /portal, without the token.
    assert_eq!(response.headers()["location"], "portal");
    let (cookie, attributes) = set_cookie(response.headers(), COOKIE).expect("a cookie");
    let attributes = attributes.to_ascii_lowercase();
    assert!(attributes.contains("httponly"), "{attributes}");
    assert!(attributes.contains("samesite=strict"), "{attributes}");
    assert!(attributes.contains("path=/"), "{attributes}");
    assert!(attributes.contains("max-age=600"), "{attributes}");
    assert!(
        !attributes.contains("secure"),
        "an http issuer: {attributes}"
    );
    // The session is a tenant admin token of the tenant.
    let claims = verify_independently(&app, &cookie).await;
    assert_eq!(claims["tid"], "acme");
    assert_eq!(claims["scope"], "tenant:admin");
    assert_eq!(
        claims["sid"], issued[0]["targetId"],
        "the chain the link named"
    );
    let started = actions(&app, "tenant_token.issued").await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["actor"], "tenant-admin:acme");
    let stored = app.database_text().await;
    assert!(!stored.contains(&token) && !stored.contains(&cookie));

    let (status, headers, body) = page(&app.address, Some((COOKIE, &cookie))).await;
    assert_eq!(status, 200, "{body}");
    assert_page_headers(&headers);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        body.contains("Acme Solar") && body.contains("acme"),
        "{body}"
    );
    assert!(!body.contains(&token));

    // Used: the same link again is refused, and sets no cookie.
    assert_gone(open(&app.address, &link).await).await;
    assert_eq!(actions(&app, "tenant_token.issued").await.len(), 1);
    // The session still works.
    assert_eq!(portal_page(&app, &cookie).await.0, 200);
}

async fn a_link_expires(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.portal_link_seconds = 1).await;
    let link = admin_link(&app, "acme").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_gone(open(&app.address, &link).await).await;
    // A fresh one still opens.
    let fresh = admin_link(&app, "acme").await;
    opened(&app.address, &fresh).await;
}

async fn twenty_parallel_openers_across_two_processes_get_one_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.issuer = SHARED_ISSUER.into()).await;
    let replica = Replica::of(&app).await;
    let link = admin_link(&app, "acme").await;
    let bases = [app.address.clone(), replica.address.clone()];
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (base, link) = (bases[i % 2].clone(), link.clone());
        attempts.spawn(async move {
            let response = open(&base, &link).await;
            let status = response.status().as_u16();
            (status, set_cookie(response.headers(), COOKIE).is_some())
        });
    }
    let results = attempts.join_all().await;
    let winners: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == 303)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(winners[0].1, "the winner gets the cookie");
    assert!(
        results
            .iter()
            .all(|&(status, cookie)| status == 303 || (status == 410 && !cookie)),
        "{results:?}"
    );
    assert_eq!(actions(&app, "tenant_token.issued").await.len(), 1);

    // Opened at one process, refused at the other.
    let second = admin_link(&app, "acme").await;
    opened(&replica.address, &second).await;
    assert_gone(open(&app.address, &second).await).await;
}

async fn a_tenant_token_gets_a_link_in_its_own_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let chain = verify_independently(&app, &token).await["sid"].clone();
    let ask = || {
        app.client
            .get(app.url("/api/v1/tenant/portal"))
            .bearer_auth(&token)
            .send()
    };
    let body = link_body(ask().await.unwrap()).await;
    assert_eq!(body["tenantId"], "acme");
    let link = body["redirectUrl"].as_str().unwrap().to_owned();
    let issued = actions(&app, "portal_link.issued").await;
    assert_eq!(issued[0]["actor"], "tenant-admin:acme");
    assert_eq!(issued[0]["targetId"], chain);

    let cookie = opened(&app.address, &link).await;
    let claims = verify_independently(&app, &cookie).await;
    assert_eq!(claims["tid"], "acme");
    assert_eq!(
        claims["sid"], chain,
        "the session continues the asker's chain"
    );
    assert_eq!(portal_page(&app, &cookie).await.0, 200);

    // Revoking the chain ends the portal session and the links not yet opened.
    let unopened = link_body(ask().await.unwrap()).await["redirectUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .client
        .delete(app.url("/api/v1/tenant/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, body) = portal_page(&app, &cookie).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Your portal session has ended"), "{body}");
    assert_gone(open(&app.address, &unopened).await).await;
    assert_api_error(ask().await.unwrap(), 401).await;
}

async fn callers_and_links_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = tenant_token(&app, "acme").await;
    tenant_token(&app, "globex").await;
    let get = |path: &str, bearer: Option<&str>| {
        let request = app.client.get(app.url(path));
        match bearer {
            Some(bearer) => request.bearer_auth(bearer),
            None => request,
        }
        .send()
    };
    let before = app.audit_events("limit=100").await.len();
    assert_api_error(get("/api/v1/tenants/acme/portal", None).await.unwrap(), 401).await;
    assert_api_error(get("/api/v1/tenant/portal", None).await.unwrap(), 401).await;
    assert_api_error(
        get("/api/v1/tenants/acme/portal", Some("not-a-token"))
            .await
            .unwrap(),
        401,
    )
    .await;
    // A tenant admin asks with its token, for its own tenant only.
    for tenant in ["acme", "globex"] {
        let path = format!("/api/v1/tenants/{tenant}/portal");
        assert_api_error(get(&path, Some(&acme)).await.unwrap(), 403).await;
    }
    assert_api_error(
        app.admin(Method::GET, "/api/v1/tenants/nobody/portal")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_api_error(
        app.admin(Method::GET, "/api/v1/tenants/Not%20An%20Id/portal")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    // The admin key has no tenant of its own.
    assert_api_error(
        app.admin(Method::GET, "/api/v1/tenant/portal")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(
        app.audit_events("limit=100").await.len(),
        before,
        "refused requests record nothing"
    );

    // The portal without a session, or with anything but a portal session.
    let (status, headers, body) = page(&app.address, None).await;
    assert_eq!(status, 401);
    assert_page_headers(&headers);
    assert!(body.contains("Open a portal link"), "{body}");
    // Arriving from another site, the browser withholds the SameSite=Strict cookie:
    // a page reloads /portal from this origin (and, same-origin, it is the 401 again).
    let cross_site = no_redirects()
        .get(app.url("/portal"))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 200);
    assert_page_headers(cross_site.headers());
    let body = cross_site.text().await.unwrap();
    assert!(
        body.contains(r#"<meta http-equiv="refresh" content="0; url=portal">"#),
        "{body}"
    );
    for forged in ["forged", app.admin_key.as_str()] {
        let (status, headers, body) = page(&app.address, Some((COOKIE, forged))).await;
        assert_eq!(status, 401, "{body}");
        let (value, attributes) = set_cookie(&headers, COOKIE).expect("the cookie is removed");
        assert!(value.is_empty() && attributes.to_ascii_lowercase().contains("max-age=0"));
    }
    // Not links: 400; links that never were: 410. Neither sets a cookie.
    for query in ["token=short", "token=a.b.c", "token=x&token=y"] {
        let response = no_redirects()
            .get(app.url(&format!("/portal?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(set_cookie(response.headers(), COOKIE).is_none());
    }
    assert_gone(open(&app.address, &format!("/portal?token={}", "A".repeat(43))).await).await;

    // A link of a tenant deleted before it was opened.
    let link = admin_link(&app, "doomed").await;
    let deleted = app
        .admin(Method::DELETE, "/api/v1/tenants/doomed")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_gone(open(&app.address, &link).await).await;
}

async fn revoking_the_tenants_tokens_ends_sessions_and_unopened_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let cookie = opened(&app.address, &admin_link(&app, "acme").await).await;
    let other = opened(&app.address, &admin_link(&app, "globex").await).await;
    let unopened = admin_link(&app, "acme").await;
    assert_eq!(portal_page(&app, &cookie).await.0, 200);

    let revoked = app
        .admin(Method::DELETE, "/api/v1/tenants/acme/token")
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(portal_page(&app, &cookie).await.0, 401);
    assert_gone(open(&app.address, &unopened).await).await;
    // Another tenant's session is untouched.
    assert_eq!(portal_page(&app, &other).await.0, 200);
}

async fn an_https_issuer_makes_the_cookie_secure(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.issuer = "https://tessera.test".into()).await;
    let link = admin_link(&app, "acme").await;
    assert!(
        link.starts_with("https://tessera.test/portal?token="),
        "{link}"
    );
    let response = open(&app.address, &link).await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie(response.headers(), COOKIE).is_none());
    let (cookie, attributes) =
        set_cookie(response.headers(), "__Host-tessera_portal").expect("a __Host- cookie");
    let attributes = attributes.to_ascii_lowercase();
    assert!(attributes.contains("secure"), "{attributes}");
    assert!(attributes.contains("httponly"), "{attributes}");
    assert!(attributes.contains("samesite=strict"), "{attributes}");
    let (status, _, body) = page(&app.address, Some(("__Host-tessera_portal", &cookie))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Acme Solar"), "{body}");
}
