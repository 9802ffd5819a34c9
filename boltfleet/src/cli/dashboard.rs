//! `boltfleet dashboard`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fleet::config::{DatabaseConfig, EmbeddedLayout, QueueConfig, StoreConfig};

use super::services::{OpsArgs, S3Args, queue_backend};

/// Where the dashboard reads: one embedded fleet's data directory, or the servers' URLs.
/// Only the results database is required; without a queue or a store their pages say so.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// An embedded fleet's data directory (what `boltfleet demo` made): its fleet.db,
    /// queue.db and artifacts/, instead of the URLs below.
    #[arg(long, env = "BOLTFLEET_DATA_DIR", conflicts_with_all = ["database_url", "redis_url", "queue_url", "artifacts_url"])]
    data_dir: Option<PathBuf>,
    /// The results database: give it a role that can only SELECT (README).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, required_unless_present = "data_dir")]
    database_url: Option<String>,
    /// The queue page's Redis. May hold a password: never shown.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, conflicts_with = "queue_url")]
    redis_url: Option<String>,
    /// The queue page's SQLite queue: sqlite:///absolute/path/queue.db.
    #[arg(long, env = "QUEUE_URL")]
    queue_url: Option<String>,
    #[arg(long, env = "QUEUE_PREFIX", default_value_t = QueueConfig::default().prefix)]
    queue_prefix: String,
    /// The artifact browser's store: s3://bucket[/prefix] or file:///path. Read-only
    /// credentials are enough.
    #[arg(long, env = "ARTIFACTS_URL")]
    artifacts_url: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Turns on the queue page's write actions (retry or delete a dead job) for whoever
    /// gives this token. Unset: the dashboard only reads.
    #[arg(long, env = "DASHBOARD_TOKEN", hide_env_values = true)]
    dashboard_token: Option<String>,
    /// Where the pages are served. Loopback by default: expose it on purpose.
    #[arg(long, env = "DASHBOARD_ADDR", default_value_t = dashboard::Config::default().addr)]
    addr: SocketAddr,
    #[command(flatten)]
    ops: OpsArgs,
}

impl DashboardArgs {
    /// The dashboard's config: the data directory's files, or the URLs given.
    pub fn config(&self) -> anyhow::Result<dashboard::Config> {
        let (database, queue, store) = match &self.data_dir {
            Some(dir) => {
                let dir = dir.canonicalize().with_context(|| {
                    format!("no fleet data directory at {}: run `boltfleet demo` first", dir.display())
                })?;
                let layout = EmbeddedLayout::new(dir);
                let queue = QueueConfig { prefix: self.queue_prefix.clone(), ..layout.queue() };
                (layout.database(), Some(queue), Some(layout.store()))
            }
            None => {
                let url = self.database_url.clone().context("DATABASE_URL or --data-dir is required")?;
                let queue = queue_backend(self.redis_url.as_deref(), self.queue_url.as_deref())?
                    // The dashboard shows a fleet whatever its server's eviction policy (with a
                    // warning in its log); the roles that queue and take jobs refuse it.
                    .map(|backend| QueueConfig {
                        backend,
                        prefix: self.queue_prefix.clone(),
                        allow_evicting_redis: true,
                    });
                let store = self
                    .artifacts_url
                    .clone()
                    .map(|artifacts_url| StoreConfig { artifacts_url, s3: self.s3.config() });
                (DatabaseConfig { url }, queue, store)
            }
        };
        Ok(dashboard::Config {
            database,
            queue,
            store,
            token: self.dashboard_token.clone(),
            addr: self.addr,
            ops: self.ops.config(),
        })
    }
}
