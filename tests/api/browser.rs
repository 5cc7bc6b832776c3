//! The whole flow in a real browser (issue 10): headless Chromium, driven through
//! WebDriver (`fantoccini`) by a chromedriver this test starts on a free port, opens the
//! authorize URL of a native app (a public client on a loopback redirect URI, any
//! port), signs in, approves, and the test exchanges the code with PKCE. Screenshots of
//! the sign-in and consent pages — wide, narrow, and in dark mode — go to
//! `target/login-screenshots/`. A second test follows a portal link from another
//! site's page (issue 11) and sees the tenant's portal, calls the API from the page
//! with the session (issue 12) and signs out; its screenshots go to
//! `target/portal-screenshots/`.
//!
//! Without chromedriver the test is skipped, unless `CI=true`: there it fails, so CI
//! never passes without having run it (`.ci/run` installs `chromium` and
//! `chromium-driver`).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::login_flow::{param, query_of, set_up, Pkce, STATE, USERNAME};
use crate::token_client::OAuthEndpoints;
use crate::users::PASSWORD;

/// chromedriver, as `CHROMEDRIVER` names it or as found on the `PATH`.
fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver process, ended when dropped.
pub(crate) struct Driver {
    process: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(path: &Path) -> Self {
        let port = free_port();
        let process = tokio::process::Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{url}/status")).send().await.is_ok() {
                return Driver { process, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on port {port}");
    }

    /// A new headless browser; `dark` makes the page see `prefers-color-scheme: dark`.
    pub(crate) async fn browser(&self, dark: bool) -> Client {
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1024,820",
        ];
        if dark {
            args.extend([
                "--force-dark-mode",
                "--blink-settings=preferredColorScheme=0",
            ]);
        }
        let mut options = json!({ "args": args });
        if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| Path::new(path).exists())
        {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({ "goog:chromeOptions": options });
        // chromedriver is on the loopback: plain HTTP, no TLS stack.
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
    }
}

/// Answers every request with a short page, as a native app's loopback listener would.
async fn loopback_app() -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let body = "You are signed in; you can close this window.";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    port
}

fn screenshot_dir(folder: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn save_screenshot(browser: &Client, folder: &str, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshot_dir(folder).join(format!("{name}.png")), png).unwrap();
}

/// Screenshots of the page shown now, into `target/<folder>/`: wide, then narrow (a
/// phone), then wide again.
pub(crate) async fn screenshots_in(browser: &Client, folder: &str, name: &str) {
    save_screenshot(browser, folder, name).await;
    browser.set_window_size(390, 844).await.unwrap();
    save_screenshot(browser, folder, &format!("{name}-narrow")).await;
    browser.set_window_size(1024, 820).await.unwrap();
}

async fn screenshots(browser: &Client, name: &str) {
    screenshots_in(browser, "login-screenshots", name).await;
}

async fn sign_in(browser: &Client) {
    let username = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
    username.send_keys(USERNAME).await.unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Css(r#"button[value="sign-in"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn approve_button(browser: &Client) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(r#"button[value="approve"]"#))
        .await
        .expect("the consent page")
}

/// The native app: a public client whose redirect URI is a loopback IP without a port.
async fn native_app(app: &TestApp) -> String {
    set_up(
        app,
        json!({
            "name": "Acme Desktop",
            "businessName": "Acme Solar Ltd",
            "type": "PUBLIC",
            "redirectUris": ["http://127.0.0.1/callback"],
            "allowedScopes": ["read", "write", "offline_access"],
        }),
    )
    .await
    .client_id
}

/// chromedriver, started; `None` (the test skips) where it is not installed, except
/// under `CI=true`.
pub(crate) async fn driver() -> Option<Driver> {
    let Some(path) = chromedriver() else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("CI=true but chromedriver is missing: .ci/run installs chromium-driver");
        }
        eprintln!(
            "skipped: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    Some(Driver::start(&path).await)
}

#[tokio::test]
async fn a_browser_signs_in_approves_and_the_code_is_exchanged_with_pkce() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let client_id = native_app(&app).await;
    let port = loopback_app().await;
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let pkce = Pkce::new();
    let authorize_url = format!(
        "{}/oauth/authorize?{}",
        app.address,
        crate::token_client::form(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", "read write"),
            ("state", STATE),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
    );

    let browser = driver.browser(false).await;
    browser.goto(&authorize_url).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("Acme Desktop"), "{page}");
    screenshots(&browser, "login").await;
    sign_in(&browser).await;
    let approve = approve_button(&browser).await;
    let consent = browser.source().await.unwrap();
    assert!(
        consent.contains(USERNAME) && consent.contains("acme"),
        "{consent}"
    );
    screenshots(&browser, "consent").await;
    approve.click().await.unwrap();
    let mut landed = browser.current_url().await.unwrap();
    for _ in 0..100 {
        if landed.as_str().starts_with(&redirect_uri) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        landed = browser.current_url().await.unwrap();
    }
    assert!(
        landed.as_str().starts_with(&redirect_uri),
        "the browser went back to the app: {landed}"
    );
    let params = query_of(landed.as_str());
    assert_eq!(param(&params, "state"), Some(STATE));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    let code = param(&params, "code").expect("a code").to_owned();
    browser.close().await.unwrap();

    // The app exchanges the code, proving it holds the verifier.
    let oauth = OAuthEndpoints::of(&app);
    let response = oauth
        .post(
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("client_id", &client_id),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    let status = response.status();
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "read write");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    // The same pages in dark mode (a new browser, the same request).
    let dark = driver.browser(true).await;
    dark.goto(&authorize_url).await.unwrap();
    screenshots(&dark, "login-dark").await;
    sign_in(&dark).await;
    approve_button(&dark).await;
    screenshots(&dark, "consent-dark").await;
    dark.close().await.unwrap();
}

/// Serves `html` to every request, from another site than Tessera's (127.0.0.1, where
/// the issuer is `localhost`): the application a tenant admin follows a link from.
async fn other_site(html: String) -> String {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    format!("http://127.0.0.1:{port}/")
}

pub(crate) async fn portal_link(app: &TestApp) -> String {
    app.admin_json("/api/v1/tenants/acme/portal").await["redirectUrl"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Presses the button of a portal link's page, and waits until the browser has left it.
pub(crate) async fn open_from_its_page(browser: &Client) {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("open-portal"))
        .await
        .expect("the link's page, with its button")
        .click()
        .await
        .unwrap();
    for _ in 0..100 {
        let url = browser.current_url().await.unwrap();
        if url.query().is_none_or(|query| !query.contains("token=")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the portal link's page did not open the portal");
}

/// The text of the element `id`, once it is there.
pub(crate) async fn text_of(browser: &Client, id: &str) -> String {
    let Ok(element) = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id(id))
        .await
    else {
        let url = browser.current_url().await.unwrap();
        let page = browser.source().await.unwrap();
        panic!("no #{id} on the page at {url}: {page}");
    };
    element.text().await.unwrap()
}

#[tokio::test]
async fn a_browser_opens_a_portal_link_and_sees_its_tenant() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    app.put_tenant("acme", json!({"name": "Acme Solar"})).await;
    let portal = format!("{}/portal", app.issuer);

    // Followed from the application's page, on another site, as tenant admins will.
    let link = portal_link(&app).await;
    let site = other_site(format!(
        "<!DOCTYPE html><title>Acme app</title><a id=\"go\" href=\"{link}\">Open the portal</a>"
    ))
    .await;
    let browser = driver.browser(false).await;
    browser.goto(&site).await.unwrap();
    browser
        .find(Locator::Id("go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The link's page: its button opens it (a link fetched spends nothing).
    open_from_its_page(&browser).await;
    assert_eq!(text_of(&browser, "tenant-name").await, "Acme Solar");
    assert_eq!(text_of(&browser, "tenant-id").await, "acme");
    // The page's script adds its route (`#/clients`): the address is `/portal` still.
    let mut landed = browser.current_url().await.unwrap();
    landed.set_fragment(None);
    assert_eq!(landed.as_str(), portal);
    screenshots_in(&browser, "portal-screenshots", "portal").await;
    // From the page, the session reaches the API: the browser sends the cookie, the page
    // the CSRF token its <body> carries; without the token the call is refused.
    let statuses = browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            const csrf = document.body.dataset.csrfToken;
            const status = (headers) => fetch('api/v1/oauth-clients', {headers})
                .then((response) => response.status);
            Promise.all([status({'X-CSRF-Token': csrf}), status({})])
                .then(done, (error) => done(String(error)));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([200, 403]));

    // The same link again: refused, with a page that says so.
    browser.goto(&link).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("This portal link no longer works"), "{page}");
    screenshots_in(&browser, "portal-screenshots", "portal-link-used").await;

    // Signing out: the page's form (built here, whatever the page looks like) posts the
    // CSRF token from this origin; the browser lands on the signed-out page, without the
    // cookie, and the portal asks for a link again.
    browser.goto(&portal).await.unwrap();
    browser
        .execute(
            r#"const form = document.createElement('form');
            form.method = 'post';
            form.action = 'portal/logout';
            const csrf = document.createElement('input');
            csrf.type = 'hidden';
            csrf.name = 'csrf_token';
            csrf.value = document.body.dataset.csrfToken;
            form.append(csrf);
            document.body.append(form);
            form.submit();"#,
            vec![],
        )
        .await
        .unwrap();
    browser
        .wait()
        .for_url(&url::Url::parse(&format!("{portal}/signed-out")).unwrap())
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("You have signed out of the portal"), "{page}");
    browser.goto(&portal).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("Open a portal link"), "{page}");
    browser.close().await.unwrap();

    // A browser without the session, and the portal in dark mode.
    let dark = driver.browser(true).await;
    dark.goto(&portal).await.unwrap();
    let page = dark.source().await.unwrap();
    assert!(page.contains("Open a portal link"), "{page}");
    save_screenshot(&dark, "portal-screenshots", "portal-no-session-dark").await;
    dark.goto(&portal_link(&app).await).await.unwrap();
    open_from_its_page(&dark).await;
    assert_eq!(text_of(&dark, "tenant-name").await, "Acme Solar");
    save_screenshot(&dark, "portal-screenshots", "portal-dark").await;
    dark.close().await.unwrap();
}
