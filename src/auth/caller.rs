//! Who is calling the admin API, and which tenants the call may reach.
//!
//! Every handler and store query is scoped through [`Caller::scope`]: a tenant admin
//! always acts inside its own tenant, whatever the request names, so another tenant's
//! resources look absent (404); operations only the global admin may perform fail with
//! [`Forbidden`] (403).

use chrono::{DateTime, Utc};

pub use crate::ids::TenantScope;
use crate::ids::{SessionId, TenantId, UserId};

/// A user calling with its access token (the token API), in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCaller {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    /// Unix seconds: the token's `iat` and `exp`.
    pub issued_at: i64,
    pub expires_at: i64,
    /// When the session dies if unused, where its tenant has an idle timeout.
    pub idle_expires_at: Option<DateTime<Utc>>,
}

/// The authenticated caller of `/api/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Presented the admin API key: acts on every tenant.
    GlobalAdmin,
    /// Holds a tenant admin token: acts only inside this tenant.
    TenantAdmin(TenantId),
}

/// The caller may not perform this operation at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden;

impl Caller {
    /// The scope of a request that names `requested` (a body or query `tenantId`, or
    /// none): the global admin gets what it asked for (every tenant when it named none);
    /// a tenant admin gets its own tenant, whatever it asked for.
    pub fn scope(&self, requested: Option<TenantId>) -> TenantScope {
        match (self, requested) {
            (Caller::TenantAdmin(own), _) => TenantScope::Only(own.clone()),
            (Caller::GlobalAdmin, Some(tenant)) => TenantScope::Only(tenant),
            (Caller::GlobalAdmin, None) => TenantScope::All,
        }
    }

    /// Operations on the tenant set itself (create, delete) belong to the global admin.
    pub fn require_global(&self) -> Result<(), Forbidden> {
        match self {
            Caller::GlobalAdmin => Ok(()),
            Caller::TenantAdmin(_) => Err(Forbidden),
        }
    }

    /// How audit events name the caller: `admin` or `tenant-admin:<tenantId>`.
    pub fn actor(&self) -> String {
        match self {
            Caller::GlobalAdmin => "admin".to_owned(),
            Caller::TenantAdmin(tenant) => format!("tenant-admin:{tenant}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn a_tenant_admin_is_confined_to_its_tenant_whatever_it_asks() {
        let caller = Caller::TenantAdmin(tenant("acme"));
        let own = TenantScope::Only(tenant("acme"));
        assert_eq!(caller.scope(None), own);
        assert_eq!(caller.scope(Some(tenant("acme"))), own);
        assert_eq!(caller.scope(Some(tenant("globex"))), own);
        assert!(own.includes(&tenant("acme")));
        assert!(!own.includes(&tenant("globex")));
        assert_eq!(caller.require_global(), Err(Forbidden));
        assert_eq!(caller.actor(), "tenant-admin:acme");
    }

    #[test]
    fn the_global_admin_gets_what_it_asks_for() {
        let caller = Caller::GlobalAdmin;
        assert_eq!(caller.scope(None), TenantScope::All);
        assert!(TenantScope::All.includes(&tenant("anyone")));
        assert_eq!(
            caller.scope(Some(tenant("globex"))),
            TenantScope::Only(tenant("globex"))
        );
        assert_eq!(caller.require_global(), Ok(()));
        assert_eq!(caller.actor(), "admin");
    }
}
