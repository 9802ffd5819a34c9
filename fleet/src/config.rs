//! Where the fleet's services are, as plain typed settings. The binary fills them from its
//! flags and the ecosystem's environment names (`REDIS_URL`, `QUEUE_URL`, `DATABASE_URL`,
//! `ARTIFACTS_URL`, `AWS_*`); a library or a test builds them directly. Every default is
//! written once, here, in a `Default`. `Debug` never shows a secret.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where artifacts and snapshots live.
#[derive(Clone)]
pub struct StoreConfig {
    /// s3://bucket[/prefix] or file:///absolute/path.
    pub artifacts_url: String,
    pub s3: S3Config,
}

impl Default for StoreConfig {
    /// The `artifacts` bucket of the S3 server `AWS_ENDPOINT_URL` names.
    fn default() -> Self {
        Self { artifacts_url: "s3://artifacts".to_owned(), s3: S3Config::default() }
    }
}

impl StoreConfig {
    /// A store in a local folder (created if missing).
    pub fn folder(path: &Path) -> Self {
        Self { artifacts_url: format!("file://{}", path.display()), s3: S3Config::default() }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("artifacts_url", &self.artifacts_url)
            .field("s3", &self.s3)
            .finish()
    }
}

/// How to reach an S3 store: AWS's own settings.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint of MinIO, SeaweedFS and other S3-compatible servers (path-style, HTTP
    /// allowed); `None` for AWS itself.
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: String,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            region: "us-east-1".to_owned(),
        }
    }
}

impl std::fmt::Debug for S3Config {
    // By hand: the keys stay out of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("credentials", &self.access_key_id.is_some())
            .finish_non_exhaustive()
    }
}

/// Where the queue lives: Redis for a fleet of machines, or one SQLite file for the
/// processes of one machine (embedded mode). One of the two, by construction.
#[derive(Clone)]
pub enum QueueBackend {
    /// A Redis connection string, e.g. redis://127.0.0.1:6379. May hold a password.
    Redis(String),
    /// The SQLite file of an embedded queue (created if missing).
    Sqlite(PathBuf),
}

impl QueueBackend {
    /// The embedded queue a `QUEUE_URL` names: `sqlite://PATH` (or `sqlite:PATH`).
    pub fn from_queue_url(url: &str) -> Result<Self, ConfigError> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(path) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
            _ => Err(ConfigError::QueueUrlNotSqlite(url.to_owned())),
        }
    }
}

impl std::fmt::Debug for QueueBackend {
    // By hand: a Redis URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(_) => f.write_str("Redis(..)"),
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
        }
    }
}

/// The job queue and the results stream beside it.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub backend: QueueBackend,
    /// Prefix of every Redis key (or SQLite queue name) the fleet uses; fleets sharing a
    /// server pick different ones.
    pub prefix: String,
    /// Run on a Redis whose `maxmemory-policy` is not `noeviction`. Such a server deletes keys
    /// when its memory runs short, queued jobs or a part of one among them, so it is refused
    /// unless this is set (SQLite: no effect).
    pub allow_evicting_redis: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            backend: QueueBackend::Redis("redis://127.0.0.1:6379".to_owned()),
            prefix: "boltfleet".to_owned(),
            allow_evicting_redis: false,
        }
    }
}

impl QueueConfig {
    /// The embedded queue in `file` (created if missing), its names under `prefix`.
    pub fn sqlite(file: &Path, prefix: &str) -> Self {
        Self { backend: QueueBackend::Sqlite(file.to_owned()), prefix: prefix.to_owned(), ..Self::default() }
    }
}

/// The results database: Postgres (Supabase) for a fleet, or a SQLite file in embedded mode.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// postgres://user:password@host:5432/db, or sqlite:///absolute/path/fleet.db.
    pub url: String,
}

impl Default for DatabaseConfig {
    /// A local Postgres, as the README's fleet runs it.
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/boltfleet".to_owned() }
    }
}

impl DatabaseConfig {
    /// The embedded database in `file` (created if missing).
    pub fn sqlite(file: &Path) -> Self {
        Self { url: sqlite_url(file) }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    // By hand: the URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split_once(':').map_or("", |(scheme, _)| scheme);
        f.debug_struct("DatabaseConfig").field("scheme", &scheme).finish_non_exhaustive()
    }
}

/// The URL of a SQLite database file, as sqlx reads it.
pub fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// An embedded fleet's data folder: the one place that knows its layout.
#[derive(Debug, Clone)]
pub struct EmbeddedLayout {
    root: PathBuf,
}

impl EmbeddedLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The results database, `fleet.db`.
    pub fn database(&self) -> DatabaseConfig {
        DatabaseConfig::sqlite(&self.root.join("fleet.db"))
    }

    /// The queue and its results outbox, `queue.db`.
    pub fn queue(&self) -> QueueConfig {
        QueueConfig::sqlite(&self.root.join("queue.db"), &QueueConfig::default().prefix)
    }

    /// The models and bar snapshots, `artifacts/`.
    pub fn store(&self) -> StoreConfig {
        StoreConfig::folder(&self.root.join("artifacts"))
    }

    /// What a person finds in the folder, in a sentence.
    pub fn describe(&self) -> String {
        format!(
            "data in {}: queue.db, fleet.db (the results tables), artifacts/ (models and bar snapshots)",
            self.root.display()
        )
    }
}

/// A setting that cannot be used as given: never retryable.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("QUEUE_URL must be sqlite://PATH, not {0:?}")]
    QueueUrlNotSqlite(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_url_names_its_sqlite_file_or_is_refused_by_name() {
        let QueueBackend::Sqlite(path) = QueueBackend::from_queue_url("sqlite:///tmp/q/queue.db").unwrap()
        else {
            panic!("a sqlite URL is the embedded queue")
        };
        assert_eq!(path, Path::new("/tmp/q/queue.db"));
        let refused = QueueBackend::from_queue_url("postgres://localhost/x").unwrap_err().to_string();
        assert!(refused.contains("QUEUE_URL must be sqlite://"), "{refused}");
    }

    #[test]
    fn no_secret_reaches_a_debug_print() {
        let store = StoreConfig {
            artifacts_url: "s3://bucket".to_owned(),
            s3: S3Config { secret_access_key: Some("s3-secret".to_owned()), ..S3Config::default() },
        };
        let queue = QueueConfig {
            backend: QueueBackend::Redis("redis://:redis-secret@host".to_owned()),
            ..QueueConfig::default()
        };
        let database = DatabaseConfig { url: "postgres://u:db-secret@host/db".to_owned() };
        let printed = format!("{store:?} {queue:?} {database:?}");
        for secret in ["s3-secret", "redis-secret", "db-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn the_embedded_layout_is_one_folder() {
        let layout = EmbeddedLayout::new("/data");
        assert_eq!(layout.database().url, "sqlite:///data/fleet.db");
        assert!(
            matches!(layout.queue().backend, QueueBackend::Sqlite(path) if path == Path::new("/data/queue.db"))
        );
        assert_eq!(layout.store().artifacts_url, "file:///data/artifacts");
    }
}
