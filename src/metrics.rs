//! Prometheus metrics: the series Tessera keeps and their rendering in the text format
//! (served by `GET /metrics`, see `http::metrics`).
//!
//! Each [`crate::startup::Application`] has a recorder of its own
//! (`metrics-exporter-prometheus`), never the process-wide one of the `metrics` facade:
//! several servers in one process (the tests) then count apart, and nothing depends on
//! who installed a global first. Series are registered on that recorder through the
//! `metrics::Recorder` trait, those with a fixed set of labels once at start, so
//! counting on the token path is one atomic add: no lookup, no allocation. HTTP series
//! (route template × method × status) are made on first use and then found in a small
//! map under a read lock.
//!
//! Gauges that describe state (the database pool, the signing keys, the change feed,
//! the argon2 queue) are read from their sources when scraped ([`Metrics::render`]),
//! not updated wherever that state changes.
//!
//! Every label value is from a closed set of `&'static str`, a route template or a
//! status code: never a client id, a user id, a tenant id or a path as sent, so the
//! number of series stays bounded whatever callers send.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::changes::ChangeFeed;
use crate::keys::KeyService;
use crate::store::Store;

/// What the recorder is told about each registration (it ignores it).
const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

const HTTP_REQUESTS: &str = "tessera_http_requests_total";
const HTTP_DURATION: &str = "tessera_http_request_duration_seconds";
const TOKENS_ISSUED: &str = "tessera_tokens_issued_total";
const AUTH_FAILURES: &str = "tessera_authentication_failures_total";
const RATE_LIMITED: &str = "tessera_rate_limited_total";
const CACHE_REQUESTS: &str = "tessera_cache_requests_total";
const FEED_LAG: &str = "tessera_change_feed_lag_seconds";
const FEED_SEQUENCE: &str = "tessera_change_feed_last_sequence";
const KEY_AGE: &str = "tessera_signing_key_age_seconds";
const KEY_NEXT_ROTATION: &str = "tessera_signing_key_next_rotation_seconds";
const POOL_CONNECTIONS: &str = "tessera_db_pool_connections";
const POOL_MAX: &str = "tessera_db_pool_max";
const HASH_QUEUE: &str = "tessera_password_hash_queue";
const HASH_RUNNING: &str = "tessera_password_hash_running";
const BUILD_INFO: &str = "tessera_build_info";

/// Latency buckets, in seconds: from a warm client-credentials request (well under a
/// millisecond) to an argon2 check queued behind others (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request no route matched: the path as sent is never a label.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// How often recorded latencies are folded into their histograms between scrapes, so
/// memory does not grow with the requests served when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What a token was issued for: a grant of `/oauth/token`, or a first-party call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenGrant {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
    /// `POST /api/v1/tokens`: username and password.
    Password,
    /// `POST /api/v1/tokens/refresh`.
    FirstPartyRefresh,
    /// `POST /api/v1/tokens/switch`.
    Switch,
    /// A tenant admin token: issued, renewed, or a portal session opened.
    TenantAdmin,
}

impl TokenGrant {
    const ALL: [TokenGrant; 7] = [
        TokenGrant::ClientCredentials,
        TokenGrant::AuthorizationCode,
        TokenGrant::RefreshToken,
        TokenGrant::Password,
        TokenGrant::FirstPartyRefresh,
        TokenGrant::Switch,
        TokenGrant::TenantAdmin,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TokenGrant::ClientCredentials => "client_credentials",
            TokenGrant::AuthorizationCode => "authorization_code",
            TokenGrant::RefreshToken => "refresh_token",
            TokenGrant::Password => "password",
            TokenGrant::FirstPartyRefresh => "first_party_refresh",
            TokenGrant::Switch => "switch",
            TokenGrant::TenantAdmin => "tenant_admin",
        }
    }
}

/// Whose credential failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// An OAuth client's secret (or a public client's id).
    Client,
    /// A user's password, on the login page or at `POST /api/v1/tokens`.
    User,
    /// A bearer credential of the admin API: the admin API key or a tenant admin token.
    Admin,
}

impl AuthFailure {
    const ALL: [AuthFailure; 3] = [AuthFailure::Client, AuthFailure::User, AuthFailure::Admin];

    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Client => "client",
            AuthFailure::User => "user",
            AuthFailure::Admin => "admin",
        }
    }
}

/// Which limit refused a request (see `crate::rate_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `rate_limit.address_*`: requests per source address, before any work.
    Address,
    /// `rate_limit.global_*`: requests from everyone together, before any work.
    Global,
    /// `rate_limit.requests_per_second`: requests per client on the OAuth endpoints.
    Client,
    /// `rate_limit.failed_auth_per_address_*`: failed client authentications per address.
    FailedClientAuth,
    /// `login.failures_*`: failed sign-ins per account and address.
    Login,
}

impl Limit {
    const ALL: [Limit; 5] = [
        Limit::Address,
        Limit::Global,
        Limit::Client,
        Limit::FailedClientAuth,
        Limit::Login,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::Global => "global",
            Limit::Client => "client",
            Limit::FailedClientAuth => "failed_client_auth",
            Limit::Login => "login",
        }
    }
}

/// Hits and misses of one cache.
#[derive(Clone)]
pub struct CacheCounters {
    hit: Counter,
    miss: Counter,
}

impl CacheCounters {
    pub fn hit(&self) {
        self.hit.increment(1);
    }

    pub fn miss(&self) {
        self.miss.increment(1);
    }
}

/// The methods that get a label of their own; any other is `OTHER`, so invented
/// methods cannot add series.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const OTHER_METHOD: usize = METHODS.len();

fn method_index(method: &str) -> usize {
    METHODS
        .iter()
        .position(|known| *known == method)
        .unwrap_or(OTHER_METHOD)
}

fn method_label_at(index: usize) -> &'static str {
    METHODS.get(index).copied().unwrap_or("other")
}

/// The label of an HTTP method: its name if it is a standard one, else `other`.
pub fn method_label(method: &str) -> &'static str {
    method_label_at(method_index(method))
}

/// The series of one route template.
#[derive(Default)]
struct RouteSeries {
    methods: [Option<MethodSeries>; METHODS.len() + 1],
}

struct MethodSeries {
    duration: Histogram,
    /// Few: the statuses this route answered with.
    statuses: Vec<(u16, Counter)>,
}

impl MethodSeries {
    fn counter(&self, status: u16) -> Option<&Counter> {
        self.statuses
            .iter()
            .find(|(known, _)| *known == status)
            .map(|(_, counter)| counter)
    }
}

/// The gauges set at each scrape.
struct StateGauges {
    pool_idle: Gauge,
    pool_in_use: Gauge,
    pool_max: Gauge,
    key_age: Gauge,
    key_next_rotation: Gauge,
    feed_lag: Gauge,
    feed_sequence: Gauge,
    hash_queue: Gauge,
    hash_running: Gauge,
}

pub struct Metrics {
    recorder: metrics_exporter_prometheus::PrometheusRecorder,
    handle: PrometheusHandle,
    tokens_issued: [Counter; TokenGrant::ALL.len()],
    auth_failures: [Counter; AuthFailure::ALL.len()],
    rate_limited: [Counter; Limit::ALL.len()],
    http: RwLock<HashMap<String, RouteSeries>>,
    state: StateGauges,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        describe(&recorder);
        let handle = recorder.handle();
        let counter = |name: &'static str, label: &'static str, value: &'static str| {
            recorder.register_counter(&Key::from_parts(name, &[(label, value)]), &METADATA)
        };
        let gauge = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
        };
        let state = StateGauges {
            pool_idle: gauge(POOL_CONNECTIONS, &[("state", "idle")]),
            pool_in_use: gauge(POOL_CONNECTIONS, &[("state", "in_use")]),
            pool_max: gauge(POOL_MAX, &[]),
            key_age: gauge(KEY_AGE, &[]),
            key_next_rotation: gauge(KEY_NEXT_ROTATION, &[]),
            feed_lag: gauge(FEED_LAG, &[]),
            feed_sequence: gauge(FEED_SEQUENCE, &[]),
            hash_queue: gauge(HASH_QUEUE, &[]),
            hash_running: gauge(HASH_RUNNING, &[]),
        };
        gauge(BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]).set(1.0);
        Arc::new(Metrics {
            tokens_issued: TokenGrant::ALL.map(|g| counter(TOKENS_ISSUED, "grant", g.label())),
            auth_failures: AuthFailure::ALL.map(|k| counter(AUTH_FAILURES, "kind", k.label())),
            rate_limited: Limit::ALL.map(|l| counter(RATE_LIMITED, "limit", l.label())),
            http: RwLock::new(HashMap::new()),
            state,
            handle,
            recorder,
        })
    }

    pub fn token_issued(&self, grant: TokenGrant) {
        self.tokens_issued[grant as usize].increment(1);
    }

    pub fn authentication_failed(&self, kind: AuthFailure) {
        self.auth_failures[kind as usize].increment(1);
    }

    pub fn rate_limited(&self, limit: Limit) {
        self.rate_limited[limit as usize].increment(1);
    }

    /// The counters of the cache `cache` (a fixed name, e.g. `"clients"`).
    pub fn cache(&self, cache: &'static str) -> CacheCounters {
        let counter = |result: &'static str| {
            let key = Key::from_parts(CACHE_REQUESTS, &[("cache", cache), ("result", result)]);
            self.recorder.register_counter(&key, &METADATA)
        };
        CacheCounters {
            hit: counter("hit"),
            miss: counter("miss"),
        }
    }

    /// One request served: `route` is the template that matched (`None`: no route
    /// did), never the path as sent.
    pub fn http_request(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        let route = route.unwrap_or(UNMATCHED_ROUTE);
        let method = method_index(method);
        let seconds = took.as_secs_f64();
        {
            let routes = self.http.read().expect("not poisoned");
            let series = routes
                .get(route)
                .and_then(|series| series.methods[method].as_ref());
            if let Some(series) = series {
                if let Some(counter) = series.counter(status) {
                    counter.increment(1);
                    series.duration.record(seconds);
                    return;
                }
            }
        }
        // The first request of this route, method and status.
        let mut routes = self.http.write().expect("not poisoned");
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), RouteSeries::default());
        }
        let series = routes.get_mut(route).expect("just inserted").methods[method]
            .get_or_insert_with(|| MethodSeries {
                duration: self.recorder.register_histogram(
                    &Key::from_parts(
                        HTTP_DURATION,
                        vec![
                            Label::new("route", route.to_owned()),
                            Label::from_static_parts("method", method_label_at(method)),
                        ],
                    ),
                    &METADATA,
                ),
                statuses: Vec::new(),
            });
        if series.counter(status).is_none() {
            let key = Key::from_parts(
                HTTP_REQUESTS,
                vec![
                    Label::new("route", route.to_owned()),
                    Label::from_static_parts("method", method_label_at(method)),
                    Label::new("status", status.to_string()),
                ],
            );
            let counter = self.recorder.register_counter(&key, &METADATA);
            series.statuses.push((status, counter));
        }
        series.counter(status).expect("just added").increment(1);
        series.duration.record(seconds);
    }

    /// The text exposition of every series, with the state gauges read now.
    pub fn render(
        &self,
        store: &Store,
        keys: &KeyService,
        feed: &ChangeFeed,
        now: DateTime<Utc>,
    ) -> String {
        let state = &self.state;
        let pool = store.pool_usage();
        state.pool_idle.set(f64::from(pool.idle));
        state
            .pool_in_use
            .set(f64::from(pool.open.saturating_sub(pool.idle)));
        state.pool_max.set(f64::from(pool.max));
        let rotation = keys.rotation_times(now);
        let seconds = |d: chrono::Duration| d.num_milliseconds() as f64 / 1000.0;
        // NaN while no key signs: an alert on the age must not read a missing key as new.
        state.key_age.set(
            rotation
                .active_since
                .map_or(f64::NAN, |since| seconds(now - since)),
        );
        state.key_next_rotation.set(
            rotation
                .next_rotation
                .map_or(f64::NAN, |at| seconds(at - now).max(0.0)),
        );
        let progress = feed.progress();
        state
            .feed_lag
            .set(seconds(now - progress.last_success).max(0.0));
        state.feed_sequence.set(progress.last_seen as f64);
        let hashing = crate::password::pool_usage();
        state.hash_queue.set(hashing.waiting as f64);
        state.hash_running.set(hashing.running as f64);
        self.handle.render()
    }

    /// Folds the latencies recorded since the last scrape into their histograms.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Runs [`Metrics::run_upkeep`] every [`UPKEEP_INTERVAL`] until aborted.
pub fn spawn_upkeep(metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            metrics.run_upkeep();
        }
    })
}

/// `# HELP` of each metric.
fn describe(recorder: &impl Recorder) {
    let counters: &[(&'static str, &'static str)] = &[
        (
            HTTP_REQUESTS,
            "HTTP requests answered, by route template, method and status.",
        ),
        (
            TOKENS_ISSUED,
            "Access tokens issued, by grant or first-party call.",
        ),
        (
            AUTH_FAILURES,
            "Failed authentications: client secrets, user passwords, admin API credentials.",
        ),
        (RATE_LIMITED, "Requests refused by a rate limit, by limit."),
        (CACHE_REQUESTS, "Cache lookups, by cache and result."),
    ];
    for (name, help) in counters {
        recorder.describe_counter(
            KeyName::from_const_str(name),
            None,
            SharedString::const_str(help),
        );
    }
    recorder.describe_histogram(
        KeyName::from_const_str(HTTP_DURATION),
        None,
        SharedString::const_str("Time to answer an HTTP request, by route template and method."),
    );
    let gauges: &[(&'static str, &'static str)] = &[
        (FEED_LAG, "Seconds since this process last read the change feed: the most it can be behind other processes' changes."),
        (FEED_SEQUENCE, "Sequence number of the last change-feed row this process applied."),
        (KEY_AGE, "Seconds since the active signing key began signing (NaN: no key signs)."),
        (KEY_NEXT_ROTATION, "Seconds until the next signing key begins signing."),
        (POOL_CONNECTIONS, "Database pool connections, by state."),
        (POOL_MAX, "Largest number of database pool connections (database.max_connections)."),
        (HASH_QUEUE, "Password hashes (argon2id) waiting for a slot of the bounded pool."),
        (HASH_RUNNING, "Password hashes (argon2id) being computed now."),
        (BUILD_INFO, "The running version, as a label; always 1."),
    ];
    for (name, help) in gauges {
        recorder.describe_gauge(
            KeyName::from_const_str(name),
            None,
            SharedString::const_str(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn fixed_series_are_there_from_the_start_at_zero() {
        let metrics = Metrics::new();
        let text = metrics.handle.render();
        for grant in TokenGrant::ALL {
            let series = format!("tessera_tokens_issued_total{{grant=\"{}\"}}", grant.label());
            assert_eq!(line_value(&text, &series), Some(0.0), "{text}");
        }
        assert!(
            text.contains("# TYPE tessera_rate_limited_total counter"),
            "{text}"
        );
        metrics.token_issued(TokenGrant::Switch);
        metrics.rate_limited(Limit::Login);
        let text = metrics.handle.render();
        assert_eq!(
            line_value(&text, "tessera_tokens_issued_total{grant=\"switch\"}"),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, "tessera_rate_limited_total{limit=\"login\"}"),
            Some(1.0)
        );
    }

    #[test]
    fn each_route_method_and_status_counts_apart_and_odd_methods_share_one_label() {
        let metrics = Metrics::new();
        let ms = Duration::from_millis(1);
        metrics.http_request(Some("/oauth/token"), "POST", 200, ms);
        metrics.http_request(Some("/oauth/token"), "POST", 200, ms);
        metrics.http_request(Some("/oauth/token"), "POST", 401, ms);
        metrics.http_request(None, "BREW", 404, ms);
        metrics.http_request(None, "SPILL", 404, ms);
        metrics.run_upkeep();
        let text = metrics.handle.render();
        let count = |labels: &str| line_value(&text, &format!("{HTTP_REQUESTS}{{{labels}}}"));
        assert_eq!(
            count("route=\"/oauth/token\",method=\"POST\",status=\"200\""),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            count("route=\"/oauth/token\",method=\"POST\",status=\"401\""),
            Some(1.0)
        );
        assert_eq!(
            count("route=\"unmatched\",method=\"other\",status=\"404\""),
            Some(2.0)
        );
        assert_eq!(
            line_value(
                &text,
                &format!("{HTTP_DURATION}_count{{route=\"/oauth/token\",method=\"POST\"}}")
            ),
            Some(3.0),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{HTTP_DURATION}_bucket{{route=\"/oauth/token\",method=\"POST\",le=\"0.0025\"}} 3"
            )),
            "{text}"
        );
    }
}
