//! The session operations of the token API (issue 11, seeds 001 and 003): token info,
//! verify and logout at `/api/v1/tokens/me`, revoke-all at `/api/v1/tokens/{userId}`,
//! the tenant switch, and seed 003's `/api/v2` paths — on both databases. Users sign in
//! through the login page and the code exchange, as a first-party front end would.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, spawn_app, spawn_app_with, Backend, TestApp};
use crate::login_flow::{add_member, authorize_query, param, set_up, Browser, REDIRECT_URI};
use crate::sessions::claims;
use crate::token_client::{assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    me_describes_the_token_and_head_verifies_it,
    a_token_narrowed_to_another_resource_is_not_for_the_token_api,
    logout_ends_the_session_for_access_and_refresh_tokens,
    revoke_all_ends_every_session_of_the_user,
    a_tenant_admin_revokes_only_in_its_tenant,
    switch_moves_the_session_to_another_tenant_of_the_user,
    switch_to_a_tenant_the_user_is_not_in_is_refused,
    a_switch_racing_refreshes_and_switches_of_its_session_never_fails,
);

/// A signed-in user of `acme` through an internal client, and a client that
/// introspects.
pub struct World {
    pub app: TestApp,
    pub oauth: OAuthEndpoints,
    pub client: Credentials,
    pub introspector: Credentials,
    pub user_id: String,
}

/// Tenant `acme`, its internal client (the code grant and refresh tokens) and `alice`,
/// a member.
pub async fn world(app: TestApp) -> World {
    let setup = set_up(&app, json!({"internal": true})).await;
    let introspector = Credentials::of(&app.create_client("acme", json!({})).await);
    World {
        oauth: OAuthEndpoints::of(&app),
        client: Credentials::new(&setup.client_id, setup.client_secret.as_deref().unwrap()),
        introspector,
        user_id: setup.user_id,
        app,
    }
}

/// A token pair of a new session, as the code grant returns it.
pub struct Pair {
    pub access: String,
    pub refresh: String,
    pub session: String,
}

impl World {
    /// Signs in through `client` (of the app's `alice`), a session of its own.
    pub async fn sign_in_with(&self, client: &Credentials) -> Pair {
        let query = authorize_query(&client.id, &[("redirect_uri", REDIRECT_URI)]);
        let answer = Browser::new(&self.app).code_for(&query).await;
        let code = param(&answer, "code").expect("a code").to_owned();
        let response = self
            .oauth
            .post(
                "/oauth/token",
                Some(&client.basic()),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                ],
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        let access = body["access_token"].as_str().unwrap().to_owned();
        Pair {
            session: claims(&access)["sid"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
            access,
        }
    }

    pub async fn sign_in(&self) -> Pair {
        self.sign_in_with(&self.client.clone()).await
    }

    pub fn bearer(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token)
    }

    pub async fn status(&self, method: Method, path: &str, token: &str) -> u16 {
        self.bearer(method, path, token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// `GET /api/v1/tokens/me{query}` that must succeed.
    pub async fn me(&self, token: &str, query: &str) -> Value {
        let response = self
            .bearer(Method::GET, &format!("/api/v1/tokens/me{query}"), token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    /// Whether `/oauth/token` still rotates `refresh` for `client`.
    pub async fn refreshes(&self, client: &Credentials, refresh: &str) -> bool {
        let response = self
            .oauth
            .post(
                "/oauth/token",
                Some(&client.basic()),
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await;
        match response.status().as_u16() {
            200 => true,
            400 => {
                assert_oauth_error(response, 400, "invalid_grant").await;
                false
            }
            other => panic!("refresh answered {other}"),
        }
    }

    /// Whether `refresh` rotates at the token API (`POST /api/v1/tokens/refresh`), where
    /// the sessions of built-in clients refresh.
    pub async fn refreshes_first_party(&self, refresh: &str) -> bool {
        let response = self
            .app
            .client
            .post(self.app.url("/api/v1/tokens/refresh"))
            .json(&json!({"refreshToken": refresh}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => true,
            401 => false,
            other => panic!("refresh answered {other}"),
        }
    }

    pub async fn is_active(&self, token: &str) -> bool {
        self.oauth.is_active(&self.introspector, token).await
    }

    /// The stored `end_reason` of `session`.
    pub async fn end_reason(&self, session: &str) -> Option<String> {
        self.app
            .store
            .session(session)
            .await
            .unwrap()
            .expect("the session row")
            .end_reason
    }
}

fn instant(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().expect("an instant"))
        .unwrap()
        .with_timezone(&Utc)
}

async fn me_describes_the_token_and_head_verifies_it(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let pair = world.sign_in().await;
    let token = claims(&pair.access);
    for version in ["v1", "v2"] {
        let response = world
            .bearer(
                Method::GET,
                &format!("/api/{version}/tokens/me"),
                &pair.access,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let info: Value = response.json().await.unwrap();
        assert_eq!(info["userId"], world.user_id.as_str());
        assert_eq!(info["username"], "alice");
        assert_eq!(info["tenantId"], "acme");
        assert_eq!(info["clientId"], world.client.id.as_str());
        assert_eq!(info["sessionId"], pair.session.as_str());
        assert_eq!(info["scope"], token["scope"]);
        assert_eq!(
            instant(&info["issuedAt"]).timestamp(),
            token["iat"].as_i64().unwrap()
        );
        assert_eq!(
            instant(&info["expiresAt"]).timestamp(),
            token["exp"].as_i64().unwrap()
        );
        assert!(
            info.get("idleExpiresAt").is_none(),
            "no idle timeout: {info}"
        );

        let head = world
            .bearer(
                Method::HEAD,
                &format!("/api/{version}/tokens/me"),
                &pair.access,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        assert!(head.bytes().await.unwrap().is_empty(), "no body");
    }

    // No token, a wrong one, the admin key, a client's own token: 401.
    let anonymous = world
        .app
        .client
        .get(world.app.url("/api/v1/tokens/me"))
        .send()
        .await
        .unwrap();
    let body = assert_api_error(anonymous, 401).await;
    assert!(body["messages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Authentication is required"));
    let machine = world.oauth.access_token(&world.introspector).await;
    for token in [
        "not-a-token",
        world.app.admin_key.as_str(),
        machine.as_str(),
        &pair.refresh,
    ] {
        let response = world
            .bearer(Method::GET, "/api/v1/tokens/me", token)
            .send()
            .await
            .unwrap();
        assert_api_error(response, 401).await;
        let head = world
            .bearer(Method::HEAD, "/api/v1/tokens/me", token)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 401);
        assert!(head.bytes().await.unwrap().is_empty(), "no body");
    }
    // A tampered token: its signature fails.
    let mut tampered = pair.access.clone();
    tampered.pop();
    tampered.push(if pair.access.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &tampered)
            .await,
        401
    );
    // Other methods: 405.
    let response = world
        .bearer(Method::POST, "/api/v1/tokens/me", &pair.access)
        .send()
        .await
        .unwrap();
    assert_api_error(response, 405).await;

    // A disabled client's user tokens are refused, as introspection refuses them.
    let response = world
        .app
        .admin(
            Method::PATCH,
            &format!("/api/v1/oauth-clients/{}", world.client.id),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
            .await,
        401
    );
}

/// RFC 8707: a token a client narrowed to another resource is that resource's alone.
/// Were the token API to take it, the resource server holding it could end the user's
/// session or switch it to another tenant.
async fn a_token_narrowed_to_another_resource_is_not_for_the_token_api(backend: Backend) {
    const BILLING: &str = "https://billing.test";
    let app = spawn_app_with(backend, |s| s.oauth.resources = vec![BILLING.into()]).await;
    let world = world(app).await;
    let pair = world.sign_in().await;
    let response = world
        .oauth
        .post(
            "/oauth/token",
            Some(&world.client.basic()),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &pair.refresh),
                ("resource", BILLING),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let narrowed = body["access_token"].as_str().unwrap();
    assert_eq!(claims(narrowed)["aud"], BILLING);
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        assert_eq!(
            world.status(method, "/api/v1/tokens/me", narrowed).await,
            401
        );
    }
    let response = switch(&world, narrowed, json!({"tenantId": "acme"})).await;
    assert_api_error(response, 401).await;
    // The session lives on: the refused logout ended nothing.
    let renewed = body["refresh_token"].as_str().unwrap();
    let response = world
        .oauth
        .post(
            "/oauth/token",
            Some(&world.client.basic()),
            &[("grant_type", "refresh_token"), ("refresh_token", renewed)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let default = body["access_token"].as_str().unwrap();
    assert_eq!(
        world.me(default, "").await["userId"],
        world.user_id.as_str()
    );
}

async fn logout_ends_the_session_for_access_and_refresh_tokens(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let (first, second, third) = (
        world.sign_in().await,
        world.sign_in().await,
        world.sign_in().await,
    );
    for (pair, version) in [(&first, "v1"), (&second, "v2")] {
        let path = format!("/api/{version}/tokens/me");
        let response = world
            .bearer(Method::DELETE, &path, &pair.access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        // At once at this process: every check refuses the session's tokens.
        assert_eq!(world.status(Method::GET, &path, &pair.access).await, 401);
        assert_eq!(world.status(Method::HEAD, &path, &pair.access).await, 401);
        assert_eq!(world.status(Method::DELETE, &path, &pair.access).await, 401);
        assert!(!world.is_active(&pair.access).await);
        assert!(!world.is_active(&pair.refresh).await);
        assert!(!world.refreshes(&world.client, &pair.refresh).await);
        assert_eq!(
            world.end_reason(&pair.session).await.as_deref(),
            Some("logout")
        );
    }
    // The other session goes on.
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &third.access)
            .await,
        200
    );
    assert!(world.refreshes(&world.client, &third.refresh).await);
}

async fn revoke_all_ends_every_session_of_the_user(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let (one, two) = (world.sign_in().await, world.sign_in().await);
    let path = |version: &str, id: &str| format!("/api/{version}/tokens/{id}");

    // Unauthenticated, a user's own token: 401; unknown user: 404.
    let response = world
        .app
        .client
        .delete(world.app.url(&path("v1", &world.user_id)))
        .send()
        .await
        .unwrap();
    assert_api_error(response, 401).await;
    let response = world
        .bearer(Method::DELETE, &path("v1", &world.user_id), &one.access)
        .send()
        .await
        .unwrap();
    assert_api_error(response, 401).await;
    let unknown = tessera::users::UserId::generate();
    for version in ["v1", "v2"] {
        let response = world
            .app
            .admin(Method::DELETE, &path(version, unknown.as_str()))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 404).await;
    }
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &one.access)
            .await,
        200,
        "nothing was revoked"
    );

    let response = world
        .app
        .admin(Method::DELETE, &path("v2", &world.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    for pair in [&one, &two] {
        assert_eq!(
            world
                .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
                .await,
            401
        );
        assert!(!world.is_active(&pair.access).await);
        assert!(!world.refreshes(&world.client, &pair.refresh).await);
        assert_eq!(
            world.end_reason(&pair.session).await.as_deref(),
            Some("revoked_all")
        );
    }
    // Nothing left to end: still 204.
    let response = world
        .app
        .admin(Method::DELETE, &path("v1", &world.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let events = world.app.audit_events("").await;
    let revoked: Vec<&Value> = events
        .iter()
        .filter(|event| event["action"] == "user.sessions_revoked")
        .collect();
    assert_eq!(revoked.len(), 2, "{events:?}");
    assert_eq!(revoked[0]["targetId"], world.user_id.as_str());
    // A new sign-in works again.
    let three = world.sign_in().await;
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &three.access)
            .await,
        200
    );
}

/// A second tenant `globex` with an internal client, `alice` a member of it; the
/// client's credentials.
async fn globex(world: &World) -> Credentials {
    let created = world
        .app
        .create_client(
            "globex",
            json!({
                "internal": true,
                "redirectUris": [REDIRECT_URI],
                "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
                "allowedScopes": ["read"],
            }),
        )
        .await;
    add_member(&world.app, "globex", &world.user_id).await;
    Credentials::of(&created)
}

async fn tenant_admin_token(app: &TestApp, tenant: &str) -> String {
    let body = app
        .admin_json(&format!("/api/v1/tenants/{tenant}/token"))
        .await;
    body["token"].as_str().unwrap().to_owned()
}

async fn a_tenant_admin_revokes_only_in_its_tenant(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let globex_client = globex(&world).await;
    let in_acme = world.sign_in().await;
    let in_globex = world.sign_in_with(&globex_client).await;
    world.app.put_tenant("initech", json!({})).await;

    // Another tenant's admin: the user is not its member, so it does not exist there.
    let initech = tenant_admin_token(&world.app, "initech").await;
    let response = world
        .bearer(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", world.user_id),
            &initech,
        )
        .send()
        .await
        .unwrap();
    assert_api_error(response, 404).await;

    let acme = tenant_admin_token(&world.app, "acme").await;
    let response = world
        .bearer(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", world.user_id),
            &acme,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &in_acme.access)
            .await,
        401
    );
    assert!(!world.refreshes(&world.client, &in_acme.refresh).await);
    // The user's session in globex is not acme's admin's to end.
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &in_globex.access)
            .await,
        200
    );
    assert!(world.refreshes(&globex_client, &in_globex.refresh).await);
}

async fn switch(world: &World, token: &str, body: Value) -> reqwest::Response {
    world
        .bearer(Method::POST, "/api/v1/tokens/switch", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn switch_moves_the_session_to_another_tenant_of_the_user(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let globex_client = globex(&world).await;
    let pair = world.sign_in().await;

    let response = switch(&world, &pair.access, json!({"tenantId": "globex"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["tenantId"], "globex");
    assert_eq!(body["sessionId"], pair.session.as_str(), "the same session");
    // Issued through globex's built-in internal client (not the one the admin made).
    assert_eq!(body["expiresIn"], 900);
    let builtin = crate::first_party_tokens::builtin_client(&world.app, "globex").await;
    let access = body["accessToken"].as_str().unwrap().to_owned();
    let refresh = body["refreshToken"].as_str().unwrap().to_owned();
    let new_claims = claims(&access);
    assert_eq!(new_claims["tid"], "globex");
    assert_eq!(new_claims["sid"], pair.session.as_str());
    assert_eq!(new_claims["sub"], world.user_id.as_str());
    assert_eq!(new_claims["client_id"], builtin["id"]);
    assert_eq!(
        new_claims["auth_time"],
        claims(&pair.access)["auth_time"],
        "the same sign-in"
    );
    let info = world.me(&access, "").await;
    assert_eq!(info["tenantId"], "globex");
    assert_eq!(info["sessionId"], pair.session.as_str());

    // The old tenant's access token and the session's former refresh token are dead.
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
            .await,
        401
    );
    assert!(!world.is_active(&pair.access).await);
    assert!(!world.refreshes(&world.client, &pair.refresh).await);
    // ... and presenting it was no reuse: the session goes on with the new pair.
    assert_eq!(world.end_reason(&pair.session).await, None);
    let globex_introspector = Credentials::of(&world.app.create_client("globex", json!({})).await);
    assert!(world.oauth.is_active(&globex_introspector, &access).await);
    assert!(
        !world.refreshes(&globex_client, &refresh).await,
        "not that client's"
    );
    assert!(world.refreshes_first_party(&refresh).await);

    // Switching back: the globex token dies in turn; the first acme token stays dead.
    let response = switch(&world, &access, json!({"tenantId": "acme"})).await;
    assert_eq!(response.status(), 200);
    let back: Value = response.json().await.unwrap();
    let back_access = back["accessToken"].as_str().unwrap();
    assert_eq!(claims(back_access)["tid"], "acme");
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", back_access)
            .await,
        200
    );
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &access)
            .await,
        401
    );
    let pre_switch_second = claims(&pair.access)["iat"].as_i64().unwrap();
    let back_second = claims(back_access)["iat"].as_i64().unwrap();
    if back_second > pre_switch_second {
        assert_eq!(
            world
                .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
                .await,
            401,
            "issued before the switch back"
        );
    }
    // A logout ends the switched session like any other.
    assert_eq!(
        world
            .status(Method::DELETE, "/api/v1/tokens/me", back_access)
            .await,
        200
    );
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", back_access)
            .await,
        401
    );
}

async fn switch_to_a_tenant_the_user_is_not_in_is_refused(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    let pair = world.sign_in().await;
    // A tenant with an internal client, but alice is no member; one that does not exist.
    world
        .app
        .create_client("initech", json!({"internal": true}))
        .await;
    for tenant in ["initech", "nowhere"] {
        let response = switch(&world, &pair.access, json!({"tenantId": tenant})).await;
        let body = assert_api_error(response, 403).await;
        assert!(body.get("accessToken").is_none());
    }
    // A member of a tenant with no internal client of its own: the switch goes through
    // its built-in one, made on first need.
    world
        .app
        .create_client("hooli", json!({"internal": false}))
        .await;
    add_member(&world.app, "hooli", &world.user_id).await;
    let response = switch(&world, &pair.access, json!({"tenantId": "hooli"})).await;
    assert_eq!(response.status(), 200);
    let switched: Value = response.json().await.unwrap();
    let builtin = crate::first_party_tokens::builtin_client(&world.app, "hooli").await;
    assert_eq!(
        claims(switched["accessToken"].as_str().unwrap())["client_id"],
        builtin["id"]
    );
    // With the built-in client disabled: 409, nothing issued.
    let disabled = world
        .app
        .admin(
            Method::PATCH,
            &format!("/api/v1/oauth-clients/{}", builtin["id"].as_str().unwrap()),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(disabled.status().is_success(), "{}", disabled.status());
    let pair = world.sign_in().await;
    let response = switch(&world, &pair.access, json!({"tenantId": "hooli"})).await;
    let body = assert_api_error(response, 409).await;
    assert!(body.get("accessToken").is_none());
    // Bad bodies: 400; no token: 401; the admin key is no user: 401.
    for body in [
        json!({}),
        json!({"tenantId": 5}),
        json!({"tenantId": "a b"}),
    ] {
        let response = switch(&world, &pair.access, body).await;
        assert_api_error(response, 400).await;
    }
    let response = world
        .app
        .client
        .post(world.app.url("/api/v1/tokens/switch"))
        .json(&json!({"tenantId": "acme"}))
        .send()
        .await
        .unwrap();
    assert_api_error(response, 401).await;
    let response = switch(&world, &world.app.admin_key, json!({"tenantId": "acme"})).await;
    assert_api_error(response, 401).await;
    // A third-party (not internal) client's token cannot become a first-party session.
    let outside = world
        .app
        .create_client(
            "acme",
            json!({
                "redirectUris": [REDIRECT_URI],
                "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
            }),
        )
        .await;
    let third_party = world.sign_in_with(&Credentials::of(&outside)).await;
    let response = switch(&world, &third_party.access, json!({"tenantId": "acme"})).await;
    assert_api_error(response, 403).await;
    // The refusals changed nothing: the session and its tokens go on.
    assert_eq!(
        world
            .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
            .await,
        200
    );
    assert!(world.refreshes(&world.client, &pair.refresh).await);
    let session = world
        .app
        .store
        .session(&pair.session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.tenant_id, "acme");
    assert_eq!(session.switched_at, None);
}

async fn a_switch_racing_refreshes_and_switches_of_its_session_never_fails(backend: Backend) {
    let world = world(spawn_app(backend).await).await;
    globex(&world).await;
    let pair = world.sign_in().await;
    let mut handles = Vec::new();
    for turn in 0..12 {
        let oauth = world.oauth.clone();
        let (client, refresh, access) = (
            world.client.clone(),
            pair.refresh.clone(),
            pair.access.clone(),
        );
        let url = world.app.url("/api/v1/tokens/switch");
        let http = world.app.client.clone();
        handles.push(tokio::spawn(async move {
            if turn % 3 == 0 {
                let response = http
                    .post(url)
                    .bearer_auth(&access)
                    .json(&json!({"tenantId": "globex"}))
                    .send()
                    .await
                    .unwrap();
                ("switch", response.status().as_u16())
            } else {
                let response = oauth
                    .post(
                        "/oauth/token",
                        Some(&client.basic()),
                        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    )
                    .await;
                ("refresh", response.status().as_u16())
            }
        }));
    }
    let mut switched = 0;
    for handle in handles {
        let (what, status) = handle.await.unwrap();
        match (what, status) {
            ("switch", 200) => switched += 1,
            ("switch", 401) | ("refresh", 200 | 400) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        switched, 1,
        "one switch wins; the others hold a token it voided"
    );
    let session = world
        .app
        .store
        .session(&pair.session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.tenant_id, "globex");
}
