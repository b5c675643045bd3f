//! The parts of `bench/run` that wrk and pgbench cannot do.
//!
//! ```text
//! tessera-loadgen setup   --url URL --email E --password P
//! tessera-loadgen refresh --url URL --email E --password P --connections N --duration SECS
//!                         [--pid PID --db DB --clk-tck HZ] [--ready-file FILE --start-file FILE]
//! tessera-loadgen argon2  --threads N --duration SECS [--memory-kib 19456 --iterations 2 --parallelism 1]
//! tessera-loadgen ecdsa   --threads N --duration SECS
//! tessera-loadgen report  --dir DIR
//! tessera-loadgen watch   --pid PID --db DB --out FILE
//! ```
//!
//! `setup` signs a user up (or in, if it exists) and prints an access token. `refresh`
//! runs N virtual clients, each with its own session and its own connection, each always
//! presenting its latest refresh token, and prints a `RESULT` line in the format the wrk
//! script prints (bench/wrk/request.lua); given `--pid` and `--db`, also a `CPU` line (CPU
//! seconds of Tessera and of its Postgres backends while the clock ran). Given
//! `--ready-file`, it creates that file once its sessions are signed in; given
//! `--start-file`, it then waits for that file to appear before starting its clock (bench/run's
//! mixed point uses both to run its timed window inside wrk's sign-in load). `argon2` and
//! `ecdsa` measure floors and print `FLOOR` lines. `watch` samples Tessera's RSS and CPU, its
//! backends' CPU and whether other heavy work runs, until killed. `report` renders
//! DIR/endpoints.tsv, DIR/floors.tsv, DIR/memory.tsv and DIR/meta.txt as Markdown on stdout.
//!
//! Only loopback URLs are accepted: this tool is for benchmarking a local Tessera.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Deserialize;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// `--key value` pairs after the subcommand.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(rest: &[String]) -> Result<Self> {
        let mut map = HashMap::new();
        let mut it = rest.iter();
        while let Some(key) = it.next() {
            let name = key
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --option, got {key:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_owned(), value.clone());
        }
        Ok(Self(map))
    }

    fn str(&self, name: &str) -> Result<String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required").into())
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match (self.0.get(name), default) {
            (Some(v), _) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}").into()),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("--{name} is required").into()),
        }
    }

    fn url(&self) -> Result<String> {
        let url = self.str("url")?;
        let rest = url
            .strip_prefix("http://")
            .ok_or("--url must be http://127.0.0.1:PORT or http://localhost:PORT")?;
        let host = rest.split([':', '/']).next().unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(format!("refusing to load anything but loopback, got {host:?}").into());
        }
        Ok(url.trim_end_matches('/').to_owned())
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some(command) = argv.get(1) else {
        eprintln!("usage: tessera-loadgen setup|refresh|argon2|ecdsa|report --option value ...");
        return ExitCode::from(2);
    };
    let outcome = Args::parse(&argv[2..]).and_then(|args| match command.as_str() {
        "setup" => runtime(2)?.block_on(setup(&args)),
        "refresh" => runtime(2)?.block_on(refresh(&args)),
        "argon2" => argon2_floor(&args),
        "ecdsa" => ecdsa_floor(&args),
        "report" => report(&args),
        "watch" => watch(&args),
        other => Err(format!("unknown command {other:?}").into()),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera-loadgen {command}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?)
}

// ---------------------------------------------------------------------------------------
// Talking to Tessera

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    access_token: String,
    refresh_token: String,
}

#[derive(Deserialize)]
struct SessionEnvelope {
    session: Option<Session>,
}

/// Only the field the driver needs; the rest of the bare Session is skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refreshed {
    refresh_token: String,
}

/// One client per virtual user: its own keep-alive connection, like a wrk connection.
fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn sign_in(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> Result<Session> {
    let response = client
        .post(format!("{url}/signin/email-password"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        return Err(format!("sign-in: {status} {}", String::from_utf8_lossy(&body)).into());
    }
    let envelope: SessionEnvelope = serde_json::from_slice(&body)?;
    envelope
        .session
        .ok_or_else(|| "sign-in answered no session".into())
}

/// Signs the user up, or in when it already exists, and prints an access token.
async fn setup(args: &Args) -> Result<()> {
    let url = args.url()?;
    let (email, password) = (args.str("email")?, args.str("password")?);
    let client = client()?;
    let response = client
        .post(format!("{url}/signup/email-password"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let session = if status.is_success() {
        let envelope: SessionEnvelope = serde_json::from_slice(&body)?;
        envelope
            .session
            .ok_or("sign-up answered no session (email verification on?)")?
    } else if status.as_u16() == 409 {
        sign_in(&client, &url, &email, &password).await?
    } else {
        return Err(format!("sign-up: {status} {}", String::from_utf8_lossy(&body)).into());
    };
    println!("{}", session.access_token);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Watching Tessera: peak RSS, CPU of Tessera and of its Postgres backends, other work

/// Process names (or command-line fragments) of other heavy work on the machine: the
/// project's test suite, builds, the browser and Node tests. Their presence marks a point
/// as disturbed.
const BUSY_COMMS: &[&str] = &[
    "cargo",
    "rustc",
    "clippy-driver",
    "node",
    "npm",
    "chromium",
    "chrome",
];
const BUSY_CMDLINE: &str = "target/debug/deps/api-";

fn stat_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// Postgres backends serving database `db` as user postgres: their process titles are
/// "postgres: [CLUSTER: ]postgres DB 127.0.0.1(PORT) ...". Shared processes (WAL writer,
/// checkpointer) are not counted.
fn backends(db: &str) -> Vec<u32> {
    let needle = format!(" postgres {db} 127.0.0.1(");
    pids()
        .into_iter()
        .filter(|p| {
            let c = cmdline(*p);
            c.starts_with("postgres: ") && c.contains(&needle)
        })
        .collect()
}

fn other_work_running() -> bool {
    pids().into_iter().any(|p| {
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        BUSY_COMMS.contains(&comm.trim()) || cmdline(p).contains(BUSY_CMDLINE)
    })
}

/// What a watch saw.
#[derive(Clone, Default)]
struct Watched {
    rss_peak_kib: u64,
    tessera_seconds: f64,
    postgres_seconds: f64,
    wall_seconds: f64,
    disturbed: bool,
}

impl Watched {
    /// "rss KiB, disturbed, Tessera CPU s, Postgres CPU s, wall s", tab-separated.
    fn line(&self) -> String {
        format!(
            "{}\t{}\t{:.2}\t{:.2}\t{:.2}",
            self.rss_peak_kib,
            if self.disturbed { "yes" } else { "no" },
            self.tessera_seconds,
            self.postgres_seconds,
            self.wall_seconds
        )
    }
}

/// Samples every 100 ms on its own thread until stopped. CPU is counted per process from
/// its first sample: backends already connected count from their ticks at the start, ones
/// that connect later from zero, ones that exit (a client that disconnects mid-request
/// makes sqlx close the connection it was using) keep their last sample.
struct Watch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Watched>,
}

impl Watch {
    fn start(pid: u32, db: String, clk_tck: f64, out: Option<std::path::PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let tessera_first = stat_ticks(pid).unwrap_or(0);
            let mut tessera_last = tessera_first;
            // pid -> (ticks at first sight, last ticks)
            let mut pg: HashMap<u32, (u64, u64)> = backends(&db)
                .into_iter()
                .filter_map(|p| stat_ticks(p).map(|t| (p, (t, t))))
                .collect();
            let mut seen = Watched {
                disturbed: other_work_running(),
                ..Watched::default()
            };
            let mut n: u64 = 0;
            loop {
                let stopping = flag.load(Ordering::Relaxed);
                if let Some(rss) = vm_rss_kib(pid) {
                    seen.rss_peak_kib = seen.rss_peak_kib.max(rss);
                }
                if let Some(t) = stat_ticks(pid) {
                    tessera_last = t;
                }
                if n.is_multiple_of(5) {
                    for p in backends(&db) {
                        pg.entry(p).or_insert((0, 0));
                    }
                }
                for (p, (_, last)) in pg.iter_mut() {
                    if let Some(t) = stat_ticks(*p) {
                        *last = t;
                    }
                }
                if n % 10 == 9 && !seen.disturbed {
                    seen.disturbed = other_work_running();
                }
                seen.tessera_seconds = tessera_last.saturating_sub(tessera_first) as f64 / clk_tck;
                seen.postgres_seconds = pg
                    .values()
                    .map(|(first, last)| last.saturating_sub(*first))
                    .sum::<u64>() as f64
                    / clk_tck;
                seen.wall_seconds = start.elapsed().as_secs_f64();
                if let Some(out) = &out {
                    // Replaced atomically: bench/run may kill this process at any moment.
                    let tmp = out.with_extension("tmp");
                    if std::fs::write(&tmp, seen.line() + "\n").is_ok() {
                        let _ = std::fs::rename(&tmp, out);
                    }
                }
                if stopping {
                    break;
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        Self { stop, handle }
    }

    fn finish(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// `watch --pid P --db D --out FILE [--clk-tck N]`: samples until killed, rewriting FILE
/// with the figures so far (one line, see [`Watched::line`]) every 100 ms.
fn watch(args: &Args) -> Result<()> {
    let pid: u32 = args.num("pid", None)?;
    let out = std::path::PathBuf::from(args.str("out")?);
    let w = Watch::start(
        pid,
        args.str("db")?,
        args.num("clk-tck", Some(100.0))?,
        Some(out),
    );
    // Runs until bench/run kills it; stops by itself if Tessera goes away.
    while std::fs::metadata(format!("/proc/{pid}")).is_ok() {
        std::thread::sleep(Duration::from_millis(200));
    }
    w.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Refresh chains

/// What one virtual client saw.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    /// "503 service-unavailable" and the like, and "socket" for transport errors.
    errors: BTreeMap<String, u64>,
    /// Sessions lost (401) and signed in again.
    resigned: u64,
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

async fn refresh(args: &Args) -> Result<()> {
    let url = args.url()?;
    let (email, password) = (args.str("email")?, args.str("password")?);
    let connections: usize = args.num("connections", None)?;
    let duration = Duration::from_secs_f64(args.num("duration", None)?);
    // Tessera's process and database, to report the CPU they used while the clock ran
    // (not during the sign-ins).
    let probe: Option<(u32, String, f64)> = match args.num::<u32>("pid", Some(0))? {
        0 => None,
        pid => Some((pid, args.str("db")?, args.num("clk-tck", Some(100.0))?)),
    };
    if connections == 0 || duration.is_zero() || duration > Duration::from_secs(600) {
        return Err("--connections must be > 0 and --duration in (0, 600]".into());
    }

    // Every virtual client signs in once, a few at a time (each costs one argon2id
    // verification), before the clock starts.
    let setup_started = Instant::now();
    let mut clients = Vec::with_capacity(connections);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let mut pending = Vec::new();
    for _ in 0..connections {
        let (url, email, password, sem) =
            (url.clone(), email.clone(), password.clone(), sem.clone());
        pending.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let client = client()?;
            let session = sign_in(&client, &url, &email, &password).await?;
            Ok::<_, Error>((client, session.refresh_token))
        }));
    }
    for task in pending {
        clients.push(task.await??);
    }
    eprintln!(
        "refresh: {connections} sessions signed in in {:.1}s",
        setup_started.elapsed().as_secs_f64()
    );
    if let Some(ready) = args.opt("ready-file") {
        std::fs::write(&ready, "ready\n").map_err(|e| format!("--ready-file {ready:?}: {e}"))?;
    }
    if let Some(start) = args.opt("start-file") {
        // Polled every millisecond: the clock starts at most about a millisecond late.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !std::path::Path::new(&start).exists() {
            if Instant::now() > deadline {
                return Err(format!("--start-file {start:?} did not appear within 120 s").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicU64::new(0));
    let watch = probe.map(|(pid, db, clk_tck)| Watch::start(pid, db, clk_tck, None));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for (client, token) in clients {
        let (url, email, password, stop, in_flight) = (
            url.clone(),
            email.clone(),
            password.clone(),
            stop.clone(),
            in_flight.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally {
                latency_us: Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"),
                ok: 0,
                errors: BTreeMap::new(),
                resigned: 0,
            };
            let mut token = token;
            let endpoint = format!("{url}/token");
            while !stop.load(Ordering::Relaxed) {
                in_flight.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = async {
                    let response = client
                        .post(&endpoint)
                        .json(&serde_json::json!({ "refreshToken": token }))
                        .send()
                        .await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    Ok::<_, reqwest::Error>((status, body))
                }
                .await;
                let elapsed = sent.elapsed();
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = tally.latency_us.record((elapsed.as_micros() as u64).max(1));
                match outcome {
                    Ok((status, body)) if status.is_success() => {
                        match serde_json::from_slice::<Refreshed>(&body) {
                            Ok(r) => {
                                token = r.refresh_token;
                                tally.ok += 1;
                            }
                            Err(_) => *tally.errors.entry("bad-body".into()).or_default() += 1,
                        }
                    }
                    Ok((status, body)) => {
                        let code = error_code(&body);
                        *tally
                            .errors
                            .entry(format!("{} {code}", status.as_u16()))
                            .or_default() += 1;
                        if status.as_u16() == 401 && !stop.load(Ordering::Relaxed) {
                            // The chain is broken (it should never be): start a new one.
                            if let Ok(s) = sign_in(&client, &url, &email, &password).await {
                                token = s.refresh_token;
                                tally.resigned += 1;
                            }
                        }
                        // Otherwise (503, 500, ...) retry with the same token: if the
                        // rotation did commit, the reuse grace window returns its successor.
                    }
                    Err(_) => {
                        // Retry with the same token, as above.
                        *tally.errors.entry("socket".into()).or_default() += 1;
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally {
        latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        ok: 0,
        errors: BTreeMap::new(),
        resigned: 0,
    };
    for task in tasks {
        let t = task.await?;
        total.latency_us.add(&t.latency_us)?;
        total.ok += t.ok;
        total.resigned += t.resigned;
        for (k, v) in t.errors {
            *total.errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_seconds = match watch.map(Watch::finish) {
        Some(w) => format!("{:.2}\t{:.2}", w.tessera_seconds, w.postgres_seconds),
        None => "-\t-".to_owned(),
    };
    let errors: u64 = total.errors.values().sum();
    let mut detail: Vec<String> = total
        .errors
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if total.resigned > 0 {
        detail.push(format!("re-signed-in={}", total.resigned));
    }
    let h = &total.latency_us;
    // Tessera's and Postgres's CPU seconds and the wall seconds of the window, then the columns of
    // bench/wrk/request.lua: 2xx per second, p50, p99, max (µs), errors, all responses,
    // detail.
    println!(
        "CPU\t{cpu_seconds}\t{elapsed:.2}\nRESULT\t{:.1}\t{}\t{}\t{}\t{}\t{}\t{}",
        total.ok as f64 / elapsed,
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.max(),
        errors,
        total.ok + errors,
        if detail.is_empty() {
            "-".to_owned()
        } else {
            detail.join(",")
        },
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Floors

/// Runs `work` on `threads` threads until `duration` has passed; operations per second.
fn per_second(threads: usize, duration: Duration, work: impl Fn() + Sync) -> f64 {
    let count = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + duration;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0;
                while Instant::now() < deadline {
                    work();
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    count.into_inner() as f64 / start.elapsed().as_secs_f64()
}

fn threads_and_duration(args: &Args) -> Result<(usize, Duration)> {
    let threads: usize = args.num("threads", None)?;
    let secs: f64 = args.num("duration", Some(5.0))?;
    if threads == 0 || !(0.0..=600.0).contains(&secs) {
        return Err("--threads must be > 0 and --duration in (0, 600]".into());
    }
    Ok((threads, Duration::from_secs_f64(secs)))
}

/// argon2id verifications per second, as a sign-in does them: parse the stored PHC string,
/// hash the presented password with its parameters, compare. Each thread hashes into one
/// work area it keeps, as Tessera's hashing threads do: the floor is the hash itself, with
/// no allocation or page faults (a fresh 19 MiB per hash costs 10-30 % more here).
fn argon2_floor(args: &Args) -> Result<()> {
    use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};
    use std::cell::RefCell;
    let (threads, duration) = threads_and_duration(args)?;
    let params = Params::new(
        args.num("memory-kib", Some(19456))?,
        args.num("iterations", Some(2))?,
        args.num("parallelism", Some(1))?,
        None,
    )
    .map_err(|e| format!("argon2 parameters: {e}"))?;
    let password = b"correct horse battery staple 42";
    let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map_err(|e| e.to_string())?
        .to_string();
    thread_local! {
        static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }
    let rate = per_second(threads, duration, || {
        let hash = PasswordHash::new(&stored).expect("our own PHC string");
        let params = Params::try_from(&hash).expect("our own parameters");
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            panic!("our own PHC string has a salt and an output");
        };
        let mut out = vec![0u8; expected.len()];
        WORK_AREA.with_borrow_mut(|memory| {
            memory.resize(params.block_count(), Block::new());
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut memory[..])
                .expect("hashing");
        });
        assert_eq!(out.as_slice(), expected.as_bytes(), "the right password");
    });
    println!(
        "FLOOR\targon2id\t{threads}\t{rate:.2}\tm={},t={},p={}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );
    Ok(())
}

/// ECDSA P-256 (ES256) verifications per second with aws-lc-rs, the primitive under
/// jsonwebtoken's ES256 (the public key is re-parsed each time, as jsonwebtoken does).
fn ecdsa_floor(args: &Args) -> Result<()> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
        UnparsedPublicKey,
    };
    let (threads, duration) = threads_and_duration(args)?;
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
    // About the size of an access token's signing input.
    let message = vec![b'x'; 420];
    let signature = key.sign(&rng, &message)?;
    let public = key.public_key().as_ref().to_vec();
    let rate = per_second(threads, duration, || {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(&message, signature.as_ref())
            .expect("valid signature");
    });
    println!("FLOOR\tecdsa-p256-verify\t{threads}\t{rate:.2}\taws-lc-rs");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Report

struct Point {
    endpoint: String,
    connections: u32,
    rss_kib: u64,
    ok_rps: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    errors: u64,
    requests: u64,
    detail: String,
    /// Other heavy work (the test suite, a build) was running during the point.
    disturbed: bool,
    cpu_seconds: Option<f64>,
    pg_cpu_seconds: Option<f64>,
    wall_seconds: Option<f64>,
}

/// bench/run's mixed point writes its two loads as these endpoints.
const MIXED_SIGNIN: &str = "mixed-signin";
const MIXED_REFRESH: &str = "mixed-refresh";

impl Point {
    fn is_mixed(&self) -> bool {
        self.endpoint.starts_with("mixed-")
    }

    /// "0", or "N of M (detail)".
    fn errors_cell(&self) -> String {
        if self.errors == 0 {
            "0".to_owned()
        } else {
            format!("{} of {} ({})", self.errors, self.requests, self.detail)
        }
    }

    /// A process's CPU use in cores, and CPU microseconds per response.
    fn cpu(&self, seconds: Option<f64>) -> (String, String) {
        match (seconds, self.wall_seconds) {
            (Some(cpu), Some(wall)) if wall > 0.0 && self.requests > 0 => (
                format!("{:.2}", cpu / wall),
                format!("{:.0}", cpu * 1e6 / self.requests as f64),
            ),
            _ => ("-".to_owned(), "-".to_owned()),
        }
    }
}

fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        let whole = r.round() as u64;
        // Thousands separators, for reading.
        let digits = whole.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{r:.1}")
    }
}

/// Renders the run in DIR as Markdown.
fn report(args: &Args) -> Result<()> {
    let dir = std::path::PathBuf::from(args.str("dir")?);
    let meta = std::fs::read_to_string(dir.join("meta.txt")).unwrap_or_default();
    let endpoints = std::fs::read_to_string(dir.join("endpoints.tsv")).unwrap_or_default();
    let floors = std::fs::read_to_string(dir.join("floors.tsv")).unwrap_or_default();
    // memory.tsv: "startup", "signup", "idle", "hwm", "end" or "end_idle", then KiB
    // (Tessera's VmRSS right after start-up, after the sign-up, idle after the warm-up;
    // VmHWM at the end of the run; VmRSS then and after 7 s idle).
    let memory: HashMap<String, u64> = std::fs::read_to_string(dir.join("memory.tsv"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect();

    // endpoints.tsv: name, connections, peak RSS KiB, busy (yes/no), Tessera CPU seconds,
    // Postgres CPU seconds, wall seconds, then the RESULT columns.
    let mut points = Vec::new();
    for line in endpoints.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 14 {
            return Err(format!("endpoints.tsv: short line {line:?}").into());
        }
        points.push(Point {
            endpoint: f[0].to_owned(),
            connections: f[1].parse()?,
            rss_kib: f[2].parse().unwrap_or(0),
            disturbed: f[3] == "yes",
            cpu_seconds: f[4].parse().ok(),
            pg_cpu_seconds: f[5].parse().ok(),
            wall_seconds: f[6].parse().ok(),
            ok_rps: f[7].parse()?,
            p50_us: f[8].parse()?,
            p99_us: f[9].parse()?,
            max_us: f[10].parse()?,
            errors: f[11].parse()?,
            requests: f[12].parse()?,
            detail: f[13].to_owned(),
        });
    }
    // floor name -> (threads or clients, per second, note)
    let mut floor_rows: Vec<(String, String, f64, String)> = Vec::new();
    for line in floors.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            return Err(format!("floors.tsv: short line {line:?}").into());
        }
        floor_rows.push((
            f[0].to_owned(),
            f[1].to_owned(),
            f[2].parse()?,
            f.get(3).unwrap_or(&"").to_string(),
        ));
    }

    let mut out = String::new();
    writeln!(out, "# Tessera load run\n")?;
    for line in meta.lines().filter(|l| !l.trim().is_empty()) {
        writeln!(out, "- {line}")?;
    }
    writeln!(out)?;

    writeln!(out, "## Endpoints\n")?;
    writeln!(
        out,
        "| endpoint | connections | req/s (2xx) | p50 ms | p99 ms | max ms | errors | \
         Tessera CPU: cores, µs/request | Postgres CPU: cores, µs/request | peak RSS MiB |"
    )?;
    writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    for p in points.iter().filter(|p| !p.is_mixed()) {
        let errors = p.errors_cell();
        let (cores, per_request) = p.cpu(p.cpu_seconds);
        let (pg_cores, pg_per_request) = p.cpu(p.pg_cpu_seconds);
        writeln!(
            out,
            "| {}{} | {} | {} | {} | {} | {} | {} | {cores}, {per_request} | \
             {pg_cores}, {pg_per_request} | {:.1} |",
            p.endpoint,
            if p.disturbed { " †" } else { "" },
            p.connections,
            rate(p.ok_rps),
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.max_us),
            errors,
            p.rss_kib as f64 / 1024.0
        )?;
    }

    let mixed_signin = points.iter().find(|p| p.endpoint == MIXED_SIGNIN);
    let mixed_refresh = points.iter().find(|p| p.endpoint == MIXED_REFRESH);
    if mixed_signin.is_some() || mixed_refresh.is_some() {
        writeln!(out, "\n## Sign-in saturated, refresh alongside\n")?;
        writeln!(
            out,
            "Sign-in with wrk and refresh with tessera-loadgen at the same time; the refresh \
             window (after its sessions signed in) lies inside the sign-in one. CPU (cores) \
             and peak RSS are Tessera's and its Postgres backends' as a whole, both loads \
             together, over the refresh window.\n"
        )?;
        writeln!(
            out,
            "| load | connections | req/s (2xx) | p50 ms | p99 ms | max ms | errors | \
             Tessera CPU: cores | Postgres CPU: cores | peak RSS MiB |"
        )?;
        writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for (label, p) in [
            ("sign-in (wrk)", mixed_signin),
            ("refresh (tessera-loadgen)", mixed_refresh),
        ] {
            let Some(p) = p else { continue };
            writeln!(
                out,
                "| {label}{} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                if p.disturbed { " †" } else { "" },
                p.connections,
                rate(p.ok_rps),
                ms(p.p50_us),
                ms(p.p99_us),
                ms(p.max_us),
                p.errors_cell(),
                p.cpu(p.cpu_seconds).0,
                p.cpu(p.pg_cpu_seconds).0,
                p.rss_kib as f64 / 1024.0
            )?;
        }
    }

    if points.iter().any(|p| p.disturbed) {
        writeln!(
            out,
            "\n† Other heavy work (the test suite, cargo or rustc) was running during this \
             point: its figures are disturbed."
        )?;
    }

    writeln!(out, "\n## Floors\n")?;
    writeln!(out, "| floor | threads / clients | per second | note |")?;
    writeln!(out, "|---|--:|--:|---|")?;
    for (name, n, r, note) in &floor_rows {
        writeln!(out, "| {name} | {n} | {} | {note} |", rate(*r))?;
    }

    // Best figure of an endpoint and where.
    let best = |endpoint: &str| {
        points
            .iter()
            .filter(|p| p.endpoint == endpoint)
            .max_by(|a, b| a.ok_rps.total_cmp(&b.ok_rps))
    };
    let floor_best = |name: &str, n: Option<&str>| {
        floor_rows
            .iter()
            .filter(|(f, t, _, _)| f == name && n.is_none_or(|n| n == t))
            .max_by(|a, b| a.2.total_cmp(&b.2))
    };
    writeln!(out, "\n## Endpoints against their floors\n")?;
    writeln!(
        out,
        "Best figure of each endpoint (any connection count) over the best figure of what \
         bounds it. Combined floors add the costs: 1 / (1/ECDSA + k/query) for k \
         liveness-sized queries per request.\n"
    )?;
    writeln!(
        out,
        "| endpoint | best req/s (connections) | floor | floor per second | ratio |"
    )?;
    writeln!(out, "|---|--:|---|--:|--:|")?;
    let argon2 = floor_best("argon2id", Some("2")).map(|f| f.2);
    let rotation = floor_best("pgbench-rotation", None).map(|f| f.2);
    let ecdsa = floor_best("ecdsa-p256-verify", Some("2")).map(|f| f.2);
    let liveness = floor_best("pgbench-liveness", None).map(|f| f.2);
    let combined = |k: f64| match (ecdsa, liveness) {
        (Some(e), Some(q)) => Some(1.0 / (1.0 / e + k / q)),
        _ => None,
    };
    let rows: [(&str, &str, Option<f64>); 8] = [
        ("signin", "argon2id verifications, 2 threads", argon2),
        (
            "refresh",
            "pgbench rotation transaction (best of 8, 32 clients)",
            rotation,
        ),
        ("verify", "ECDSA P-256 verifications, 2 threads", ecdsa),
        (
            "verify",
            "ECDSA + 1 liveness query (pgbench, best), combined",
            combined(1.0),
        ),
        ("user", "ECDSA P-256 verifications, 2 threads", ecdsa),
        (
            "user",
            "ECDSA + 2 queries (liveness-sized), combined",
            combined(2.0),
        ),
        ("jwks", "none: a static document from memory", None),
        (
            MIXED_SIGNIN,
            "argon2id verifications, 2 threads (refresh alongside)",
            argon2,
        ),
    ];
    for (endpoint, label, floor) in rows {
        let Some(p) = best(endpoint) else { continue };
        match floor {
            Some(f) => writeln!(
                out,
                "| {endpoint} | {} ({}) | {label} | {} | {:.2} |",
                rate(p.ok_rps),
                p.connections,
                rate(f),
                p.ok_rps / f
            )?,
            None => writeln!(
                out,
                "| {endpoint} | {} ({}) | {label} | | |",
                rate(p.ok_rps),
                p.connections
            )?,
        }
    }

    // The targets of the performance work, each with what this run measured.
    writeln!(out, "\n## Targets\n")?;
    writeln!(out, "| target | measured | met |")?;
    writeln!(out, "|---|---|---|")?;
    let met = |ok: bool| if ok { "yes" } else { "**no**" };
    let dagger = |p: &Point| if p.disturbed { " †" } else { "" };
    match mixed_refresh {
        Some(r) => {
            let signin = match (mixed_signin, argon2) {
                (Some(s), Some(f)) => format!(
                    "; sign-in alongside ({} connections): {} req/s, {:.2} of the argon2id \
                     floor on 2 threads ({})",
                    s.connections,
                    rate(s.ok_rps),
                    s.ok_rps / f,
                    rate(f)
                ),
                (Some(s), None) => format!(
                    "; sign-in alongside ({} connections): {} req/s (no argon2id floor measured)",
                    s.connections,
                    rate(s.ok_rps)
                ),
                (None, _) => String::new(),
            };
            writeln!(
                out,
                "| refresh p99 under 100 ms while sign-in is saturated | {} ms{} ({} clients{}){signin} | {} |",
                ms(r.p99_us),
                dagger(r),
                r.connections,
                if r.errors == 0 {
                    String::new()
                } else {
                    format!(", {} errors", r.errors_cell())
                },
                met(r.p99_us < 100_000 && r.errors == 0)
            )?;
        }
        None => writeln!(
            out,
            "| refresh p99 under 100 ms while sign-in is saturated | not measured (endpoint `mixed`) | |"
        )?,
    }
    // The targets are in MB (10^6 bytes); the figures are shown in MiB like the rest.
    let mib_mb = |kib: u64| {
        format!(
            "{:.1} MiB ({:.1} MB)",
            kib as f64 / 1024.0,
            kib as f64 * 1024.0 / 1e6
        )
    };
    let under_mb = |kib: u64, mb: f64| (kib as f64 * 1024.0) < mb * 1e6;
    match memory.get("idle") {
        Some(&idle) => writeln!(
            out,
            "| RSS under 30 MB idle | {} after start-up, sign-up, warm-up and 7 s quiet{}{} | {} |",
            mib_mb(idle),
            memory
                .get("startup")
                .map(|&s| format!("; {} right after start-up", mib_mb(s)))
                .unwrap_or_default(),
            memory
                .get("signup")
                .map(|&s| format!(", {} after the sign-up (one argon2id hash)", mib_mb(s)))
                .unwrap_or_default(),
            met(under_mb(idle, 30.0))
        )?,
        None => writeln!(out, "| RSS under 30 MB idle | not measured | |")?,
    }
    match memory.get("hwm") {
        Some(&hwm) => writeln!(
            out,
            "| RSS under 150 MB at the end of the heaviest run | {} peak over the whole run (VmHWM){}{} | {} |",
            mib_mb(hwm),
            memory
                .get("end")
                .map(|&s| format!("; {} when the last point ended", mib_mb(s)))
                .unwrap_or_default(),
            memory
                .get("end_idle")
                .map(|&s| format!(", {} after 7 s idle", mib_mb(s)))
                .unwrap_or_default(),
            met(under_mb(hwm, 150.0))
        )?,
        None => writeln!(
            out,
            "| RSS under 150 MB at the end of the heaviest run | not measured | |"
        )?,
    }
    print!("{out}");
    Ok(())
}
