//! Random identifiers for requests (`X-Request-Id`) and tokens (`jti`): 128 bits from
//! the thread-local CSPRNG (`rand`'s `ThreadRng`: ChaCha, seeded and reseeded from the
//! OS), as 32 hex digits, with no system call per identifier.

pub fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_128_bits_of_hex_and_distinct() {
        let (a, b) = (super::random_id(), super::random_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
