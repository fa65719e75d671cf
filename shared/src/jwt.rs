//! Signing and checking JWTs (josekit): keys parsed once, verifiers built once per key set,
//! and a JWKS cache that refetches when it meets a key id it does not know (key rotation).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

pub type Claims = Map<String, Value>;

/// A typed set of claims as the map a token is signed from.
pub fn to_claims(value: &impl Serialize) -> anyhow::Result<Claims> {
    match serde_json::to_value(value)? {
        Value::Object(map) => Ok(map),
        other => bail!("claims must be an object, not {other}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    ES256,
    EdDSA,
    RS256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
        }
    }

    pub fn parse(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::ES256),
            "EdDSA" => Some(Alg::EdDSA),
            "RS256" => Some(Alg::RS256),
            _ => None,
        }
    }
}

/// A private key ready to sign, with its public half as a JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    signer: Box<dyn JwsSigner>,
    public: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.name())
    }
}

impl SigningKey {
    /// A new key pair; returns the key and its private half as PEM, for storage.
    pub fn generate(alg: Alg) -> anyhow::Result<(SigningKey, String)> {
        use josekit::jwk::KeyPair;
        let pem = match alg {
            Alg::ES256 => ES256.generate_key_pair()?.to_pem_private_key(),
            Alg::EdDSA => EdDSA
                .generate_key_pair(EdCurve::Ed25519)?
                .to_pem_private_key(),
            Alg::RS256 => RS256.generate_key_pair(2048)?.to_pem_private_key(),
        };
        let pem = String::from_utf8(pem).context("PEM is text")?;
        let kid = random_kid();
        Ok((Self::from_pem(&kid, alg, &pem)?, pem))
    }

    pub fn from_pem(kid: &str, alg: Alg, pem: &str) -> anyhow::Result<SigningKey> {
        use josekit::jwk::KeyPair;
        let (signer, mut public): (Box<dyn JwsSigner>, Jwk) = match alg {
            Alg::ES256 => {
                let pair = josekit::jwk::alg::ec::EcKeyPair::from_pem(pem, None)?;
                (
                    Box::new(ES256.signer_from_pem(pem)?),
                    pair.to_jwk_public_key(),
                )
            }
            Alg::EdDSA => {
                let pair = josekit::jwk::alg::ed::EdKeyPair::from_pem(pem)?;
                (
                    Box::new(EdDSA.signer_from_pem(pem)?),
                    pair.to_jwk_public_key(),
                )
            }
            Alg::RS256 => {
                let pair = josekit::jwk::alg::rsa::RsaKeyPair::from_pem(pem)?;
                (
                    Box::new(RS256.signer_from_pem(pem)?),
                    pair.to_jwk_public_key(),
                )
            }
        };
        public.set_key_id(kid);
        public.set_algorithm(alg.name());
        public.set_key_use("sig");
        Ok(SigningKey {
            kid: kid.to_owned(),
            alg,
            signer,
            public,
        })
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Signs `claims` with `typ` in the header (e.g. `JWT`, `logout+jwt`, `at+jwt`).
    pub fn sign(&self, typ: &str, claims: &Claims) -> anyhow::Result<String> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        let payload = JwtPayload::from_map(claims.clone())?;
        Ok(jwt::encode_with_signer(&payload, &header, &*self.signer)?)
    }
}

pub fn random_kid() -> String {
    use rand::RngExt;
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifiers for a set of public keys, built once.
#[derive(Default)]
pub struct Verifiers {
    by_kid: HashMap<String, Box<dyn JwsVerifier>>,
}

impl Verifiers {
    pub fn from_jwks(jwks: &Value) -> anyhow::Result<Verifiers> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("a JWKS has a keys array"))?;
        let mut by_kid = HashMap::new();
        for key in keys {
            let Some(map) = key.as_object() else { continue };
            let Ok(jwk) = Jwk::from_map(map.clone()) else {
                continue;
            };
            let Some(kid) = jwk.key_id().map(str::to_owned) else {
                continue;
            };
            if jwk.key_use().is_some_and(|u| u != "sig") {
                continue;
            }
            let verifier: Box<dyn JwsVerifier> =
                match (jwk.key_type(), jwk.algorithm(), jwk.curve()) {
                    ("EC", Some("ES256") | None, Some("P-256")) => {
                        Box::new(ES256.verifier_from_jwk(&jwk)?)
                    }
                    ("OKP", Some("EdDSA") | None, Some("Ed25519")) => {
                        Box::new(EdDSA.verifier_from_jwk(&jwk)?)
                    }
                    ("RSA", Some("RS256") | None, _) => Box::new(RS256.verifier_from_jwk(&jwk)?),
                    _ => continue,
                };
            by_kid.insert(kid, verifier);
        }
        Ok(Verifiers { by_kid })
    }

    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a Jwk>) -> anyhow::Result<Verifiers> {
        let keys: Vec<Value> = keys
            .into_iter()
            .map(|k| Value::Object(k.as_ref().clone()))
            .collect();
        Self::from_jwks(&serde_json::json!({ "keys": keys }))
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Checks the signature (the header's `alg` must be the key's) and returns header and claims.
    pub fn verify(&self, token: &str) -> anyhow::Result<(JwsHeader, Claims)> {
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            let kid = header
                .key_id()
                .ok_or_else(|| josekit::JoseError::InvalidJwtFormat(anyhow!("no kid")))?;
            let verifier = self
                .by_kid
                .get(kid)
                .ok_or_else(|| josekit::JoseError::InvalidJwtFormat(anyhow!("unknown kid")))?;
            if header.algorithm() != Some(verifier.algorithm().name()) {
                return Err(josekit::JoseError::InvalidJwtFormat(anyhow!(
                    "alg does not match the key"
                )));
            }
            Ok(Some(&**verifier))
        })
        .map_err(|e| anyhow!("invalid signature: {e}"))?;
        Ok((header, payload.claims_set().clone()))
    }
}

/// The `kid` in a token's header, read without checking anything.
pub fn kid_of(token: &str) -> Option<String> {
    jwt::decode_header(token)
        .ok()
        .and_then(|h| h.claim("kid").and_then(Value::as_str).map(str::to_owned))
}

/// What a token must say about who made it, for whom, and when.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: i64,
    pub leeway: i64,
    /// Whether an expired token is still acceptable (e.g. `id_token_hint`).
    pub allow_expired: bool,
}

pub fn check_claims(claims: &Claims, expect: &Expect<'_>) -> anyhow::Result<()> {
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        bail!("wrong issuer");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expect.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !aud_ok {
        bail!("wrong audience");
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("no exp"))?;
    if !expect.allow_expired && exp + expect.leeway < expect.now {
        bail!("expired");
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64)
        && iat - expect.leeway > expect.now
    {
        bail!("issued in the future");
    }
    Ok(())
}

/// A remote JWKS, fetched on first use and again when an unknown `kid` appears (at most every
/// `min_refresh`), so that the sender can rotate keys without the receiver restarting.
pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    min_refresh: Duration,
    state: RwLock<(Option<Instant>, Arc<Verifiers>)>,
}

impl JwksCache {
    pub fn new(url: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            url: url.into(),
            http,
            min_refresh: Duration::from_secs(5),
            state: RwLock::new((None, Arc::default())),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn refresh(&self) -> anyhow::Result<Arc<Verifiers>> {
        let mut state = self.state.write().await;
        if let Some(at) = state.0
            && at.elapsed() < self.min_refresh
        {
            return Ok(state.1.clone());
        }
        let jwks: Value = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot fetch JWKS {}", self.url))?
            .json()
            .await
            .with_context(|| format!("JWKS {} is not JSON", self.url))?;
        let verifiers = Arc::new(Verifiers::from_jwks(&jwks)?);
        *state = (Some(Instant::now()), verifiers.clone());
        Ok(verifiers)
    }

    /// Verifiers that know the token's key, refetching once if they do not.
    pub async fn verify(&self, token: &str) -> anyhow::Result<(JwsHeader, Claims)> {
        let kid = kid_of(token).ok_or_else(|| anyhow!("the token has no kid"))?;
        let current = self.state.read().await.1.clone();
        let verifiers = if current.knows(&kid) {
            current
        } else {
            self.refresh().await?
        };
        verifiers.verify(token)
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_reloads_from_pem() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256] {
            let (key, pem) = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pem(&key.kid, alg, &pem).unwrap();
            let token = again
                .sign(
                    "JWT",
                    &claims(json!({"sub": "x", "iss": "i", "aud": "a", "exp": now() + 60})),
                )
                .unwrap();
            let verifiers = Verifiers::from_keys([key.public_jwk()]).unwrap();
            let (header, got) = verifiers.verify(&token).unwrap();
            assert_eq!(header.token_type(), Some("JWT"));
            assert_eq!(header.key_id(), Some(key.kid.as_str()));
            assert_eq!(got["sub"], "x");
            let expect = Expect {
                issuer: "i",
                audience: "a",
                now: now(),
                leeway: 5,
                allow_expired: false,
            };
            check_claims(&got, &expect).unwrap();
        }
    }

    #[test]
    fn wrong_key_unknown_kid_and_tampering_fail() {
        let (key, _) = SigningKey::generate(Alg::ES256).unwrap();
        let (other, _) = SigningKey::generate(Alg::ES256).unwrap();
        let token = key.sign("JWT", &claims(json!({"sub": "x"}))).unwrap();
        assert!(
            Verifiers::from_keys([other.public_jwk()])
                .unwrap()
                .verify(&token)
                .is_err()
        );
        let mut forged = other.public_jwk().clone();
        forged.set_key_id(&key.kid);
        assert!(
            Verifiers::from_keys([&forged])
                .unwrap()
                .verify(&token)
                .is_err(),
            "same kid, other key"
        );
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], "eyJzdWIiOiJ5In0", parts[2]);
        assert!(
            Verifiers::from_keys([key.public_jwk()])
                .unwrap()
                .verify(&tampered)
                .is_err()
        );
        let none = format!("{}.{}.", "eyJhbGciOiJub25lIiwia2lkIjoiYSJ9", parts[1]);
        assert!(
            Verifiers::from_keys([key.public_jwk()])
                .unwrap()
                .verify(&none)
                .is_err()
        );
    }

    #[test]
    fn claims_are_checked() {
        let good = claims(json!({"iss": "i", "aud": ["a", "b"], "exp": 1000, "iat": 900}));
        let at = |now, allow_expired| Expect {
            issuer: "i",
            audience: "a",
            now,
            leeway: 10,
            allow_expired,
        };
        assert!(check_claims(&good, &at(950, false)).is_ok());
        assert!(check_claims(&good, &at(1011, false)).is_err());
        assert!(check_claims(&good, &at(1011, true)).is_ok());
        assert!(
            check_claims(&good, &at(880, false)).is_err(),
            "iat in the future"
        );
        assert!(
            check_claims(
                &good,
                &Expect {
                    issuer: "x",
                    ..at(950, false)
                }
            )
            .is_err()
        );
        assert!(
            check_claims(
                &good,
                &Expect {
                    audience: "c",
                    ..at(950, false)
                }
            )
            .is_err()
        );
    }
}
