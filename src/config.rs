//! Settings: `config/default.toml` (compiled in), an optional file on top, then
//! `TESSERA_<SECTION>__<KEY>` and `DATABASE_URL` from the environment.
//!
//! Unknown keys and invalid values are errors that name the key, so a typo never
//! silently falls back to a default.
//!
//! Each section's type belongs to the module it configures (`[signing]` to `keys`,
//! `[database]` to `store`, …); this module composes them and checks what spans
//! sections, so configuration depends on the modules and never the other way round.

use std::net::SocketAddr;
use std::path::Path;

use std::str::FromStr;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::clients::LimitSettings;
pub use crate::keys::SigningSettings;
pub use crate::login::LoginSettings;
pub use crate::oauth::OAuthSettings;
pub use crate::rate_limit::{ClientRateLimit, RateLimitSettings};
pub use crate::store::DatabaseSettings;
pub use crate::telemetry::{LogFormat, LogSettings};
pub use crate::tokens::TokenSettings;

/// The defaults, documented line by line in the file itself.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub admin: AdminSettings,
    pub signing: SigningSettings,
    pub oauth: OAuthSettings,
    pub tokens: TokenSettings,
    pub login: LoginSettings,
    pub rate_limit: RateLimitSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// Empty: `/metrics` is served on `listen`, to the admin API key.
    pub metrics_listen: String,
    pub issuer: String,
    pub body_limit_bytes: usize,
    pub workers: usize,
    pub shutdown_timeout_seconds: u64,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub forwarded_header: crate::http::ForwardedHeader,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Empty means "not configured": a key is generated on the first start.
    pub api_key: SecretString,
    pub tenant_token_seconds: u64,
    /// How long a chain of renewed tenant admin tokens may last from its first issuance.
    pub tenant_token_max_lifetime_seconds: u64,
    /// How long a portal link (`GET /api/v1/tenants/{tenantId}/portal`) can be opened.
    pub portal_link_seconds: u64,
}

/// The longest a portal link may live: it is a bearer credential in a URL.
pub const MAX_PORTAL_LINK_SECONDS: u64 = 60;

pub const MIN_ADMIN_KEY_LEN: usize = 16;
/// The smallest per-connection SQLite page cache accepted: a few dozen pages, below which
/// every statement of a transaction re-reads the index pages it shares with the last.
pub const MIN_SQLITE_CACHE_KIB: u32 = 64;
/// The largest: 4 GiB per connection, far beyond any use and within SQLite's int.
pub const MAX_SQLITE_CACHE_KIB: u32 = 4 * 1024 * 1024;
/// Longest duration any setting accepts.
pub const MAX_DURATION_SECONDS: u64 = 315_360_000;

/// Settings that are lists, and the variable that sets each (comma-separated).
const LIST_KEYS: &[(&str, &str)] = &[
    ("TESSERA_OAUTH__RESOURCES", "oauth.resources"),
    ("TESSERA_OAUTH__SCOPES_SUPPORTED", "oauth.scopes_supported"),
    ("TESSERA_SERVER__TRUSTED_PROXIES", "server.trusted_proxies"),
];

impl Settings {
    /// Defaults, then `file` (required when given), then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Like [`Settings::load`] with an explicit environment, so tests need not touch the
    /// process environment.
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Self> {
        use config::{Config, Environment, File, FileFormat};

        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        // Values stay text (no guessing of numbers, which would mangle a numeric
        // secret); typed fields parse their text. Lists are comma-separated.
        let mut tessera_env: config::Map<String, String> = env
            .iter()
            .filter(|(name, _)| name.starts_with("TESSERA_"))
            .cloned()
            .collect();
        for (name, key) in LIST_KEYS {
            if let Some(value) = tessera_env.remove(*name) {
                let items: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect();
                builder = builder.set_override(*key, items)?;
            }
        }
        builder = builder.add_source(
            Environment::with_prefix("TESSERA")
                .prefix_separator("_")
                .separator("__")
                .source(Some(tessera_env)),
        );
        let database_url = env
            .iter()
            .find(|(name, _)| name == "DATABASE_URL")
            .map(|(_, value)| value.clone());
        builder = builder.set_override_option("database.url", database_url)?;

        let settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let listen = self.listen_addr()?;
        if let Some(metrics) = self.metrics_listen_addr()? {
            if metrics == listen && listen.port() != 0 {
                bail!("server.metrics_listen: must differ from server.listen");
            }
        }
        if !self.server.issuer.is_empty() {
            parse_issuer(&self.server.issuer).with_context(|| {
                format!("server.issuer: invalid value {:?}", self.server.issuer)
            })?;
        }
        if self.server.body_limit_bytes < 1024 {
            bail!("server.body_limit_bytes: must be at least 1024");
        }
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database.url: must start with sqlite:, postgres:// or postgresql://");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections: must be at least 1");
        }
        if !(MIN_SQLITE_CACHE_KIB..=MAX_SQLITE_CACHE_KIB).contains(&self.database.sqlite_cache_kib)
        {
            bail!(
                "database.sqlite_cache_kib: must be {MIN_SQLITE_CACHE_KIB} to {MAX_SQLITE_CACHE_KIB}"
            );
        }
        if self.database.acquire_timeout_seconds == 0 {
            bail!("database.acquire_timeout_seconds: must be at least 1");
        }
        let key_len = self.admin.api_key.expose_secret().len();
        if key_len > 0 && key_len < MIN_ADMIN_KEY_LEN {
            bail!("admin.api_key: must be at least {MIN_ADMIN_KEY_LEN} characters");
        }
        self.validate_signing()?;
        self.validate_oauth()?;
        self.validate_tokens()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .with_context(|| format!("log.level: invalid value {:?}", self.log.level))?;
        Ok(())
    }

    fn validate_oauth(&self) -> anyhow::Result<()> {
        let oauth = &self.oauth;
        if !oauth.default_audience.is_empty() {
            crate::oauth::resource::parse_resource(&oauth.default_audience)
                .map_err(anyhow::Error::msg)
                .context("oauth.default_audience")?;
        }
        for resource in &oauth.resources {
            crate::oauth::resource::parse_resource(resource)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("oauth.resources: {resource:?}"))?;
        }
        for scope in &oauth.scopes_supported {
            crate::clients::ScopeToken::parse(scope)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("oauth.scopes_supported: {scope:?}"))?;
        }
        if oauth.sync_interval_millis == 0 || oauth.sync_interval_millis > 1000 {
            bail!("oauth.sync_interval_millis: between 1 and 1000, so changes reach every process within a second");
        }
        if self.server.shutdown_timeout_seconds > 3_600 {
            bail!("server.shutdown_timeout_seconds: at most 3600");
        }
        if oauth.client_cache_entries == 0 {
            bail!("oauth.client_cache_entries: must be at least 1");
        }
        if oauth.client_cache_warm_seconds > 315_360_000 {
            bail!("oauth.client_cache_warm_seconds: at most 315360000 (ten years)");
        }
        let limits = &self.rate_limit;
        let overrides = limits
            .clients
            .iter()
            .map(|(id, limit)| (format!("rate_limit.clients.{id}"), *limit));
        for (key, limit) in std::iter::once((
            "rate_limit".to_owned(),
            ClientRateLimit {
                requests_per_second: limits.requests_per_second,
                burst: limits.burst,
            },
        ))
        .chain(overrides)
        {
            if limit.requests_per_second == 0 || limit.burst == 0 {
                bail!("{key}: requests_per_second and burst must be at least 1");
            }
        }
        for (key, per_second, burst) in [
            (
                "rate_limit.address_requests_per_second and address_burst",
                limits.address_requests_per_second,
                limits.address_burst,
            ),
            (
                "rate_limit.global_requests_per_second and global_burst",
                limits.global_requests_per_second,
                limits.global_burst,
            ),
        ] {
            if per_second == 0 || burst == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        if limits.failed_auth_per_address_per_minute == 0
            || limits.failed_auth_per_address_burst == 0
        {
            bail!(
                "rate_limit.failed_auth_per_address_per_minute and \
                 failed_auth_per_address_burst: must be at least 1"
            );
        }
        self.login.validate()?;
        if self.limits.clients_per_tenant == 0 || self.limits.secrets_per_client == 0 {
            bail!("limits.clients_per_tenant and limits.secrets_per_client: must be at least 1");
        }
        Ok(())
    }

    fn validate_tokens(&self) -> anyhow::Result<()> {
        let tokens = &self.tokens;
        if tokens.refresh_grace_seconds > crate::tokens::MAX_REFRESH_GRACE_SECONDS {
            bail!(
                "tokens.refresh_grace_seconds: at most {}",
                crate::tokens::MAX_REFRESH_GRACE_SECONDS
            );
        }
        if tokens.refresh_family_lifetime_seconds == 0
            || tokens.refresh_family_lifetime_seconds > MAX_DURATION_SECONDS
        {
            bail!(
                "tokens.refresh_family_lifetime_seconds: must be between 1 and \
                 {MAX_DURATION_SECONDS} (ten years)"
            );
        }
        let ttl = tokens.authorization_code_ttl_seconds;
        if ttl == 0 || ttl > crate::tokens::MAX_AUTHORIZATION_CODE_TTL_SECONDS {
            bail!(
                "tokens.authorization_code_ttl_seconds: between 1 and {}",
                crate::tokens::MAX_AUTHORIZATION_CODE_TTL_SECONDS
            );
        }
        let min = tokens.idle_timeout_min_seconds;
        if min == 0 || min > crate::tokens::MAX_IDLE_TIMEOUT_SECONDS {
            bail!(
                "tokens.idle_timeout_min_seconds: between 1 and {}",
                crate::tokens::MAX_IDLE_TIMEOUT_SECONDS
            );
        }
        Ok(())
    }

    fn validate_signing(&self) -> anyhow::Result<()> {
        let signing = &self.signing;
        crate::keys::Algorithm::from_str(&signing.algorithm).context("signing.algorithm")?;
        for (key, value) in [
            (
                "rotation_interval_seconds",
                signing.rotation_interval_seconds,
            ),
            ("prepublish_seconds", signing.prepublish_seconds),
            (
                "max_token_lifetime_seconds",
                signing.max_token_lifetime_seconds,
            ),
            ("refresh_seconds", signing.refresh_seconds),
        ] {
            if value == 0 || value > MAX_DURATION_SECONDS {
                bail!("signing.{key}: must be between 1 and {MAX_DURATION_SECONDS} (ten years)");
            }
        }
        if signing.leeway_seconds > 3_600 || signing.jwks_max_age() > MAX_DURATION_SECONDS {
            bail!("signing.leeway_seconds (at most 3600) or signing.jwks_max_age_seconds is too large");
        }
        if self.admin.tenant_token_seconds == 0
            || self.admin.tenant_token_seconds > signing.max_token_lifetime_seconds
        {
            bail!(
                "admin.tenant_token_seconds: must be between 1 and \
                 signing.max_token_lifetime_seconds"
            );
        }
        if self.admin.tenant_token_max_lifetime_seconds < self.admin.tenant_token_seconds {
            bail!(
                "admin.tenant_token_max_lifetime_seconds: must be at least \
                 admin.tenant_token_seconds"
            );
        }
        if !(1..=MAX_PORTAL_LINK_SECONDS).contains(&self.admin.portal_link_seconds) {
            bail!("admin.portal_link_seconds: must be between 1 and {MAX_PORTAL_LINK_SECONDS}");
        }
        if signing.prepublish_seconds >= signing.rotation_interval_seconds {
            bail!("signing.prepublish_seconds: must be shorter than signing.rotation_interval_seconds");
        }
        if signing.refresh_seconds >= signing.prepublish_seconds {
            bail!(
                "signing.refresh_seconds: must be shorter than signing.prepublish_seconds, or \
                 a process could miss the next key before it signs"
            );
        }
        if signing.jwks_max_age() + signing.refresh_seconds > signing.prepublish_seconds {
            bail!(
                "signing.jwks_max_age_seconds: with signing.refresh_seconds it must not exceed \
                 signing.prepublish_seconds, or caches could miss the next key (leave it \
                 unset to have it derived)"
            );
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .listen
            .parse()
            .with_context(|| format!("server.listen: invalid address {:?}", self.server.listen))
    }

    /// Where `/metrics` has a listener of its own, if anywhere.
    pub fn metrics_listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let address = self.server.metrics_listen.trim();
        if address.is_empty() {
            return Ok(None);
        }
        address.parse().map(Some).with_context(|| {
            format!(
                "server.metrics_listen: invalid address {:?}",
                self.server.metrics_listen
            )
        })
    }

    /// The configured issuer exactly as written, or one derived from the address bound.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        if !self.server.issuer.is_empty() {
            return self.server.issuer.clone();
        }
        let host = if bound.ip().is_unspecified() || bound.ip().is_loopback() {
            "localhost".to_owned()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        format!("http://{host}:{}", bound.port())
    }

    pub fn is_postgres(&self) -> bool {
        self.database.url.expose_secret().starts_with("postgres")
    }
}

fn parse_issuer(issuer: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(issuer)?;
    if !matches!(url.scheme(), "https" | "http") {
        bail!("the scheme must be https (or http for local use)");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("an issuer has no query and no fragment (RFC 8414 §2)");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let settings = Settings::load_from(None, &[]).unwrap();
        assert_eq!(settings.server.listen, "127.0.0.1:8080");
        assert_eq!(
            settings.database.url.expose_secret(),
            "sqlite://data/tessera.db"
        );
        assert!(!settings.is_postgres());
    }

    #[test]
    fn environment_overrides_nested_keys_and_database_url() {
        let settings = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_SERVER__LISTEN", "0.0.0.0:9000"),
                ("TESSERA_DATABASE__MAX_CONNECTIONS", "3"),
                ("TESSERA_DATABASE__MIGRATE_ON_START", "false"),
                (
                    "TESSERA_ADMIN__API_KEY",
                    "000123456789012345678901234567890",
                ),
                (
                    "TESSERA_OAUTH__RESOURCES",
                    "https://a.example,https://b.example",
                ),
                ("DATABASE_URL", "postgres://postgres@127.0.0.1/tessera"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.listen, "0.0.0.0:9000");
        assert_eq!(settings.database.max_connections, 3);
        assert!(!settings.database.migrate_on_start);
        // Secrets are text, even when they look like numbers.
        assert_eq!(
            settings.admin.api_key.expose_secret(),
            "000123456789012345678901234567890"
        );
        assert_eq!(
            settings.oauth.resources,
            ["https://a.example", "https://b.example"]
        );
        assert!(settings.is_postgres());
        assert_eq!(
            settings.issuer_for("0.0.0.0:9000".parse().unwrap()),
            "http://localhost:9000"
        );
    }

    #[test]
    fn the_jwks_max_age_follows_prepublish_unless_set() {
        let defaults = Settings::load_from(None, &[]).unwrap();
        assert_eq!(defaults.signing.jwks_max_age(), 300);
        let short = Settings::load_from(
            None,
            &env(&[("TESSERA_SIGNING__PREPUBLISH_SECONDS", "100")]),
        )
        .expect("changing only prepublish_seconds still starts");
        assert_eq!(short.signing.jwks_max_age(), 90);
        let set = Settings::load_from(
            None,
            &env(&[("TESSERA_SIGNING__JWKS_MAX_AGE_SECONDS", "60")]),
        )
        .unwrap();
        assert_eq!(set.signing.jwks_max_age(), 60);
        let conflicting = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_SIGNING__PREPUBLISH_SECONDS", "100"),
                ("TESSERA_SIGNING__JWKS_MAX_AGE_SECONDS", "300"),
            ]),
        )
        .unwrap_err();
        assert!(
            format!("{conflicting:#}").contains("jwks_max_age_seconds"),
            "{conflicting:#}"
        );
        let refresh = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_SIGNING__PREPUBLISH_SECONDS", "10"),
                ("TESSERA_SIGNING__REFRESH_SECONDS", "10"),
            ]),
        )
        .unwrap_err();
        assert!(
            format!("{refresh:#}").contains("refresh_seconds"),
            "{refresh:#}"
        );
    }

    #[test]
    fn trusted_proxies_are_cidrs_from_a_list() {
        let settings = Settings::load_from(
            None,
            &env(&[("TESSERA_SERVER__TRUSTED_PROXIES", "10.0.0.0/8, ::1/128")]),
        )
        .unwrap();
        assert_eq!(settings.server.trusted_proxies.len(), 2);
        let error = Settings::load_from(
            None,
            &env(&[("TESSERA_SERVER__TRUSTED_PROXIES", "not-a-network")]),
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("trusted_proxies"),
            "{error:#}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let error =
            Settings::load_from(None, &env(&[("TESSERA_SERVER__LISTNE", "x")])).unwrap_err();
        assert!(format!("{error:#}").contains("listne"), "{error:#}");
    }

    #[test]
    fn invalid_values_are_named() {
        for (name, value, key) in [
            ("TESSERA_SERVER__LISTEN", "not an address", "server.listen"),
            ("TESSERA_SERVER__ISSUER", "ftp://x", "server.issuer"),
            ("TESSERA_ADMIN__API_KEY", "short", "admin.api_key"),
            ("TESSERA_DATABASE__URL", "mysql://x", "database.url"),
            (
                "TESSERA_DATABASE__MAX_CONNECTIONS",
                "many",
                "max_connections",
            ),
            (
                "TESSERA_DATABASE__SQLITE_CACHE_KIB",
                "16",
                "database.sqlite_cache_kib",
            ),
            (
                "TESSERA_TOKENS__REFRESH_GRACE_SECONDS",
                "301",
                "tokens.refresh_grace_seconds",
            ),
            (
                "TESSERA_TOKENS__REFRESH_FAMILY_LIFETIME_SECONDS",
                "0",
                "tokens.refresh_family_lifetime_seconds",
            ),
        ] {
            let error = Settings::load_from(None, &env(&[(name, value)])).unwrap_err();
            assert!(format!("{error:#}").contains(key), "{name}: {error:#}");
        }
    }

    #[test]
    fn refresh_rules_default_to_ten_seconds_of_grace_and_thirty_day_families() {
        let settings = Settings::load_from(None, &[]).unwrap();
        assert_eq!(settings.tokens.refresh_grace_seconds, 10);
        assert_eq!(settings.tokens.refresh_family_lifetime_seconds, 30 * 86_400);
        let off = env(&[("TESSERA_TOKENS__REFRESH_GRACE_SECONDS", "0")]);
        assert_eq!(
            Settings::load_from(None, &off)
                .unwrap()
                .tokens
                .refresh_grace_seconds,
            0
        );
    }

    #[test]
    fn a_tenant_token_chain_lasts_at_least_one_token() {
        let settings = Settings::load_from(None, &[]).unwrap();
        assert_eq!(settings.admin.tenant_token_max_lifetime_seconds, 8 * 3600);
        let error = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_ADMIN__TENANT_TOKEN_SECONDS", "900"),
                ("TESSERA_ADMIN__TENANT_TOKEN_MAX_LIFETIME_SECONDS", "600"),
            ]),
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("admin.tenant_token_max_lifetime_seconds"),
            "{error:#}"
        );
    }

    #[test]
    fn the_metrics_listener_is_off_by_default_and_checked_when_set() {
        let settings = Settings::load_from(None, &[]).unwrap();
        assert_eq!(settings.metrics_listen_addr().unwrap(), None);
        let settings = Settings::load_from(
            None,
            &env(&[("TESSERA_SERVER__METRICS_LISTEN", "127.0.0.1:9090")]),
        )
        .unwrap();
        assert_eq!(
            settings.metrics_listen_addr().unwrap(),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        for value in ["localhost:9090", "9090", "127.0.0.1:8080"] {
            let error =
                Settings::load_from(None, &env(&[("TESSERA_SERVER__METRICS_LISTEN", value)]))
                    .unwrap_err();
            assert!(
                format!("{error:#}").contains("server.metrics_listen"),
                "{value}: {error:#}"
            );
        }
    }

    #[test]
    fn a_portal_link_lives_at_most_a_minute() {
        let settings = Settings::load_from(None, &[]).unwrap();
        assert_eq!(settings.admin.portal_link_seconds, 60);
        for value in ["0", "61"] {
            let error =
                Settings::load_from(None, &env(&[("TESSERA_ADMIN__PORTAL_LINK_SECONDS", value)]))
                    .unwrap_err();
            assert!(
                format!("{error:#}").contains("admin.portal_link_seconds"),
                "{error:#}"
            );
        }
    }
}
