//! Where hashes are computed: a pool of hashing threads, `TESSERA_PASSWORD_HASH_CONCURRENCY`
//! of them, each keeping one argon2 work area (19 MiB at the default parameters) for its
//! whole life:
//! - memory is bounded by threads × work area, allocated on a thread's first hash and
//!   reused, so it is not faulted in again for every hash (a fresh block per hash stays
//!   in the allocator's arenas and makes every sign-in pay its page faults;
//!   `docs/benchmarks.md` has the figures);
//! - a burst of sign-ins queues for a thread (a semaphore, so the queue is measured) instead
//!   of allocating at once, and never occupies the async workers that serve refreshes;
//! - on Linux the threads run at nice +10, so when the cores are full, requests that need
//!   a few microseconds of CPU (refresh, verify) are scheduled ahead of the next hash; with
//!   nothing else to run, the hashes get all the CPU.
//!
//! Hashes are argon2id PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`); any
//! argon2 PHC string verifies, and one with other parameters than configured asks for a
//! rehash.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{HashError, Verified};

/// Bytes of salt and of hash output in the hashes Tessera writes.
pub(super) const SALT_LEN: usize = 16;
pub(super) const OUTPUT_LEN: usize = 32;
/// A hashing thread with nothing to do for this long gives its work area back, so a quiet
/// server returns to its start-up size; a busy one never pays for the memory again (the
/// page faults of one wake-up cost less than one hash).
const RELEASE_WORK_AREA_AFTER: Duration = Duration::from_secs(5);
/// How much lower than the request-serving threads the hashing threads are scheduled.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: libc::c_int = 10;

/// Work for a hashing thread: it gets the thread's work area, and keeps a permit until done.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing threads and the queue to them.
pub(super) struct Pool {
    permits: Arc<Semaphore>,
    jobs: flume::Sender<Job>,
}

impl Pool {
    /// Starts `threads` hashing threads (at least one), whose work areas keep the size
    /// `params` need.
    pub(super) fn start(threads: usize, params: &Params) -> Result<Self, HashError> {
        let threads = threads.max(1);
        let (jobs, queue) = flume::bounded::<Job>(threads);
        for index in 0..threads {
            let queue = queue.clone();
            let configured_blocks = params.block_count();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{index}"))
                .spawn(move || hashing_thread(&queue, configured_blocks))
                .map_err(|err| HashError(format!("starting a hashing thread: {err}")))?;
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
        })
    }

    /// Runs `work` on a hashing thread once one is free.
    pub(super) async fn run<T: Send + 'static>(
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

/// Hashes a (normalised) password with `params` and a fresh random salt, in `memory`.
pub(super) fn hash(
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, HashError> {
    let salt = random_bytes::<SALT_LEN>()?;
    let mut output = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut output,
            work_area(memory, params),
        )
        .map_err(HashError::of)?;
    phc_string(params, &salt, &output)
}

/// Checks a (normalised) password against a stored PHC string, in `memory`. `exists`
/// false: `stored` is the dummy hash, which never counts as a match.
pub(super) fn verify(
    configured: &Params,
    password: &str,
    stored: &str,
    exists: bool,
    memory: &mut Vec<Block>,
) -> Result<Verified, HashError> {
    let hash = PasswordHash::new(stored).map_err(HashError::of)?;
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
}

/// `$argon2id$v=19$m=...,t=...,p=...$salt$hash`
pub(super) fn phc_string(params: &Params, salt: &[u8], output: &[u8]) -> Result<String, HashError> {
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::of)?,
        salt: Some(Salt::new(salt).map_err(HashError::of)?),
        hash: Some(Output::new(output).map_err(HashError::of)?),
    }
    .to_string())
}

pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N], HashError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| HashError("the system random generator failed".into()))?;
    Ok(bytes)
}
