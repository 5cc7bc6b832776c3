//! Proof Key for Code Exchange (RFC 7636), `S256` only: `plain` offers nothing against
//! a stolen code (RFC 9700 §2.1.1), so it is refused like an unknown method, and a
//! challenge sent without a method (RFC 7636 §4.3 would read it as `plain`) is refused
//! too. A verifier presented for a code issued without a challenge is refused at the
//! token endpoint, so PKCE cannot be stripped from a flow (RFC 9700 §4.8.2).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The only method served (RFC 7636 §4.2).
pub const S256: &str = "S256";
/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
pub const MIN_VERIFIER_LEN: usize = 43;
pub const MAX_VERIFIER_LEN: usize = 128;
/// BASE64URL of a SHA-256 digest, without padding.
const CHALLENGE_LEN: usize = 43;

/// An `S256` code challenge: BASE64URL(SHA256(verifier)), 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge of an authorization request from its `code_challenge` and
    /// `code_challenge_method`; `None` when neither was sent.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, String> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(format!(
                "code_challenge_method is required with code_challenge; use {S256}."
            )),
            (None, Some(_)) => Err("code_challenge_method was sent without code_challenge.".into()),
            (Some(_), Some(method)) if method != S256 => Err(format!(
                "The code_challenge_method '{}' is not supported; use {S256}.",
                method
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(20)
                    .collect::<String>()
            )),
            (Some(challenge), Some(_)) => Self::parse(challenge).map(Some),
        }
    }

    /// A stored challenge, or one from a request.
    pub fn parse(challenge: &str) -> Result<Self, String> {
        let well_formed = challenge.len() == CHALLENGE_LEN
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(challenge).is_ok();
        if well_formed {
            Ok(CodeChallenge(challenge.to_owned()))
        } else {
            Err(format!(
                "code_challenge must be the {CHALLENGE_LEN}-character BASE64URL of a SHA-256 \
                 digest (RFC 7636 section 4.2)."
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: whether `verifier` is the one this challenge was made from. The
    /// challenge is public (it travelled in the authorization request), so comparing
    /// digests needs no constant time: a timing says nothing about the verifier.
    pub fn is_met_by(&self, verifier: &CodeVerifier) -> bool {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.0.as_bytes());
        let computed = URL_SAFE_NO_PAD.encode(digest.as_ref());
        computed == self.0
    }
}

/// A `code_verifier` as sent to the token endpoint: 43–128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1). `Debug` hides it.
#[derive(Clone)]
pub struct CodeVerifier(String);

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(..)")
    }
}

impl CodeVerifier {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let unreserved =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&raw.len()) && raw.bytes().all(unreserved)
        {
            Ok(CodeVerifier(raw.to_owned()))
        } else {
            Err(format!(
                "code_verifier must be {MIN_VERIFIER_LEN} to {MAX_VERIFIER_LEN} characters of \
                 A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 section 4.1)."
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_matches() {
        let challenge = CodeChallenge::from_request(Some(CHALLENGE), Some("S256"))
            .unwrap()
            .unwrap();
        assert!(challenge.is_met_by(&CodeVerifier::parse(VERIFIER).unwrap()));
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!challenge.is_met_by(&other));
    }

    #[test]
    fn only_s256_with_both_parameters_is_accepted() {
        assert_eq!(CodeChallenge::from_request(None, None), Ok(None));
        for (challenge, method) in [
            (Some(CHALLENGE), None),
            (None, Some("S256")),
            (Some(CHALLENGE), Some("plain")),
            (Some(CHALLENGE), Some("s256")),
            (Some(CHALLENGE), Some("S512")),
            (Some("short"), Some("S256")),
            (Some(&CHALLENGE[..42]), Some("S256")),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256"),
            ),
        ] {
            assert!(
                CodeChallenge::from_request(challenge, method).is_err(),
                "{challenge:?} {method:?}"
            );
        }
    }

    #[test]
    fn verifiers_have_43_to_128_unreserved_characters() {
        for ok in ["a".repeat(43), "~._-AZaz09".repeat(5), "b".repeat(128)] {
            assert!(CodeVerifier::parse(&ok).is_ok(), "{ok}");
        }
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(43)),
            format!("{} ", "a".repeat(43)),
            format!("{}é", "a".repeat(43)),
        ] {
            assert!(CodeVerifier::parse(&bad).is_err(), "{bad}");
        }
        assert!(!format!("{:?}", CodeVerifier::parse(VERIFIER).unwrap()).contains(VERIFIER));
    }
}
