//! The events of the change feed and their stored form (`kind`, `subject`, `instant`).
//! Plain values (ids and instants), kept with the store because the writes that must
//! announce a change record it in their own transaction; the feed that reads them back
//! and applies them to each process's memory is [`crate::changes`].

use crate::ids::{ClientId, SessionId, TenantId, UserId};

/// One change other processes must apply to what they hold in memory, each with its
/// kind in [`Change::to_row`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A client or any of its secrets changed (created, updated, deleted).
    Client(ClientId),
    /// The signing keys changed: reload them now rather than at the next refresh.
    Key,
    /// An access token was revoked (RFC 7009); deny it until `expires_at_millis`.
    RevokedToken { jti: String, expires_at_millis: i64 },
    /// Every tenant admin token of `tenant` issued before `not_before_millis` is void.
    TenantTokensRevoked {
        tenant: TenantId,
        not_before_millis: i64,
    },
    /// A chain of tenant admin tokens (one token and its renewals) is void until
    /// `expires_at_millis`, after which none of it could be valid anyway.
    TenantTokenChainRevoked {
        chain_id: String,
        expires_at_millis: i64,
    },
    /// A user was disabled, deleted or given a new password, or one of its memberships
    /// changed or ended: whatever a process holds for it must be checked again.
    /// Recorded by triggers (migration 0006).
    User(UserId),
    /// A user's session ended at `ended_at_millis` (logout, reuse of a refresh token, a
    /// change to the user): refuse its access tokens until none of them could be valid
    /// anyway.
    SessionEnded {
        session: SessionId,
        ended_at_millis: i64,
    },
    /// A session moved to another tenant: its state must be read again.
    SessionSwitched(SessionId),
    /// The idle token timeout of a tenant was set: read it again.
    IdleTimeout(TenantId),
}

/// The stored form of a [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub kind: &'static str,
    pub subject: String,
    pub instant: Option<i64>,
}

const CLIENT: &str = "client";
const KEY: &str = "key";
const REVOKED_TOKEN: &str = "revoked_token";
const TENANT_TOKENS_REVOKED: &str = "tenant_tokens_revoked";
const TENANT_TOKEN_CHAIN_REVOKED: &str = "tenant_token_chain_revoked";
const USER: &str = "user";
const SESSION_ENDED: &str = "session_ended";
const SESSION_SWITCHED: &str = "session_switched";
const IDLE_TIMEOUT: &str = "idle_timeout";

impl Change {
    pub fn to_row(&self) -> ChangeRow {
        let (kind, subject, instant) = match self {
            Change::Client(id) => (CLIENT, id.as_str().to_owned(), None),
            Change::Key => (KEY, String::new(), None),
            Change::RevokedToken {
                jti,
                expires_at_millis,
            } => (REVOKED_TOKEN, jti.clone(), Some(*expires_at_millis)),
            Change::TenantTokensRevoked {
                tenant,
                not_before_millis,
            } => (
                TENANT_TOKENS_REVOKED,
                tenant.as_str().to_owned(),
                Some(*not_before_millis),
            ),
            Change::TenantTokenChainRevoked {
                chain_id,
                expires_at_millis,
            } => (
                TENANT_TOKEN_CHAIN_REVOKED,
                chain_id.clone(),
                Some(*expires_at_millis),
            ),
            Change::User(id) => (USER, id.as_str().to_owned(), None),
            Change::SessionEnded {
                session,
                ended_at_millis,
            } => (
                SESSION_ENDED,
                session.as_str().to_owned(),
                Some(*ended_at_millis),
            ),
            Change::SessionSwitched(session) => {
                (SESSION_SWITCHED, session.as_str().to_owned(), None)
            }
            Change::IdleTimeout(tenant) => (IDLE_TIMEOUT, tenant.as_str().to_owned(), None),
        };
        ChangeRow {
            kind,
            subject,
            instant,
        }
    }

    /// The event a stored row describes; `None` for a kind this version does not know
    /// (written by a newer process) or a malformed row.
    pub fn from_row(kind: &str, subject: &str, instant: Option<i64>) -> Option<Self> {
        Some(match kind {
            CLIENT => Change::Client(ClientId::parse(subject).ok()?),
            KEY => Change::Key,
            REVOKED_TOKEN => Change::RevokedToken {
                jti: subject.to_owned(),
                expires_at_millis: instant?,
            },
            TENANT_TOKENS_REVOKED => Change::TenantTokensRevoked {
                tenant: TenantId::parse(subject).ok()?,
                not_before_millis: instant?,
            },
            TENANT_TOKEN_CHAIN_REVOKED => Change::TenantTokenChainRevoked {
                chain_id: subject.to_owned(),
                expires_at_millis: instant?,
            },
            USER => Change::User(UserId::parse(subject).ok()?),
            SESSION_ENDED => Change::SessionEnded {
                session: SessionId::parse(subject).ok()?,
                ended_at_millis: instant?,
            },
            SESSION_SWITCHED => Change::SessionSwitched(SessionId::parse(subject).ok()?),
            IDLE_TIMEOUT => Change::IdleTimeout(TenantId::parse(subject).ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_as_itself() {
        let changes = [
            Change::Client(ClientId::generate()),
            Change::Key,
            Change::RevokedToken {
                jti: "j".into(),
                expires_at_millis: 5,
            },
            Change::TenantTokensRevoked {
                tenant: TenantId::parse("acme").unwrap(),
                not_before_millis: 6,
            },
            Change::TenantTokenChainRevoked {
                chain_id: "c".into(),
                expires_at_millis: 7,
            },
            Change::User(UserId::generate()),
            Change::SessionEnded {
                session: SessionId::generate(),
                ended_at_millis: 8,
            },
            Change::SessionSwitched(SessionId::generate()),
            Change::IdleTimeout(TenantId::parse("acme").unwrap()),
        ];
        for change in changes {
            let row = change.to_row();
            assert_eq!(
                Change::from_row(row.kind, &row.subject, row.instant),
                Some(change)
            );
        }
        assert_eq!(Change::from_row("session", "s", None), None);
    }
}
