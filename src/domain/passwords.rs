//! Password policy and argon2id hashing.
//!
//! Hashing runs on its own threads, `TESSERA_PASSWORD_HASH_CONCURRENCY` of them, each
//! keeping one argon2 work area (19 MiB at the default parameters) for its whole life:
//! - memory is bounded by threads × work area, allocated on a thread's first hash, never
//!   returned to the allocator and so never faulted in again (with `spawn_blocking` every
//!   hash took a fresh 19 MiB block from whichever thread's malloc arena, which kept them:
//!   RSS grew to 650 MiB on two cores and each sign-in took ~1,500 page faults);
//! - a burst of sign-ins queues for a thread (a semaphore, so the queue is measured) instead
//!   of allocating at once, and never occupies the async workers that serve refreshes;
//! - on Linux the threads run at nice +10, so when the cores are full, requests that need
//!   a few microseconds of CPU (refresh, verify) are scheduled ahead of the next hash; with
//!   nothing else to run, the hashes get all the CPU as before.
//!
//! Passwords are NFKC-normalised (so the same password typed on two keyboards matches),
//! never truncated, and checked against zxcvbn's bundled lists of common passwords and
//! words.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use unicode_normalization::UnicodeNormalization;

use crate::config::PasswordConfig;

/// Longest password accepted, in characters (well beyond the usual 128).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// zxcvbn is quadratic-ish in length; beyond this many characters a password is not
/// "common" by any list, so only this prefix is scored.
const STRENGTH_CHECK_CHARS: usize = 64;
/// Bytes of salt and of hash output in the hashes Tessera writes.
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
/// A hashing thread with nothing to do for this long gives its work area back, so a quiet
/// server returns to its start-up size; a busy one never pays for the memory again (about
/// 10 ms of page faults, less than one hash, per thread and per wake-up).
const RELEASE_WORK_AREA_AFTER: Duration = Duration::from_secs(5);
/// How much lower than the request-serving threads the hashing threads are scheduled.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: libc::c_int = 10;

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
    permits: Arc<Semaphore>,
    jobs: flume::Sender<Job>,
    min_length: usize,
    /// Verified against when the account does not exist, so an unknown email costs one
    /// verification like a wrong password does. Random output: it never matches.
    dummy_hash: String,
}

/// Work for a hashing thread: it gets the thread's work area, and keeps a permit until done.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

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
        let threads = config.hash_concurrency.max(1);
        let (jobs, queue) = flume::bounded::<Job>(threads);
        for index in 0..threads {
            let queue = queue.clone();
            let configured_blocks = params.block_count();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{index}"))
                .spawn(move || hashing_thread(&queue, configured_blocks))
                .map_err(|err| HashError(format!("starting a hashing thread: {err}")))?;
        }
        let dummy_hash = phc_string(
            &params,
            &random_bytes::<SALT_LEN>()?,
            &random_bytes::<OUTPUT_LEN>()?,
        )?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
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
        self.run(move |memory| {
            let salt = random_bytes::<SALT_LEN>()?;
            let mut output = [0u8; OUTPUT_LEN];
            argon2id(&params, Version::V0x13)
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    &salt,
                    &mut output,
                    work_area(memory, &params),
                )
                .map_err(HashError::of)?;
            phc_string(&params, &salt, &output)
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
        let configured = self.params.clone();
        self.run(move |memory| {
            let hash = PasswordHash::new(&stored).map_err(HashError::of)?;
            let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(HashError::of)?;
            let version = hash
                .version
                .map_or(Ok(Version::V0x13), Version::try_from)
                .map_err(HashError::of)?;
            let params = Params::try_from(&hash).map_err(HashError::of)?;
            let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
                return Err(HashError("stored hash without salt or output".into()));
            };
            let mut computed = vec![0u8; expected.len()];
            Argon2::new(algorithm, version, params.clone())
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    salt.as_ref(),
                    &mut computed,
                    work_area(memory, &params),
                )
                .map_err(HashError::of)?;
            // Output's equality is constant-time.
            let matches = Output::new(&computed).is_ok_and(|computed| &computed == expected);
            let current = algorithm == Algorithm::Argon2id
                && version == Version::V0x13
                && params.m_cost() == configured.m_cost()
                && params.t_cost() == configured.t_cost()
                && params.p_cost() == configured.p_cost();
            Ok(match (exists && matches, current) {
                (false, _) => Verified::No,
                (true, current) => Verified::Yes { rehash: !current },
            })
        })
        .await
    }

    /// Runs `work` on a hashing thread once one is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = std::time::Instant::now();
        crate::support::metrics::hash_waiting(1.0);
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        crate::support::metrics::hash_waiting(-1.0);
        crate::support::metrics::hash_wait(queued.elapsed().as_secs_f64());
        let permit: OwnedSemaphorePermit =
            permit.map_err(|_| HashError("hashing pool closed".into()))?;
        let (reply, answer) = oneshot::channel();
        // The permit travels with the job and is released when the hash is done, even if
        // the request that asked for it is gone: queued plus running jobs never exceed the
        // threads, so the queue (as long as the number of threads) is never full.
        let job: Job = Box::new(move |memory| {
            let _permit = permit;
            let _ = reply.send(work(memory));
        });
        self.jobs.try_send(job).map_err(|err| match err {
            flume::TrySendError::Full(_) => HashError("hashing queue full".into()),
            flume::TrySendError::Disconnected(_) => HashError("hashing threads stopped".into()),
        })?;
        answer
            .await
            .map_err(|_| HashError("a hashing thread failed".into()))?
    }
}

/// A hashing thread: takes jobs until `Passwords` is dropped. Its work area grows on the
/// first hash to what the configured parameters need and stays while hashes keep coming; a
/// stored hash with more memory than configured (an older setting) borrows more for that
/// one hash only.
fn hashing_thread(queue: &flume::Receiver<Job>, configured_blocks: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on this thread's own id; raising one's niceness needs no
    // privilege, and a failure leaves the thread at normal priority.
    unsafe {
        let tid = libc::gettid();
        #[allow(clippy::cast_sign_loss)]
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASHING_NICENESS);
    }
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match queue.recv_timeout(RELEASE_WORK_AREA_AFTER) {
            Ok(job) => job,
            Err(flume::RecvTimeoutError::Timeout) => {
                if !memory.is_empty() {
                    memory = Vec::new();
                    return_free_memory();
                }
                continue;
            }
            Err(flume::RecvTimeoutError::Disconnected) => return,
        };
        // A panic drops the job's reply (its caller gets an error); the thread carries on.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
        if memory.len() > configured_blocks {
            memory.truncate(configured_blocks);
            memory.shrink_to_fit();
        }
    }
}

/// Hands memory freed by a work area back to the system. glibc keeps a freed block of this
/// size in its arena (after the first large free it raises its mmap threshold to the block's
/// size and its trim threshold to twice that), so without this the memory stays resident.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The first `block_count` blocks of a thread's work area, growing it if needed.
fn work_area<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::new());
    }
    &mut memory[..needed]
}

fn argon2id(params: &Params, version: Version) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, version, params.clone())
}

/// `$argon2id$v=19$m=...,t=...,p=...$salt$hash`
fn phc_string(params: &Params, salt: &[u8], output: &[u8]) -> Result<String, HashError> {
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::of)?,
        salt: Some(Salt::new(salt).map_err(HashError::of)?),
        hash: Some(Output::new(output).map_err(HashError::of)?),
    }
    .to_string())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], HashError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| HashError("the system random generator failed".into()))?;
    Ok(bytes)
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

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_hasher() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let p = passwords();
        let params = Params::new(64, 1, 1, None).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // A hash written the argon2 crate's way (as Tessera did before its own threads)...
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
