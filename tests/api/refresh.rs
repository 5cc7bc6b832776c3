//! `grant_type=refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2): rotation, reuse killing
//! the family and its access tokens, the grace rule at its boundaries, scope narrowing,
//! other clients, expiry, family lifetime, races, sessions ending with changes to the
//! user, revocation and introspection of refresh tokens — on both databases. Sessions
//! start through the library, as the code exchange starts them.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tessera::sessions::refresh::{refresh, RefreshError, RefreshRequest, Refreshed, Refusal};
use tessera::sessions::{EndReason, Ending, StartedSession};
use tessera::tokens::{OpaqueToken, TokenSettings};

use crate::helpers::{spawn_app_with, Backend};
use crate::sessions::{claims, signed_in, SignedIn};
use crate::token_client::{assert_no_store, assert_oauth_error, Credentials};

crate::on_both_backends!(
    each_refresh_rotates_and_the_old_token_dies,
    reuse_revokes_the_family_and_its_access_tokens,
    grace_returns_the_same_successor_just_inside_and_never_outside,
    grace_is_for_the_immediate_predecessor_of_its_own_client_only,
    grace_boundaries_on_the_clock,
    a_rotation_records_the_sessions_activity_and_never_moves_it_back,
    scope_narrows_and_never_widens,
    tokens_work_only_for_their_client_until_they_or_their_family_expire,
    parallel_refreshes_without_grace_give_one_success,
    parallel_refreshes_with_grace_give_the_same_successor,
    refreshes_of_many_sessions_at_once_each_get_their_own_successor,
    conditional_rotations_apply_only_to_unused_tokens_of_live_sessions,
    sessions_end_when_the_user_is_disabled_deleted_or_given_a_new_password,
    removing_a_membership_ends_the_sessions_in_that_tenant_only,
    refresh_tokens_are_introspected_and_revoked_with_their_family,
    ended_sessions_reach_another_process_within_a_second,
    bad_refresh_requests_are_refused_and_change_nothing,
);

async fn world(backend: Backend, grace_seconds: u64, client: Value) -> SignedIn {
    let app = spawn_app_with(backend, |settings| {
        settings.tokens.refresh_grace_seconds = grace_seconds;
    })
    .await;
    signed_in(app, client).await
}

fn read_write() -> Value {
    json!({"allowedScopes": ["read", "write"]})
}

fn raw(started: &StartedSession) -> String {
    started
        .refresh_token
        .as_ref()
        .expect("a refresh token")
        .expose()
        .to_owned()
}

impl SignedIn {
    async fn refresh_as(
        &self,
        client: &Credentials,
        token: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        params.extend_from_slice(extra);
        self.oauth
            .post("/oauth/token", Some(&client.basic()), &params)
            .await
    }

    /// A refresh by the session's client that must succeed: the token response.
    async fn refreshed(&self, token: &str, extra: &[(&str, &str)]) -> Value {
        let response = self.refresh_as(&self.client, token, extra).await;
        let status = response.status();
        assert_no_store(response.headers());
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn refused(&self, token: &str) {
        let response = self.refresh_as(&self.client, token, &[]).await;
        let (_, body) = assert_oauth_error(response, 400, "invalid_grant").await;
        assert_eq!(
            body["error_description"],
            "The refresh token is invalid, expired or revoked."
        );
    }

    /// The library refresh at an instant of the test's choosing.
    async fn refresh_at(
        &self,
        token: &str,
        client_id: &str,
        settings: &TokenSettings,
        now: DateTime<Utc>,
    ) -> Result<Refreshed, RefreshError> {
        let client = self.client_of(client_id).await;
        let token = OpaqueToken::presented(token);
        let request = RefreshRequest {
            token: &token,
            client: &client,
            scope: None,
        };
        refresh(&self.app.store, request, settings, now).await
    }

    async fn refresh_token_active(&self, token: &str) -> bool {
        self.is_active(token).await
    }
}

fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
        .to_owned()
}

/// Milliseconds are what is stored: instants of the tests have no finer part.
fn millis_now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

async fn each_refresh_rotates_and_the_old_token_dies(backend: Backend) {
    let world = world(backend, 0, read_write()).await;
    let started = world.start(&["read", "write"]).await;
    let mut token = raw(&started);
    let mut seen = BTreeSet::from([token.clone()]);
    for _ in 0..3 {
        let body = world.refreshed(&token, &[]).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 750);
        assert_eq!(body["scope"], "read write");
        let access = claims(&text(&body, "access_token"));
        assert_eq!(access["sub"], world.user.as_str());
        assert_eq!(access["tid"], "acme");
        assert_eq!(access["sid"], started.session_id.as_str());
        assert_eq!(access["client_id"], world.client.id.as_str());
        assert!(world.is_active(&text(&body, "access_token")).await);
        let next = text(&body, "refresh_token");
        assert!(seen.insert(next.clone()), "a new refresh token each time");
        assert!(
            !world.refresh_token_active(&token).await,
            "the old one is dead"
        );
        assert!(world.refresh_token_active(&next).await);
        token = next;
    }
    let stored = world.app.database_text().await;
    for token in &seen {
        assert!(!stored.contains(token.as_str()), "never stored in clear");
    }
}

async fn reuse_revokes_the_family_and_its_access_tokens(backend: Backend) {
    let world = world(backend, 0, json!({})).await;
    let started = world.start(&[]).await;
    let first = raw(&started);
    let body = world.refreshed(&first, &[]).await;
    let (second, access) = (text(&body, "refresh_token"), text(&body, "access_token"));
    let body = world.refreshed(&second, &[]).await;
    let (live, latest_access) = (text(&body, "refresh_token"), text(&body, "access_token"));
    // Another session of the user is not of this family.
    let other = world.start(&[]).await;

    world.refused(&first).await;
    let session = world.session(&started.session_id).await;
    assert_eq!(session.end_reason.as_deref(), Some("refresh_token_reuse"));
    world.refused(&live).await;
    world.refused(&second).await;
    assert!(!world.is_active(&access).await && !world.is_active(&latest_access).await);
    assert!(!world.refresh_token_active(&live).await);
    world.refreshed(&raw(&other), &[]).await;
}

async fn grace_returns_the_same_successor_just_inside_and_never_outside(backend: Backend) {
    let world = world(backend, 2, json!({})).await;
    let started = world.start(&[]).await;
    let first = raw(&started);
    let body = world.refreshed(&first, &[]).await;
    let successor = text(&body, "refresh_token");
    // The response was lost: the same token again, at once.
    let again = world.refreshed(&first, &[]).await;
    assert_eq!(
        text(&again, "refresh_token"),
        successor,
        "the same successor, no branch"
    );
    assert_ne!(
        again["access_token"], body["access_token"],
        "a fresh access token"
    );
    assert!(world.is_active(&text(&again, "access_token")).await);
    assert!(world.refresh_token_active(&successor).await);

    // Past the grace period it is reuse.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    world.refused(&first).await;
    world.refused(&successor).await;
    assert!(!world.is_active(&text(&again, "access_token")).await);
}

async fn grace_is_for_the_immediate_predecessor_of_its_own_client_only(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let other = Credentials::of(&world.app.create_client("acme", json!({})).await);

    // Another client presenting it, even in the grace period, gets nothing, and the
    // family goes on.
    let first = raw(&world.start(&[]).await);
    let successor = text(&world.refreshed(&first, &[]).await, "refresh_token");
    let response = world.refresh_as(&other, &first, &[]).await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    let response = world.refresh_as(&other, &successor, &[]).await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    let third = text(&world.refreshed(&successor, &[]).await, "refresh_token");

    // An older token (its successor was used since) is reuse, grace or not.
    world.refused(&first).await;
    world.refused(&third).await;

    // A revoked family gives no grace.
    let started = world.start(&[]).await;
    let first = raw(&started);
    let successor = text(&world.refreshed(&first, &[]).await, "refresh_token");
    world
        .end(Ending::Session(&started.session_id), EndReason::Logout)
        .await;
    world.refused(&first).await;
    world.refused(&successor).await;
}

/// A rotation stores the session's activity at its instant, and a later one stays.
async fn a_rotation_records_the_sessions_activity_and_never_moves_it_back(backend: Backend) {
    let world = world(backend, 0, json!({})).await;
    let settings = world.app.settings.tokens.clone();
    let id = world.client.id.clone();
    let t0 = millis_now();
    let started = world.start_at(&id, &[], t0).await;
    let last_active = |session: tessera::store::SessionRecord| session.last_active_at;
    let session = || async {
        world
            .app
            .store
            .session(started.session_id.as_str())
            .await
            .unwrap()
            .expect("the session")
    };
    assert_eq!(last_active(session().await), t0.timestamp_millis());

    let later = t0 + chrono::Duration::seconds(60);
    let rotated = world
        .refresh_at(&raw(&started), &id, &settings, later)
        .await
        .unwrap();
    assert_eq!(last_active(session().await), later.timestamp_millis());

    // A process whose clock is behind rotates the successor: the later instant stays.
    let behind = t0 + chrono::Duration::seconds(30);
    let next = world
        .refresh_at(rotated.refresh_token.expose(), &id, &settings, behind)
        .await
        .unwrap();
    assert_eq!(last_active(session().await), later.timestamp_millis());
    // The successor stored by each rotation is the live token of the family.
    assert!(
        world
            .refresh_token_active(next.refresh_token.expose())
            .await
    );
    assert!(
        !world
            .refresh_token_active(rotated.refresh_token.expose())
            .await
    );
}

/// The grace rule at its boundaries, with the clock passed in (the store path; the
/// decision's own tests cover every boundary on a fake clock).
async fn grace_boundaries_on_the_clock(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let settings = world.app.settings.tokens.clone();
    let grace = chrono::Duration::seconds(10);
    let id = world.client.id.clone();
    let t0 = millis_now();

    // Just inside: the same successor.
    let first = raw(&world.start_at(&id, &[], t0).await);
    let rotated = world.refresh_at(&first, &id, &settings, t0).await.unwrap();
    let inside = t0 + grace - chrono::Duration::milliseconds(1);
    let again = world
        .refresh_at(&first, &id, &settings, inside)
        .await
        .unwrap();
    assert_eq!(again.refresh_token.expose(), rotated.refresh_token.expose());
    assert_eq!(again.session_id, rotated.session_id);

    // Just outside: reuse, the family revoked.
    let first = raw(&world.start_at(&id, &[], t0).await);
    let rotated = world.refresh_at(&first, &id, &settings, t0).await.unwrap();
    let outside = t0 + grace;
    assert!(matches!(
        world.refresh_at(&first, &id, &settings, outside).await,
        Err(RefreshError::Reused(session)) if session == rotated.session_id
    ));
    assert!(matches!(
        world
            .refresh_at(rotated.refresh_token.expose(), &id, &settings, outside)
            .await,
        Err(RefreshError::Refused(Some(Refusal::Ended)))
    ));

    // Grace turned off: the first repeat is reuse.
    let off = TokenSettings {
        refresh_grace_seconds: 0,
        ..settings.clone()
    };
    let first = raw(&world.start_at(&id, &[], t0).await);
    world.refresh_at(&first, &id, &off, t0).await.unwrap();
    assert!(matches!(
        world.refresh_at(&first, &id, &off, t0).await,
        Err(RefreshError::Reused(_))
    ));

    // Housekeeping forgets the sealed successor once the grace period is over.
    let first = raw(&world.start_at(&id, &[], t0).await);
    world.refresh_at(&first, &id, &settings, t0).await.unwrap();
    let hash = OpaqueToken::presented(&first).hash();
    let sealed = |at: DateTime<Utc>| {
        let store = world.app.store.clone();
        let hash = hash.as_str().to_owned();
        async move {
            store
                .purge_sessions((at - grace).timestamp_millis(), at.timestamp_millis(), 0)
                .await
                .unwrap();
            store
                .refresh_token(&hash)
                .await
                .unwrap()
                .unwrap()
                .token
                .successor_sealed
        }
    };
    assert!(
        sealed(t0 + grace).await.is_some(),
        "kept to the end of the period"
    );
    assert!(sealed(t0 + grace + chrono::Duration::milliseconds(1))
        .await
        .is_none());
}

async fn scope_narrows_and_never_widens(backend: Backend) {
    let world = world(backend, 0, read_write()).await;
    let first = raw(&world.start(&["read", "write"]).await);
    let body = world.refreshed(&first, &[("scope", "read")]).await;
    assert_eq!(body["scope"], "read");
    assert_eq!(claims(&text(&body, "access_token"))["scope"], "read");
    let next = text(&body, "refresh_token");
    let answer = world.oauth.introspect(&world.introspector, &next).await;
    assert_eq!(
        answer["scope"], "read write",
        "the refresh token keeps its scope"
    );

    for wider in ["read admin", "admin", "write read delete"] {
        let response = world
            .refresh_as(&world.client, &next, &[("scope", wider)])
            .await;
        assert_oauth_error(response, 400, "invalid_scope").await;
    }
    let response = world
        .refresh_as(&world.client, &next, &[("scope", "re\"ad")])
        .await;
    assert_oauth_error(response, 400, "invalid_scope").await;
    // Refused, so nothing changed: the token still rotates, and to its full scope.
    let body = world.refreshed(&next, &[]).await;
    assert_eq!(body["scope"], "read write");
}

async fn tokens_work_only_for_their_client_until_they_or_their_family_expire(backend: Backend) {
    let world = world(backend, 10, json!({"refreshTokenValiditySeconds": 100})).await;
    let stranger = world.app.create_client("globex", json!({})).await;
    let stranger = Credentials::of(&stranger);
    let first = raw(&world.start(&[]).await);
    let response = world.refresh_as(&stranger, &first, &[]).await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    assert!(world.refresh_token_active(&first).await, "untouched");

    let settings = world.app.settings.tokens.clone();
    let id = world.client.id.clone();
    let t0 = millis_now();
    let expired = |token: String, at: DateTime<Utc>, why: Refusal| {
        let world = &world;
        let (settings, id) = (settings.clone(), id.clone());
        async move {
            let outcome = world.refresh_at(&token, &id, &settings, at).await;
            assert!(
                matches!(outcome, Err(RefreshError::Refused(Some(refusal))) if refusal == why),
                "{outcome:?}"
            );
        }
    };
    // The token expires after the client's refreshTokenValiditySeconds.
    let token = raw(&world.start_at(&id, &[], t0).await);
    let before = t0 + chrono::Duration::milliseconds(99_999);
    let rotated = world
        .refresh_at(&token, &id, &settings, before)
        .await
        .unwrap();
    assert_eq!(rotated.refresh_expires_in, 100);
    let token = raw(&world.start_at(&id, &[], t0).await);
    expired(token, t0 + chrono::Duration::seconds(100), Refusal::Expired).await;

    // The family ends at its absolute lifetime, however often it was refreshed.
    let lifetime = chrono::Duration::seconds(250);
    let short = TokenSettings {
        refresh_family_lifetime_seconds: 250,
        ..settings.clone()
    };
    let mut token = raw(&world.start_with(&id, &[], &short, t0).await);
    for step in [90, 180, 249] {
        let at = t0 + chrono::Duration::seconds(step);
        let rotated = world.refresh_at(&token, &id, &short, at).await.unwrap();
        assert!(rotated.refresh_expires_in <= (250 - step) as u64);
        token = rotated.refresh_token.expose().to_owned();
    }
    expired(token, t0 + lifetime, Refusal::FamilyExpired).await;
}

/// 20 refreshes of one token at once, grace off: one rotates, the others are reuse
/// (which revokes the family), and nothing fails with a 5xx.
async fn parallel_refreshes_without_grace_give_one_success(backend: Backend) {
    let world = world(backend, 0, json!({})).await;
    let first = raw(&world.start(&[]).await);
    let outcomes = race(&world, &first).await;
    let successes: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(successes.len(), 1, "{outcomes:?}");
    for (status, body) in &outcomes {
        assert!(
            *status == 200 || (*status == 400 && body["error"] == "invalid_grant"),
            "{status} {body}"
        );
    }
}

/// The same race with grace on: every one within the grace period gets the one
/// successor; none is refused with a 5xx, and no second branch exists.
async fn parallel_refreshes_with_grace_give_the_same_successor(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let first = raw(&world.start(&[]).await);
    let outcomes = race(&world, &first).await;
    let successors: BTreeSet<String> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| text(body, "refresh_token"))
        .collect();
    assert_eq!(successors.len(), 1, "one successor: {outcomes:?}");
    for (status, body) in &outcomes {
        assert!(
            *status == 200 || (*status == 400 && body["error"] == "invalid_grant"),
            "{status} {body}"
        );
    }
    let successor = successors.into_iter().next().unwrap();
    world.refreshed(&successor, &[]).await;
}

/// Refreshes of many sessions at once (stored together on SQLite, several rotations a
/// transaction), some tokens presented twice in the same burst: every presentation
/// succeeds, the two of one token get one successor, the sessions' successors all
/// differ, and each works in the next burst.
async fn refreshes_of_many_sessions_at_once_each_get_their_own_successor(backend: Backend) {
    const SESSIONS: usize = 24;
    const TWICE: usize = 4;
    let world = world(backend, 10, json!({})).await;
    let mut tokens = Vec::new();
    for _ in 0..SESSIONS {
        tokens.push(raw(&world.start(&[]).await));
    }
    for _burst in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        let presented = tokens
            .iter()
            .enumerate()
            .chain(tokens.iter().enumerate().take(TWICE));
        for (session, token) in presented {
            let (oauth, client, token) = (world.oauth.clone(), world.client.clone(), token.clone());
            tasks.spawn(async move {
                let params = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ];
                let response = oauth
                    .post("/oauth/token", Some(&client.basic()), &params)
                    .await;
                let status = response.status().as_u16();
                (session, status, response.json::<Value>().await.unwrap())
            });
        }
        let mut successors: Vec<BTreeSet<String>> = vec![BTreeSet::new(); SESSIONS];
        for (session, status, body) in tasks.join_all().await {
            assert_eq!(status, 200, "{body}");
            successors[session].insert(text(&body, "refresh_token"));
        }
        let next: Vec<String> = successors
            .into_iter()
            .map(|one| {
                assert_eq!(one.len(), 1, "one successor per session: {one:?}");
                one.into_iter().next().unwrap()
            })
            .collect();
        assert_eq!(next.iter().collect::<BTreeSet<_>>().len(), SESSIONS);
        tokens = next;
    }
    for token in &tokens {
        assert!(world.refresh_token_active(token).await);
    }
}

/// The store's conditional rotation itself (which the refresh tries before any lock),
/// many at once so that SQLite stores them together: each unused token of a live
/// session rotates; a token rotated twice at once rotates once; a token of an ended
/// session does not, and nothing of a refused one is stored.
async fn conditional_rotations_apply_only_to_unused_tokens_of_live_sessions(backend: Backend) {
    use tessera::store::{RefreshTokenRecord, Rotation};
    let world = world(backend, 10, json!({})).await;
    let ended = world.start(&[]).await;
    world
        .end(Ending::Session(&ended.session_id), EndReason::Logout)
        .await;
    let mut presented = vec![raw(&ended)];
    for _ in 0..10 {
        presented.push(raw(&world.start(&[]).await));
    }
    let twice = presented[1].clone();
    presented.push(twice);
    let store = world.app.store.clone();
    let now = millis_now().timestamp_millis();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, token) in presented.into_iter().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            let used_hash = OpaqueToken::presented(&token).hash().as_str().to_owned();
            let rows = store
                .refresh_token(&used_hash)
                .await
                .unwrap()
                .expect("stored");
            let successor = RefreshTokenRecord {
                token_hash: OpaqueToken::generate().hash().as_str().to_owned(),
                used_at: None,
                successor_hash: None,
                successor_sealed: None,
                created_at: now,
                ..rows.token
            };
            let rotation = Rotation {
                used_hash: &used_hash,
                successor: &successor,
                sealed: None,
                now,
            };
            let applied = store.rotate_unused_refresh_token(&rotation).await.unwrap();
            let stored = store.refresh_token(&successor.token_hash).await.unwrap();
            assert_eq!(
                stored.is_some(),
                applied,
                "a successor is stored iff applied"
            );
            (index, used_hash, applied)
        });
    }
    let mut outcomes = tasks.join_all().await;
    outcomes.sort();
    assert!(!outcomes[0].2, "the ended session's token does not rotate");
    let twice: Vec<bool> = outcomes
        .iter()
        .filter(|(index, ..)| [1, 11].contains(index))
        .map(|o| o.2)
        .collect();
    assert_eq!(
        twice.iter().filter(|applied| **applied).count(),
        1,
        "{twice:?}"
    );
    assert!(
        outcomes[2..11].iter().all(|(.., applied)| *applied),
        "{outcomes:?}"
    );
    for (index, used_hash, _) in &outcomes {
        let rows = store.refresh_token(used_hash).await.unwrap().unwrap();
        assert_eq!(rows.token.used_at.is_some(), *index != 0, "token {index}");
    }
}

/// 20 refreshes of `token` sent at once, each on a task of its own.
async fn race(world: &SignedIn, token: &str) -> Vec<(u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (oauth, client, token) = (world.oauth.clone(), world.client.clone(), token.to_owned());
        tasks.spawn(async move {
            let params = [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            let response = oauth
                .post("/oauth/token", Some(&client.basic()), &params)
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    tasks.join_all().await
}

async fn sessions_end_when_the_user_is_disabled_deleted_or_given_a_new_password(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let user = format!("/api/v1/users/{}", world.user);
    let changes: [(Method, String, Value, &str); 3] = [
        (
            Method::PUT,
            format!("{user}/password"),
            json!({"password": "another good password"}),
            "password_changed",
        ),
        (
            Method::PATCH,
            user.clone(),
            json!({"enabled": false}),
            "user_disabled",
        ),
        (Method::DELETE, user.clone(), Value::Null, "user_deleted"),
    ];
    for (method, path, body, reason) in changes {
        let started = world.start(&[]).await;
        let token = raw(&started);
        let access = world
            .access_token(&started.session_id, &[], Utc::now())
            .await;
        assert!(world.is_active(&access).await);
        let mut request = world.app.admin(method, &path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        world.refused(&token).await;
        assert!(
            !world.is_active(&access).await,
            "{reason}: refused at once here"
        );
        let session = world.session(&started.session_id).await;
        assert_eq!(session.end_reason.as_deref(), Some(reason));
        if reason == "user_disabled" {
            // Enabled again, the user signs in anew: the old session stays over.
            let response = world
                .app
                .admin(Method::PATCH, &user)
                .json(&json!({"enabled": true}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            world.refused(&token).await;
        }
    }
}

async fn removing_a_membership_ends_the_sessions_in_that_tenant_only(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let acme = world.start(&[]).await;
    // The same user signed in to globex through a globex client.
    let globex_client = Credentials::of(&world.app.create_client("globex", json!({})).await);
    let response = world
        .app
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/globex/members/{}", world.user),
        )
        .json(&json!({"roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let globex = SignedIn {
        tenant: tessera::tenants::TenantId::parse("globex").unwrap(),
        client: globex_client.clone(),
        introspector: globex_client.clone(),
        ..world
    };
    let elsewhere = globex.start(&[]).await;
    let response = globex
        .app
        .admin(
            Method::DELETE,
            &format!("/api/v1/tenants/acme/members/{}", globex.user),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ended = globex.session(&acme.session_id).await;
    assert_eq!(ended.end_reason.as_deref(), Some("membership_removed"));
    let going = globex.session(&elsewhere.session_id).await;
    assert_eq!(going.ended_at, None);
    globex.refreshed(&raw(&elsewhere), &[]).await;
}

async fn refresh_tokens_are_introspected_and_revoked_with_their_family(backend: Backend) {
    let world = world(backend, 10, read_write()).await;
    let started = world.start(&["read"]).await;
    let token = raw(&started);
    let answer = world.oauth.introspect(&world.introspector, &token).await;
    let (iat, exp) = (
        answer["iat"].as_i64().unwrap(),
        answer["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 86_400, "{answer}");
    assert_eq!(
        answer,
        json!({
            "active": true, "token_type": "refresh_token", "scope": "read",
            "client_id": world.client.id, "sub": world.user.as_str(), "tid": "acme",
            "sid": started.session_id.as_str(), "iss": world.app.issuer, "iat": iat, "exp": exp,
        })
    );
    // With the hint, the same answer; to another tenant, nothing.
    let response = world
        .oauth
        .post(
            "/oauth/introspect",
            Some(&world.introspector.basic()),
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(response.json::<Value>().await.unwrap(), answer);
    let stranger = Credentials::of(&world.app.create_client("globex", json!({})).await);
    assert!(!world.oauth.is_active(&stranger, &token).await);

    // Only its client revokes it; then the whole family and its access tokens are over.
    let access = world
        .access_token(&started.session_id, &["read"], Utc::now())
        .await;
    let response = world
        .oauth
        .post(
            "/oauth/revoke",
            Some(&world.introspector.basic()),
            &[("token", &token)],
        )
        .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    assert!(world.refresh_token_active(&token).await);
    let successor = text(&world.refreshed(&token, &[]).await, "refresh_token");
    for hint in ["refresh_token", "access_token"] {
        let started = world.start(&[]).await;
        let token = raw(&started);
        world
            .oauth
            .revoke(
                &world.client,
                &[("token", &token), ("token_type_hint", hint)],
            )
            .await;
        world.refused(&token).await;
    }
    world
        .oauth
        .revoke(&world.client, &[("token", &successor)])
        .await;
    world.refused(&successor).await;
    world.refused(&token).await;
    assert!(!world.is_active(&access).await);
    assert!(!world.refresh_token_active(&successor).await);
    let session = world.session(&started.session_id).await;
    assert_eq!(session.end_reason.as_deref(), Some("revoked"));
    // Revoking again, or something unknown, is fine and changes nothing.
    world
        .oauth
        .revoke(&world.client, &[("token", &successor)])
        .await;
    world
        .oauth
        .revoke(&world.client, &[("token", &"A".repeat(43))])
        .await;
}

async fn ended_sessions_reach_another_process_within_a_second(backend: Backend) {
    let world = world(backend, 0, json!({})).await;
    let mut settings = world.app.settings.clone();
    // Replicas share one public issuer, as behind a load balancer.
    settings.server.issuer = world.app.issuer.clone();
    let other = tessera::startup::Application::build(settings)
        .await
        .expect("a second process on the same database");
    let other_oauth =
        crate::token_client::OAuthEndpoints::at(&format!("http://127.0.0.1:{}", other.port()));
    let handle = other.handle();
    let running = tokio::spawn(other.run_until_stopped());

    let started = world.start(&[]).await;
    let first = raw(&started);
    let body = world.refreshed(&first, &[]).await;
    let access = text(&body, "access_token");
    assert!(other_oauth.is_active(&world.introspector, &access).await);
    // Reuse at this process ends the session; the other refuses its tokens within 1 s.
    world.refused(&first).await;
    let refused = crate::helpers::eventually(Duration::from_secs(1), || async {
        !other_oauth.is_active(&world.introspector, &access).await
    })
    .await;
    assert!(
        refused.is_some(),
        "the other process still accepts the token"
    );
    handle.stop(true).await;
    running.await.ok();
}

async fn bad_refresh_requests_are_refused_and_change_nothing(backend: Backend) {
    let world = world(backend, 10, json!({})).await;
    let token = raw(&world.start(&[]).await);
    let response = world
        .oauth
        .post(
            "/oauth/token",
            Some(&world.client.basic()),
            &[("grant_type", "refresh_token")],
        )
        .await;
    assert_oauth_error(response, 400, "invalid_request").await;
    for junk in ["", "abc", "a.b.c", &"A".repeat(43), &format!("{token}x")] {
        let response = world.refresh_as(&world.client, junk, &[]).await;
        let status = response.status();
        let (_, body) = assert_oauth_error(
            response,
            400,
            if junk.is_empty() {
                "invalid_request"
            } else {
                "invalid_grant"
            },
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    // A client that does not use refresh tokens cannot present one.
    let online = Credentials::of(
        &world
            .app
            .create_client("acme", json!({"accessType": "ONLINE"}))
            .await,
    );
    let response = world.refresh_as(&online, &token, &[]).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    let no_grant = Credentials::of(
        &world
            .app
            .create_client("acme", json!({"grantTypes": ["CLIENT_CREDENTIALS"]}))
            .await,
    );
    let response = world.refresh_as(&no_grant, &token, &[]).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    // An unauthenticated caller learns nothing.
    let wrong = Credentials::new(&world.client.id, "wrong");
    let response = world.refresh_as(&wrong, &token, &[]).await;
    assert_eq!(response.status(), 401);
    // None of it touched the token.
    world.refreshed(&token, &[]).await;
}
