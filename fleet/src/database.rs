//! The results database, by `DATABASE_URL`'s scheme: Postgres (Supabase) for a fleet, or a
//! SQLite file with the same tables and columns for embedded mode. Callers match on
//! [`Database`] where the two dialects differ and share the row types where they do not.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::DatabaseArgs;

/// How long one connection attempt waits for the database (and a SQLite statement for
/// another process's write).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot connect to the database named by DATABASE_URL")]
    Connect(#[source] sqlx::Error),
    #[error("DATABASE_URL must start with postgres:// or sqlite://")]
    Scheme,
}

impl DatabaseError {
    /// A database that is not up yet may come; a wrong URL does not change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Database {
    /// Connects; a SQLite file is created if missing (its tables come from the migrations).
    pub async fn connect(args: &DatabaseArgs) -> Result<Self, DatabaseError> {
        let url = args.database_url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect(url)
                .await
                .map_err(DatabaseError::Connect)?;
            return Ok(Self::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(DatabaseError::Scheme);
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(DatabaseError::Connect)?
            .create_if_missing(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(DatabaseError::Connect)?;
        Ok(Self::Sqlite(pool))
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// A time as the SQLite database stores it: RFC 3339 in UTC with `Z`, as serde writes the
/// results' times, so that stored and bound times compare as text.
pub fn sqlite_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
