//! The tenant portal in a real browser (issue 12): headless Chromium, driven through
//! WebDriver as in [`crate::browser`], opens a portal link and does what a tenant admin
//! does there — creates a client (its field errors first), reads its secret once, adds
//! and deletes a named secret, searches and pages the client list, adds a member and
//! changes their roles, ends their sessions, sets the idle timeout and reads the audit
//! log — checking each effect through the admin API. Then the link is used again
//! (refused), the page's session tries another tenant (refused by the API), and it
//! signs out.
//!
//! On each main screen axe-core (from the npm registry, see
//! `scripts/install-test-deps`) runs in light and dark mode: no critical or serious
//! violation. Screenshots of each, light and dark, go to `target/portal-screenshots/`.
//!
//! Without chromedriver or axe-core the test is skipped, unless `CI=true`: there it
//! fails. SQLite only: the API tests cover both databases.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{json, Value};

use crate::browser::{driver, portal_link, save_screenshot, text_of};
use crate::helpers::{client_body, spawn_app, Backend, TestApp};
use crate::token_client::{Credentials, OAuthEndpoints};
use crate::users::create_user;

const SHOTS: &str = "portal-screenshots";
const WAIT: Duration = Duration::from_secs(10);

/// axe-core's browser build, as `scripts/install-test-deps` installs it; `None` (the
/// test skips) where it is missing, except under `CI=true`.
fn axe_script() -> Option<String> {
    let path = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/tessera/npm/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but axe-core is missing at {}: {error}; run scripts/install-test-deps",
                path.display()
            )
        }
        Err(_) => {
            eprintln!("skipped: axe-core is not installed (scripts/install-test-deps)");
            None
        }
    }
}

/// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// Makes the page see `prefers-color-scheme: <scheme>` (`light` or `dark`) at once.
async fn color_scheme(browser: &Client, scheme: &str) {
    let features = json!([{ "name": "prefers-color-scheme", "value": scheme }]);
    browser
        .issue_cmd(Cdp {
            command: "Emulation.setEmulatedMedia",
            params: json!({ "features": features }),
        })
        .await
        .expect("chromedriver emulates the color scheme");
    let dark = browser
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(dark, json!(scheme == "dark"));
}

/// axe-core on the page as it is now: no critical or serious violation.
async fn assert_accessible(browser: &Client, axe: &str, screen: &str) {
    let loaded = browser.execute("return typeof window.axe", vec![]).await;
    if loaded.unwrap() != json!("object") {
        browser.execute(axe, vec![]).await.expect("axe-core loads");
    }
    let violations = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then((results) => done(results.violations
                .filter((v) => v.impact === 'critical' || v.impact === 'serious')
                .map((v) => ({
                  id: v.id,
                  impact: v.impact,
                  help: v.help,
                  nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
                }))))
              .catch((error) => done([{ id: 'axe-error', help: String(error) }]));
            "#,
            vec![],
        )
        .await
        .expect("axe-core runs");
    assert_eq!(violations, json!([]), "{screen}: {violations:#}");
}

/// A main screen checked and photographed in light, then dark mode (then light again).
async fn screen(browser: &Client, axe: &str, name: &str) {
    // The last toast would cover part of the screen: it goes first; the screen is seen
    // from its top.
    browser
        .execute(
            "document.getElementById('toast').classList.remove('shown'); window.scrollTo(0, 0)",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_accessible(browser, axe, name).await;
    save_screenshot(browser, SHOTS, &format!("portal-{name}")).await;
    color_scheme(browser, "dark").await;
    assert_accessible(browser, axe, &format!("{name} (dark)")).await;
    save_screenshot(browser, SHOTS, &format!("portal-{name}-dark")).await;
    color_scheme(browser, "light").await;
}

/// WebDriver's keys (the W3C spec's code points).
const TAB: &str = "\u{E004}";
const ESCAPE: &str = "\u{E00C}";
const SHIFT: &str = "\u{E008}";

/// The focused element's text and its outline style (`solid` when the ring shows).
async fn focused(browser: &Client) -> String {
    let script = "const e = document.activeElement; \
                  return `${e.textContent.trim()} ${getComputedStyle(e).outlineStyle}`";
    browser
        .execute(script, vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The screen on a phone, then back to the desktop size.
async fn narrow_screenshot(browser: &Client, name: &str) {
    browser.set_window_size(390, 844).await.unwrap();
    save_screenshot(browser, SHOTS, &format!("portal-{name}-narrow")).await;
    browser.set_window_size(1280, 900).await.unwrap();
}

async fn find(browser: &Client, css: &str) -> Element {
    match browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(error) => {
            let page = browser.source().await.unwrap_or_default();
            panic!("no {css} on the page ({error}): {page}");
        }
    }
}

/// Waits until the element `css` shows text containing `needle`; returns its text.
async fn wait_text(browser: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed “{needle}”; last: “{last}”");
}

/// Waits until nothing matches `css`.
async fn wait_gone(browser: &Client, css: &str) {
    for _ in 0..100 {
        if browser.find(Locator::Css(css)).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} is still on the page");
}

async fn click(browser: &Client, css: &str) {
    find(browser, css).await.click().await.unwrap();
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let input = find(browser, css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// The view's heading once the view `title` is shown.
async fn view(browser: &Client, title: &str) {
    wait_text(browser, "#view-title", title).await;
    // The busy marker goes when the view is in place.
    wait_gone(browser, "main[aria-busy]").await;
}

/// Confirms the open dialog, checking that it names `what`.
async fn confirm(browser: &Client, what: &str) {
    let title = wait_text(browser, "dialog#confirm[open] #confirm-title", what).await;
    assert!(title.contains(what), "{title}");
    click(browser, "#confirm-ok").await;
    wait_gone(browser, "dialog#confirm[open]").await;
}

/// `fetch` from the page with its CSRF token (or without), as its script would: the
/// status and the body's text.
async fn fetch_from_page(browser: &Client, path: &str, with_csrf: bool) -> (u16, String) {
    let answer = browser
        .execute_async(
            r#"
            const [path, withCsrf, done] = arguments;
            const headers = withCsrf ? { 'X-CSRF-Token': document.body.dataset.csrfToken } : {};
            fetch(path, { credentials: 'same-origin', headers })
              .then(async (response) => done([response.status, await response.text()]))
              .catch((error) => done([0, String(error)]));
            "#,
            vec![json!(path), json!(with_csrf)],
        )
        .await
        .unwrap();
    (
        answer[0].as_u64().unwrap() as u16,
        answer[1].as_str().unwrap().to_owned(),
    )
}

/// Collects, in `window.portalTestProblems`, the page's script errors and what its CSP
/// refuses from now on (the page is one document: this lasts until a reload).
async fn watch_for_problems(browser: &Client) {
    browser
        .execute(
            r#"
            window.portalTestProblems = [];
            window.addEventListener('error', (e) => portalTestProblems.push(`error: ${e.message}`));
            window.addEventListener('unhandledrejection', (e) => portalTestProblems.push(`rejection: ${e.reason}`));
            document.addEventListener('securitypolicyviolation',
              (e) => portalTestProblems.push(`CSP: ${e.violatedDirective} ${e.blockedURI}`));
            "#,
            vec![],
        )
        .await
        .unwrap();
}

/// Nothing went wrong since [`watch_for_problems`]: no script error, nothing the CSP
/// refused.
async fn assert_no_problems(browser: &Client) {
    let problems = browser
        .execute("return window.portalTestProblems", vec![])
        .await
        .unwrap();
    assert_eq!(problems, json!([]), "{problems:#}");
}

async fn acme_clients(app: &TestApp) -> Vec<Value> {
    app.admin_json("/api/v1/oauth-clients?tenantId=acme&limit=200")
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// A client of acme from seed 002's example with `overrides` laid over, made through
/// the admin API (the tenant is left as it is).
async fn acme_client(app: &TestApp, overrides: Value) {
    let mut body = client_body("acme");
    for (key, value) in overrides.as_object().unwrap() {
        body[key] = value.clone();
    }
    assert_eq!(app.post_client(&body).await.status(), 200);
}

/// The client id in the page's address (`#/clients/{id}`).
async fn client_id_in_address(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    let fragment = url.fragment().unwrap_or_default();
    fragment
        .strip_prefix("/clients/")
        .unwrap_or_else(|| panic!("not a client's page: {url}"))
        .to_owned()
}

async fn secret_shown(browser: &Client) -> String {
    let input = find(browser, "#secret-reveal #new-secret").await;
    let secret = input.prop("value").await.unwrap().unwrap_or_default();
    assert!(secret.len() >= 32, "a whole secret: {secret}");
    let warning = find(browser, "#secret-reveal .reveal-warning").await;
    let warning = warning.text().await.unwrap();
    assert!(warning.contains("will not be shown again"), "{warning}");
    secret
}

#[tokio::test]
async fn a_tenant_admin_manages_the_tenant_in_the_portal() {
    let Some(driver) = driver().await else {
        return;
    };
    let Some(axe) = axe_script() else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    app.put_tenant("acme", json!({"name": "Acme Solar"})).await;
    let other = app
        .create_client("globex", json!({"name": "Globex Billing"}))
        .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    create_user(
        &app,
        "dana",
        json!({"displayName": "Dana Whitfield", "email": "dana@acme.test"}),
    )
    .await;
    let oauth = OAuthEndpoints::of(&app);

    let link = portal_link(&app).await;
    let browser = driver.browser(false).await;
    browser.set_window_size(1280, 900).await.unwrap();
    browser.goto(&link).await.unwrap();
    // The link's own page first: fetching the link spends nothing, its button opens it.
    wait_text(&browser, "h1", "Open the tenant portal").await;
    save_screenshot(&browser, SHOTS, "portal-open-link").await;
    crate::browser::open_from_its_page(&browser).await;
    assert_eq!(text_of(&browser, "tenant-name").await, "Acme Solar");
    view(&browser, "OAuth clients").await;
    watch_for_problems(&browser).await;
    wait_text(&browser, ".empty", "No OAuth clients yet").await;
    save_screenshot(&browser, SHOTS, "portal-clients-empty").await;

    // The keyboard: a view's heading takes the focus, so Tab goes on into the view and
    // Shift+Tab back to the section tabs, each with a focus ring that shows.
    let page_body = find(&browser, "body").await;
    page_body.send_keys(TAB).await.unwrap();
    assert_eq!(focused(&browser).await, "New client solid");
    page_body.send_keys(&format!("{SHIFT}{TAB}")).await.unwrap();
    assert_eq!(focused(&browser).await, "Audit log solid");

    // A creation with the required fields left empty: each error next to its field,
    // nothing stored.
    click(&browser, ".view-actions a[href='#/clients/new']").await;
    view(&browser, "New OAuth client").await;
    click(&browser, "#client-save").await;
    wait_text(&browser, "[data-field='name'] .field-error", "not be blank").await;
    wait_text(
        &browser,
        "[data-field='description'] .field-error",
        "not be blank",
    )
    .await;
    wait_text(
        &browser,
        "[data-field='redirectUris'] .field-error",
        "AUTHORIZATION_CODE",
    )
    .await;
    assert!(acme_clients(&app).await.is_empty());
    screen(&browser, &axe, "client-form-errors").await;

    // Created for real: the first secret is shown once, and it works.
    fill(&browser, "#client-name", "Acme Billing").await;
    fill(&browser, "#client-description", "Invoices and payments").await;
    fill(
        &browser,
        "#client-redirectUris",
        "https://billing.acme.test/callback",
    )
    .await;
    fill(&browser, "#client-allowedScopes", "read write").await;
    click(
        &browser,
        "input[name='grantTypes'][value='CLIENT_CREDENTIALS']",
    )
    .await;
    click(&browser, "#client-save").await;
    view(&browser, "Acme Billing").await;
    let client_id = client_id_in_address(&browser).await;
    let first_secret = secret_shown(&browser).await;
    let stored = app
        .admin_json(&format!("/api/v1/oauth-clients/{client_id}"))
        .await;
    assert_eq!(stored["tenantId"], "acme");
    assert_eq!(
        stored["redirectUris"],
        json!(["https://billing.acme.test/callback"])
    );
    assert_eq!(stored["allowedScopes"], json!(["read", "write"]));
    let first = Credentials::new(&client_id, &first_secret);
    oauth.access_token(&first).await;
    // The server writes last uses every few seconds; now, so the page shows this one.
    app.clients.flush_uses().await.unwrap();

    // A named secret with an expiration: shown once, with a copy button; it works.
    fill(&browser, "#secret-name", "production server").await;
    browser
        .execute(
            "document.getElementById('secret-expiration').value = arguments[0]",
            vec![json!("2031-06-30T12:00")],
        )
        .await
        .unwrap();
    click(&browser, "#secret-add").await;
    wait_text(&browser, "#secret-reveal h2", "production server").await;
    let named_secret = secret_shown(&browser).await;
    assert_ne!(named_secret, first_secret);
    find(&browser, "#secret-reveal .copy-row button").await;
    wait_text(&browser, "#secrets-table", "production server").await;
    let named = Credentials::new(&client_id, &named_secret);
    oauth.access_token(&named).await;
    app.clients.flush_uses().await.unwrap();
    screen(&browser, &axe, "client-secret-shown").await;

    // Read once: after a reload only masked secrets, with expiration and last use.
    assert_no_problems(&browser).await;
    browser.refresh().await.unwrap();
    view(&browser, "Acme Billing").await;
    watch_for_problems(&browser).await;
    let table = wait_text(&browser, "#secrets-table", "production server").await;
    assert!(table.contains("2031"), "the expiration: {table}");
    let never_used = browser
        .find_all(Locator::Css(
            "#secrets-table td[data-label='Last used'] .muted",
        ))
        .await
        .unwrap();
    assert!(never_used.is_empty(), "both secrets were used: {table}");
    let page = browser.source().await.unwrap();
    assert!(!page.contains(&first_secret) && !page.contains(&named_secret));
    assert!(browser.find(Locator::Id("secret-reveal")).await.is_err());
    screen(&browser, &axe, "client-secrets").await;
    narrow_screenshot(&browser, "client-secrets").await;

    // Deleted, after a confirmation naming it: it no longer authenticates.
    let row = find(&browser, "#secrets-table tbody tr:last-child").await;
    assert!(row.text().await.unwrap().contains("production server"));
    row.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Escape cancels: nothing is deleted.
    wait_text(
        &browser,
        "dialog#confirm[open] #confirm-title",
        "production server",
    )
    .await;
    find(&browser, "#confirm-cancel")
        .await
        .send_keys(ESCAPE)
        .await
        .unwrap();
    wait_gone(&browser, "dialog#confirm[open]").await;
    let secrets = app
        .admin_json(&format!("/api/v1/tenants/clients/{client_id}"))
        .await;
    assert_eq!(secrets["secrets"].as_array().unwrap().len(), 2, "{secrets}");
    row.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    confirm(&browser, "production server").await;
    let mut remaining = String::new();
    for _ in 0..100 {
        remaining = find(&browser, "#secrets .secrets-list")
            .await
            .text()
            .await
            .unwrap();
        if !remaining.contains("production server") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!remaining.contains("production server"), "{remaining}");
    let secrets = app
        .admin_json(&format!("/api/v1/tenants/clients/{client_id}"))
        .await;
    assert_eq!(secrets["secrets"].as_array().unwrap().len(), 1, "{secrets}");
    assert_eq!(oauth.token(&named, &[]).await.status(), 401);

    // Disabled and enabled again; edited.
    click(&browser, "#client-toggle").await;
    wait_text(&browser, ".badges", "Disabled").await;
    let stored = app
        .admin_json(&format!("/api/v1/oauth-clients/{client_id}"))
        .await;
    assert_eq!(stored["enabled"], false);
    click(&browser, "#client-toggle").await;
    wait_text(&browser, ".badges", "Enabled").await;
    click(&browser, ".view-actions a[href$='/edit']").await;
    view(&browser, "Edit Acme Billing").await;
    fill(
        &browser,
        "#client-description",
        "Invoices, payments and refunds",
    )
    .await;
    click(&browser, "#client-save").await;
    view(&browser, "Acme Billing").await;
    wait_text(&browser, ".view-header .lead", "refunds").await;
    let stored = app
        .admin_json(&format!("/api/v1/oauth-clients/{client_id}"))
        .await;
    assert_eq!(stored["description"], "Invoices, payments and refunds");
    assert_eq!(stored["enabled"], true);

    // The list, searched.
    for (name, description, kind) in [
        ("Acme Mobile", "The iOS and Android app", "PUBLIC"),
        (
            "Acme Reporting",
            "Nightly exports to the warehouse",
            "CONFIDENTIAL",
        ),
    ] {
        acme_client(
            &app,
            json!({"name": name, "description": description, "type": kind,
                   "grantTypes": ["AUTHORIZATION_CODE"], "enabled": kind == "PUBLIC"}),
        )
        .await;
    }
    click(&browser, "nav.tabs a[data-section='clients']").await;
    view(&browser, "OAuth clients").await;
    wait_text(&browser, "#clients-table", "Acme Reporting").await;
    screen(&browser, &axe, "clients").await;
    narrow_screenshot(&browser, "clients").await;
    fill(&browser, "#client-search", "MOBILE").await;
    click(&browser, "form.search button[type='submit']").await;
    wait_gone(&browser, "form.search button[aria-busy]").await;
    let table = wait_text(&browser, "#clients-table", "Acme Mobile").await;
    assert!(!table.contains("Acme Billing"), "{table}");
    fill(&browser, "#client-search", "nothing like it").await;
    click(&browser, "form.search button[type='submit']").await;
    wait_text(&browser, ".results .empty", "No client matches").await;

    // Paged: 20 to a page.
    for n in 0..20 {
        acme_client(&app, json!({"name": format!("Batch client {n:02}")})).await;
    }
    let total = acme_clients(&app).await.len();
    assert!((21..=40).contains(&total), "{total}");
    assert_no_problems(&browser).await;
    browser.refresh().await.unwrap();
    view(&browser, "OAuth clients").await;
    watch_for_problems(&browser).await;
    wait_text(&browser, ".pager", "Showing 1–20").await;
    click(&browser, ".pager button:last-child").await;
    wait_text(&browser, ".pager", &format!("Showing 21–{total}")).await;
    click(&browser, ".pager button:first-child").await;
    wait_text(&browser, ".pager", "Showing 1–20").await;

    // Deleted after a confirmation naming it.
    fill(&browser, "#client-search", "Reporting").await;
    click(&browser, "form.search button[type='submit']").await;
    wait_text(&browser, "#clients-table", "Acme Reporting").await;
    click(&browser, "#clients-table a.strong").await;
    view(&browser, "Acme Reporting").await;
    click(&browser, "#client-delete").await;
    confirm(&browser, "Acme Reporting").await;
    view(&browser, "OAuth clients").await;
    assert!(!acme_clients(&app)
        .await
        .iter()
        .any(|client| client["name"] == "Acme Reporting"));

    // Members: an unknown username is refused next to the field; dana is added as an
    // admin (the username in any case), then made a member only.
    click(&browser, "nav.tabs a[data-section='members']").await;
    view(&browser, "Members").await;
    wait_text(&browser, ".results .empty", "no members yet").await;
    fill(&browser, "#member-username", "nobody-here").await;
    click(&browser, "#member-add").await;
    wait_text(
        &browser,
        "[data-field='username'] .field-error",
        "nobody-here",
    )
    .await;
    fill(&browser, "#member-username", "DANA").await;
    click(&browser, "#member-form input[name='roles'][value='admin']").await;
    click(&browser, "#member-add").await;
    let table = wait_text(&browser, "#members-table", "dana").await;
    assert!(
        table.contains("Dana Whitfield") && table.contains("Admin"),
        "{table}"
    );
    let members = app.admin_json("/api/v1/tenants/acme/members").await;
    assert_eq!(members["items"][0]["roles"], json!(["member", "admin"]));
    let dana_id = members["items"][0]["userId"].as_str().unwrap().to_owned();
    screen(&browser, &axe, "members").await;
    narrow_screenshot(&browser, "members").await;

    click(
        &browser,
        "#members-table button[aria-label^='Change roles']",
    )
    .await;
    click(&browser, ".roles-form input[value='admin']").await;
    click(&browser, ".roles-form button[type='submit']").await;
    wait_gone(&browser, ".roles-form").await;
    let members = app.admin_json("/api/v1/tenants/acme/members").await;
    assert_eq!(members["items"][0]["roles"], json!(["member"]));

    click(
        &browser,
        "#members-table button[aria-label^='End sessions']",
    )
    .await;
    confirm(&browser, "dana").await;
    wait_text(&browser, "#toast", "were ended").await;
    let revoked = app.audit_events("limit=100").await;
    assert!(
        revoked
            .iter()
            .any(|event| event["action"] == "user.sessions_revoked"
                && event["targetId"] == dana_id.as_str()),
        "{revoked:?}"
    );

    // Removed, after a confirmation naming them: the list is empty again.
    click(&browser, "#members-table button[aria-label^='Remove']").await;
    confirm(&browser, "dana").await;
    wait_text(&browser, ".results .empty", "no members yet").await;
    let members = app.admin_json("/api/v1/tenants/acme/members").await;
    assert_eq!(members["items"], json!([]));

    // The idle timeout: out of bounds is refused next to the field; then set.
    click(&browser, "nav.tabs a[data-section='settings']").await;
    view(&browser, "Session settings").await;
    let enabled = find(&browser, "#idle-enabled").await;
    if enabled.prop("checked").await.unwrap().as_deref() != Some("true") {
        enabled.click().await.unwrap();
    }
    fill(&browser, "#idle-seconds", "5").await;
    click(&browser, "#idle-save").await;
    wait_text(
        &browser,
        "[data-field='idleTokenTimeoutSeconds'] .field-error",
        "between",
    )
    .await;
    fill(&browser, "#idle-seconds", "1800").await;
    click(&browser, "#idle-save").await;
    wait_text(&browser, "#idle-current", "30 minutes").await;
    let timeout = app.admin_json("/api/v1/tokens/timeout?tenantId=acme").await;
    assert_eq!(
        timeout,
        json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 1800})
    );
    screen(&browser, &axe, "settings").await;

    // The audit log, and one kind of event.
    click(&browser, "nav.tabs a[data-section='audit']").await;
    view(&browser, "Audit log").await;
    let log = wait_text(&browser, "#audit-table", "OAuth client created").await;
    assert!(log.contains("Idle timeout changed"), "{log}");
    assert!(log.contains("Member added"), "{log}");
    screen(&browser, &axe, "audit").await;
    find(&browser, "#audit-action")
        .await
        .select_by_value("oauth_client.secret_added")
        .await
        .unwrap();
    click(&browser, "#audit-apply").await;
    wait_gone(&browser, "#audit-apply[aria-busy]").await;
    let rows = browser
        .find_all(Locator::Css("#audit-table tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let text = row.text().await.unwrap();
        assert!(text.contains("Client secret added"), "{text}");
    }
    // From a time to come: nothing yet, and the page says so.
    browser
        .execute(
            "document.getElementById('audit-since').value = arguments[0]",
            vec![json!("2099-01-01T00:00")],
        )
        .await
        .unwrap();
    click(&browser, "#audit-apply").await;
    wait_text(&browser, ".results .empty", "No events match these filters").await;

    assert_no_problems(&browser).await;

    // The page's session reaches its own tenant only, and only with its CSRF token.
    let (status, body) = fetch_from_page(&browser, "api/v1/oauth-clients?limit=1", true).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        fetch_from_page(&browser, &format!("api/v1/oauth-clients/{other_id}"), true).await;
    assert!(matches!(status, 403 | 404), "{status} {body}");
    assert!(!body.contains("Globex Billing"), "{body}");
    let (status, body) = fetch_from_page(&browser, "api/v1/tenants/globex/members", true).await;
    assert!(matches!(status, 403 | 404), "{status} {body}");
    let (status, _) = fetch_from_page(&browser, "api/v1/oauth-clients?limit=1", false).await;
    assert!(
        matches!(status, 401 | 403),
        "without the CSRF token: {status}"
    );

    // The same link a second time: refused, with a page that says so.
    let reused = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&link)
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 410);
    browser.goto(&link).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("This portal link no longer works"), "{page}");

    // Signing out ends the session.
    browser
        .goto(&format!("{}/portal", app.issuer))
        .await
        .unwrap();
    view(&browser, "OAuth clients").await;
    click(&browser, "#logout").await;
    wait_text(&browser, "body", "You have signed out of the portal").await;
    save_screenshot(&browser, SHOTS, "portal-signed-out").await;
    browser
        .goto(&format!("{}/portal", app.issuer))
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("Open a portal link"), "{page}");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_page_says_so_when_its_session_has_ended() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    app.put_tenant("acme", json!({"name": "Acme Solar"})).await;
    let browser = driver.browser(false).await;
    browser.set_window_size(1280, 900).await.unwrap();
    browser.goto(&portal_link(&app).await).await.unwrap();
    crate::browser::open_from_its_page(&browser).await;
    view(&browser, "OAuth clients").await;
    watch_for_problems(&browser).await;

    // The application revokes the tenant's admin tokens, the portal session with them:
    // the page's next call is refused, and the page says what happened and what to do.
    let revoked = app
        .admin(Method::DELETE, "/api/v1/tenants/acme/token")
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let mut banner = String::new();
    for section in ["members", "settings", "audit", "clients"]
        .iter()
        .cycle()
        .take(20)
    {
        click(&browser, &format!("nav.tabs a[data-section='{section}']")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        banner = find(&browser, "#banner").await.text().await.unwrap();
        if !banner.is_empty() {
            break;
        }
    }
    assert!(banner.contains("Your portal session has ended"), "{banner}");
    assert!(banner.contains("Open a new portal link"), "{banner}");
    let main = find(&browser, "#main").await.text().await.unwrap();
    assert!(main.contains("This session is over"), "{main}");
    assert_no_problems(&browser).await;
    save_screenshot(&browser, SHOTS, "portal-session-ended").await;
    browser.close().await.unwrap();
}
