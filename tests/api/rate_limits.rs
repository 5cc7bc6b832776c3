//! Rate limits on the OAuth endpoints: a token bucket per client (with per-client
//! overrides) on `/oauth/token` and, separately, `/oauth/introspect`; and a limit on
//! failed authentications per client id that slows guessing without touching other
//! clients or a client whose secret check is remembered.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera::config::ClientRateLimit;

use crate::helpers::{eventually, spawn_app_with, Backend};
use crate::token_client::{assert_invalid_client, assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    each_client_has_its_own_bucket,
    a_per_client_override_lets_one_client_go_further,
    failed_authentications_are_limited_per_client_id,
    concurrent_guesses_get_no_more_than_the_burst,
);

/// Sends token requests until the first 429; returns how many succeeded before it,
/// and how long that took. Panics on anything but 200 or 429.
async fn successes_until_limited(
    oauth: &OAuthEndpoints,
    client: &Credentials,
    at_most: usize,
) -> (usize, Duration, reqwest::Response) {
    let start = Instant::now();
    for successes in 0..at_most {
        let response = oauth.token(client, &[]).await;
        match response.status().as_u16() {
            200 => continue,
            429 => return (successes, start.elapsed(), response),
            other => panic!("unexpected {other}"),
        }
    }
    panic!("{at_most} requests and still not limited");
}

/// `burst` requests pass at once; with `per_second` refilling, a few more may pass
/// while the test sends them.
fn assert_burst(successes: usize, elapsed: Duration, burst: usize, per_second: usize) {
    let refilled = per_second * (elapsed.as_secs() as usize + 1);
    assert!(
        (burst..=burst + refilled).contains(&successes),
        "{successes} successes in {elapsed:?} with a burst of {burst}"
    );
}

async fn assert_rate_limited(response: reqwest::Response) -> u64 {
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_oauth_error(response, 429, "invalid_request").await;
    retry_after
}

async fn each_client_has_its_own_bucket(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 3;
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let busy = Credentials::of(&app.create_client("acme", json!({})).await);
    let calm = Credentials::of(&app.create_client("acme", json!({})).await);

    let (successes, elapsed, limited) = successes_until_limited(&oauth, &busy, 10).await;
    assert_burst(successes, elapsed, 3, 1);
    let retry_after = assert_rate_limited(limited).await;
    let token = oauth.access_token(&calm).await;
    oauth.access_token(&calm).await;

    // Introspection has buckets of its own.
    for _ in 0..2 {
        assert!(oauth.is_active(&busy, &token).await);
    }
    let mut limited = None;
    for _ in 0..10 {
        let response = oauth
            .post(
                "/oauth/introspect",
                Some(&busy.basic()),
                &[("token", &token)],
            )
            .await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    assert_rate_limited(limited.expect("introspection is limited too")).await;

    // The bucket refills.
    let refilled = eventually(Duration::from_secs(retry_after + 1), || async {
        oauth.token(&busy, &[]).await.status() == 200
    })
    .await;
    assert!(refilled.is_some());
}

async fn a_per_client_override_lets_one_client_go_further(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 2;
    })
    .await;
    let favoured = Credentials::of(&app.create_client("acme", json!({})).await);
    let ordinary = Credentials::of(&app.create_client("acme", json!({})).await);
    let id = favoured.id.clone();
    let app = app
        .restart_with(|s| {
            s.rate_limit.clients.insert(
                id,
                ClientRateLimit {
                    requests_per_second: 1,
                    burst: 8,
                },
            );
        })
        .await;
    let oauth = OAuthEndpoints::of(&app);

    let (successes, elapsed, limited) = successes_until_limited(&oauth, &favoured, 20).await;
    assert_burst(successes, elapsed, 8, 1);
    assert_rate_limited(limited).await;
    let (successes, elapsed, limited) = successes_until_limited(&oauth, &ordinary, 20).await;
    assert_burst(successes, elapsed, 2, 1);
    assert_rate_limited(limited).await;
}

async fn failed_authentications_are_limited_per_client_id(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.failed_auth_burst = 3;
        s.rate_limit.failed_auth_per_minute = 1;
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let target = Credentials::of(&app.create_client("acme", json!({})).await);
    let bystander = Credentials::of(&app.create_client("acme", json!({})).await);
    // The target's secret check is remembered from here on.
    oauth.access_token(&target).await;

    let guess = |n: usize| Credentials::new(&target.id, &format!("guess-{n}"));
    let mut refusals = 0;
    let limited = loop {
        let response = oauth.token(&guess(refusals), &[]).await;
        if response.status() == 429 {
            break response;
        }
        assert_invalid_client(response, true).await;
        refusals += 1;
        assert!(refusals <= 4, "{refusals} wrong secrets and not limited");
    };
    assert!(
        refusals >= 3,
        "the burst of failures is allowed: {refusals}"
    );
    assert_rate_limited(limited).await;
    for n in 0..3 {
        let response = oauth.token(&guess(100 + n), &[]).await;
        assert_rate_limited(response).await;
        // Meanwhile the target itself, whose check is remembered, carries on.
        oauth.access_token(&target).await;
    }

    // Other clients are unaffected, even when checked for the first time.
    oauth.access_token(&bystander).await;
    // Unknown client ids share a bucket of their own.
    let mut unknown_limited = false;
    for n in 0..6 {
        let stranger = Credentials::new(&format!("unknown-{n}"), "secret");
        let response = oauth.token(&stranger, &[]).await;
        if response.status() == 429 {
            unknown_limited = true;
            assert_rate_limited(response).await;
            break;
        }
        assert_invalid_client(response, true).await;
    }
    assert!(unknown_limited, "guessing client ids is limited too");
    oauth.access_token(&bystander).await;
    oauth.access_token(&target).await;
}

/// Guesses sent all at once are judged one after the other, so no more of them reach a
/// secret check than the burst allows.
async fn concurrent_guesses_get_no_more_than_the_burst(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.failed_auth_burst = 3;
        s.rate_limit.failed_auth_per_minute = 1;
    })
    .await;
    let target = Credentials::of(&app.create_client("acme", json!({})).await);
    let guesses: Vec<_> = (0..16)
        .map(|n| {
            let oauth = OAuthEndpoints::of(&app);
            let guess = Credentials::new(&target.id, &format!("guess-{n}"));
            tokio::spawn(async move { oauth.token(&guess, &[]).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let limited = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(checked + limited, statuses.len(), "{statuses:?}");
    assert_eq!(checked, 3, "exactly the burst was checked: {statuses:?}");
}
