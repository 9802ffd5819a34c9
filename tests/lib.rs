//! Helpers for the cross-crate tests: where the workspace's binaries and the shared data are,
//! scratch databases, private fleets on the real services, and child processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use std::time::{Duration, Instant};
pub use test_support::{ScratchDatabase, data_dir, env_or, psql, query, run};

/// `boltfleet` playing `role`: `producer` (whose verbs are the program's own), `worker`,
/// `collector` or `dashboard`. The binary is fresh: the first call per test process runs
/// `cargo build --workspace --bins --tests` in the test's profile (a no-op when nothing
/// changed), since a test run builds test targets, not the workspace's binaries. The whole
/// workspace and the test targets too, so that features unify (dev-dependencies included) as
/// in the test build and no dependency is compiled a second time.
pub fn binary(role: &str) -> Command {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    BUILT.get_or_init(|| {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        // Cargo gives a test process its crate's variables (CARGO_MANIFEST_DIR, CARGO_PKG_*...).
        // Passed on, they dirty build scripts that watch them (ring's does) and everything
        // above them, polars included: the build would redo minutes of work.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let per_crate = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ];
            if per_crate.iter().any(|prefix| name.starts_with(prefix)) {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .args(["build", "--quiet", "--workspace", "--bins", "--tests", "--profile", profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build the binaries: {e}"));
        assert!(status.success(), "cargo build of the workspace's binaries failed");
    });
    let mut command = Command::new(profile_dir.join("boltfleet"));
    match role {
        "producer" => {}
        "worker" | "collector" | "dashboard" => {
            command.arg(role);
        }
        other => panic!("no role {other}: producer, worker, collector or dashboard"),
    }
    command
}

/// `boltfleet` playing `role` with arguments, logging only warnings.
pub fn command(role: &str, args: &[&str]) -> Command {
    let mut command = binary(role);
    // Any free port for /metrics: tests run many workers and collectors side by side.
    command.args(args).env("RUST_LOG", "warn").env("METRICS_ADDR", "127.0.0.1:0");
    command
}

/// `GET path` on a process's metrics server; the body.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    response
}

/// The value of one series in Prometheus text (`name{labels}`), 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The services of a fleet, private to one test: a scratch database, Redis keys under a
/// prefix of its own, and artifacts under a prefix of the S3 bucket. S3 settings come from
/// the environment, defaulting to `scripts/s3-server`'s.
#[derive(Debug)]
pub struct FleetEnv {
    pub database: ScratchDatabase,
    pub prefix: String,
    pub artifacts_url: String,
    pub redis_url: String,
}

impl FleetEnv {
    pub fn new(tag: &str) -> Self {
        Self::on_redis(tag, &test_support::redis_url())
    }

    /// A fleet on a Redis of the test's own (a [`RedisServer`] it stops and starts).
    pub fn on_redis(tag: &str, redis_url: &str) -> Self {
        let prefix = format!("bftest-{tag}-{}", std::process::id());
        let env = Self {
            database: ScratchDatabase::create(tag),
            artifacts_url: test_support::s3_store(&prefix).artifacts_url,
            prefix,
            redis_url: redis_url.to_owned(),
        };
        env.clear_redis();
        env
    }

    /// This fleet's artifact store, for a test that reads it itself.
    pub fn store(&self) -> fleet::config::StoreConfig {
        fleet::config::StoreConfig { artifacts_url: self.artifacts_url.clone(), s3: test_support::s3() }
    }

    /// This fleet's queue settings, for a test that talks to the queue itself.
    pub fn queue_args(&self) -> fleet::config::QueueConfig {
        fleet::config::QueueConfig {
            backend: fleet::config::QueueBackend::Redis(self.redis_url.clone()),
            prefix: self.prefix.clone(),
            ..fleet::config::QueueConfig::default()
        }
    }

    pub fn query(&self, sql: &str) -> String {
        query(&self.database.name, sql)
    }

    fn clear_redis(&self) {
        assert!(
            test_support::clear_redis(&self.redis_url, &self.prefix),
            "cannot clear the test's redis keys"
        );
    }
}

/// The services a test's binaries run on: every setting they read, and the commands that
/// apply them.
pub trait TestFleet {
    /// Sets every variable the binaries read.
    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command;

    /// A binary with this fleet's settings, logging warnings.
    fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = command(name, args);
        self.apply(&mut command);
        command
    }

    /// Runs a binary to its end and returns its output; panics with it if it failed.
    fn run_ok(&self, name: &str, args: &[&str]) -> Output {
        let output = run(&mut self.command(name, args));
        assert!(
            output.status.success(),
            "{name} {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Starts a long-running binary (worker, collector) with info logs collected as lines.
    fn spawn(&self, name: &str, args: &[&str]) -> Process {
        self.spawn_with(name, args, |_| {})
    }

    /// [`Self::spawn`], with the command changed by `configure` first.
    fn spawn_with(&self, name: &str, args: &[&str], configure: impl FnOnce(&mut Command)) -> Process {
        let mut command = self.command(name, args);
        configure(&mut command);
        command
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Process::spawn(name, &mut command)
    }
}

impl TestFleet for FleetEnv {
    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        let s3 = test_support::s3();
        let set = |value: Option<String>| value.unwrap_or_default();
        command
            .env_remove("QUEUE_URL")
            .env("DATABASE_URL", self.database.url())
            .env("REDIS_URL", &self.redis_url)
            .env("QUEUE_PREFIX", &self.prefix)
            .env("ARTIFACTS_URL", &self.artifacts_url)
            .env("AWS_ENDPOINT_URL", set(s3.endpoint_url))
            .env("AWS_ACCESS_KEY_ID", set(s3.access_key_id))
            .env("AWS_SECRET_ACCESS_KEY", set(s3.secret_access_key))
            .env("AWS_REGION", s3.region)
    }
}

/// A fleet on the embedded backends, private to one test: the queue and the results database
/// in SQLite files and the artifacts in a folder, all in a temporary directory, with no
/// Redis, Postgres or S3 setting at all.
#[derive(Debug)]
pub struct EmbeddedEnv {
    pub dir: tempfile::TempDir,
}

impl EmbeddedEnv {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    pub fn queue_file(&self) -> PathBuf {
        self.dir.path().join("queue.db")
    }

    pub fn database_file(&self) -> PathBuf {
        self.dir.path().join("fleet.db")
    }

    /// The artifact store's folder.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }

    /// The one number a query on the results database returns (a count, say).
    pub fn count(&self, sql: &str) -> i64 {
        self.on_database(|pool| async move {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&pool).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement on the results database (to set up a test's history).
    pub fn execute(&self, sql: &str) {
        self.on_database(|pool| async move {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn on_database<T, F: Future<Output = T>>(&self, work: impl FnOnce(sqlx::SqlitePool) -> F) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let url = fleet::config::sqlite_url(&self.database_file());
            let pool = sqlx::SqlitePool::connect(&url).await.expect("the results database opens");
            let outcome = work(pool.clone()).await;
            pool.close().await;
            outcome
        })
    }
}

impl Default for EmbeddedEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestFleet for EmbeddedEnv {
    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        for server_setting in ["REDIS_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        {
            command.env_remove(server_setting);
        }
        command
            .env("DATABASE_URL", fleet::config::sqlite_url(&self.database_file()))
            .env("QUEUE_URL", fleet::config::sqlite_url(&self.queue_file()))
            .env("ARTIFACTS_URL", format!("file://{}", self.artifacts_dir().display()))
    }
}

impl Drop for FleetEnv {
    fn drop(&mut self) {
        self.clear_redis();
    }
}

/// A child process killed when dropped; its stderr lines are collected as they come.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Self { name: name.to_owned(), child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address its metrics server logged (the process logs JSON at info).
    pub fn metrics_addr(&self) -> String {
        self.wait_for_log("metrics server listening", Duration::from_secs(60));
        let line = self.log().into_iter().find(|l| l.contains("metrics server listening")).expect("logged");
        let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        json["fields"]["addr"].as_str().expect("an addr field").to_owned()
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().expect("log lock").clone()
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.log().iter().any(|line| line.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} never logged {needle:?} in {timeout:?}; log:\n{}", self.name, self.log().join("\n"));
    }

    /// Sends a signal (`KILL`, `TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis server of one test's own, on a free port, which the test may kill and start again
/// (the shared one is never stopped). With a data directory it keeps an append-only file
/// synced on every write, so a restart, even after `SIGKILL`, loses nothing acknowledged.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    data_dir: Option<PathBuf>,
    /// More `redis-server` options, such as `--maxmemory-policy allkeys-lru`.
    options: Vec<String>,
    process: Option<Process>,
}

impl RedisServer {
    /// A server that keeps nothing on disk.
    pub fn ephemeral() -> Self {
        Self::start_on(None, &[])
    }

    /// A server that keeps nothing on disk, started with these `redis-server` options.
    pub fn ephemeral_with(options: &[&str]) -> Self {
        Self::start_on(None, options)
    }

    /// A server with its append-only file in `data_dir`.
    pub fn persistent(data_dir: &Path) -> Self {
        Self::start_on(Some(data_dir.to_owned()), &[])
    }

    fn start_on(data_dir: Option<PathBuf>, options: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = options.iter().map(|option| (*option).to_owned()).collect();
        let mut server = Self { port, data_dir, options, process: None };
        server.start();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it listens.
    pub fn start(&mut self) {
        let mut command = Command::new("redis-server");
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
        match &self.data_dir {
            Some(dir) => command.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"]).arg(dir),
            None => command.args(["--appendonly", "no"]),
        };
        command.args(&self.options);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        self.process = Some(Process::spawn("redis-server", &mut command));
        let up = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        assert!(up, "the test's redis-server listens on {}", self.port);
    }

    /// Kills the server (`SIGKILL`: no chance to save anything more).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal("KILL");
            process.wait_exit(Duration::from_secs(10)).expect("redis-server dies");
        }
    }
}

/// A TCP proxy to a server, which a test can cut (every connection dropped, new ones refused)
/// and restore: a database outage without touching the shared database.
#[derive(Debug)]
pub struct TcpProxy {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    /// Connections refused while cut: how often a client has tried the server meanwhile.
    refused: Arc<std::sync::atomic::AtomicUsize>,
    connections: Arc<Mutex<Vec<std::net::TcpStream>>>,
    shape: Arc<Mutex<Option<LinkShape>>>,
}

/// What a shaped link does to every chunk of bytes that crosses it, in user space (this
/// kernel has no netem): a delay of `latency` ± `jitter`, and with probability `loss` the
/// stall TCP's retransmission would cost (200 ms, doubling for each loss in a row). A chunk
/// waits for the one before it, as TCP delivers in order.
#[derive(Debug, Clone, Copy)]
pub struct LinkShape {
    pub latency: Duration,
    pub jitter: Duration,
    pub loss: f64,
}

impl LinkShape {
    /// How long the next chunk is held back.
    fn delay(&self, random: &mut Mutator) -> Duration {
        let mut unit = || random.next_u64() as f64 / u64::MAX as f64;
        let jitter = self.jitter.as_secs_f64() * (2.0 * unit() - 1.0);
        let mut delay = (self.latency.as_secs_f64() + jitter).max(0.0);
        let mut retransmission = 0.2;
        while unit() < self.loss {
            delay += retransmission;
            retransmission *= 2.0;
        }
        Duration::from_secs_f64(delay)
    }
}

/// Copies `from` to `to` until either ends, through the link's shape of the moment.
fn forward(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    shape: &Mutex<Option<LinkShape>>,
    seed: u64,
) {
    use std::io::{Read, Write};
    let mut random = Mutator::new(seed);
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 {
            break;
        }
        let shaped = *shape.lock().expect("shape lock");
        if let Some(shaped) = shaped {
            std::thread::sleep(shaped.delay(&mut random));
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl TcpProxy {
    pub fn start(target: &str) -> Self {
        Self::start_on("127.0.0.1", target)
    }

    /// A proxy listening on `ip` (a free port) instead of the loopback.
    pub fn start_on(ip: &str, target: &str) -> Self {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind((ip, 0)).expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let shape: Arc<Mutex<Option<LinkShape>>> = Arc::default();
        let (target, accept_cut, accept_connections) = (target.to_owned(), cut.clone(), connections.clone());
        let accept_shape = shape.clone();
        let accept_refused = refused.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let server = match TcpStream::connect(&target) {
                    Ok(server) if !accept_cut.load(Ordering::SeqCst) => server,
                    _ => {
                        accept_refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                };
                let mut open = accept_connections.lock().expect("proxy lock");
                for (from, to) in
                    [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())]
                        .map(|(a, b)| (a.expect("clone"), b.expect("clone")))
                {
                    let (shape, seed) = (accept_shape.clone(), u64::from(port) << 32 | open.len() as u64);
                    std::thread::spawn(move || forward(from, to, &shape, seed));
                }
                open.extend([client, server]);
            }
        });
        Self { port, cut, refused, connections, shape }
    }

    /// Shapes every connection across the proxy from now on (`None`: a clean link again).
    pub fn shape(&self, shape: Option<LinkShape>) {
        *self.shape.lock().expect("shape lock") = shape;
    }

    /// Drops every connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.connections.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Connections refused since the proxy started.
    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The job a line of a worker's JSON log started, from its `job_id` span field.
pub fn started_job(line: &str) -> Option<String> {
    if !line.contains("job started") {
        return None;
    }
    let id = line.split("\"job_id\":\"").nth(1)?;
    Some(id.chars().take(36).collect())
}

/// How often the workers started a job, from their logs.
pub fn starts<'a>(workers: impl IntoIterator<Item = &'a Process>, job: &str) -> usize {
    workers.into_iter().flat_map(Process::log).filter(|l| started_job(l).as_deref() == Some(job)).count()
}

/// Polls `check` every 100 ms until it is true; false after `timeout`.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Jobs no worker can run, as a careless or hostile producer could enqueue them: a future
/// schema version, bytes that are not JSON, an empty payload, JSON of the wrong shape, 10 MB
/// of it, and a well-formed forecast job for a hostile symbol. Each must end in the dead set
/// with its reason while the workers go on.
pub fn poison_jobs() -> Vec<fleet::queue::RawJob> {
    let mut future = ml_core::job::Job::new(uuid::Uuid::new_v4(), ml_core::job::JobKind::Ping, None);
    future.schema_version = ml_core::job::JOB_SCHEMA_VERSION + 1;
    let raw = |payload: &[u8]| fleet::queue::RawJob {
        job_id: uuid::Uuid::new_v4(),
        payload: payload.to_vec(),
        idempotency_key: None,
    };
    let huge = serde_json::json!({ "schema_version": ml_core::job::JOB_SCHEMA_VERSION, "kind": "x".repeat(10 << 20) });
    let pair = ml_core::job::Pair { symbol: "AAPL".parse().unwrap(), timeframe: ml_core::Timeframe::D1 };
    let snapshot = ml_core::job::Snapshot {
        key: "bars/AAPL/d1/any.parquet".to_owned(),
        sha256: "0".repeat(64),
        bars: 1,
        last_bar: chrono::Utc::now(),
    };
    let forecast = ml_core::job::JobKind::Forecast { pair, snapshot, last_bar: None };
    let mut hostile =
        serde_json::to_value(ml_core::job::Job::new(uuid::Uuid::new_v4(), forecast, None)).unwrap();
    hostile["pair"]["symbol"] = "AAPL'; drop table training_runs;--".into();
    vec![
        fleet::queue::RawJob::of(&future),
        raw(b"not json {"),
        raw(b""),
        raw(br#"{"schema_version": 1, "symbol": "AAPL'; drop table training_runs;--"}"#),
        raw(huge.to_string().as_bytes()),
        raw(hostile.to_string().as_bytes()),
    ]
}

/// A seeded mutation fuzzer: the same seed gives the same inputs on every machine, so a
/// failure in CI is replayed by its seed and iteration. Inputs are grown from real seeds by
/// the edits that break parsers: flipped bits, bytes that mean something to a CSV or JSON
/// reader, deleted, repeated and truncated ranges.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

/// Bytes that mean something to the readers under test.
const INTERESTING: &[u8] = b",;\t\n\r\"'{}[]:-+.eE0123456789 \0\xff\xc3";

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// splitmix64.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next_u64() % bound as u64).expect("below a usize")
    }

    /// `input` with one to four random edits.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut bytes = input.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(bytes.len() + 1);
            match self.below(7) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 if at < bytes.len() => bytes[at] = INTERESTING[self.below(INTERESTING.len())],
                2 => {
                    let inserted: Vec<u8> =
                        (0..=self.below(8)).map(|_| INTERESTING[self.below(INTERESTING.len())]).collect();
                    bytes.splice(at..at, inserted);
                }
                3 => {
                    let end = (at + self.below(64)).min(bytes.len());
                    bytes.drain(at..end);
                }
                4 => {
                    let end = (at + self.below(256)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    let to = self.below(bytes.len() + 1);
                    bytes.splice(to..to, copy);
                }
                5 => bytes.truncate(at),
                _ => {
                    let digits = u64::MAX.to_string();
                    bytes.splice(at..at, digits.bytes().take(1 + self.below(20)));
                }
            }
        }
        bytes
    }
}

/// How many inputs a fuzz test tries: `FUZZ_ITERATIONS`, or `default` (CI's short run).
pub fn fuzz_iterations(default: usize) -> usize {
    std::env::var("FUZZ_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// The fuzz tests' seed: `FUZZ_SEED`, or a fixed one so that CI runs the same inputs each time.
pub fn fuzz_seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x000b_0175_f1ee_7000)
}

pub mod netlab;
