//! What every test suite shares, so that each says only what it tests: where the real data
//! is, the settings of the real services the tests run on (Postgres on 127.0.0.1:5432 with
//! trust authentication, Redis, the S3 server of `scripts/s3-server`; the environment's
//! `REDIS_URL`, `AWS_*` and `TEST_S3_BUCKET` override the last two), throwaway
//! Postgres databases that drop themselves, and synthetic bars.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use fleet::config::{DatabaseConfig, QueueBackend, QueueConfig, S3Config, StoreConfig};
use ml_core::Bar;

/// `../shared/data` beside the repository, or `BOLTFLEET_DATA` when set.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from)
}

/// The environment's value of `name`, or `default`.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The tests' Redis.
pub fn redis_url() -> String {
    env_or("REDIS_URL", "redis://127.0.0.1:6379")
}

/// A queue on the tests' Redis under `prefix`: a prefix of the test's own keeps its keys
/// apart from every other test's.
pub fn redis_queue(prefix: &str) -> QueueConfig {
    QueueConfig {
        backend: QueueBackend::Redis(redis_url()),
        prefix: prefix.to_owned(),
        ..QueueConfig::default()
    }
}

/// Deletes every key under `prefix` (`prefix:*`) of the Redis at `url`; false if it could not.
pub fn clear_redis(url: &str, prefix: &str) -> bool {
    let script = "for _, key in ipairs(redis.call('keys', ARGV[1] .. ':*')) do redis.call('del', key) end";
    Command::new("redis-cli")
        .args(["-u", url, "eval", script, "0", prefix])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A key prefix of the test's own on the tests' Redis, whose keys are deleted when it is
/// dropped, even when the test panics.
#[derive(Debug)]
pub struct ScratchRedis {
    pub prefix: String,
}

impl ScratchRedis {
    /// `bftest-{tag}-{pid}-{n}`: apart from every other test's, in this process and others.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            prefix: format!("bftest-{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The queue under this prefix.
    pub fn queue(&self) -> QueueConfig {
        redis_queue(&self.prefix)
    }
}

impl Drop for ScratchRedis {
    fn drop(&mut self) {
        let cleared = clear_redis(&redis_url(), &self.prefix);
        assert!(
            cleared || std::thread::panicking(),
            "cannot clear the test's redis keys under {}",
            self.prefix
        );
    }
}

/// The tests' S3 server (`scripts/s3-server`'s, unless the environment names another).
pub fn s3() -> S3Config {
    S3Config {
        endpoint_url: Some(env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")),
        access_key_id: Some(env_or("AWS_ACCESS_KEY_ID", "minioadmin")),
        secret_access_key: Some(env_or("AWS_SECRET_ACCESS_KEY", "minioadmin")),
        region: env_or("AWS_REGION", "us-east-1"),
    }
}

/// The tests' bucket under `prefix`, as an artifact store.
pub fn s3_store(prefix: &str) -> StoreConfig {
    StoreConfig {
        artifacts_url: format!("s3://{}/{prefix}", env_or("TEST_S3_BUCKET", "artifacts")),
        s3: s3(),
    }
}

/// The tests' Postgres server: local, user `postgres`, trust authentication (what
/// `scripts/test` sets up), as `psql` reaches it.
const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// Runs a command and returns its output, panicking with the command if it could not start.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs `psql` as `postgres` on the local server (trust auth) against a database.
pub fn psql(database: &str, sql: &str) -> Output {
    run(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tA",
        "-d",
        database,
        "-c",
        sql,
    ]))
}

/// `psql`'s output for a query that must succeed, trimmed.
pub fn query(database: &str, sql: &str) -> String {
    let output = psql(database, sql);
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A throwaway database on the tests' Postgres, dropped when the guard is (the test's end,
/// or its panic).
#[derive(Debug)]
pub struct ScratchDatabase {
    pub name: String,
}

impl ScratchDatabase {
    /// A name of the test's own, not created (for a test of creating it); a leftover of an
    /// earlier run under the same name is dropped. `tag` tells apart the databases of the
    /// tests of one process.
    pub fn reserve(tag: &str) -> Self {
        let name = format!("boltfleet_test_{tag}_{}", std::process::id());
        query("postgres", &format!("drop database if exists {name} with (force)"));
        Self { name }
    }

    /// A new, empty database.
    pub fn create(tag: &str) -> Self {
        let database = Self::reserve(tag);
        query("postgres", &format!("create database {}", database.name));
        database
    }

    pub fn url(&self) -> String {
        format!("{POSTGRES_SERVER}/{}", self.name)
    }

    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig { url: self.url() }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        psql("postgres", &format!("drop database if exists {} with (force)", self.name));
    }
}

/// Daily bars of a random walk (fixed seed) from 2021-01-04: enough to train a small model
/// on in milliseconds.
pub fn walk(count: usize) -> Vec<Bar> {
    let start: DateTime<Utc> = "2021-01-04T00:00:00Z".parse().unwrap();
    let mut state = 7_u64;
    let mut close = 50.0_f64;
    (0..count)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let step = f64::from(u32::try_from(state >> 40).unwrap()) / f64::from(1_u32 << 24) - 0.5;
            close *= 1.0 + step * 0.04;
            let ts = start + Duration::days(i64::try_from(i).unwrap());
            Bar { ts, open: close, high: close * 1.01, low: close * 0.99, close, volume: 10_000.0 }
        })
        .collect()
}

/// Writes two queue entries that are not whole jobs straight into the Redis queue of
/// `prefix`, as a server that evicts keys (or a foreign producer) leaves them: an id whose
/// metadata hash is gone (its payload a ping) and one whose payload is gone. Returns their
/// job ids, in that order.
pub async fn push_broken_entries(redis_url: &str, prefix: &str) -> [uuid::Uuid; 2] {
    let keys = fleet::queue::jobs_config(prefix);
    let (no_metadata, no_payload) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let ping = ml_core::job::Job::new(uuid::Uuid::new_v4(), ml_core::job::JobKind::Ping, None);
    let mut conn = redis::Client::open(redis_url)
        .expect("a redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let (no_metadata_id, no_payload_id) =
        (fleet::queue::task_id(no_metadata), fleet::queue::task_id(no_payload));
    let () = redis::pipe()
        .hset(keys.job_data_hash(), &no_metadata_id, serde_json::to_vec(&ping).expect("a job serialises"))
        .ignore()
        .rpush(keys.active_jobs_list(), &no_metadata_id)
        .ignore()
        .hset(format!("{}:{no_payload_id}", keys.job_meta_hash()), "attempts", 0)
        .ignore()
        .rpush(keys.active_jobs_list(), &no_payload_id)
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("the entries are written");
    [no_metadata, no_payload]
}
