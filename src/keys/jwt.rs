//! Compact JWS (RFC 7515) encoding and strict decoding for the tokens Tessera signs.
//!
//! Decoding accepts only what Tessera issues: one of its three algorithms, a `kid`, no
//! key-carrying or key-locating headers (`jku`, `jwk`, `x5u`, `x5c`) and no `crit`
//! (RFC 8725 §3.1, §3.10). Signature and time checks are done by the caller, which
//! knows the keys and the clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::algorithm::{Algorithm, SigningKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("header not accepted")]
    UnacceptableHeader,
    #[error("unknown or unpublished key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
}

#[derive(Serialize)]
struct OutgoingHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

/// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
pub fn encode(
    key: &SigningKey,
    kid: &str,
    typ: &str,
    claims: &impl Serialize,
) -> anyhow::Result<String> {
    let header = OutgoingHeader {
        alg: key.algorithm().as_str(),
        typ,
        kid,
    };
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

#[derive(Debug, Deserialize)]
struct IncomingHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// A parsed but not yet verified token.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    pub alg: Algorithm,
    pub kid: String,
    pub typ: Option<String>,
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
    claims: &'a str,
}

const FORBIDDEN_HEADERS: &[&str] = &["jku", "jwk", "x5u", "x5c", "crit"];

pub fn parse(token: &str) -> Result<UnverifiedJwt<'_>, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let signing_input = &token.as_bytes()[..header.len() + 1 + claims.len()];
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header: IncomingHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Malformed)?;
    if FORBIDDEN_HEADERS
        .iter()
        .any(|name| header.rest.contains_key(*name))
    {
        return Err(JwtError::UnacceptableHeader);
    }
    let alg: Algorithm = header
        .alg
        .parse()
        .map_err(|_| JwtError::UnacceptableHeader)?;
    let kid = header.kid.ok_or(JwtError::UnacceptableHeader)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    Ok(UnverifiedJwt {
        alg,
        kid,
        typ: header.typ,
        signing_input,
        signature,
        claims,
    })
}

impl UnverifiedJwt<'_> {
    /// The claims object; call only after the signature verified.
    pub fn claims(&self) -> Result<Map<String, Value>, JwtError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.claims)
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
    }
}

/// `exp` must lie ahead and `nbf`/`iat` not too far ahead, both within `leeway`.
pub fn check_times(claims: &Map<String, Value>, now: i64, leeway: i64) -> Result<(), JwtError> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(JwtError::Malformed)?;
    if now >= exp + leeway {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
        if now + leeway < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(header: Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(r#"{"exp":1}"#),
            URL_SAFE_NO_PAD.encode([0u8; 64])
        )
    }

    #[test]
    fn round_trips_what_it_signs() {
        let key = SigningKey::from_der(
            Algorithm::ES256,
            &Algorithm::ES256.generate_pkcs8().unwrap(),
        )
        .unwrap();
        let token = encode(
            &key,
            "k1",
            "at+jwt",
            &serde_json::json!({"sub": "x", "exp": 10}),
        )
        .unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.alg, Algorithm::ES256);
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.typ.as_deref(), Some("at+jwt"));
        assert!(key
            .public_key()
            .verify(parsed.alg, parsed.signing_input, &parsed.signature));
        assert_eq!(parsed.claims().unwrap()["sub"], "x");
    }

    #[test]
    fn refuses_headers_tessera_never_issues() {
        use serde_json::json;
        for header in [
            json!({"alg": "none", "kid": "k"}),
            json!({"alg": "HS256", "kid": "k"}),
            json!({"alg": "ES384", "kid": "k"}),
            json!({"alg": "ES256"}),
            json!({"alg": "ES256", "kid": "k", "jku": "https://evil.example/jwks"}),
            json!({"alg": "ES256", "kid": "k", "jwk": {"kty": "EC"}}),
            json!({"alg": "ES256", "kid": "k", "x5u": "https://evil.example/cert"}),
            json!({"alg": "ES256", "kid": "k", "crit": ["exp"]}),
        ] {
            assert_eq!(
                parse(&token_with_header(header.clone())).unwrap_err(),
                JwtError::UnacceptableHeader,
                "{header}"
            );
        }
        for malformed in ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.e30.!!"] {
            assert!(parse(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn time_checks_allow_the_leeway_only() {
        let claims = |exp: i64, nbf: i64| {
            serde_json::json!({"exp": exp, "nbf": nbf})
                .as_object()
                .unwrap()
                .clone()
        };
        assert!(check_times(&claims(100, 0), 50, 5).is_ok());
        assert!(check_times(&claims(100, 0), 104, 5).is_ok());
        assert_eq!(check_times(&claims(100, 0), 105, 5), Err(JwtError::Expired));
        assert_eq!(
            check_times(&claims(100, 60), 50, 5),
            Err(JwtError::NotYetValid)
        );
        assert!(check_times(&serde_json::Map::new(), 0, 0).is_err());
    }
}
