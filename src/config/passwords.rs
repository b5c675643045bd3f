//! The passwords section: the policy's minimum length and argon2id's cost.

use super::ConfigError;
use super::source::{Source, number};

/// Argon2id cost and the bound on concurrent hashes.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes running at once; more wait their turn, so a burst cannot exhaust memory.
    pub hash_concurrency: usize,
}

impl PasswordConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            min_length: env.parsed("TESSERA_PASSWORD_MIN_LENGTH", "8", 8, number)?,
            argon2_memory_kib: env.parsed("TESSERA_ARGON2_MEMORY_KIB", "19456", 19_456, number)?,
            argon2_iterations: env.parsed("TESSERA_ARGON2_ITERATIONS", "2", 2, number)?,
            argon2_parallelism: env.parsed("TESSERA_ARGON2_PARALLELISM", "1", 1, number)?,
            hash_concurrency: env.parsed(
                "TESSERA_PASSWORD_HASH_CONCURRENCY",
                "2",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                number,
            )?,
        })
    }
}
