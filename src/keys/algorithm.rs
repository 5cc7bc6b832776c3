//! The three signature algorithms Tessera issues (RFC 7518 §3): key generation, parsing
//! once into `ring` key pairs, signing, verifying, and the public JWK (RFC 7517 §4).

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

/// Smallest RSA modulus Tessera generates or imports.
pub const MIN_RSA_BITS: usize = 2048;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    ES256,
    EdDSA,
    RS256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
        }
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }

    /// A new private key as PKCS#8 DER.
    pub fn generate_pkcs8(self) -> anyhow::Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match self {
            Algorithm::ES256 => Ok(EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|_| anyhow!("ES256 key generation failed"))?
            .as_ref()
            .to_vec()),
            Algorithm::EdDSA => Ok(Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| anyhow!("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec()),
            // ring signs RSA but cannot generate RSA keys; the RustCrypto `rsa` crate
            // generates them (its private-key operations are never used).
            Algorithm::RS256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, MIN_RSA_BITS)
                    .context("RSA key generation failed")?;
                Ok(key
                    .to_pkcs8_der()
                    .context("RSA key encoding failed")?
                    .as_bytes()
                    .to_vec())
            }
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == text)
            .ok_or_else(|| anyhow!("unsupported algorithm {text:?} (use ES256, EdDSA or RS256)"))
    }
}

/// A private key parsed once, ready to sign many times.
pub enum SigningKey {
    ES256(EcdsaKeyPair),
    EdDSA(Ed25519KeyPair),
    RS256(RsaKeyPair),
}

impl SigningKey {
    /// Parses PKCS#8 DER (and, for RSA, PKCS#1 DER too).
    pub fn from_der(alg: Algorithm, der: &[u8]) -> anyhow::Result<Self> {
        let key = match alg {
            Algorithm::ES256 => SigningKey::ES256(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(|e| anyhow!("not a P-256 PKCS#8 private key: {e}"))?,
            ),
            Algorithm::EdDSA => SigningKey::EdDSA(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| anyhow!("not an Ed25519 PKCS#8 private key: {e}"))?,
            ),
            Algorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .or_else(|_| RsaKeyPair::from_der(der))
                    .map_err(|e| anyhow!("not an RSA private key (PKCS#8 or PKCS#1): {e}"))?;
                if pair.public().modulus_len() * 8 < MIN_RSA_BITS {
                    bail!("RSA keys must have at least {MIN_RSA_BITS} bits");
                }
                SigningKey::RS256(pair)
            }
        };
        Ok(key)
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::ES256(_) => Algorithm::ES256,
            SigningKey::EdDSA(_) => Algorithm::EdDSA,
            SigningKey::RS256(_) => Algorithm::RS256,
        }
    }

    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::ES256(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| anyhow!("ES256 signing failed"))?
                .as_ref()
                .to_vec()),
            SigningKey::EdDSA(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            SigningKey::RS256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| anyhow!("RS256 signing failed"))?;
                Ok(signature)
            }
        }
    }

    /// The public half, in the form `ring` verifies with and the JWK publishes.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::ES256(pair) => PublicKey::Ec(pair.public_key().as_ref().to_vec()),
            SigningKey::EdDSA(pair) => PublicKey::Okp(pair.public_key().as_ref().to_vec()),
            SigningKey::RS256(pair) => {
                let components = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                PublicKey::Rsa {
                    n: components.n,
                    e: components.e,
                }
            }
        }
    }
}

/// Public key material only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Uncompressed SEC1 point `04 || x || y` on P-256.
    Ec(Vec<u8>),
    /// The 32-byte Ed25519 public key.
    Okp(Vec<u8>),
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match (self, alg) {
            (PublicKey::Ec(point), Algorithm::ES256)
            | (PublicKey::Okp(point), Algorithm::EdDSA) => {
                signature::UnparsedPublicKey::new(alg.verification(), point)
                    .verify(message, signature)
                    .is_ok()
            }
            (PublicKey::Rsa { n, e }, Algorithm::RS256) => {
                signature::RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }

    /// The public JWK: `kty`, `kid`, `alg`, `use` and the public parameters only.
    pub fn to_jwk(&self, kid: &str, alg: Algorithm) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            PublicKey::Ec(point) => json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "alg": alg.as_str(), "use": "sig",
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            }),
            PublicKey::Okp(key) => json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": alg.as_str(), "use": "sig",
                "x": b64(key),
            }),
            PublicKey::Rsa { n, e } => json!({
                "kty": "RSA", "kid": kid, "alg": alg.as_str(), "use": "sig",
                "n": b64(n), "e": b64(e),
            }),
        }
    }

    /// The RFC 7638 thumbprint: a key id that follows from the key itself.
    pub fn thumbprint(&self) -> String {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        // Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = match self {
            PublicKey::Ec(point) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(&point[1..33]),
                b64(&point[33..65])
            ),
            PublicKey::Okp(key) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(key)),
            PublicKey::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
        };
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in Algorithm::ALL {
            let der = alg.generate_pkcs8().unwrap();
            let key = SigningKey::from_der(alg, &der).unwrap();
            let signature = key.sign(b"message").unwrap();
            let public = key.public_key();
            assert!(public.verify(alg, b"message", &signature), "{alg}");
            assert!(!public.verify(alg, b"massage", &signature), "{alg}");
            let other = Algorithm::ALL.into_iter().find(|a| *a != alg).unwrap();
            assert!(
                !public.verify(other, b"message", &signature),
                "{alg} as {other}"
            );
        }
    }

    #[test]
    fn jwks_carry_no_private_members() {
        for alg in Algorithm::ALL {
            let key = SigningKey::from_der(alg, &alg.generate_pkcs8().unwrap()).unwrap();
            let jwk = key.public_key().to_jwk("kid-1", alg);
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{alg} has {private}");
            }
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], alg.as_str());
        }
    }

    #[test]
    fn rejects_keys_of_the_wrong_algorithm() {
        let es = Algorithm::ES256.generate_pkcs8().unwrap();
        assert!(SigningKey::from_der(Algorithm::EdDSA, &es).is_err());
        assert!(SigningKey::from_der(Algorithm::RS256, &es).is_err());
    }
}
