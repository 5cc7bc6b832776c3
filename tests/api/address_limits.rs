//! Limits before work: a bucket per source address and a global one, checked before
//! any database read on `/oauth/*` and `/api/*`; and the caller's address behind
//! trusted proxies (`server.trusted_proxies`). Distinct loopback addresses act as
//! distinct callers.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_api_error, spawn_app_with, Backend, TestApp};
use crate::token_client::{assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(a_spent_address_is_refused_before_any_work);

/// An HTTP client that sends from `127.0.0.{last}`.
pub fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

/// A request that costs the server no database read: 401 when admitted, 429 when not.
async fn probe(app: &TestApp, http: &reqwest::Client, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = http.get(app.url("/api/v1/keys"));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    let status = request.send().await.expect("request").status();
    assert!(matches!(status.as_u16(), 401 | 429), "unexpected {status}");
    status
}

/// Probes until the first 429 (at most `at_most`); how many were admitted before it.
async fn admitted_until_refused(
    app: &TestApp,
    http: &reqwest::Client,
    forwarded_for: Option<&str>,
    at_most: usize,
) -> usize {
    for admitted in 0..at_most {
        if probe(app, http, forwarded_for).await == StatusCode::TOO_MANY_REQUESTS {
            return admitted;
        }
    }
    panic!("{at_most} requests and still not refused");
}

fn retry_after(response: &reqwest::Response) -> u64 {
    let seconds: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&seconds), "{seconds}");
    seconds
}

async fn a_spent_address_is_refused_before_any_work(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.address_requests_per_second = 1;
        s.rate_limit.address_burst = 4;
    })
    .await;
    // Two requests of 127.0.0.1's own four.
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let attacker = client_from(2);
    let bystander = client_from(3);

    let admitted = admitted_until_refused(&app, &attacker, None, 50).await;
    assert!(admitted >= 4, "the burst passes: {admitted}");

    // Each of these would be a 401 or a 404 or a change if it got as far as the
    // database; refused first, it is a 429 and nothing more.
    let oauth = OAuthEndpoints {
        http: attacker.clone(),
        base: app.address.clone(),
    };
    let unknown = Credentials::new("no-such-client", "wrong");
    let refused = oauth.token(&unknown, &[]).await;
    retry_after(&refused);
    assert_oauth_error(refused, 429, "invalid_request").await;
    let refused = attacker
        .get(app.url("/api/v1/tenants/nobody"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    retry_after(&refused);
    assert_api_error(refused, 429).await;
    let refused = attacker
        .put(app.url("/api/v1/tenants/intruder"))
        .bearer_auth(&app.admin_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    // Percent-escapes the router decodes do not get a request past the limit.
    for path in ["/%6Fauth/token", "/%61pi/v1/tenants/nobody", "/%68ealthz"] {
        let refused = attacker.post(app.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), 429, "{path}");
    }

    // Another address is served as usual, and the refused change never happened.
    let oauth = OAuthEndpoints {
        http: bystander.clone(),
        base: app.address.clone(),
    };
    oauth.access_token(&client).await;
    let missing = bystander
        .get(app.url("/api/v1/tenants/intruder"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "nothing was stored");

    // Health probes, the JWKS and the metadata are not behind the limit.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = attacker.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn the_global_bucket_is_shared_by_every_address() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.global_requests_per_second = 1;
        s.rate_limit.global_burst = 5;
    })
    .await;
    let admitted = admitted_until_refused(&app, &client_from(2), None, 50).await;
    assert!(admitted >= 5, "{admitted}");
    assert_eq!(
        probe(&app, &client_from(3), None).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // No proxy is trusted: a forged X-Forwarded-For changes nothing.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.address_requests_per_second = 1;
        s.rate_limit.address_burst = 3;
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let untrusted = client_from(2);
    let mut forged = (1..=50).map(|n| format!("203.0.113.{n}"));
    let mut refused = false;
    for _ in 0..50 {
        let value = forged.next().unwrap();
        if probe(&app, &untrusted, Some(&value)).await == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "a new X-Forwarded-For per request from 127.0.0.2 is one caller"
    );

    // From the trusted proxy (127.0.0.1), each forwarded address has its own bucket.
    let proxy = client_from(1);
    admitted_until_refused(&app, &proxy, Some("198.51.100.7"), 50).await;
    assert_eq!(
        probe(&app, &proxy, Some("198.51.100.8")).await,
        StatusCode::UNAUTHORIZED,
        "another forwarded address is another caller"
    );
    assert_eq!(
        probe(&app, &proxy, Some("198.51.100.8, 127.0.0.1")).await,
        StatusCode::UNAUTHORIZED,
        "the right-most address that is not a trusted proxy"
    );

    // An unreadable entry where the caller's address should be falls back to the
    // nearest trusted hop, here the peer: they all share the proxy's own bucket.
    admitted_until_refused(&app, &proxy, Some("not-an-address"), 50).await;
    assert_eq!(
        probe(&app, &proxy, Some("198.51.100.9, garbage")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        probe(&app, &proxy, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "no header: the peer"
    );
    assert_eq!(
        probe(&app, &proxy, Some("198.51.100.9")).await,
        StatusCode::UNAUTHORIZED
    );
    // What the caller wrote left of its own address cannot push it onto the proxy's.
    assert_eq!(
        probe(&app, &proxy, Some("garbage, 198.51.100.10")).await,
        StatusCode::UNAUTHORIZED
    );
}
