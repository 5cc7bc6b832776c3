//! The sealed successor of a rotated refresh token, kept for the grace period so the
//! immediate predecessor presented again gets back the same successor (not a new
//! branch of the family) although only hashes are stored.
//!
//! The successor is sealed with AES-256-GCM under a key derived with HKDF-SHA-256 (its
//! own label) from the *predecessor's raw token*, which only its holder has: the
//! database alone cannot open it. Each key seals exactly one value; the nonce is random
//! all the same, and the successor's hash is the associated data, so a sealed value
//! opens only as the successor its row names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};

use crate::tokens::{OpaqueToken, TokenHash};

/// The HKDF `info` of the key: this purpose and nothing else.
const LABEL: &[u8] = b"tessera refresh-token successor v1";

fn key_from(predecessor: &OpaqueToken) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, &[]).extract(predecessor.expose().as_bytes());
    let okm = prk
        .expand(&[LABEL], &AES_256_GCM)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// `successor` sealed under `predecessor`: URL-safe base64 of nonce, ciphertext, tag.
pub fn seal(predecessor: &OpaqueToken, successor: &OpaqueToken) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = successor.hash();
    let mut sealed = successor.expose().as_bytes().to_vec();
    key_from(predecessor)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_str().as_bytes()),
            &mut sealed,
        )
        .expect("a refresh token is far below AES-GCM's length limit");
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(stored)
}

/// The successor sealed in `stored`, if `predecessor` opens it and it is the token
/// whose hash is `successor_hash`.
pub fn open(
    predecessor: &OpaqueToken,
    stored: &str,
    successor_hash: &TokenHash,
) -> Option<OpaqueToken> {
    let bytes = URL_SAFE_NO_PAD.decode(stored).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let mut sealed = sealed.to_vec();
    let opened = key_from(predecessor)
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).ok()?,
            Aad::from(successor_hash.as_str().as_bytes()),
            &mut sealed,
        )
        .ok()?;
    let successor = OpaqueToken::presented(std::str::from_utf8(opened).ok()?);
    (successor.hash() == *successor_hash).then_some(successor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_predecessor_opens_its_successor() {
        let (predecessor, successor) = (OpaqueToken::generate(), OpaqueToken::generate());
        let sealed = seal(&predecessor, &successor);
        assert!(!sealed.contains(successor.expose()));
        let opened = open(&predecessor, &sealed, &successor.hash()).expect("opens");
        assert_eq!(opened.expose(), successor.expose());

        let stranger = OpaqueToken::generate();
        assert!(open(&stranger, &sealed, &successor.hash()).is_none());
        assert!(
            open(&predecessor, &sealed, &stranger.hash()).is_none(),
            "bound to its hash"
        );
        assert!(open(&predecessor, "short", &successor.hash()).is_none());
        assert!(open(&predecessor, "not base64!", &successor.hash()).is_none());
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        tampered[NONCE_LEN] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        assert!(open(&predecessor, &tampered, &successor.hash()).is_none());
        assert_ne!(
            sealed,
            seal(&predecessor, &successor),
            "a fresh nonce each time"
        );
    }
}
