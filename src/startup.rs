//! Application: opens storage, resolves the admin key, loads the signing keys (and the
//! master key, from which the client secret hasher is derived), wires the OAuth server
//! with its caches, the change-feed poller and the lastUsedAt flush, binds the listener
//! and builds the HTTP server (request metrics, request context, then the limits before
//! work, then the routes), with the background jobs stopped when it stops (and the last
//! uses written). Its metrics recorder is its own (see [`crate::metrics`]); with
//! `server.metrics_listen` set, a second server on that address serves `/metrics` alone.
//! Tests build it on port 0 exactly as `tessera serve` does.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use chrono::Utc;

use crate::auth::admin_key::{AdminKeySource, AdminKeyVerifier};
use crate::auth::Authenticator;
use crate::changes::{self, ChangeFeed, FeedTargets, Freshness, FRESHNESS_SLACK};
use crate::clients::secrets::SecretHasher;
use crate::clients::{self, ClientAuthenticator, ClientPolicy, LAST_USED_FLUSH_INTERVAL};
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::keys::{self, KeyService};
use crate::login::LoginService;
use crate::metrics::{self, Metrics};
use crate::oauth::{OAuthParts, OAuthServer};
use crate::rate_limit::{AddressLimiter, FailureLimiter, RequestLimiter};
use crate::store::Store;
use crate::tokens::tenant_admin::{TenantTokenRevocations, TenantTokenService};
use crate::tokens::{DenyList, SessionStates, TokenVerifier};

pub struct Application {
    port: u16,
    /// The port of `server.metrics_listen`'s listener, when it is set.
    metrics_port: Option<u16>,
    issuer: String,
    store: Store,
    keys: Arc<KeyService>,
    clients: Arc<ClientAuthenticator>,
    oauth: Arc<OAuthServer>,
    sessions: Arc<SessionStates>,
    background: Vec<tokio::task::JoinHandle<()>>,
    server: Server,
    /// Serves `/metrics` alone on `server.metrics_listen`; stopped with `server`.
    metrics_server: Option<Server>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let (admin_key, source) =
            AdminKeyVerifier::resolve(&settings.admin.api_key, &store, Utc::now()).await?;
        announce_admin_key(
            source,
            &crate::auth::admin_key::generated_key_file(&settings.signing.master_key_file),
        )?;
        let keys = KeyService::start(store.clone(), &settings.signing, Utc::now()).await?;
        let key_refresh = keys::spawn_refresh(
            keys.clone(),
            Duration::from_secs(settings.signing.refresh_seconds),
        );
        let metrics = Metrics::new();
        let client_policy = ClientPolicy {
            hasher: SecretHasher::from_keys(&keys),
            limits: settings.limits,
        };
        let clients = Arc::new(ClientAuthenticator::new(
            store.clone(),
            client_policy.hasher.clone(),
            FailureLimiter::new(&settings.rate_limit),
            settings.oauth.client_cache_entries as u64,
            &metrics,
        ));
        let use_flush = clients::spawn_use_flush(clients.clone(), LAST_USED_FLUSH_INTERVAL);
        let deny_list = Arc::new(DenyList::default());
        let ended_sessions = Arc::new(DenyList::default());
        let session_states = Arc::new(SessionStates::new(store.clone(), &metrics));
        let activity_flush = spawn_activity_flush(
            session_states.clone(),
            Duration::from_millis(settings.oauth.sync_interval_millis),
        );
        // How long after a session ends one of its access tokens could be unexpired.
        let session_token_horizon = chrono::Duration::seconds(
            (settings.signing.max_token_lifetime_seconds + settings.signing.leeway_seconds) as i64,
        );
        let tenant_tokens = Arc::new(TenantTokenRevocations::default());
        let sync_interval = Duration::from_millis(settings.oauth.sync_interval_millis);
        let freshness = Arc::new(Freshness::new(sync_interval + FRESHNESS_SLACK));
        let tenant_token_max_lifetime =
            chrono::Duration::seconds(settings.admin.tenant_token_max_lifetime_seconds as i64);
        let feed = ChangeFeed::start(
            store.clone(),
            FeedTargets {
                clients: clients.clone(),
                keys: keys.clone(),
                deny_list: deny_list.clone(),
                tenant_tokens: tenant_tokens.clone(),
                tenant_token_max_lifetime,
                ended_sessions: ended_sessions.clone(),
                sessions: session_states.clone(),
                session_token_horizon,
                refresh_grace: settings.tokens.refresh_grace(),
                freshness: freshness.clone(),
            },
            Utc::now(),
        )
        .await?;
        // After the feed has its starting point: a change committed while a page is read
        // is then either in the page or delivered by the feed (which forgets the client).
        if settings.oauth.client_cache_warm_seconds > 0 {
            let window = chrono::Duration::seconds(
                i64::try_from(settings.oauth.client_cache_warm_seconds).unwrap_or(i64::MAX / 1000),
            );
            let warming = clients.clone();
            let mut warm = tokio::spawn(async move {
                match warming.warm(chrono::Utc::now() - window).await {
                    Ok(count) => tracing::info!(count, "client cache warmed"),
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "cannot warm the client cache")
                    }
                }
            });
            // Listen once the clients are cached, so a restarted process serves its first
            // requests at full speed; a warm-up longer than this goes on in the background.
            if tokio::time::timeout(CLIENT_CACHE_WARM_WAIT, &mut warm)
                .await
                .is_err()
            {
                tracing::info!("client cache still warming: listening meanwhile");
            }
        }
        // Catch up with what changed while the state loaded, so the first requests are
        // answered from current memory (and not refused as stale after a long warm-up).
        if let Err(error) = feed.poll(Utc::now()).await {
            tracing::warn!(error = format!("{error:#}"), "cannot poll the change feed");
        }

        let address = settings.listen_addr()?;
        let listener = TcpListener::bind(address)
            .with_context(|| format!("cannot listen on {address} (server.listen)"))?;
        let bound = listener.local_addr()?;
        let issuer = settings.issuer_for(bound);
        tracing::info!(%bound, %issuer, database = store.backend(), "tessera listening");
        let metrics_listener = match settings.metrics_listen_addr()? {
            Some(address) => {
                let listener = TcpListener::bind(address).with_context(|| {
                    format!("cannot listen on {address} (server.metrics_listen)")
                })?;
                tracing::info!(bound = %listener.local_addr()?, "metrics listening");
                Some(listener)
            }
            None => None,
        };
        let metrics_port = match &metrics_listener {
            Some(listener) => Some(listener.local_addr()?.port()),
            None => None,
        };

        let verifier = Arc::new(TokenVerifier::new(
            keys.clone(),
            deny_list.clone(),
            ended_sessions.clone(),
            session_states.clone(),
            &issuer,
            &settings.oauth.default_audience_for(&issuer),
            settings.signing.leeway_seconds,
        ));
        let oauth = Arc::new(OAuthServer::new(
            &issuer,
            &settings.oauth,
            OAuthParts {
                store: store.clone(),
                keys: keys.clone(),
                clients: clients.clone(),
                deny_list,
                verifier: verifier.clone(),
                token_limiter: RequestLimiter::new(&settings.rate_limit),
                introspection_limiter: RequestLimiter::new(&settings.rate_limit),
                revocation_limiter: RequestLimiter::new(&settings.rate_limit),
                max_token_lifetime_seconds: settings.signing.max_token_lifetime_seconds,
                tokens: settings.tokens.clone(),
                ended_sessions,
                session_token_horizon,
                metrics: metrics.clone(),
                freshness: freshness.clone(),
            },
        ));
        let feed_task = changes::spawn(feed.clone(), oauth.clone(), sync_interval);

        let login = Arc::new(LoginService::new(
            store.clone(),
            oauth.clone(),
            &keys,
            &settings.login,
            &issuer,
        ));
        let address_limiter = Arc::new(AddressLimiter::new(&settings.rate_limit));
        let forget_idle_addresses =
            spawn_forget_idle_addresses(address_limiter.clone(), login.clone());
        let body_limit = settings.server.body_limit_bytes;
        let state = web::Data::new(AppState {
            store: store.clone(),
            issuer: issuer.clone(),
            body_limit,
            keys: keys.clone(),
            jwks_max_age_seconds: settings.signing.jwks_max_age(),
            oauth: oauth.clone(),
            login,
            client_policy,
            trusted_proxies: http::TrustedProxies::new(
                settings.server.trusted_proxies.clone(),
                settings.server.forwarded_header,
            ),
            address_limiter,
            changes: feed,
            auth: Authenticator::new(
                admin_key,
                TenantTokenService {
                    store: store.clone(),
                    keys: keys.clone(),
                    verifier,
                    issuer: issuer.clone(),
                    lifetime: chrono::Duration::seconds(settings.admin.tenant_token_seconds as i64),
                    max_lifetime: tenant_token_max_lifetime,
                    portal_link_lifetime: chrono::Duration::seconds(
                        settings.admin.portal_link_seconds as i64,
                    ),
                    revocations: tenant_tokens,
                    freshness: freshness.clone(),
                },
                store.clone(),
                clients.clone(),
                freshness,
            ),
            metrics: metrics.clone(),
            usernames: crate::users::UsernameCache::default(),
        });
        let metrics_here = metrics_listener.is_none();
        let metrics_server = match metrics_listener {
            Some(listener) => Some(metrics_server(
                state.clone(),
                listener,
                settings.server.shutdown_timeout_seconds,
            )?),
            None => None,
        };
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(http::limit_before_work))
                .wrap(from_fn(http::request_context))
                .wrap(from_fn(http::record_request))
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .configure(http::routes)
                .configure(|cfg| {
                    if metrics_here {
                        http::metrics_routes(cfg);
                    }
                })
                .default_service(http::not_found_service())
        })
        .shutdown_timeout(settings.server.shutdown_timeout_seconds);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self {
            port: bound.port(),
            metrics_port,
            issuer,
            store,
            keys,
            clients,
            oauth,
            sessions: session_states,
            background: vec![
                key_refresh,
                feed_task,
                use_flush,
                forget_idle_addresses,
                activity_flush,
                metrics::spawn_upkeep(metrics),
            ],
            server,
            metrics_server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on when `server.metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The storage handle the server uses (tests use it to reach the database).
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    pub fn keys(&self) -> Arc<KeyService> {
        self.keys.clone()
    }

    pub fn clients(&self) -> Arc<ClientAuthenticator> {
        self.clients.clone()
    }

    /// The OAuth server (tests call it with a clock of their own).
    pub fn oauth(&self) -> Arc<OAuthServer> {
        self.oauth.clone()
    }

    /// A handle that stops the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or [`Application::handle`]) stops the server and
    /// in-flight requests have finished.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let metrics_server = self
            .metrics_server
            .map(|server| (server.handle(), tokio::spawn(server)));
        let served = self.server.await.context("HTTP server failed");
        if let Some((handle, serving)) = metrics_server {
            handle.stop(true).await;
            if let Ok(Err(error)) = serving.await {
                tracing::warn!(error = %error, "metrics listener failed");
            }
        }
        for task in &self.background {
            task.abort();
        }
        if let Err(error) = self.clients.flush_uses().await {
            tracing::warn!(error = format!("{error:#}"), "cannot record lastUsedAt");
        }
        if let Err(error) = self.sessions.flush().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot record session activity"
            );
        }
        served?;
        tokio::time::timeout(Duration::from_secs(5), self.store.close())
            .await
            .ok();
        tracing::info!("tessera stopped");
        Ok(())
    }
}

/// `/metrics` alone, open, on a listener of its own (`server.metrics_listen`): one
/// worker, no signal handling of its own (it stops when the main server does).
fn metrics_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    shutdown_timeout_seconds: u64,
) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(http::open_metrics_routes)
            .default_service(http::not_found_service())
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(shutdown_timeout_seconds)
    .listen(listener)?
    .run();
    Ok(server)
}

/// How long a start waits for the client cache to warm before it listens.
const CLIENT_CACHE_WARM_WAIT: Duration = Duration::from_secs(5);

/// Writes the sessions' activity noted in memory every `every` (see
/// [`SessionStates`]: batched, at most once per session per recording step).
fn spawn_activity_flush(
    sessions: Arc<SessionStates>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = sessions.flush().await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot record session activity"
                );
            }
        }
    })
}

/// How often the address limiter forgets addresses whose buckets are full again.
const FORGET_IDLE_ADDRESSES_EVERY: Duration = Duration::from_secs(60);

/// Keeps the address limiter's and the login limits' memory to the callers seen lately.
fn spawn_forget_idle_addresses(
    limiter: Arc<AddressLimiter>,
    login: Arc<LoginService>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(FORGET_IDLE_ADDRESSES_EVERY);
        loop {
            interval.tick().await;
            limiter.forget_idle();
            login.forget_idle_limits();
        }
    })
}

/// A generated key is shown once, on an interactive terminal; where no one watches
/// (a service, a container, piped output) it goes to a 0600 file whose path is logged.
/// Never into the log stream.
fn announce_admin_key(source: AdminKeySource, key_file: &std::path::Path) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    use std::io::IsTerminal;
    match source {
        AdminKeySource::Configured => tracing::info!("admin API key: from configuration"),
        AdminKeySource::Stored => {
            tracing::info!("admin API key: the one generated on the first start")
        }
        AdminKeySource::Generated(key) if std::io::stderr().is_terminal() => {
            eprintln!(
                "\nNo admin API key was configured, so Tessera generated one. It is shown only \
                 this once and stored only as a hash:\n\n    admin API key: {}\n\nKeep it \
                 somewhere safe, or set TESSERA_ADMIN__API_KEY to choose your own.\n",
                key.expose_secret()
            );
        }
        AdminKeySource::Generated(key) => {
            crate::auth::admin_key::write_generated_key(key_file, &key)?;
            tracing::warn!(
                file = %key_file.display(),
                "admin API key: none was configured, so one was generated and written to \
                 this file (mode 0600) only; keep it somewhere safe and delete the file"
            );
        }
    }
    Ok(())
}
