//! A tenant's idle token timeout (seed 003, `GET`/`PUT /api/v1/tokens/timeout`): whether
//! it is on and how long, bounded by `tokens.idle_timeout_min_seconds` and 30 days.
//! Setting it is an audit event and a change on the feed, so every process applies it
//! within a second. What it does to sessions is [`crate::tokens::session_state`]'s.

use chrono::{DateTime, Utc};

use crate::audit::{Action, AuditContext};
use crate::store::{IdleTimeoutRecord, Store};
use crate::tenants::TenantId;
use crate::tokens::{TokenSettings, MAX_IDLE_TIMEOUT_SECONDS};

/// What a tenant without a stored timeout reports: off, one hour (or the lower bound,
/// when that is longer).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3_600;

/// A tenant's idle token timeout, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeout {
    pub enabled: bool,
    pub timeout_seconds: u64,
}

/// A change asked for: on or off, and the length when given (else the current one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetIdleTimeout {
    pub enabled: bool,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdleTimeoutError {
    #[error("no such tenant")]
    TenantMissing,
    /// The length is out of bounds; the text says which.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn default_seconds(settings: &TokenSettings) -> u64 {
    DEFAULT_TIMEOUT_SECONDS.max(settings.idle_timeout_min_seconds)
}

fn shown(record: Option<&IdleTimeoutRecord>, settings: &TokenSettings) -> IdleTimeout {
    match record {
        Some(record) => IdleTimeout {
            enabled: record.enabled,
            timeout_seconds: u64::try_from(record.timeout_seconds).unwrap_or(0),
        },
        None => IdleTimeout {
            enabled: false,
            timeout_seconds: default_seconds(settings),
        },
    }
}

/// Checks a length against the bounds.
pub fn check_bounds(seconds: u64, settings: &TokenSettings) -> Result<(), String> {
    let min = settings.idle_timeout_min_seconds;
    if (min..=MAX_IDLE_TIMEOUT_SECONDS).contains(&seconds) {
        Ok(())
    } else {
        Err(format!(
            "idleTokenTimeoutSeconds: must be between {min} and {MAX_IDLE_TIMEOUT_SECONDS}"
        ))
    }
}

/// The idle timeout of `tenant`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn get(
    store: &Store,
    tenant: &TenantId,
    settings: &TokenSettings,
) -> Result<IdleTimeout, IdleTimeoutError> {
    if store.tenant(tenant).await?.is_none() {
        return Err(IdleTimeoutError::TenantMissing);
    }
    let record = store.idle_timeout(tenant.as_str()).await?;
    Ok(shown(record.as_ref(), settings))
}

/// Sets the idle timeout of `tenant`. Turning it on counts idle time from now at the
/// earliest, so no session ends at once for having been idle before.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn set(
    store: &Store,
    tenant: &TenantId,
    change: SetIdleTimeout,
    settings: &TokenSettings,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<IdleTimeout, IdleTimeoutError> {
    if let Some(seconds) = change.timeout_seconds {
        check_bounds(seconds, settings).map_err(IdleTimeoutError::Invalid)?;
    }
    let now_millis = now.timestamp_millis();
    let mut tx = store.begin_write().await?;
    if !Store::lock_tenant(&mut tx, tenant.as_str()).await? {
        return Err(IdleTimeoutError::TenantMissing);
    }
    let current = Store::idle_timeout_in(&mut tx, tenant.as_str()).await?;
    let timeout_seconds = change
        .timeout_seconds
        .unwrap_or_else(|| shown(current.as_ref(), settings).timeout_seconds);
    let since = match &current {
        Some(current) if current.enabled => current.since,
        _ => now_millis,
    };
    let record = IdleTimeoutRecord {
        tenant_id: tenant.as_str().to_owned(),
        enabled: change.enabled,
        timeout_seconds: i64::try_from(timeout_seconds).unwrap_or(i64::MAX),
        since,
        updated_at: now_millis,
    };
    let audit = audit.record(Action::IdleTimeoutSet, tenant.as_str(), Some(tenant));
    Store::put_idle_timeout(tx, &record, &audit).await?;
    Ok(shown(Some(&record), settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min: u64) -> TokenSettings {
        TokenSettings {
            refresh_grace_seconds: 0,
            refresh_family_lifetime_seconds: 1,
            authorization_code_ttl_seconds: 1,
            idle_timeout_min_seconds: min,
        }
    }

    #[test]
    fn lengths_are_bounded_by_the_configured_minimum_and_thirty_days() {
        let settings = settings(300);
        assert!(check_bounds(299, &settings).is_err());
        assert!(check_bounds(300, &settings).is_ok());
        assert!(check_bounds(2_592_000, &settings).is_ok());
        assert!(check_bounds(2_592_001, &settings).is_err());
        assert!(check_bounds(0, &settings).is_err());
    }

    #[test]
    fn an_unset_timeout_is_off_with_the_default_length() {
        assert_eq!(
            shown(None, &settings(300)),
            IdleTimeout {
                enabled: false,
                timeout_seconds: 3_600
            }
        );
        assert_eq!(shown(None, &settings(7_200)).timeout_seconds, 7_200);
    }
}
