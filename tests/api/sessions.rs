//! Sessions started through the library (`tessera::sessions::start`, what the code
//! exchange calls), their access tokens (RFC 9068, `sub` = the user, `sid`,
//! `auth_time`), and `tessera::sessions::end`: on both databases.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tessera::clients::Client;
use tessera::clients::ScopeToken;
use tessera::sessions::{self, EndReason, Ending, SessionId, StartSession, StartedSession};
use tessera::tenants::TenantId;
use tessera::tokens::access::{issue_for_user, Issue, UserSession};
use tessera::users::UserId;

use crate::helpers::{eventually, spawn_app, Backend, TestApp};
use crate::token_client::{Credentials, OAuthEndpoints};
use crate::users::create_user;

crate::on_both_backends!(
    a_session_gets_a_user_token_and_an_offline_client_a_refresh_token,
    only_offline_clients_with_the_refresh_grant_get_refresh_tokens,
    ended_sessions_refuse_their_access_tokens,
    overlapping_activity_flushes_never_deadlock,
);

/// A client of `acme` for users, the credentials of another client that introspects,
/// and a user who is a member of `acme`.
pub struct SignedIn {
    pub app: TestApp,
    pub oauth: OAuthEndpoints,
    pub client: Credentials,
    pub introspector: Credentials,
    pub user: UserId,
    pub tenant: TenantId,
}

pub async fn signed_in(app: TestApp, client_overrides: Value) -> SignedIn {
    let client = Credentials::of(&app.create_client("acme", client_overrides).await);
    let introspector = Credentials::of(&app.create_client("acme", json!({})).await);
    let user = create_user(&app, "alice", json!({"defaultTenantId": "acme"})).await;
    let user = UserId::parse(user["id"].as_str().unwrap()).unwrap();
    let response = app
        .admin(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/acme/members/{user}"),
        )
        .json(&json!({"roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    SignedIn {
        oauth: OAuthEndpoints::of(&app),
        app,
        client,
        introspector,
        user,
        tenant: TenantId::parse("acme").unwrap(),
    }
}

pub fn scopes(names: &[&str]) -> Vec<ScopeToken> {
    names
        .iter()
        .map(|s| ScopeToken::parse(s).unwrap())
        .collect()
}

impl SignedIn {
    pub async fn client_of(&self, id: &str) -> Arc<Client> {
        self.app.clients.client(id).await.unwrap().expect("client")
    }

    /// Starts a session of the user through `client_id` at `now`, as the code exchange
    /// does, in a transaction of its own.
    pub async fn start_at(
        &self,
        client_id: &str,
        scope: &[&str],
        now: DateTime<Utc>,
    ) -> StartedSession {
        self.start_with(client_id, scope, &self.app.settings.tokens, now)
            .await
    }

    /// [`SignedIn::start_at`] with other `[tokens]` settings.
    pub async fn start_with(
        &self,
        client_id: &str,
        scope: &[&str],
        settings: &tessera::tokens::TokenSettings,
        now: DateTime<Utc>,
    ) -> StartedSession {
        let client = self.client_of(client_id).await;
        let request = StartSession {
            user_id: self.user.clone(),
            tenant_id: self.tenant.clone(),
            refresh_token: sessions::offers_refresh(&client),
            client,
            scope: scopes(scope),
            auth_time: now,
        };
        let mut tx = self.app.store.begin_write().await.unwrap();
        let started = sessions::start(&mut tx, request, settings, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        started
    }

    pub async fn start(&self, scope: &[&str]) -> StartedSession {
        self.start_at(&self.client.id.clone(), scope, Utc::now())
            .await
    }

    /// The session's access token, as the code exchange issues it.
    pub async fn access_token(
        &self,
        session: &SessionId,
        scope: &[&str],
        auth_time: DateTime<Utc>,
    ) -> String {
        let client = self.client_of(&self.client.id).await;
        let scopes = scopes(scope);
        let audiences = [self.app.issuer.clone()];
        let issue = Issue {
            keys: &self.app.keys,
            issuer: &self.app.issuer,
            client: &client,
            scopes: &scopes,
            audiences: &audiences,
            lifetime: 300,
        };
        let user = UserSession {
            user_id: self.user.clone(),
            tenant_id: self.tenant.clone(),
            session_id: session.clone(),
            auth_time,
        };
        issue_for_user(&issue, &user, Utc::now())
            .unwrap()
            .access_token
    }

    pub async fn end(&self, which: Ending<'_>, reason: EndReason) -> Vec<SessionId> {
        let mut tx = self.app.store.begin_write().await.unwrap();
        let ended = sessions::end(&mut tx, which, reason, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        ended
    }

    /// The stored row of `session`, which must exist.
    pub async fn session(&self, session: &SessionId) -> tessera::store::SessionRecord {
        self.app
            .store
            .session(session.as_str())
            .await
            .unwrap()
            .expect("a stored session")
    }

    pub async fn is_active(&self, token: &str) -> bool {
        self.oauth.is_active(&self.introspector, token).await
    }

    /// Waits (at most 1 s, the feed's promise) for `token` to be inactive.
    pub async fn becomes_inactive(&self, token: &str) -> bool {
        eventually(Duration::from_secs(1), || async {
            !self.is_active(token).await
        })
        .await
        .is_some()
    }
}

/// The claims of a JWT, unverified (the introspection tests check signatures).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn a_session_gets_a_user_token_and_an_offline_client_a_refresh_token(backend: Backend) {
    let world = signed_in(
        spawn_app(backend).await,
        json!({"allowedScopes": ["read", "write"], "claims": [{"type": "role", "value": "reporter"}]}),
    )
    .await;
    let auth_time = DateTime::from_timestamp(Utc::now().timestamp() - 5, 0).unwrap();
    let started = world.start_at(&world.client.id, &["read"], auth_time).await;
    let refresh = started.refresh_token.clone().expect("a refresh token");
    assert_eq!(refresh.expose().len(), 43, "256 bits, URL-safe base64");
    // The seed client's refreshTokenValiditySeconds.
    assert_eq!(started.refresh_expires_in, Some(86_400));

    let token = world
        .access_token(&started.session_id, &["read"], auth_time)
        .await;
    let claims = claims(&token);
    assert_eq!(claims["sub"], world.user.as_str());
    assert_eq!(claims["tid"], "acme");
    assert_eq!(claims["sid"], started.session_id.as_str());
    assert_eq!(claims["auth_time"], auth_time.timestamp());
    assert_eq!(claims["client_id"], world.client.id.as_str());
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["role"], "reporter");
    let answer = world.oauth.introspect(&world.introspector, &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], world.user.as_str());
    assert_eq!(answer["sid"], started.session_id.as_str());

    let stored = world.app.database_text().await;
    assert!(
        !stored.contains(refresh.expose()),
        "only the hash is stored"
    );
    assert!(stored.contains(refresh.hash().as_str()));
    let session = world.session(&started.session_id).await;
    assert_eq!(
        (
            session.user_id.as_str(),
            session.tenant_id.as_str(),
            session.scope.as_str()
        ),
        (world.user.as_str(), "acme", "read")
    );
    assert_eq!(session.auth_time, auth_time.timestamp_millis());
    assert_eq!(session.ended_at, None);
}

async fn only_offline_clients_with_the_refresh_grant_get_refresh_tokens(backend: Backend) {
    let world = signed_in(spawn_app(backend).await, json!({})).await;
    let online = world
        .app
        .create_client("acme", json!({"accessType": "ONLINE"}))
        .await;
    let no_grant = world
        .app
        .create_client("acme", json!({"grantTypes": ["AUTHORIZATION_CODE"]}))
        .await;
    for client in [&online, &no_grant] {
        let id = client["id"].as_str().unwrap();
        let started = world.start_at(id, &[], Utc::now()).await;
        assert!(started.refresh_token.is_none(), "{client}");
        assert_eq!(started.refresh_expires_in, None);
        let session = world
            .app
            .store
            .session(started.session_id.as_str())
            .await
            .unwrap();
        assert!(session.is_some(), "the session exists all the same");
    }
    // A family ends before the client's validity would: the token expires with it.
    let app = world
        .app
        .restart_with(|settings| {
            settings.tokens.refresh_family_lifetime_seconds = 600;
        })
        .await;
    let world = SignedIn {
        oauth: OAuthEndpoints::of(&app),
        app,
        ..world
    };
    let started = world.start(&[]).await;
    assert_eq!(started.refresh_expires_in, Some(600));
}

async fn ended_sessions_refuse_their_access_tokens(backend: Backend) {
    let world = signed_in(spawn_app(backend).await, json!({})).await;
    let (one, two, three) = (
        world.start(&[]).await,
        world.start(&[]).await,
        world.start(&[]).await,
    );
    let now = Utc::now();
    let token = |s: &StartedSession| {
        let id = s.session_id.clone();
        let world = &world;
        async move { world.access_token(&id, &[], now).await }
    };
    let (t1, t2, t3) = (token(&one).await, token(&two).await, token(&three).await);
    assert!(world.is_active(&t1).await && world.is_active(&t2).await);

    let ended = world
        .end(Ending::Session(&one.session_id), EndReason::Logout)
        .await;
    assert_eq!(ended, std::slice::from_ref(&one.session_id));
    assert!(world.becomes_inactive(&t1).await, "within a second");
    assert!(world.is_active(&t2).await, "other sessions go on");
    let again = world
        .end(Ending::Session(&one.session_id), EndReason::Logout)
        .await;
    assert!(again.is_empty(), "an ended session ends once");
    let stored = world.session(&one.session_id).await;
    assert_eq!(stored.end_reason.as_deref(), Some("logout"));

    let other_tenant = TenantId::parse("globex").unwrap();
    let none = world
        .end(
            Ending::UserInTenant(&world.user, &other_tenant),
            EndReason::MembershipRemoved,
        )
        .await;
    assert!(none.is_empty());
    let mut ended = world
        .end(
            Ending::UserInTenant(&world.user, &world.tenant),
            EndReason::MembershipRemoved,
        )
        .await;
    ended.sort();
    let mut expected = vec![two.session_id.clone(), three.session_id.clone()];
    expected.sort();
    assert_eq!(ended, expected);
    assert!(world.becomes_inactive(&t2).await && world.becomes_inactive(&t3).await);
    assert!(world
        .end(Ending::User(&world.user), EndReason::UserDisabled)
        .await
        .is_empty());

    // A process started later refuses them too: it loads the ended sessions.
    let app = world.app.restart().await;
    let world = SignedIn {
        oauth: OAuthEndpoints::of(&app),
        app,
        ..world
    };
    assert!(!world.is_active(&t1).await && !world.is_active(&t3).await);
}

/// Two processes flush the activity of overlapping sessions at once, each in its own
/// order (a hash map's): the rows are locked in one order, so neither deadlocks (on
/// PostgreSQL one would be aborted) and the latest instant of each session stays.
async fn overlapping_activity_flushes_never_deadlock(backend: Backend) {
    let world = signed_in(spawn_app(backend).await, json!({})).await;
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(world.start(&[]).await.session_id.as_str().to_owned());
    }
    let base = Utc::now().timestamp_millis();
    for round in 0..5_i64 {
        let forward: Vec<(String, i64)> = ids
            .iter()
            .map(|id| (id.clone(), base + round * 10))
            .collect();
        let backward: Vec<(String, i64)> = ids
            .iter()
            .rev()
            .map(|id| (id.clone(), base + round * 10 + 1))
            .collect();
        let (one, other) = tokio::join!(
            world.app.store.record_activity(&forward),
            world.app.store.record_activity(&backward),
        );
        one.unwrap();
        other.unwrap();
    }
    for id in &ids {
        let row = world.app.store.session(id).await.unwrap().unwrap();
        assert_eq!(row.last_active_at, base + 41);
    }
}
