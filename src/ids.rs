//! Identifiers every layer shares, and the tenant filter built from them: random ids for
//! requests (`X-Request-Id`) and tokens (`jti`), [`TenantId`], [`ClientId`], [`UserId`],
//! [`SessionId`], and [`TenantScope`], the tenants one request may touch. Their domain
//! modules re-export them (`tenants::TenantId`, `clients::ClientId`, `users::UserId`,
//! `auth::TenantScope`); they live here so that the store and the change feed's events
//! can take them without depending on those modules.
//!
//! Random ids are 128 bits from the thread-local CSPRNG (`rand`'s `ThreadRng`: ChaCha,
//! seeded and reseeded from the OS), as 32 hex digits, with no system call per id.

use std::fmt;

use rand::RngCore;
use serde::{Serialize, Serializer};

pub fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Declares an id type of 128 random bits as 32 lower-case hex digits. Only Tessera
/// makes them, so nothing else parses.
macro_rules! random_hex_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                $name(random_id())
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                if raw.len() == 32 && raw.bytes().all(hex) {
                    Ok($name(raw.to_owned()))
                } else {
                    Err(concat!("a ", $what, " is 32 lower-case hexadecimal digits").to_owned())
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

random_hex_id!(
    /// A user id.
    UserId,
    "user id"
);
random_hex_id!(
    /// A session id: the `sid` claim of a user's access tokens.
    SessionId,
    "session id"
);

/// Ids that would collide with fixed routes under `/api/v1/tenants/` (see DESIGN.md).
const RESERVED_TENANT_IDS: &[&str] = &["clients"];
pub const MAX_TENANT_ID_LEN: usize = 64;
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// A tenant id: 1–64 of `A-Z a-z 0-9 . _ -`, not reserved, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_TENANT_ID_LEN {
            return Err(format!(
                "a tenant id has 1 to {MAX_TENANT_ID_LEN} characters"
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("a tenant id may contain only A-Z, a-z, 0-9, '.', '_' and '-'".into());
        }
        if raw == "." || raw == ".." || RESERVED_TENANT_IDS.contains(&raw) {
            return Err(format!("'{raw}' is reserved and cannot be a tenant id"));
        }
        Ok(TenantId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client id. Generated ones are 128 random bits as 32 hex digits; a parsed one is
/// 1–128 URL-safe characters (`A-Z a-z 0-9 . _ ~ -`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        ClientId(hex::encode(bytes))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_CLIENT_ID_LEN {
            return Err(format!(
                "a client id has 1 to {MAX_CLIENT_ID_LEN} characters"
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        {
            return Err("a client id may contain only A-Z, a-z, 0-9, '.', '_', '~' and '-'".into());
        }
        Ok(ClientId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Serialises a value by its API spelling (`as_str`).
macro_rules! serialize_as_str {
    ($($type:ty),+) => {
        $(impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        })+
    };
}
pub(crate) use serialize_as_str;

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serialize_as_str!(TenantId, ClientId);

/// The tenants a request may touch; the filter of every scoped query. Which scope a
/// caller gets is decided by `auth::Caller::scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    All,
    Only(TenantId),
}

impl TenantScope {
    /// The tenant filter of a query: `None` for every tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            TenantScope::All => None,
            TenantScope::Only(tenant) => Some(tenant),
        }
    }

    pub fn includes(&self, tenant: &TenantId) -> bool {
        self.tenant().is_none_or(|only| only == tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_bits_of_hex_and_distinct() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn tenant_ids_accept_the_documented_alphabet() {
        for id in ["a", "acme", "Acme-1.prod_eu", &"x".repeat(64)] {
            assert!(TenantId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn tenant_ids_reject_everything_else() {
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
    fn generated_client_ids_are_128_bit_hex_and_parse() {
        let (a, b) = (ClientId::generate(), ClientId::generate());
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, b);
        assert_eq!(ClientId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn seed_style_client_ids_parse_and_unsafe_ones_do_not() {
        assert!(ClientId::parse("hubster.portal.api.B205B3ECA9D74243B88C017533957DEB").is_ok());
        for id in ["", "a b", "a/b", "é", &"x".repeat(129)] {
            assert!(ClientId::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn generated_ids_parse_and_nothing_else_does() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Ok(id));
        for raw in ["", "abc", &"A".repeat(32), &"g".repeat(32), &"a".repeat(33)] {
            assert!(UserId::parse(raw).is_err(), "{raw}");
            assert!(SessionId::parse(raw).is_err(), "{raw}");
        }
        let session = SessionId::generate();
        assert_eq!(SessionId::parse(session.as_str()), Ok(session));
    }
}
