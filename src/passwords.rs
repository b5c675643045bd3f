//! Password policy and argon2id hashing.
//!
//! Hashing runs on the blocking thread pool behind a semaphore of
//! `TESSERA_PASSWORD_HASH_CONCURRENCY` permits: a burst of sign-ins queues here instead of
//! allocating 19 MiB per attempt at once or occupying the async workers that serve
//! refreshes. Passwords are NFKC-normalised (so the same password typed on two keyboards
//! matches), never truncated, and checked against zxcvbn's bundled lists of common
//! passwords and words.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::config::PasswordConfig;

/// Longest password accepted, in characters (well beyond the 128 SPEC asks for).
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

/// Hashing failed: a stored hash is malformed, or the hashing task died.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

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
    permits: Arc<Semaphore>,
    min_length: usize,
    /// Verified against when the account does not exist, so an unknown email costs one
    /// verification like a wrong password does.
    dummy_hash: String,
}

fn normalise(password: &str) -> String {
    password.nfkc().collect()
}

impl Passwords {
    /// Sets up hashing; computes the dummy hash once.
    pub fn new(config: &PasswordConfig) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|err| HashError(format!("argon2 parameters: {err}")))?;
        let dummy_hash = argon2(&params)
            .hash_password(b"tessera dummy password for unknown accounts")
            .map_err(|err| HashError(err.to_string()))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(config.hash_concurrency)),
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
        self.run(move || {
            argon2(&params)
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| HashError(err.to_string()))
        })
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
        let params = self.params.clone();
        self.run(move || {
            let hash = PasswordHash::new(&stored).map_err(|err| HashError(err.to_string()))?;
            let matches = argon2(&params)
                .verify_password(password.as_bytes(), &hash)
                .is_ok();
            let current = Params::try_from(&hash).is_ok_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            });
            Ok(match (exists && matches, current) {
                (false, _) => Verified::No,
                (true, current) => Verified::Yes { rehash: !current },
            })
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = std::time::Instant::now();
        crate::metrics::hash_waiting(1.0);
        let permit = self.permits.acquire().await;
        crate::metrics::hash_waiting(-1.0);
        crate::metrics::hash_wait(queued.elapsed().as_secs_f64());
        let _permit = permit.map_err(|_| HashError("hashing pool closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| HashError(format!("hashing task failed: {err}")))?
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
