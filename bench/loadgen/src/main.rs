//! The parts of `bench/run` that wrk and pgbench cannot do.
//!
//! ```text
//! tessera-loadgen setup   --url URL --email E --password P
//! tessera-loadgen refresh --url URL[,URL2...] --connections N --duration SECS
//!                         (--email E --password P | --seeded S --state FILE
//!                          [--access-tokens FILE --access-tokens-max M])
//!                         [--pid PID[,PID2...] --db DB --clk-tck HZ]
//!                         [--ready-file FILE --start-file FILE]
//! tessera-loadgen argon2  --threads N --duration SECS [--memory-kib 19456 --iterations 2 --parallelism 1]
//! tessera-loadgen ecdsa   --threads N --duration SECS
//! tessera-loadgen report  --dir DIR
//! tessera-loadgen watch   --pid PID[,PID2...] --db DB --out FILE
//! ```
//!
//! `setup` signs a user up (or in, if it exists) and prints an access token. `refresh`
//! runs N virtual clients, each with its own connection, and prints a `RESULT` line in the
//! format the wrk script prints (bench/wrk/request.lua). Given several URLs (replicas of
//! one Tessera), the clients take them in turn. With `--email` and `--password`, each
//! client signs in once and always presents its latest refresh token. With `--seeded S`,
//! nobody signs in: the clients share out sessions 1..=S seeded by bench/pgbench/seed.sql
//! (one token each), and each request presents the token of another session, in an order
//! spread over the whole tables; `--state` holds the latest token of every session, one
//! "k<TAB>token" a line (the seeded ones are written by seed.sql, which alone has the key
//! they are tagged with; read at the start, rewritten at the end with the tokens rotated,
//! so a later run goes on where this one stopped), and `--access-tokens` writes the access tokens of the first M refreshes (M
//! different sessions), one a line. Given `--pid` and `--db`, `refresh` also prints a `CPU`
//! line (CPU seconds of Tessera, all its processes together, and of its Postgres backends
//! while the clock ran; with several processes, then each one's "CPU s/peak RSS KiB").
//! Given `--ready-file`, it creates that file once its clients are ready (signed in);
//! given `--start-file`, it then waits for that file to appear before starting its clock
//! (bench/run's mixed point uses both to run its timed window inside wrk's sign-in load).
//! `argon2` and `ecdsa` measure floors and print `FLOOR` lines. `watch` samples Tessera's
//! RSS and CPU, its backends' CPU and whether other heavy work runs, until killed.
//! `report` renders DIR/endpoints.tsv, DIR/floors.tsv, DIR/memory.tsv, DIR/seeding.tsv and
//! DIR/meta.txt as Markdown on stdout.
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
        let urls = self.urls()?;
        match <[String; 1]>::try_from(urls) {
            Ok([url]) => Ok(url),
            Err(_) => Err("--url takes one URL here".into()),
        }
    }

    /// `--url`: one base URL, or several separated by commas (replicas); loopback only.
    fn urls(&self) -> Result<Vec<String>> {
        let mut urls = Vec::new();
        for url in self.str("url")?.split(',') {
            let rest = url
                .strip_prefix("http://")
                .ok_or("--url must be http://127.0.0.1:PORT or http://localhost:PORT")?;
            let host = rest.split([':', '/']).next().unwrap_or("");
            if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                return Err(format!("refusing to load anything but loopback, got {host:?}").into());
            }
            urls.push(url.trim_end_matches('/').to_owned());
        }
        Ok(urls)
    }

    /// `--pid`: none (absent or 0), one process id, or several separated by commas.
    fn pids(&self) -> Result<Vec<u32>> {
        let Some(list) = self.opt("pid") else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        for p in list.split(',') {
            let pid: u32 = p.parse().map_err(|e| format!("--pid {p:?}: {e}"))?;
            if pid != 0 {
                pids.push(pid);
            }
        }
        Ok(pids)
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some(command) = argv.get(1) else {
        eprintln!(
            "usage: tessera-loadgen setup|refresh|argon2|ecdsa|report|watch --option value ..."
        );
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
    /// The peak of the watched processes' VmRSS added up (one process: its peak).
    rss_peak_kib: u64,
    /// All watched processes together.
    tessera_seconds: f64,
    /// Each watched process: CPU seconds and peak VmRSS (KiB), in the order given.
    each: Vec<(f64, u64)>,
    postgres_seconds: f64,
    wall_seconds: f64,
    disturbed: bool,
}

impl Watched {
    /// "rss KiB, disturbed, Tessera CPU s, Postgres CPU s, wall s", tab-separated; with
    /// several processes a sixth field, [`Watched::each_field`].
    fn line(&self) -> String {
        let mut line = format!(
            "{}\t{}\t{:.2}\t{:.2}\t{:.2}",
            self.rss_peak_kib,
            if self.disturbed { "yes" } else { "no" },
            self.tessera_seconds,
            self.postgres_seconds,
            self.wall_seconds
        );
        if self.each.len() > 1 {
            line.push('\t');
            line.push_str(&self.each_field());
        }
        line
    }

    /// "CPU s/peak RSS KiB" of each process, comma-separated: "1.23/40960,1.10/39936".
    fn each_field(&self) -> String {
        self.each
            .iter()
            .map(|(cpu, rss)| format!("{cpu:.2}/{rss}"))
            .collect::<Vec<_>>()
            .join(",")
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
    /// Watches the Tessera processes `pids` (one, or each replica) and the Postgres
    /// backends of database `db` (whichever process they serve).
    fn start(pids: Vec<u32>, db: String, clk_tck: f64, out: Option<std::path::PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            // Per process: ticks at the start, last ticks, peak RSS.
            let mut tessera: Vec<(u64, u64, u64)> = pids
                .iter()
                .map(|&p| {
                    let t = stat_ticks(p).unwrap_or(0);
                    (t, t, 0)
                })
                .collect();
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
                let mut rss_sum = 0;
                for (pid, (_, last, rss_peak)) in pids.iter().zip(tessera.iter_mut()) {
                    if let Some(rss) = vm_rss_kib(*pid) {
                        *rss_peak = (*rss_peak).max(rss);
                        rss_sum += rss;
                    }
                    if let Some(t) = stat_ticks(*pid) {
                        *last = t;
                    }
                }
                seen.rss_peak_kib = seen.rss_peak_kib.max(rss_sum);
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
                seen.each = tessera
                    .iter()
                    .map(|(first, last, rss)| (last.saturating_sub(*first) as f64 / clk_tck, *rss))
                    .collect();
                seen.tessera_seconds = seen.each.iter().map(|(cpu, _)| cpu).sum();
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

/// `watch --pid P[,P2...] --db D --out FILE [--clk-tck N]`: samples until killed, rewriting
/// FILE with the figures so far (one line, see [`Watched::line`]) every 100 ms.
fn watch(args: &Args) -> Result<()> {
    let pids = args.pids()?;
    if pids.is_empty() {
        return Err("--pid is required".into());
    }
    let out = std::path::PathBuf::from(args.str("out")?);
    let w = Watch::start(
        pids.clone(),
        args.str("db")?,
        args.num("clk-tck", Some(100.0))?,
        Some(out),
    );
    // Runs until bench/run kills it; stops by itself once every Tessera process is gone.
    while pids
        .iter()
        .any(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok())
    {
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
    /// Seeded sessions only: the latest token of each session this client rotated ("-"
    /// for a session lost to a 401), and the access tokens it kept.
    tokens: HashMap<u64, String>,
    access_tokens: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"),
            ok: 0,
            errors: BTreeMap::new(),
            resigned: 0,
            tokens: HashMap::new(),
            access_tokens: Vec::new(),
        }
    }
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The seeded session at position j of a fixed permutation of 1..=sessions: consecutive
/// positions land far apart in the tables and their indexes. (Multiplying by a prime
/// larger than any session count is a bijection modulo that count.)
fn seeded_session(j: u64, sessions: u64) -> u64 {
    const PRIME: u128 = 2_654_435_761;
    ((j as u128 * PRIME) % sessions as u128) as u64 + 1
}

/// Only the access token, for `--access-tokens`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshedWithAccess {
    refresh_token: String,
    access_token: String,
}

/// Where the virtual clients' refresh tokens come from.
#[derive(Clone)]
enum Chains {
    /// Each client signs the user in once and always presents its latest token.
    SignedIn { email: String, password: String },
    /// Sessions 1..=sessions seeded by bench/pgbench/seed.sql (one token each). Client i of
    /// N owns positions [i*S/N, (i+1)*S/N) of [`seeded_session`]'s permutation and refreshes
    /// them in turn, each request another session, round and round; `known` holds the
    /// latest token of every session (`--state`: as seeded, or as rotated by earlier runs,
    /// "-" for a session lost). Each client keeps the
    /// access tokens of its first `keep_access` sessions.
    Seeded {
        sessions: u64,
        known: Arc<HashMap<u64, String>>,
        keep_access: usize,
    },
}

/// `refresh --url URL[,URL2...] --connections N --duration SECS` and either
/// `--email E --password P` (sign-in chains) or `--seeded S --state FILE
/// [--access-tokens FILE --access-tokens-max M]`.
async fn refresh(args: &Args) -> Result<()> {
    let urls = args.urls()?;
    let connections: usize = args.num("connections", None)?;
    let duration = Duration::from_secs_f64(args.num("duration", None)?);
    // Tessera's processes and database, to report the CPU they used while the clock ran
    // (not during the sign-ins).
    let pids = args.pids()?;
    let probe: Option<(Vec<u32>, String, f64)> = if pids.is_empty() {
        None
    } else {
        Some((pids, args.str("db")?, args.num("clk-tck", Some(100.0))?))
    };
    if connections == 0 || duration.is_zero() || duration > Duration::from_secs(600) {
        return Err("--connections must be > 0 and --duration in (0, 600]".into());
    }
    let state_file = args.opt("state");
    let access_file = args.opt("access-tokens");
    let chains = match args.num::<u64>("seeded", Some(0))? {
        0 => Chains::SignedIn {
            email: args.str("email")?,
            password: args.str("password")?,
        },
        sessions => {
            if sessions < connections as u64 || sessions >= 2_654_435_761 {
                return Err("--seeded must be at least --connections (and below 2^31)".into());
            }
            // Every session's token: only seed.sql can make them (they are tagged under
            // a key derived from Tessera's key-encryption key).
            let state = state_file
                .as_ref()
                .ok_or("--seeded needs --state (the seeded sessions' tokens)")?;
            let text =
                std::fs::read_to_string(state).map_err(|e| format!("--state {state:?}: {e}"))?;
            let mut known = HashMap::new();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let (k, token) = line
                    .split_once('\t')
                    .ok_or_else(|| format!("--state {state:?}: not k<TAB>token: {line:?}"))?;
                known.insert(k.parse::<u64>()?, token.to_owned());
            }
            if let Some(k) = (1..=sessions).find(|k| !known.contains_key(k)) {
                return Err(
                    format!("--state {state:?} has no token for seeded session {k}").into(),
                );
            }
            let max: usize = args.num("access-tokens-max", Some(10_000))?;
            Chains::Seeded {
                sessions,
                known: Arc::new(known),
                keep_access: if access_file.is_some() {
                    max.div_ceil(connections)
                } else {
                    0
                },
            }
        }
    };

    // Every virtual client gets its own connection, to the replicas in turn; with sign-in
    // chains it signs in once (one argon2id verification each, a few at a time) before the
    // clock starts.
    let setup_started = Instant::now();
    let mut clients = Vec::with_capacity(connections);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let mut pending = Vec::new();
    for i in 0..connections {
        let (url, chains, sem) = (urls[i % urls.len()].clone(), chains.clone(), sem.clone());
        pending.push(tokio::spawn(async move {
            let client = client()?;
            let token = match &chains {
                Chains::SignedIn { email, password } => {
                    let _permit = sem.acquire_owned().await?;
                    sign_in(&client, &url, email, password).await?.refresh_token
                }
                Chains::Seeded { .. } => String::new(),
            };
            Ok::<_, Error>((client, url, token))
        }));
    }
    for task in pending {
        clients.push(task.await??);
    }
    if let Chains::SignedIn { .. } = chains {
        eprintln!(
            "refresh: {connections} sessions signed in in {:.1}s",
            setup_started.elapsed().as_secs_f64()
        );
    }
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
    let watch = probe.map(|(pids, db, clk_tck)| Watch::start(pids, db, clk_tck, None));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for (i, (client, url, token)) in clients.into_iter().enumerate() {
        let (chains, stop) = (chains.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            match chains {
                Chains::SignedIn { email, password } => {
                    signed_in_chain(client, url, email, password, token, stop).await
                }
                Chains::Seeded {
                    sessions,
                    known,
                    keep_access,
                } => {
                    let n = connections as u64;
                    let positions = (i as u64 * sessions / n)..((i as u64 + 1) * sessions / n);
                    seeded_chains(client, url, sessions, positions, known, keep_access, stop).await
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::new();
    for task in tasks {
        let t = task.await?;
        total.latency_us.add(&t.latency_us)?;
        total.ok += t.ok;
        total.resigned += t.resigned;
        for (k, v) in t.errors {
            *total.errors.entry(k).or_default() += v;
        }
        total.tokens.extend(t.tokens);
        total.access_tokens.extend(t.access_tokens);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let watched = watch.map(Watch::finish);

    if let Chains::Seeded { known, .. } = &chains {
        let lost = total.tokens.values().filter(|t| *t == "-").count();
        eprintln!(
            "refresh: {} seeded sessions rotated, {lost} of them lost (401)",
            total.tokens.len()
        );
        if let Some(state) = &state_file {
            let mut all: BTreeMap<u64, &str> =
                known.iter().map(|(k, t)| (*k, t.as_str())).collect();
            all.extend(total.tokens.iter().map(|(k, t)| (*k, t.as_str())));
            // Up to 7 digits, a tab, 98 characters, a newline.
            let mut text = String::with_capacity(all.len() * 107);
            for (k, t) in all {
                writeln!(text, "{k}\t{t}")?;
            }
            std::fs::write(state, text).map_err(|e| format!("--state {state:?}: {e}"))?;
        }
        if let Some(file) = &access_file {
            let mut text = total.access_tokens.join("\n");
            text.push('\n');
            std::fs::write(file, text).map_err(|e| format!("--access-tokens {file:?}: {e}"))?;
        }
    }

    let cpu_seconds = match &watched {
        Some(w) if w.each.len() > 1 => format!(
            "{:.2}\t{:.2}\t{elapsed:.2}\t{}",
            w.tessera_seconds,
            w.postgres_seconds,
            w.each_field()
        ),
        Some(w) => format!(
            "{:.2}\t{:.2}\t{elapsed:.2}",
            w.tessera_seconds, w.postgres_seconds
        ),
        None => format!("-\t-\t{elapsed:.2}"),
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
    // Tessera's and Postgres's CPU seconds and the wall seconds of the window (with several
    // Tessera processes, then each one's "CPU s/peak RSS KiB"), then the columns of
    // bench/wrk/request.lua: 2xx per second, p50, p99, max (µs), errors, all responses,
    // detail.
    println!(
        "CPU\t{cpu_seconds}\nRESULT\t{:.1}\t{}\t{}\t{}\t{}\t{}\t{}",
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

/// One POST /token; the status and body, or a transport error.
async fn post_refresh(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
) -> std::result::Result<(reqwest::StatusCode, impl AsRef<[u8]> + use<>), reqwest::Error> {
    let response = client
        .post(endpoint)
        .json(&serde_json::json!({ "refreshToken": token }))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    Ok((status, body))
}

/// A virtual client on a chain of its own sign-in.
async fn signed_in_chain(
    client: reqwest::Client,
    url: String,
    email: String,
    password: String,
    mut token: String,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::new();
    let endpoint = format!("{url}/token");
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let outcome = post_refresh(&client, &endpoint, &token).await;
        let elapsed = sent.elapsed();
        let _ = tally.latency_us.record((elapsed.as_micros() as u64).max(1));
        match outcome {
            Ok((status, body)) if status.is_success() => {
                match serde_json::from_slice::<Refreshed>(body.as_ref()) {
                    Ok(r) => {
                        token = r.refresh_token;
                        tally.ok += 1;
                    }
                    Err(_) => *tally.errors.entry("bad-body".into()).or_default() += 1,
                }
            }
            Ok((status, body)) => {
                let code = error_code(body.as_ref());
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
}

/// A virtual client going round its share of the seeded sessions, one refresh each.
async fn seeded_chains(
    client: reqwest::Client,
    url: String,
    sessions: u64,
    positions: std::ops::Range<u64>,
    known: Arc<HashMap<u64, String>>,
    keep_access: usize,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::new();
    let endpoint = format!("{url}/token");
    let mut j = positions.start;
    // Positions skipped in a row (sessions lost earlier); a whole round of them ends this
    // client.
    let mut skipped = 0;
    while !stop.load(Ordering::Relaxed) {
        let k = seeded_session(j, sessions);
        // Checked at the start: every session has one.
        let token = match tally.tokens.get(&k).or_else(|| known.get(&k)) {
            Some(t) => t.clone(),
            None => "-".to_owned(),
        };
        j = if j + 1 == positions.end {
            positions.start
        } else {
            j + 1
        };
        if token == "-" {
            skipped += 1;
            if skipped >= positions.end - positions.start {
                break;
            }
            continue;
        }
        skipped = 0;
        loop {
            let sent = Instant::now();
            let outcome = post_refresh(&client, &endpoint, &token).await;
            let elapsed = sent.elapsed();
            let _ = tally.latency_us.record((elapsed.as_micros() as u64).max(1));
            match outcome {
                Ok((status, body)) if status.is_success() => {
                    match serde_json::from_slice::<RefreshedWithAccess>(body.as_ref()) {
                        Ok(r) => {
                            let first = tally.tokens.insert(k, r.refresh_token).is_none();
                            // One access token per session.
                            if first && tally.access_tokens.len() < keep_access {
                                tally.access_tokens.push(r.access_token);
                            }
                            tally.ok += 1;
                        }
                        Err(_) => *tally.errors.entry("bad-body".into()).or_default() += 1,
                    }
                    break;
                }
                Ok((status, body)) => {
                    let code = error_code(body.as_ref());
                    *tally
                        .errors
                        .entry(format!("{} {code}", status.as_u16()))
                        .or_default() += 1;
                    if status.as_u16() == 401 {
                        // This session is lost (it should never be): skip it from now on.
                        tally.tokens.insert(k, "-".to_owned());
                        break;
                    }
                    // Otherwise (503, 500, ...) retry with the same token: if the rotation
                    // did commit, the reuse grace window returns its successor.
                }
                Err(_) => {
                    *tally.errors.entry("socket".into()).or_default() += 1;
                }
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
    tally
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
    /// Several Tessera processes (the two-replica point): each one's "CPU s/peak RSS KiB",
    /// comma-separated.
    each: Option<String>,
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

    /// The points with tables of their own: mixed, scale and two replicas.
    fn has_own_table(&self) -> bool {
        self.is_mixed()
            || self.endpoint.starts_with("scale-")
            || self.endpoint.starts_with("replicas-")
    }

    /// Each Tessera process's CPU in cores and peak RSS in MiB (the two-replica point).
    fn each(&self) -> Vec<(String, String)> {
        let Some(each) = &self.each else {
            return Vec::new();
        };
        each.split(',')
            .map(|e| {
                let (cpu, rss) = e.split_once('/').unwrap_or((e, ""));
                (
                    self.cpu(cpu.parse().ok()).0,
                    rss.parse::<f64>()
                        .map(|r| format!("{:.1}", r / 1024.0))
                        .unwrap_or_else(|_| "-".to_owned()),
                )
            })
            .collect()
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

/// A whole number with thousands separators.
fn count(n: u64) -> String {
    if n >= 1000 {
        rate(n as f64)
    } else {
        n.to_string()
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
            each: f
                .get(14)
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty()),
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
    for p in points.iter().filter(|p| !p.has_own_table()) {
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

    // The scale point: "scale-refresh@SESSIONS" and "scale-verify@SESSIONS".
    let mut scale: Vec<(&str, u64, &Point)> = points
        .iter()
        .filter_map(|p| {
            let (load, sessions) = p.endpoint.strip_prefix("scale-")?.split_once('@')?;
            Some((load, sessions.parse().ok()?, p))
        })
        .collect();
    // Refresh first, then /token/verify, each by session count.
    scale.sort_by_key(|(load, sessions, _)| (*load != "refresh", *sessions));
    // 1M / 10k (the largest session count over the smallest) of each load, with both rows.
    let scale_ratio = |load: &str| {
        let rows: Vec<&(&str, u64, &Point)> = scale.iter().filter(|r| r.0 == load).collect();
        let small = rows.iter().min_by_key(|r| r.1)?;
        let large = rows.iter().max_by_key(|r| r.1)?;
        // Cut to two decimals, as shown: 0.799 shows as 0.79, not as a 0.80 that fails.
        (large.1 > small.1 && small.2.ok_rps > 0.0).then(|| {
            (
                (large.2.ok_rps / small.2.ok_rps * 100.0).floor() / 100.0,
                small.1,
                small.2,
                large.1,
                large.2,
            )
        })
    };
    if !scale.is_empty() {
        writeln!(out, "\n## Scale: sessions in the database\n")?;
        writeln!(
            out,
            "Sessions seeded with SQL (bench/pgbench/seed.sql: 10 sessions per user, one \
             current refresh token each, of the current format, generation 1, tagged under \
             the run's key; then VACUUM ANALYZE and CHECKPOINT), on top of \
             what the earlier points left. Refresh with `tessera-loadgen refresh --seeded`: \
             each request presents the token of another seeded session, spread over all of \
             them; `/token/verify` with wrk going round the access tokens those refreshes \
             returned (up to 10,000 sessions).\n"
        )?;
        let seeding = std::fs::read_to_string(dir.join("seeding.tsv")).unwrap_or_default();
        let mut seeded = Vec::new();
        for line in seeding.lines().filter(|l| !l.trim().is_empty()) {
            // first session, last session, seconds to insert, seconds of VACUUM ANALYZE
            let f: Vec<&str> = line.split('\t').collect();
            if let [first, last, insert, vacuum] = f[..] {
                let n = |v: &str| v.parse::<u64>().map(count).unwrap_or_else(|_| v.to_owned());
                seeded.push(format!(
                    "sessions {}-{} in {insert} s, VACUUM ANALYZE and CHECKPOINT {vacuum} s",
                    n(first),
                    n(last)
                ));
            }
        }
        if !seeded.is_empty() {
            writeln!(out, "Seeding: {}.\n", seeded.join("; "))?;
        }
        writeln!(
            out,
            "| load | sessions | connections | req/s (2xx) | p50 ms | p99 ms | max ms | errors | \
             Tessera CPU: cores, µs/request | Postgres CPU: cores, µs/request |"
        )?;
        writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for (load, sessions, p) in &scale {
            let (cores, per_request) = p.cpu(p.cpu_seconds);
            let (pg_cores, pg_per_request) = p.cpu(p.pg_cpu_seconds);
            writeln!(
                out,
                "| {}{} | {} | {} | {} | {} | {} | {} | {} | {cores}, {per_request} | \
                 {pg_cores}, {pg_per_request} |",
                if *load == "verify" {
                    "/token/verify"
                } else {
                    load
                },
                if p.disturbed { " †" } else { "" },
                count(*sessions),
                p.connections,
                rate(p.ok_rps),
                ms(p.p50_us),
                ms(p.p99_us),
                ms(p.max_us),
                p.errors_cell(),
            )?;
        }
        for load in ["refresh", "verify"] {
            if let Some((ratio, small, _, large, _)) = scale_ratio(load) {
                writeln!(
                    out,
                    "\n{} with {} sessions: {:.2} of its rate with {} (target: at least 0.8).",
                    if load == "verify" {
                        "/token/verify"
                    } else {
                        load
                    },
                    count(large),
                    ratio,
                    count(small),
                )?;
            }
        }
    }

    // The two-replica point: "replicas-refresh" and "replicas-verify".
    let replicas: Vec<&Point> = points
        .iter()
        .filter(|p| p.endpoint.starts_with("replicas-"))
        .collect();
    if !replicas.is_empty() {
        writeln!(out, "\n## Two replicas\n")?;
        writeln!(
            out,
            "Two Tessera processes on the same database, the load split evenly: refresh with \
             one tessera-loadgen whose virtual clients alternate between the replicas \
             (sign-in chains, as the refresh point); `/token/verify` with one wrk per \
             replica, half the connections each (req/s and errors added up; p50, p99 and \
             max the higher of the two wrk's). CPU over the timed window; \"one replica\" is \
             the same endpoint's point at the same connection count in this run, if any.\n"
        )?;
        writeln!(
            out,
            "| load | connections (both) | req/s (2xx), both | p50 ms | p99 ms | max ms | errors | \
             Tessera CPU: cores, each replica | Postgres CPU: cores | peak RSS MiB, each | \
             one replica: req/s | ratio |"
        )?;
        writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for p in &replicas {
            let load = p.endpoint.trim_start_matches("replicas-");
            let each = p.each();
            let single = points
                .iter()
                .find(|s| s.endpoint == load && s.connections == p.connections);
            writeln!(
                out,
                "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if load == "verify" {
                    "/token/verify"
                } else {
                    load
                },
                if p.disturbed { " †" } else { "" },
                p.connections,
                rate(p.ok_rps),
                ms(p.p50_us),
                ms(p.p99_us),
                ms(p.max_us),
                p.errors_cell(),
                each.iter()
                    .map(|e| e.0.as_str())
                    .collect::<Vec<_>>()
                    .join(" + "),
                p.cpu(p.pg_cpu_seconds).0,
                each.iter()
                    .map(|e| e.1.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                single.map(|s| rate(s.ok_rps)).unwrap_or_default(),
                single
                    .filter(|s| s.ok_rps > 0.0)
                    .map(|s| format!("{:.2}", p.ok_rps / s.ok_rps))
                    .unwrap_or_default(),
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
    for load in ["refresh", "verify"] {
        let name = if load == "verify" {
            "/token/verify"
        } else {
            load
        };
        match scale_ratio(load) {
            Some((ratio, small, small_p, large, large_p)) => writeln!(
                out,
                "| {name} at {} sessions at least 0.8 of its rate at {} | {ratio:.2}: {}/s{} against {}/s{}{} | {} |",
                count(large),
                count(small),
                rate(large_p.ok_rps),
                dagger(large_p),
                rate(small_p.ok_rps),
                dagger(small_p),
                if large_p.errors + small_p.errors == 0 {
                    String::new()
                } else {
                    format!(
                        "; errors {} and {}",
                        large_p.errors_cell(),
                        small_p.errors_cell()
                    )
                },
                met(ratio >= 0.8 && large_p.errors + small_p.errors == 0)
            )?,
            None => writeln!(
                out,
                "| {name} with 1,000,000 sessions at least 0.8 of its rate with 10,000 | not measured (endpoint `scale`) | |"
            )?,
        }
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
