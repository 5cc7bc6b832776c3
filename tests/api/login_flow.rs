//! The login page driven with plain HTTP, as a browser without script would: a client,
//! a user who is a member of its tenant, the authorize URL, the page's cookie and CSRF
//! token carried by hand, and PKCE values.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::token_client::form;
use crate::users::{create_user, PASSWORD};

pub const REDIRECT_URI: &str = "https://app.example.com/callback";
pub const USERNAME: &str = "alice";
pub const STATE: &str = "xyz 1/2&3";
pub const REFUSED: &str =
    "The username or password is not valid, or this account cannot sign in to this tenant.";

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = format!("{}{}", tessera::ids::random_id(), tessera::ids::random_id());
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Pkce {
            verifier,
            challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
        }
    }
}

/// A client, a tenant and a member of it.
pub struct Setup {
    pub client_id: String,
    /// `None` for a public client.
    pub client_secret: Option<String>,
    pub user_id: String,
}

/// Tenant `acme`; a client in it with `client` laid over the defaults (the code grant,
/// [`REDIRECT_URI`], scopes `read write`); the user [`USERNAME`], member of `acme`,
/// whose default tenant it is.
pub async fn set_up(app: &TestApp, client: Value) -> Setup {
    let mut overrides = json!({
        "redirectUris": [REDIRECT_URI],
        "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
        "allowedScopes": ["read", "write"],
        "name": "Acme Dashboard",
    });
    for (key, value) in client.as_object().expect("an object") {
        overrides[key] = value.clone();
    }
    let created = app.create_client("acme", overrides).await;
    let user = create_user(app, USERNAME, json!({"defaultTenantId": "acme"})).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    add_member(app, "acme", &user_id).await;
    Setup {
        client_id: created["id"].as_str().unwrap().to_owned(),
        client_secret: created["secret"].as_str().map(str::to_owned),
        user_id,
    }
}

pub async fn add_member(app: &TestApp, tenant: &str, user_id: &str) {
    let response = app
        .admin(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{tenant}/members/{user_id}"),
        )
        .json(&json!({"roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "membership");
}

/// The query of an authorization request: `response_type=code`, the client, state
/// [`STATE`], and `params` (which may repeat none of those).
pub fn authorize_query(client_id: &str, params: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("state", STATE),
    ];
    all.extend_from_slice(params);
    form(&all)
}

/// One browser: the login-session cookie it holds, never following redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .expect("a Location")
            .to_str()
            .unwrap()
    }

    /// The value of the page's CSRF field.
    pub fn csrf_token(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        self.body[start..end].to_owned()
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get("set-cookie")
            .map(|value| value.to_str().unwrap().to_owned())
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self::from_address(app, IpAddr::from([127, 0, 0, 1]))
    }

    /// A browser whose requests come from `source`.
    pub fn from_address(app: &TestApp, source: IpAddr) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(source)
                .build()
                .unwrap(),
            base: app.address.clone(),
            cookie: None,
        }
    }

    async fn answer(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("tessera_login={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("request");
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        if let Some(set) = answer.set_cookie() {
            let value = set
                .strip_prefix("tessera_login=")
                .expect("the login cookie")
                .split(';')
                .next()
                .unwrap();
            self.cookie =
                (!value.is_empty() && !set.contains("Max-Age=0")).then(|| value.to_owned());
        }
        answer
    }

    /// `GET /oauth/authorize?{query}`.
    pub async fn open(&mut self, query: &str) -> Answer {
        let request = self
            .http
            .get(format!("{}/oauth/authorize?{query}", self.base));
        self.answer(request).await
    }

    /// A POST of the page's form for `query`.
    pub async fn post(&mut self, query: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(format!("{}/oauth/authorize?{query}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields));
        self.answer(request).await
    }

    /// Opens the page and signs in; the answer to the sign-in (a 303, or a 429 page).
    pub async fn sign_in(&mut self, query: &str, username: &str, password: &str) -> Answer {
        let page = self.open(query).await;
        assert_eq!(page.status, 200, "the sign-in page: {}", page.body);
        let csrf = page.csrf_token();
        self.post(
            query,
            &[
                ("action", "sign-in"),
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in as [`USERNAME`] and approves; the redirect's query parameters.
    pub async fn code_for(&mut self, query: &str) -> Vec<(String, String)> {
        let signed_in = self.sign_in(query, USERNAME, PASSWORD).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let consent = self.open(query).await;
        assert_eq!(consent.status, 200);
        assert!(consent.body.contains("Approve"), "{}", consent.body);
        let approved = self
            .post(
                query,
                &[("action", "approve"), ("csrf_token", &consent.csrf_token())],
            )
            .await;
        assert_eq!(approved.status, 303, "{}", approved.body);
        query_of(approved.location())
    }
}

/// The query parameters of a URL.
pub fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).expect("an absolute URL");
    url.query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}
