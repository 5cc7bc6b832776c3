//! Audit events: who changed what, when, under which request. Each one is built here
//! ([`AuditContext::record`]) as the store's plain [`AuditRecord`] and written by the
//! store in the transaction of the change itself; never carries a secret. Read back,
//! newest first and within the caller's scope, narrowed by an [`AuditFilter`], with
//! [`list_events`].

use chrono::{DateTime, Utc};

use crate::ids::{TenantId, TenantScope};
use crate::store::{from_millis, AuditRecord, AuditRow, Store};

/// What was done. The text (`oauth_client.created`, …) is what is stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    ClientSecretAdded,
    ClientSecretDeleted,
    SigningKeyCreated,
    SigningKeyImported,
    SigningKeyRevoked,
    SigningKeyDeleted,
    TenantTokenIssued,
    TenantTokenRevoked,
    TenantTokensRevoked,
    PortalLinkIssued,
    PortalSessionEnded,
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserPasswordChanged,
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
    UserSessionsRevoked,
    IdleTimeoutSet,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TenantCreated => "tenant.created",
            Action::TenantUpdated => "tenant.updated",
            Action::TenantDeleted => "tenant.deleted",
            Action::ClientCreated => "oauth_client.created",
            Action::ClientUpdated => "oauth_client.updated",
            Action::ClientDeleted => "oauth_client.deleted",
            Action::ClientSecretAdded => "oauth_client.secret_added",
            Action::ClientSecretDeleted => "oauth_client.secret_deleted",
            Action::SigningKeyCreated => "signing_key.created",
            Action::SigningKeyImported => "signing_key.imported",
            Action::SigningKeyRevoked => "signing_key.revoked",
            Action::SigningKeyDeleted => "signing_key.deleted",
            Action::TenantTokenIssued => "tenant_token.issued",
            Action::TenantTokenRevoked => "tenant_token.revoked",
            Action::TenantTokensRevoked => "tenant_tokens.revoked",
            Action::PortalLinkIssued => "portal_link.issued",
            Action::PortalSessionEnded => "portal_session.ended",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::UserDeleted => "user.deleted",
            Action::UserPasswordChanged => "user.password_changed",
            Action::MemberAdded => "tenant_member.added",
            Action::MemberUpdated => "tenant_member.updated",
            Action::MemberRemoved => "tenant_member.removed",
            Action::UserSessionsRevoked => "user.sessions_revoked",
            Action::IdleTimeoutSet => "tenant.idle_timeout_set",
        }
    }
}

/// Who is making a change and under which request: handed to every store call that
/// changes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// A change made by `actor` (how the caller is named in the trail: `admin`,
    /// `tenant-admin:<tenantId>`, see `auth::Caller::actor`) under `request_id`.
    pub fn new(actor: String, request_id: Option<String>) -> Self {
        Self { actor, request_id }
    }

    /// Changes Tessera makes on its own schedule (key rotation, expiry).
    pub fn system() -> Self {
        Self {
            actor: "system".to_owned(),
            request_id: None,
        }
    }

    /// The event of `action` on `target_id` (in `tenant`, whose admins then see it), as
    /// the store writes it.
    pub fn record(
        &self,
        action: Action,
        target_id: &str,
        tenant: Option<&TenantId>,
    ) -> AuditRecord {
        AuditRecord {
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            action: action.as_str(),
            target_id: target_id.to_owned(),
            tenant_id: tenant.map(|tenant| tenant.as_str().to_owned()),
        }
    }

    /// Changes made with the `tessera` command.
    pub fn cli() -> Self {
        Self {
            actor: "cli".to_owned(),
            request_id: None,
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    /// The id of what changed: a tenant id, a client id, or `clientId/secretId`.
    pub target_id: String,
    pub tenant_id: Option<TenantId>,
    pub request_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = anyhow::Error;

    fn try_from(row: AuditRow) -> anyhow::Result<Self> {
        Ok(AuditEvent {
            id: row.id,
            occurred_at: from_millis(row.occurred_at),
            actor: row.actor,
            action: row.action,
            target_id: row.target_id,
            tenant_id: row
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            request_id: row.request_id,
        })
    }
}

/// Which events a listing keeps: those of one action, and those that occurred from
/// `since` (inclusive) until `until` (exclusive). Each part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

/// The longest action text a filter takes; every [`Action`] is far shorter.
const MAX_ACTION_LEN: usize = 64;

impl AuditFilter {
    /// The filter of the texts a request sent, an empty one meaning "not narrowed"
    /// (what a blank form field sends); every problem is named. An action has the
    /// shape of one (`oauth_client.created`: lower-case letters, digits, `_` and `.`),
    /// instants are RFC 3339, and `until` must be later than `since`.
    pub fn parse(
        action: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Self, Vec<String>> {
        fn given(text: Option<&str>) -> Option<&str> {
            text.filter(|text| !text.is_empty())
        }
        let mut problems = Vec::new();
        let action = given(action).and_then(|action| {
            let well_formed = action.len() <= MAX_ACTION_LEN
                && action.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            if !well_formed {
                problems.push(format!(
                    "action: an action such as oauth_client.created (lower-case letters, \
                     digits, '_' and '.', at most {MAX_ACTION_LEN})"
                ));
            }
            well_formed.then(|| action.to_owned())
        });
        let mut instant = |name: &str, text: Option<&str>| {
            let parsed = given(text).map(DateTime::parse_from_rfc3339)?;
            match parsed {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    problems.push(format!(
                        "{name}: an RFC 3339 instant, such as 2026-12-03T08:00:00Z (a '+' \
                         in an offset is sent as %2B)"
                    ));
                    None
                }
            }
        };
        let since = instant("since", since);
        let until = instant("until", until);
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                problems.push("until: must be later than since".to_owned());
            }
        }
        if problems.is_empty() {
            Ok(AuditFilter {
                action,
                since,
                until,
            })
        } else {
            Err(problems)
        }
    }
}

/// At most `limit` events in `scope` that `filter` keeps, newest first, older than the
/// event `before` when given.
#[tracing::instrument(skip_all)]
pub async fn list_events(
    store: &Store,
    scope: &TenantScope,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: u32,
) -> anyhow::Result<Vec<AuditEvent>> {
    let millis = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_millis());
    store
        .audit_events(
            scope,
            filter.action.as_deref(),
            (millis(filter.since), millis(filter.until)),
            before,
            limit,
        )
        .await?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn a_filter_takes_an_action_and_an_interval() {
        assert_eq!(
            AuditFilter::parse(None, None, None),
            Ok(AuditFilter::default())
        );
        assert_eq!(
            AuditFilter::parse(Some(""), Some(""), Some("")),
            Ok(AuditFilter::default()),
            "blank fields narrow nothing"
        );
        let filter = AuditFilter::parse(
            Some("oauth_client.created"),
            Some("2026-12-03T09:00:00+01:00"),
            Some("2026-12-03T08:00:00.500Z"),
        )
        .unwrap();
        assert_eq!(filter.action.as_deref(), Some("oauth_client.created"));
        assert_eq!(filter.since, at("2026-12-03T08:00:00Z"));
        assert_eq!(filter.until, at("2026-12-03T08:00:00.5Z"));
    }

    #[test]
    fn every_bad_part_of_a_filter_is_named() {
        let problems = AuditFilter::parse(
            Some("Client Created"),
            Some("yesterday"),
            Some("2026-12-03 08:00:00 01:00"),
        )
        .unwrap_err();
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(fields, ["action", "since", "until"]);
        let long = "a".repeat(MAX_ACTION_LEN + 1);
        assert!(AuditFilter::parse(Some(&long), None, None).is_err());
        let same = Some("2026-12-03T08:00:00Z");
        assert_eq!(
            AuditFilter::parse(None, same, same).unwrap_err(),
            ["until: must be later than since"]
        );
    }

    #[test]
    fn every_action_fits_the_filter() {
        for action in [Action::ClientSecretAdded, Action::IdleTimeoutSet] {
            assert!(AuditFilter::parse(Some(action.as_str()), None, None).is_ok());
        }
    }
}
