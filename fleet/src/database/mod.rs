//! The results database, by `DATABASE_URL`'s scheme: Postgres (Supabase) for a fleet, or a
//! SQLite file with the same tables and columns for embedded mode. Every statement the fleet
//! runs on it lives here, in both dialects, behind typed rows: [`bars`] (ingest and
//! snapshots), [`runs`] (what a trigger and its wait ask), [`scoring`] (what `evaluate`
//! reads), [`views`] and [`history`] (what the dashboard shows) and [`write`] (the collector's results). Statements whose text and parameters mean
//! the same in both dialects run through `on_either!`; the others are written once per
//! dialect, side by side. `fleet/tests/database.rs` runs one contract on both.

pub mod bars;
pub mod history;
pub mod runs;
pub mod scoring;
pub mod views;
/// Compiled only for the collector, which alone enables `results-writer`: the compiler keeps
/// every other role from writing results.
#[cfg(feature = "results-writer")]
pub mod write;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use ml_core::job::Pair;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, SqlitePool};

use crate::config::DatabaseConfig;

/// How long one connection attempt waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The Supabase-compatible migrations, embedded at build time: `supabase db push` applies the
/// same files.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../supabase/migrations");

/// The embedded database's schema: the same tables and columns in SQLite's types, without
/// Supabase's roles and row-level security (a file has no users).
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../sqlite/migrations");

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot connect to the database named by DATABASE_URL")]
    Connect(#[source] sqlx::Error),
    #[error("DATABASE_URL must start with postgres:// or sqlite://")]
    Scheme,
    #[error("cannot apply the migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot {what}")]
    Query {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("a row of the results database is unreadable: {detail}")]
    Row { detail: String },
}

impl DatabaseError {
    /// A database that is not up (yet, or now) may come back; a wrong URL, a statement the
    /// database refuses or a row we cannot read will not change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Query { source, .. } => is_transient(source),
            Self::Scheme | Self::Migrate(_) | Self::Row { .. } => false,
        }
    }
}

/// The error of a statement that did `what` (said as "cannot {what}").
fn query_error(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> DatabaseError {
    move |source| DatabaseError::Query { what: what.into(), source }
}

/// Runs the same statement on whichever pool `database` holds.
macro_rules! on_either {
    ($database:expr, |$pool:ident| $statement:expr) => {
        match $database {
            Database::Postgres($pool) => $statement,
            Database::Sqlite($pool) => $statement,
        }
    };
}
use on_either;

/// A pair as the tables hold it, in text.
#[derive(sqlx::FromRow)]
struct PairRow {
    symbol: String,
    timeframe: String,
}

impl PairRow {
    fn pair(self) -> Result<Pair, DatabaseError> {
        let unreadable = |detail: String| DatabaseError::Row { detail };
        Ok(Pair {
            symbol: self.symbol.parse::<ml_core::Symbol>().map_err(|e| unreadable(e.to_string()))?,
            timeframe: self.timeframe.parse::<ml_core::Timeframe>().map_err(|e| unreadable(e.to_string()))?,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Connections in a binary's database pool: a binary runs few statements at once. Callers
/// that run statements side by side run at most this many, so that none waits for a
/// connection (a wait is bounded by [`CONNECT_TIMEOUT`]).
pub const POOL_CONNECTIONS: usize = 4;

/// How every Postgres pool of a binary is set up: [`POOL_CONNECTIONS`], bounded waits.
fn postgres_pool() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(POOL_CONNECTIONS as u32).acquire_timeout(CONNECT_TIMEOUT)
}

impl Database {
    /// Connects; a SQLite file is created if missing (its tables come from the migrations).
    pub async fn connect(args: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let url = args.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres_pool().connect(url).await.map_err(DatabaseError::Connect)?;
            return Ok(Self::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(DatabaseError::Scheme);
        }
        // The results tables come from the collector's migrations, not from this set-up.
        let (pool, _set_up_lock) =
            crate::sqlite::open(url, POOL_CONNECTIONS as u32).await.map_err(DatabaseError::Connect)?;
        Ok(Self::Sqlite(pool))
    }

    /// A pool that connects on first use, so that a reader can start (and say so) while the
    /// database is down. SQLite files open at once, as in [`Self::connect`].
    pub async fn connect_lazy(args: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let url = args.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres_pool().connect_lazy(url).map_err(DatabaseError::Connect)?;
            return Ok(Self::Postgres(pool));
        }
        Self::connect(args).await
    }

    /// Creates the Postgres database `args` names if it does not exist yet (SQLite files are
    /// created on connect); returns whether it did. Needs the CREATEDB privilege only then.
    pub async fn create_if_missing(args: &DatabaseConfig) -> Result<bool, DatabaseError> {
        use sqlx::migrate::MigrateDatabase;
        let url = args.url.as_str();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok(false);
        }
        if sqlx::Postgres::database_exists(url).await.map_err(DatabaseError::Connect)? {
            return Ok(false);
        }
        sqlx::Postgres::create_database(url).await.map_err(DatabaseError::Connect)?;
        Ok(true)
    }

    /// Applies the schema of the database's kind; returns how many migrations there are.
    pub async fn migrate(&self) -> Result<usize, DatabaseError> {
        let (migrator, outcome) = match self {
            Self::Postgres(pool) => (&POSTGRES_MIGRATOR, POSTGRES_MIGRATOR.run(pool).await),
            Self::Sqlite(pool) => (&SQLITE_MIGRATOR, SQLITE_MIGRATOR.run(pool).await),
        };
        outcome.map_err(DatabaseError::Migrate)?;
        Ok(migrator.iter().count())
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Errors that say the database is not there (or not now), rather than that the row is wrong.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes: another
            // process holds the file's write lock for longer than the busy timeout.
            db.code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6))
        }
        sqlx::Error::Database(db) => {
            // SQLSTATE classes 08 (connection), 53 (resources), 57 (operator intervention,
            // e.g. shutdown), 40 (serialisation/deadlock).
            db.code().is_some_and(|code| ["08", "53", "57", "40"].iter().any(|class| code.starts_with(class)))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// A time as the SQLite database stores it: RFC 3339 in UTC with `Z`, as serde writes the
/// results' times, so that stored and bound times compare as text.
pub fn sqlite_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
