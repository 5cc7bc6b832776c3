//! Tenants (seed 000): the id rules, the fields an upsert may change, and their bounds;
//! what the API does with them is in [`service`].

mod service;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::patch::Patch;

pub use service::{delete_tenant, get_tenant, upsert_tenant, TenantError, UpsertTenantError};

/// Ids that would collide with fixed routes under `/api/v1/tenants/` (see DESIGN.md).
const RESERVED_IDS: &[&str] = &["clients"];
pub const MAX_ID_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_LEN: usize = 128;
pub const MAX_METADATA_VALUE_LEN: usize = 2048;

/// A tenant id: 1–64 of `A-Z a-z 0-9 . _ -`, not reserved, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_ID_LEN {
            return Err(format!("a tenant id has 1 to {MAX_ID_LEN} characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("a tenant id may contain only A-Z, a-z, 0-9, '.', '_' and '-'".into());
        }
        if raw == "." || raw == ".." || RESERVED_IDS.contains(&raw) {
            return Err(format!("'{raw}' is reserved and cannot be a tenant id"));
        }
        Ok(TenantId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: Option<String>,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an upsert sets, as its body says it (unknown fields are refused). An absent
/// field leaves the stored value as it is (a new tenant gets no name and empty
/// metadata); `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantChanges {
    #[serde(default)]
    pub name: Patch<String>,
    #[serde(default)]
    pub metadata: Patch<Metadata>,
}

impl TenantChanges {
    /// Every problem found, so a caller can fix them all at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(name) = self.name.value() {
            if name.trim().is_empty() {
                problems.push("name: must not be blank (use null to clear it)".to_owned());
            }
            if name.chars().count() > MAX_NAME_LEN {
                problems.push(format!("name: at most {MAX_NAME_LEN} characters"));
            }
        }
        if let Some(metadata) = self.metadata.value() {
            if metadata.len() > MAX_METADATA_ENTRIES {
                problems.push(format!("metadata: at most {MAX_METADATA_ENTRIES} entries"));
            }
            for (key, value) in metadata {
                if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_LEN {
                    problems.push(format!(
                        "metadata: keys have 1 to {MAX_METADATA_KEY_LEN} characters"
                    ));
                }
                if value.chars().count() > MAX_METADATA_VALUE_LEN {
                    problems.push(format!(
                        "metadata.{key}: at most {MAX_METADATA_VALUE_LEN} characters"
                    ));
                }
            }
        }
        problems.dedup();
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for id in ["a", "acme", "Acme-1.prod_eu", &"x".repeat(64)] {
            assert!(TenantId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for id in [
            "",
            &"x".repeat(65),
            "a b",
            "a/b",
            "é",
            "clients",
            ".",
            "..",
            "a%2Fb",
        ] {
            assert!(TenantId::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn reports_each_problem() {
        let changes = TenantChanges {
            name: Patch::Value(" ".into()),
            metadata: Patch::Value([(String::new(), "x".repeat(3000))].into()),
        };
        assert_eq!(changes.problems().len(), 3, "{:?}", changes.problems());
    }
}
