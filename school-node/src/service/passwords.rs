//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane), always on the
//! blocking pool so that a sign-in never stalls the async runtime.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngExt;

pub const MIN_LENGTH: usize = shared::secret::MIN_PASSWORD_LENGTH;

/// A password in memory; `Debug` never shows it.
pub use shared::Secret;

pub async fn hash(password: &Secret) -> anyhow::Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await?
}

/// Whether `password` matches the stored PHC string; a malformed hash never matches.
pub async fn verify(password: &Secret, stored: &str) -> anyhow::Result<bool> {
    let password = password.clone();
    let stored = stored.to_owned();
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await?)
}

/// A temporary password people can type from a letter: 10 characters without look-alikes.
pub fn temporary() -> Secret {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    Secret::new(
        (0..10)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect::<String>(),
    )
}

/// The rule for a chosen password: at least eight characters, typed the same twice.
pub use shared::secret::{PasswordProblem, check_new_password as check_new};

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let pw = Secret::new("õunapuu-123");
        let h1 = hash(&pw).await.unwrap();
        let h2 = hash(&pw).await.unwrap();
        assert!(h1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h1}");
        assert_ne!(h1, h2, "salted");
        assert!(verify(&pw, &h1).await.unwrap());
        assert!(!verify(&Secret::new("õunapuu-124"), &h1).await.unwrap());
        assert!(!verify(&pw, "not a hash").await.unwrap());
    }

    #[test]
    fn new_password_rule() {
        assert_eq!(
            check_new("1234567", "1234567"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new("12345678", "12345679"),
            Err(PasswordProblem::Mismatch)
        );
        assert_eq!(check_new("üüüüüüüü", "üüüüüüüü"), Ok(()));
        assert_eq!(format!("{:?}", Secret::new("x")), "Secret(***)");
    }

    #[test]
    fn temporary_passwords_are_random_and_long_enough() {
        let a = temporary();
        assert_eq!(a.expose().len(), 10);
        assert_ne!(a.expose(), temporary().expose());
    }
}
