//! Random identifiers for requests (`X-Request-Id`), tokens (`jti`), users
//! ([`UserId`]) and sessions ([`SessionId`]): 128 bits from the thread-local CSPRNG
//! (`rand`'s `ThreadRng`: ChaCha, seeded and reseeded from the OS), as 32 hex digits,
//! with no system call per identifier. [`UserId`] and [`SessionId`] live here, below the
//! change feed's events that carry them.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::{SessionId, UserId};

    #[test]
    fn ids_are_128_bits_of_hex_and_distinct() {
        let (a, b) = (super::random_id(), super::random_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
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
