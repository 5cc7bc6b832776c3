//! Pagination of list endpoints: `limit` (default 50, at most 200) and an opaque
//! `cursor` taken from the previous page's `nextCursor`, plus the `tenantId` filter.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::tenants::tenant_id;
use crate::tenants::TenantId;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this tenant's (a tenant admin sees only its own tenant's anyway).
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    tenant_id: Option<String>,
    /// Items a page holds: 1 to 200, 50 when not given.
    #[param(nullable = false, minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Where the page starts: the previous page's `nextCursor`, as it was.
    #[param(nullable = false, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

impl ListQuery {
    /// The paging part of a list's own query, one with filters of its own (serde's
    /// `deny_unknown_fields` does not work through `flatten`, so each such query repeats
    /// these three fields).
    pub fn new(tenant_id: Option<String>, limit: Option<u32>, cursor: Option<String>) -> Self {
        Self {
            tenant_id,
            limit,
            cursor,
        }
    }

    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=MAX_LIMIT => Ok(limit),
            _ => Err(ApiError::invalid(
                "The query string is invalid.",
                vec![format!("limit: from 1 to {MAX_LIMIT}")],
            )),
        }
    }

    pub fn tenant(&self) -> Result<Option<TenantId>, ApiError> {
        self.tenant_id.as_deref().map(tenant_id).transpose()
    }

    /// The position the previous page ended at, as the list encoded it.
    pub fn after<P: FromStr>(&self) -> Result<Option<P>, ApiError> {
        let Some(cursor) = self.cursor.as_deref() else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|position| position.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    "The query string is invalid.",
                    vec!["cursor: not a cursor this list returned".to_owned()],
                )
            })
    }
}

/// One page of a list: `{"items": [...], "nextCursor": "…" | null}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    items: Vec<T>,
    /// Where the next page starts (pass it as `cursor`); `null` on the last page.
    #[schema(example = "MTcwMDAwMDAwMDEyMyAyYzkxODA4MzVkMmU1MTY4MDE1ZDMyZjg5MGNhMTU4MQ")]
    next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` fetched with `limit + 1`: an extra row means there is a next page, which
    /// starts after the position `position` gives the last row shown.
    pub fn of<R>(
        mut rows: Vec<R>,
        limit: u32,
        position: impl Fn(&R) -> String,
        item: impl FnMut(R) -> T,
    ) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|row| URL_SAFE_NO_PAD.encode(position(row))))
            .flatten();
        Page {
            items: rows.into_iter().map(item).collect(),
            next_cursor,
        }
    }
}
