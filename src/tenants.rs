//! Tenants (seed 000): the fields an upsert may change and their bounds, and a tenant
//! read back from its record; what the API does with them is in [`service`]. The id
//! rules are [`TenantId`]'s, in `crate::ids`.

mod service;

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::patch::Patch;
use crate::store::{from_millis, TenantRecord};

pub use crate::ids::TenantId;
pub use service::{delete_tenant, get_tenant, upsert_tenant, TenantError, UpsertTenantError};

pub const MAX_NAME_LEN: usize = 256;
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_LEN: usize = 128;
pub const MAX_METADATA_VALUE_LEN: usize = 2048;

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: Option<String>,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<TenantRecord> for Tenant {
    type Error = anyhow::Error;

    fn try_from(row: TenantRecord) -> anyhow::Result<Self> {
        Ok(Tenant {
            id: TenantId::parse(&row.id).map_err(anyhow::Error::msg)?,
            name: row.name,
            metadata: serde_json::from_str(&row.metadata).context("corrupt tenant metadata")?,
            created_at: from_millis(row.created_at),
            updated_at: from_millis(row.updated_at),
        })
    }
}

/// What an upsert sets, as its body says it (unknown fields are refused). An absent
/// field leaves the stored value as it is (a new tenant gets no name and empty
/// metadata); `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Acme Corporation", "metadata": {"plan": "enterprise"}}))]
pub struct TenantChanges {
    /// The tenant's name: 1 to 256 characters, not blank; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub name: Patch<String>,
    /// Free-form string pairs: at most 64, keys of 1 to 128 characters, values of at
    /// most 2048; `null` clears them all.
    #[serde(default)]
    #[schema(schema_with = metadata_schema)]
    pub metadata: Patch<Metadata>,
}

/// [`TenantChanges::metadata`]'s schema, from the limits [`TenantChanges::problems`]
/// checks.
fn metadata_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let text = |min: usize, max: usize| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(min))
            .max_length(Some(max))
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .max_properties(Some(MAX_METADATA_ENTRIES))
        .property_names(Some(text(1, MAX_METADATA_KEY_LEN)))
        .additional_properties(Some(text(0, MAX_METADATA_VALUE_LEN)))
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

    /// The metadata column's new text, if the upsert changes it: `null` clears it to
    /// the empty map.
    pub fn metadata_column(&self) -> anyhow::Result<Option<String>> {
        Ok(match &self.metadata {
            Patch::Absent => None,
            Patch::Null => Some("{}".to_owned()),
            Patch::Value(metadata) => Some(serde_json::to_string(metadata)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_problem() {
        let changes = TenantChanges {
            name: Patch::Value(" ".into()),
            metadata: Patch::Value([(String::new(), "x".repeat(3000))].into()),
        };
        assert_eq!(changes.problems().len(), 3, "{:?}", changes.problems());
    }
}
