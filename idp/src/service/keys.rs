//! The key ring: signing keys parsed once, the JWKS built once per change, reloaded now and then
//! so that every IdP instance follows a rotation made by any of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use shared::Clock;
use shared::jwt::{Alg, Claims, SigningKey, Verifiers};

use super::key_encryption::KeyEncryption;
use crate::store::{Database, keys};

struct Ring {
    /// The newest unretired key of each algorithm.
    current: HashMap<Alg, Arc<SigningKey>>,
    all: HashMap<String, Arc<SigningKey>>,
    jwks: Arc<Value>,
    verifiers: Arc<Verifiers>,
}

#[derive(Clone)]
pub struct KeyRing {
    ring: Arc<RwLock<Arc<Ring>>>,
    clock: Clock,
    sealing: KeyEncryption,
}

/// Algorithms the IdP always has a key for.
const ALWAYS: [Alg; 2] = [Alg::ES256, Alg::RS256];

impl KeyRing {
    /// Loads the keys, making the first ones on a new database.
    pub async fn load(
        db: &Database,
        clock: Clock,
        sealing: KeyEncryption,
    ) -> anyhow::Result<KeyRing> {
        let ring = KeyRing {
            clock,
            sealing,
            ring: Arc::new(RwLock::new(Arc::new(Ring {
                current: HashMap::new(),
                all: HashMap::new(),
                jwks: Arc::new(json!({"keys": []})),
                verifiers: Arc::default(),
            }))),
        };
        ring.reload(db).await?;
        let missing: Vec<Alg> = ALWAYS
            .into_iter()
            .filter(|alg| ring.current(*alg).is_none())
            .collect();
        if !missing.is_empty() {
            for alg in missing {
                let (key, pem) =
                    tokio::task::spawn_blocking(move || SigningKey::generate(alg)).await??;
                // Another process starting at the same moment may win; its key is the one.
                let sealed = ring.sealing.seal(&pem)?;
                keys::insert_first(db, &key.kid, alg.name(), &sealed, ring.clock.now()).await?;
            }
            ring.reload(db).await?;
        }
        ring.reseal(db).await?;
        Ok(ring)
    }

    /// Seals again what is stored plain or under a previous key-encryption key.
    async fn reseal(&self, db: &Database) -> anyhow::Result<()> {
        for row in keys::published(db, self.clock.now()).await? {
            if self.sealing.needs_resealing(&row.private_pem) {
                let pem = self.sealing.open(&row.private_pem)?;
                let sealed = self.sealing.seal(&pem)?;
                keys::reseal(db, &row.kid, &row.private_pem, &sealed).await?;
                tracing::info!(kid = %row.kid, "a signing key was sealed with the current key-encryption key");
            }
        }
        Ok(())
    }

    pub async fn reload(&self, db: &Database) -> anyhow::Result<()> {
        let rows = keys::published(db, self.clock.now()).await?;
        let known = self.snapshot().all.clone();
        let mut all = HashMap::new();
        let mut current: HashMap<Alg, Arc<SigningKey>> = HashMap::new();
        for row in rows {
            let Some(alg) = Alg::parse(&row.alg) else {
                continue;
            };
            let key = match known.get(&row.kid) {
                Some(k) => k.clone(),
                None => {
                    let pem = self.sealing.open(&row.private_pem)?;
                    Arc::new(SigningKey::from_pem(&row.kid, alg, &pem)?)
                }
            };
            if row.retired_at.is_none() {
                current.insert(alg, key.clone());
            }
            all.insert(row.kid.clone(), key);
        }
        // In kid order, so every instance publishes the same document.
        let mut sorted: Vec<&Arc<SigningKey>> = all.values().collect();
        sorted.sort_by(|a, b| a.kid.cmp(&b.kid));
        let public: Vec<Value> = sorted
            .into_iter()
            .map(|k| Value::Object(k.public_jwk().as_ref().clone()))
            .collect();
        let jwks = json!({ "keys": public });
        let verifiers = Verifiers::from_jwks(&jwks)?;
        let ring = Ring {
            current,
            all,
            jwks: Arc::new(jwks),
            verifiers: Arc::new(verifiers),
        };
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn current(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        self.snapshot().current.get(&alg).cloned()
    }

    pub fn jwks(&self) -> Arc<Value> {
        self.snapshot().jwks.clone()
    }

    /// Signs with the current key of `alg` (ES256 when that one is missing).
    pub fn sign(&self, alg: Alg, typ: &str, claims: &Claims) -> anyhow::Result<String> {
        let ring = self.snapshot();
        let key = ring
            .current
            .get(&alg)
            .or_else(|| ring.current.get(&Alg::ES256))
            .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        key.sign(typ, claims)
    }

    /// Checks a token this IdP signed, with any published key.
    /// Makes a new key for `alg` (sealed as the ring seals) and retires the current one.
    pub async fn rotate(
        &self,
        db: &Database,
        alg: Alg,
        keep_seconds: i64,
        at: i64,
    ) -> anyhow::Result<String> {
        rotate(db, &self.sealing, alg, keep_seconds, at).await
    }

    pub fn verify(&self, token: &str) -> anyhow::Result<(josekit::jws::JwsHeader, Claims)> {
        self.snapshot().verifiers.verify(token)
    }
}

/// Makes a new key for `alg` and retires the old ones; they stay published for `keep_seconds`.
pub async fn rotate(
    db: &Database,
    sealing: &KeyEncryption,
    alg: Alg,
    keep_seconds: i64,
    at: i64,
) -> anyhow::Result<String> {
    let (key, pem) = tokio::task::spawn_blocking(move || SigningKey::generate(alg)).await??;
    let sealed = sealing.seal(&pem)?;
    keys::rotate(db, &key.kid, alg.name(), &sealed, at, at + keep_seconds).await?;
    Ok(key.kid.clone())
}
