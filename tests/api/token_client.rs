//! A small OAuth client for the tests of `/oauth/*`: form bodies, `client_secret_basic`
//! and `client_secret_post`, and the checks every response of those endpoints must pass.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::TestApp;

/// A client id and one of its secrets.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

impl Credentials {
    pub fn new(id: &str, secret: &str) -> Self {
        Credentials {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// The id and the secret shown once in a client creation response.
    pub fn of(created: &Value) -> Self {
        Self::new(
            created["id"].as_str().expect("client id"),
            created["secret"].as_str().expect("client secret"),
        )
    }

    /// `Authorization: Basic` as RFC 6749 §2.3.1 and Appendix B say: id and secret
    /// form-urlencoded, joined by `:`, base64.
    pub fn basic(&self) -> String {
        let encode = |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect();
        let (id, secret): (String, String) = (encode(&self.id), encode(&self.secret));
        basic_raw(&format!("{id}:{secret}"))
    }

    /// `client_id` and `client_secret` as form parameters (`client_secret_post`).
    pub fn post(&self) -> [(&str, &str); 2] {
        [("client_id", &self.id), ("client_secret", &self.secret)]
    }
}

/// `Basic` and the base64 of `text`, with no encoding of its parts.
pub fn basic_raw(text: &str) -> String {
    format!("Basic {}", STANDARD.encode(text))
}

pub fn form(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// One Tessera server, in this process or a child process, seen from its OAuth side.
#[derive(Clone)]
pub struct OAuthEndpoints {
    pub http: reqwest::Client,
    pub base: String,
}

impl OAuthEndpoints {
    pub fn at(base: &str) -> Self {
        OAuthEndpoints {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    pub fn of(app: &TestApp) -> Self {
        OAuthEndpoints {
            http: app.client.clone(),
            base: app.address.clone(),
        }
    }

    /// The same endpoints called from `source` (a loopback address such as
    /// 127.0.0.2), to act as another caller.
    pub fn called_from(&self, source: std::net::IpAddr) -> Self {
        OAuthEndpoints {
            http: reqwest::Client::builder()
                .local_address(source)
                .build()
                .expect("an HTTP client"),
            base: self.base.clone(),
        }
    }

    /// POSTs `params` as `application/x-www-form-urlencoded` to `path`.
    pub async fn post(
        &self,
        path: &str,
        authorization: Option<&str>,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(params));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send().await.expect("request")
    }

    /// A `client_credentials` request authenticated with `client_secret_basic`.
    pub async fn token(&self, client: &Credentials, params: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("grant_type", "client_credentials")];
        all.extend_from_slice(params);
        self.post("/oauth/token", Some(&client.basic()), &all).await
    }

    /// The token response of a request that must succeed.
    pub async fn token_response(&self, client: &Credentials, params: &[(&str, &str)]) -> Value {
        let response = self.token(client, params).await;
        let status = response.status();
        assert_no_store(response.headers());
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(status, 200, "token request refused: {body}");
        body
    }

    pub async fn access_token(&self, client: &Credentials) -> String {
        self.token_response(client, &[]).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// `POST /oauth/introspect` by `caller`; the answer of a request that must succeed.
    pub async fn introspect(&self, caller: &Credentials, token: &str) -> Value {
        let response = self
            .post(
                "/oauth/introspect",
                Some(&caller.basic()),
                &[("token", token)],
            )
            .await;
        assert_eq!(response.status(), 200, "introspection refused");
        assert_no_store(response.headers());
        response.json().await.expect("JSON body")
    }

    pub async fn is_active(&self, caller: &Credentials, token: &str) -> bool {
        let answer = self.introspect(caller, token).await;
        match answer["active"].as_bool() {
            Some(true) => true,
            Some(false) => {
                assert_eq!(answer, serde_json::json!({"active": false}), "nothing more");
                false
            }
            None => panic!("no `active` in {answer}"),
        }
    }

    /// `POST /oauth/revoke` by `caller`, which must answer 200 with an empty body.
    pub async fn revoke(&self, caller: &Credentials, params: &[(&str, &str)]) {
        let response = self
            .post("/oauth/revoke", Some(&caller.basic()), params)
            .await;
        assert_eq!(response.status(), 200, "revocation refused");
        assert_no_store(response.headers());
        assert!(response.bytes().await.unwrap().is_empty());
    }
}

/// RFC 6749 §5.1: token responses (and here every response of the OAuth endpoints)
/// must not be cached.
pub fn assert_no_store(headers: &HeaderMap) {
    assert_eq!(
        headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    assert_eq!(
        headers.get("pragma").map(|v| v.to_str().unwrap()),
        Some("no-cache")
    );
}

/// Checks an RFC 6749 §5.2 error: the status, exactly `{"error", "error_description"}`
/// with the given code, JSON, not cached. Returns the headers and the body.
pub async fn assert_oauth_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
) -> (HeaderMap, Value) {
    let headers = response.headers().clone();
    let actual = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let fields: Vec<&String> = body.as_object().expect("an object").keys().collect();
    assert_eq!(fields, ["error", "error_description"], "{body}");
    // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E only.
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|text| !text.is_empty() && text.chars().all(allowed)),
        "error_description with characters RFC 6749 forbids: {body}"
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_no_store(&headers);
    (headers, body)
}

/// `invalid_client` (401) with `WWW-Authenticate: Basic realm="tessera"`: RFC 6749 §5.2
/// requires it when the client tried HTTP Basic, and Tessera sends it on every 401,
/// whichever way (`_used_basic`) the client tried.
pub async fn assert_invalid_client(response: reqwest::Response, _used_basic: bool) -> Value {
    let (headers, body) = assert_oauth_error(response, 401, "invalid_client").await;
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(challenge.as_deref(), Some(r#"Basic realm="tessera""#));
    body
}
