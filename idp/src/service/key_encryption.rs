//! The IdP's private signing keys encrypted at rest with a key-encryption key (KEK) read from a
//! file: each stored key is a compact JWE (`dir`, A256GCM) naming the KEK it was sealed with.
//! Rotation: name the new KEK file as `key_encryption_key_file` and the old one as
//! `previous_key_encryption_key_file`, restart every instance (each reseals what the old KEK
//! sealed), then drop the previous one. Keys stored in plain PEM before a KEK was set are read
//! and sealed the same way.

use std::path::Path;

use anyhow::Context;
use josekit::jwe::{Dir, JweHeader};
use sha2::{Digest, Sha256};

/// One KEK: 32 bytes, and an id (from its hash) that sealed keys name.
#[derive(Clone)]
struct Kek {
    id: String,
    bytes: [u8; 32],
}

impl Kek {
    fn read(path: &Path) -> anyhow::Result<Kek> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key-encryption key {}", path.display()))?;
        let hex = text.trim();
        anyhow::ensure!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{} must hold 32 bytes as 64 hex digits (e.g. `openssl rand -hex 32`)",
            path.display()
        );
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
        }
        let id = Sha256::digest(bytes)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Kek { id, bytes })
    }
}

/// How stored private keys are sealed and opened; `Debug` shows no key.
#[derive(Clone, Default)]
pub struct KeyEncryption {
    current: Option<Kek>,
    previous: Option<Kek>,
}

impl std::fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryption")
            .field("current", &self.current.as_ref().map(|k| &k.id))
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl KeyEncryption {
    pub fn from_files(current: Option<&Path>, previous: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            current: current.map(Kek::read).transpose()?,
            previous: previous.map(Kek::read).transpose()?,
        })
    }

    /// What to store for a private key: sealed with the current KEK, or as it is without one.
    pub fn seal(&self, pem: &str) -> anyhow::Result<String> {
        let Some(kek) = &self.current else {
            return Ok(pem.to_owned());
        };
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_key_id(&kek.id);
        let encrypter = Dir.encrypter_from_bytes(kek.bytes)?;
        Ok(josekit::jwe::serialize_compact(
            pem.as_bytes(),
            &header,
            &encrypter,
        )?)
    }

    /// The private key a stored value holds.
    pub fn open(&self, stored: &str) -> anyhow::Result<String> {
        if stored.starts_with("-----BEGIN") {
            return Ok(stored.to_owned());
        }
        let kek = sealed_with(stored)
            .and_then(|id| {
                [&self.current, &self.previous]
                    .into_iter()
                    .flatten()
                    .find(|kek| kek.id == id)
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "a stored signing key was sealed with a key-encryption key that is not configured"
                )
            })?;
        let decrypter = Dir.decrypter_from_bytes(kek.bytes)?;
        let (pem, _) = josekit::jwe::deserialize_compact(stored, &decrypter)
            .context("a stored signing key does not open")?;
        Ok(String::from_utf8(pem)?)
    }

    /// Whether a stored value should be sealed again: plain while a KEK is set, or sealed with
    /// another KEK than the current one.
    pub fn needs_resealing(&self, stored: &str) -> bool {
        let Some(kek) = &self.current else {
            return false;
        };
        if stored.starts_with("-----BEGIN") {
            return true;
        }
        sealed_with(stored).is_none_or(|id| id != kek.id)
    }
}

/// The id of the KEK a sealed value names in its header.
fn sealed_with(stored: &str) -> Option<String> {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(stored.split('.').next()?)
        .ok()?;
    JweHeader::from_bytes(&header)
        .ok()?
        .key_id()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek_file(dir: &Path, name: &str, byte: u8) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("{byte:02x}").repeat(32)).unwrap();
        path
    }

    #[test]
    fn keys_are_sealed_opened_and_resealed_on_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (
            kek_file(dir.path(), "old", 1),
            kek_file(dir.path(), "new", 2),
        );
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
        let before = KeyEncryption::from_files(Some(&old), None).unwrap();
        let sealed = before.seal(pem).unwrap();
        assert!(!sealed.contains("PRIVATE KEY"));
        assert_eq!(before.open(&sealed).unwrap(), pem);
        assert!(!before.needs_resealing(&sealed));
        assert!(
            before.needs_resealing(pem),
            "plain keys are sealed once a KEK is set"
        );

        let rotating = KeyEncryption::from_files(Some(&new), Some(&old)).unwrap();
        assert_eq!(
            rotating.open(&sealed).unwrap(),
            pem,
            "the previous KEK still opens"
        );
        assert!(rotating.needs_resealing(&sealed));
        let resealed = rotating.seal(pem).unwrap();
        let after = KeyEncryption::from_files(Some(&new), None).unwrap();
        assert_eq!(after.open(&resealed).unwrap(), pem);
        assert!(after.open(&sealed).is_err(), "the old KEK is gone");
        assert!(KeyEncryption::default().open(&sealed).is_err());
        assert_eq!(KeyEncryption::default().seal(pem).unwrap(), pem);
        assert!(!format!("{after:?}").contains("0202"));
    }

    #[test]
    fn a_malformed_kek_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, "too short").unwrap();
        let e = KeyEncryption::from_files(Some(&path), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
