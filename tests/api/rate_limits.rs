//! Rate limits on the OAuth endpoints: a token bucket per client (with per-client
//! overrides) on `/oauth/token` and, separately, `/oauth/introspect`; and a limit on
//! failed authentications per source address that slows guessing without ever locking
//! out the client whose id is guessed at, and that answers unknown and known client
//! ids alike.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera::config::ClientRateLimit;

use crate::helpers::{eventually, spawn_app_with, Backend};
use crate::token_client::{assert_invalid_client, assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    each_client_has_its_own_bucket,
    a_per_client_override_lets_one_client_go_further,
    failed_authentications_are_limited_per_address_never_per_client,
    unknown_and_known_client_ids_answer_alike_in_every_state,
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

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn failed_authentications_are_limited_per_address_never_per_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.failed_auth_per_address_burst = 3;
        s.rate_limit.failed_auth_per_address_per_minute = 1;
    })
    .await;
    let real = OAuthEndpoints::of(&app).called_from(loopback(1));
    let sprayer = real.called_from(loopback(2));
    let target = Credentials::of(&app.create_client("acme", json!({})).await);
    let bystander = Credentials::of(&app.create_client("acme", json!({})).await);
    real.access_token(&target).await;

    let guess = |n: usize| Credentials::new(&target.id, &format!("guess-{n}"));
    let mut refusals = 0;
    let limited = loop {
        let response = sprayer.token(&guess(refusals), &[]).await;
        if response.status() == 429 {
            break response;
        }
        assert_invalid_client(response, true).await;
        refusals += 1;
        assert!(refusals <= 3, "{refusals} wrong secrets and not limited");
    };
    assert_eq!(refusals, 3, "the burst of failures is allowed");
    assert_rate_limited(limited).await;
    for n in 0..3 {
        // While the sprayer is limited, whatever it sends, even the right secret...
        assert_rate_limited(sprayer.token(&guess(100 + n), &[]).await).await;
        assert_rate_limited(sprayer.token(&target, &[]).await).await;
        // ...the client whose id it sprays carries on from its own address.
        real.access_token(&target).await;
    }
    // Other clients are unaffected, even when checked for the first time.
    real.access_token(&bystander).await;

    // Guessing client ids is limited the same way, per address.
    let stranger = real.called_from(loopback(3));
    let mut unknown_limited = false;
    for n in 0..5 {
        let invented = Credentials::new(&format!("unknown-{n}"), "secret");
        let response = stranger.token(&invented, &[]).await;
        if response.status() == 429 {
            unknown_limited = true;
            assert_rate_limited(response).await;
            break;
        }
        assert_invalid_client(response, true).await;
    }
    assert!(unknown_limited, "guessing client ids is limited too");
    real.access_token(&target).await;
}

/// What a caller sees of one refused request.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: u16,
    www_authenticate: Option<String>,
    has_retry_after: bool,
    body: Vec<u8>,
}

async fn refusal(response: reqwest::Response) -> Refusal {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    Refusal {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        has_retry_after: header("retry-after").is_some(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

async fn token_by_post(oauth: &OAuthEndpoints, client: &Credentials) -> reqwest::Response {
    let [id, secret] = client.post();
    let params = [("grant_type", "client_credentials"), id, secret];
    oauth.post("/oauth/token", None, &params).await
}

/// An unknown client id and a real one with a wrong secret get byte-identical answers
/// with either authentication method: for a client not yet cached, for one that is,
/// and after the failure limiter has tripped.
async fn unknown_and_known_client_ids_answer_alike_in_every_state(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.failed_auth_per_address_burst = 4;
        s.rate_limit.failed_auth_per_address_per_minute = 1;
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let cold = Credentials::of(&app.create_client("acme", json!({})).await);
    let warm = Credentials::of(&app.create_client("acme", json!({})).await);
    oauth.access_token(&warm).await;

    for (round, known) in [(4, &cold), (5, &warm)] {
        let prober = oauth.called_from(loopback(round));
        // A well-formed id no client has, and a wrong secret with the right prefix.
        let unknown = Credentials::new(&"0".repeat(known.id.len()), &known.secret);
        let wrong_secret = format!("{}{}", &known.secret[..6], "A".repeat(37));
        let wrong = Credentials::new(&known.id, &wrong_secret);
        let mut states = Vec::new();
        for _ in 0..2 {
            let basic_unknown = refusal(prober.token(&unknown, &[]).await).await;
            let basic_known = refusal(prober.token(&wrong, &[]).await).await;
            assert_eq!(basic_unknown, basic_known, "client_secret_basic");
            let post_unknown = refusal(token_by_post(&prober, &unknown).await).await;
            let post_known = refusal(token_by_post(&prober, &wrong).await).await;
            assert_eq!(post_unknown, post_known, "client_secret_post");
            states.push((basic_known.status, post_known.status));
        }
        assert_eq!(
            states,
            [(401, 401), (429, 429)],
            "before and after the limiter trips"
        );
    }
    oauth.access_token(&cold).await;
}

/// Guesses sent all at once are judged one after the other, so no more of them reach a
/// secret check than the burst allows.
async fn concurrent_guesses_get_no_more_than_the_burst(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.failed_auth_per_address_burst = 3;
        s.rate_limit.failed_auth_per_address_per_minute = 1;
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
