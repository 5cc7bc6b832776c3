//! Scope tokens (RFC 6749 §3.3): `scope-token = 1*NQCHAR`, where
//! `NQCHAR = %x21 / %x23-5B / %x5D-7E` (printable ASCII without space, `"` and `\`).

use std::fmt;

pub const MAX_SCOPE_TOKEN_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeToken(String);

impl ScopeToken {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_SCOPE_TOKEN_LEN {
            return Err(format!("a scope has 1 to {MAX_SCOPE_TOKEN_LEN} characters"));
        }
        if !raw.bytes().all(is_nqchar) {
            return Err(format!(
                "'{raw}' is not a scope token: printable ASCII without space, '\"' or '\\' \
                 (RFC 6749 §3.3)"
            ));
        }
        Ok(ScopeToken(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A scope token's schema, from [`ScopeToken::parse`]'s rules.
impl utoipa::PartialSchema for ScopeToken {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A scope token (RFC 6749 §3.3): printable ASCII without space, '\"' or '\\'.",
            ))
            .min_length(Some(1))
            .max_length(Some(MAX_SCOPE_TOKEN_LEN))
            .pattern(Some(format!(
                r"^[\x21\x23-\x5B\x5D-\x7E]{{1,{MAX_SCOPE_TOKEN_LEN}}}$"
            )))
            .examples(["hubster-portal-api"])
            .into()
    }
}

impl utoipa::ToSchema for ScopeToken {}

fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Scopes as the space-separated string of the `scope` claim and response field.
pub fn scope_string(scopes: &[ScopeToken]) -> String {
    scopes
        .iter()
        .map(ScopeToken::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nqchar_tokens() {
        for scope in [
            "read",
            "hubster-portal-api",
            "idn:client:create",
            "a/b!~{}[]",
        ] {
            assert!(ScopeToken::parse(scope).is_ok(), "{scope}");
        }
    }

    #[test]
    fn rejects_space_quote_backslash_and_non_ascii() {
        for scope in ["", "two words", "say\"", "back\\slash", "café", "tab\t"] {
            assert!(ScopeToken::parse(scope).is_err(), "{scope}");
        }
    }
}
