//! Password policy and argon2id hashing.
//!
//! Passwords are NFKC-normalised (so the same password typed on two keyboards matches),
//! never truncated, and checked against zxcvbn's bundled lists of common passwords and
//! words. Hashing runs on threads of its own ([`hashing`]), so a burst of sign-ins neither
//! grows memory without bound nor occupies the workers that serve other requests.

mod hashing;

use argon2::Params;
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::config::PasswordConfig;
use hashing::{OUTPUT_LEN, Pool, SALT_LEN};

/// Longest password accepted, in characters (well beyond the usual 128).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// zxcvbn is quadratic-ish in length; beyond this many characters a password is not
/// "common" by any list, so only this prefix is scored.
const STRENGTH_CHECK_CHARS: usize = 64;

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("The password must be at least {0} characters long.")]
    TooShort(usize),
    #[error("The password must be at most {MAX_PASSWORD_CHARS} characters long.")]
    TooLong,
    #[error("The password is too common or too easy to guess.")]
    TooWeak,
}

/// Hashing failed: a stored hash is malformed, or a hashing thread is gone.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    fn of(err: impl std::fmt::Display) -> Self {
        Self(err.to_string())
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    /// It matches; `rehash` when the stored hash used other parameters than configured.
    Yes {
        rehash: bool,
    },
}

/// Policy and hashing with the configured parameters.
pub struct Passwords {
    params: Params,
    pool: Pool,
    min_length: usize,
    /// Verified against when the account does not exist, so an unknown email costs one
    /// verification like a wrong password does. Random output: it never matches.
    dummy_hash: String,
}

fn normalise(password: &str) -> String {
    password.nfkc().collect()
}

impl Passwords {
    /// Starts the hashing threads.
    pub fn new(config: &PasswordConfig) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|err| HashError(format!("argon2 parameters: {err}")))?;
        let pool = Pool::start(config.hash_concurrency, &params)?;
        let dummy_hash = hashing::phc_string(
            &params,
            &hashing::random_bytes::<SALT_LEN>()?,
            &hashing::random_bytes::<OUTPUT_LEN>()?,
        )?;
        Ok(Self {
            params,
            pool,
            min_length: config.min_length,
            dummy_hash,
        })
    }

    /// Checks a new password: length in characters, and not common or trivially guessable
    /// (taking the user's own email into account).
    pub fn check_policy(&self, password: &str, user_inputs: &[&str]) -> Result<(), PolicyError> {
        let password = normalise(password);
        let length = password.chars().count();
        if length < self.min_length {
            return Err(PolicyError::TooShort(self.min_length));
        }
        if length > MAX_PASSWORD_CHARS {
            return Err(PolicyError::TooLong);
        }
        let prefix: String = password.chars().take(STRENGTH_CHECK_CHARS).collect();
        let estimate = zxcvbn::zxcvbn(&prefix, user_inputs);
        // Score 0-1: guessable within about a million attempts (the common-password lists,
        // keyboard walks, dates, repeats). 2 and up resists online guessing.
        if (estimate.score() as u8) < 2 {
            return Err(PolicyError::TooWeak);
        }
        Ok(())
    }

    /// Hashes a password (argon2id, a fresh random salt, PHC string).
    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = normalise(password.expose_secret());
        let params = self.params.clone();
        self.pool
            .run(move |memory| hashing::hash(&params, &password, memory))
            .await
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is
    /// none, so that both cases cost the same.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        let password = normalise(password.expose_secret());
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let configured = self.params.clone();
        self.pool
            .run(move |memory| hashing::verify(&configured, &password, &stored, exists, memory))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{Algorithm, Argon2, Version};

    fn passwords() -> Passwords {
        Passwords::new(&PasswordConfig {
            min_length: 8,
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            hash_concurrency: 2,
        })
        .unwrap()
    }

    #[test]
    fn policy_refuses_short_common_and_guessable_passwords() {
        let p = passwords();
        assert_eq!(p.check_policy("Ab1!x", &[]), Err(PolicyError::TooShort(8)));
        for common in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "aaaaaaaaaa",
        ] {
            assert_eq!(
                p.check_policy(common, &[]),
                Err(PolicyError::TooWeak),
                "{common}"
            );
        }
        assert_eq!(
            p.check_policy("alice.smith1", &["alice.smith"]),
            Err(PolicyError::TooWeak),
            "the user's own email is no password"
        );
        assert_eq!(
            p.check_policy(&"x".repeat(1025), &[]),
            Err(PolicyError::TooLong)
        );
        assert!(p.check_policy("correct-Horse-battery-9", &[]).is_ok());
        assert!(
            p.check_policy("mot de passe très sûr ✓ 2024", &[]).is_ok(),
            "Unicode"
        );
    }

    #[tokio::test]
    async fn long_passwords_are_never_truncated() {
        let p = passwords();
        let long = "k".repeat(200) + "-tail-A";
        let hash = p.hash(&SecretString::from(long.clone())).await.unwrap();
        let other = "k".repeat(200) + "-tail-B";
        assert_eq!(
            p.verify(&SecretString::from(long), Some(&hash))
                .await
                .unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            p.verify(&SecretString::from(other), Some(&hash))
                .await
                .unwrap(),
            Verified::No,
            "a difference after character 200 still counts"
        );
    }

    #[tokio::test]
    async fn unicode_is_normalised_and_parameters_changes_ask_for_a_rehash() {
        let p = passwords();
        // "é" precomposed vs "e" + combining acute: the same password to a person.
        let hash = p
            .hash(&SecretString::from("caf\u{e9}-Secret-42".to_owned()))
            .await
            .unwrap();
        let decomposed = SecretString::from("cafe\u{301}-Secret-42".to_owned());
        assert_eq!(
            p.verify(&decomposed, Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: false }
        );

        let stronger = Passwords::new(&PasswordConfig {
            argon2_memory_kib: 128,
            ..PasswordConfig {
                min_length: 8,
                argon2_memory_kib: 64,
                argon2_iterations: 1,
                argon2_parallelism: 1,
                hash_concurrency: 1,
            }
        })
        .unwrap();
        assert_eq!(
            stronger.verify(&decomposed, Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            stronger.verify(&decomposed, None).await.unwrap(),
            Verified::No,
            "dummy hash never matches"
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_hasher() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let p = passwords();
        let params = Params::new(64, 1, 1, None).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // A hash written by the argon2 crate's own hasher...
        let theirs = reference
            .hash_password(b"interop-Secret-42")
            .unwrap()
            .to_string();
        let password = SecretString::from("interop-Secret-42".to_owned());
        assert_eq!(
            p.verify(&password, Some(&theirs)).await.unwrap(),
            Verified::Yes { rehash: false }
        );
        // ...and ours is one the crate verifies.
        let ours = p.hash(&password).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{ours}");
        assert!(
            reference
                .verify_password(b"interop-Secret-42", ours.as_str())
                .is_ok()
        );
        assert!(
            reference
                .verify_password(b"interop-Secret-43", ours.as_str())
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_hash_made_with_more_memory_than_configured_still_verifies() {
        let bigger = Passwords::new(&PasswordConfig {
            min_length: 8,
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            argon2_parallelism: 2,
            hash_concurrency: 1,
        })
        .unwrap();
        let password = SecretString::from("older-Setting-77".to_owned());
        let hash = bigger.hash(&password).await.unwrap();
        let p = passwords();
        for _ in 0..3 {
            assert_eq!(
                p.verify(&password, Some(&hash)).await.unwrap(),
                Verified::Yes { rehash: true },
                "parameters differ, so it asks for a rehash"
            );
        }
        assert_eq!(
            p.verify(
                &SecretString::from("older-Setting-78".to_owned()),
                Some(&hash)
            )
            .await
            .unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn abandoned_hashes_neither_wedge_nor_overfill_the_threads() {
        let p = Passwords::new(&PasswordConfig {
            min_length: 8,
            argon2_memory_kib: 4096,
            argon2_iterations: 3,
            argon2_parallelism: 1,
            hash_concurrency: 1,
        })
        .unwrap();
        let password = SecretString::from("abandoned-Secret-1".to_owned());
        // Callers that give up while their hash is queued or running (a client that
        // disconnects): their jobs keep their permits until done, so later ones still fit.
        for _ in 0..8 {
            let _ =
                tokio::time::timeout(std::time::Duration::from_micros(50), p.hash(&password)).await;
        }
        let hash = p.hash(&password).await.expect("the pool still works");
        assert_eq!(
            p.verify(&password, Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: false }
        );
    }

    #[tokio::test]
    async fn malformed_stored_hashes_are_errors_not_panics() {
        let p = passwords();
        let password = SecretString::from("whatever-Secret-9".to_owned());
        for stored in [
            "",
            "not a hash",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
        ] {
            assert!(
                p.verify(&password, Some(stored)).await.is_err(),
                "{stored:?}"
            );
        }
    }
}
